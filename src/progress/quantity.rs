//! Quantities as officers type them: one decimal number (full-width digits too) and one unit,
//! read exactly (the stored value is the number typed, shifted by the unit's power of ten), and
//! every other form refused with the problem named and the accepted form shown.

use std::fmt;

use crate::units::Unit;

/// A number as an officer typed it, with its unit if one was written.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quantity {
    pub value: f64,
    pub unit: Option<Unit>,
}

/// At most this many significant digits: every decimal number that short reads as a distinct
/// `f64` and prints back unchanged, so the stored value is exactly the number typed.
pub const MAX_SIGNIFICANT_DIGITS: usize = 15;

/// What is wrong with a number that is not in the one accepted form (`12.5`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberProblem {
    /// `1,5km`, `1,300个`: a decimal comma or a thousands separator; they cannot be told apart.
    Comma,
    /// `2_500m`, `2'500m`.
    Separator,
    /// `1e3km`.
    Exponent,
    /// `0x10km`.
    Hex,
    /// `.5km`.
    LeadingPoint,
    /// `5.km`.
    TrailingPoint,
    /// `12.5.3km`.
    SecondPoint,
    /// More than [`MAX_SIGNIFICANT_DIGITS`].
    TooManyDigits,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    #[error("not a number")]
    NotANumber,
    #[error("negative")]
    Negative,
    #[error("unknown unit `{0}`")]
    UnknownUnit(String),
    /// `example` is the accepted form of what was typed, where one can be told (`1300个`).
    #[error("malformed number ({problem:?}); write e.g. {example}")]
    Malformed {
        problem: NumberProblem,
        example: String,
    },
    /// Text right after the quantity, without a space (`12.5km西永`).
    #[error("`{rest}` is glued to `{quantity}`")]
    Glued { quantity: String, rest: String },
}

/// The accepted form, for messages where nothing better can be derived from the input.
pub const EXAMPLE_VALUE: &str = "12.5km";

impl Quantity {
    /// Parses `12.5km`, `12.5 公里`, `1.5万平方米`, `3万人次`, `35%`, `860`. Returns the
    /// quantity and the text after it, which is empty or begins with whitespace. Full-width
    /// forms are folded by the caller ([`parse_update`]).
    ///
    /// A value is one number (ASCII digits, at most one decimal point with digits on both
    /// sides, at most [`MAX_SIGNIFICANT_DIGITS`]) and an optional unit. Commas, separators,
    /// exponents, hex, stray points and text glued on are refused rather than read as some
    /// other number, and `NaN` or `inf` are not numbers, so a value is always finite.
    pub fn parse_prefix(text: &str) -> Result<(Quantity, &str), QuantityError> {
        let s = text.trim_start();
        let negative = s.starts_with(['-', '−', '－']);
        let body = if negative {
            s.trim_start_matches(['-', '−', '－'])
        } else {
            s.trim_start_matches('+')
        };
        let (value, rest) = read_number(body).map_err(|problem| match problem {
            Some(problem) => QuantityError::Malformed {
                problem,
                example: accepted_form(problem, body),
            },
            None => QuantityError::NotANumber,
        })?;
        if negative && value != 0.0 {
            return Err(QuantityError::Negative);
        }
        // A lone 万 multiplies (3万人次), unless it begins a unit of its own (万平方米).
        let after_space = rest.trim_start();
        let (value, after_wan) = match after_space.strip_prefix('万') {
            Some(tail) if unit_prefix(after_space).is_none() => (shift(value, 4), tail),
            _ => (value, rest),
        };
        let typed = |tail: &str| s[..s.len() - tail.len()].to_string();
        let glued = |tail: &str| QuantityError::Glued {
            quantity: typed(tail),
            rest: tail.to_string(),
        };
        if let Some((unit, tail)) = unit_prefix(after_wan.trim_start()) {
            // Only what follows after a space is a note: `12.5km西永` is refused, not split.
            if !tail.is_empty() && !tail.starts_with(char::is_whitespace) {
                return Err(glued(tail));
            }
            let unit = Some(unit);
            return Ok((Quantity { value, unit }, tail));
        }
        if after_wan.is_empty() || after_wan.starts_with(char::is_whitespace) {
            return Ok((Quantity { value, unit: None }, after_wan));
        }
        // Letters glued to the number are a unit we do not know (`5kg`, `5斤`); a longer
        // Chinese run is more likely a note missing its space.
        let word: String = after_wan
            .chars()
            .take_while(|c| c.is_alphabetic())
            .collect();
        if !word.is_empty() && (word.is_ascii() || word.chars().count() <= 2) {
            return Err(QuantityError::UnknownUnit(word.chars().take(8).collect()));
        }
        Err(glued(after_wan))
    }

    /// The whole of `text` as one quantity (nothing after it).
    pub fn parse(text: &str) -> Result<Quantity, QuantityError> {
        let (q, rest) = Quantity::parse_prefix(text)?;
        if rest.trim().is_empty() {
            Ok(q)
        } else {
            Err(QuantityError::UnknownUnit(
                rest.trim().chars().take(8).collect(),
            ))
        }
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.unit {
            Some(u) => write!(f, "{}{}", fmt_num(self.value), u.symbol),
            None => f.write_str(&fmt_num(self.value)),
        }
    }
}

/// The longest known unit at the start of `s`; an ASCII spelling must end its word, so
/// `12.5 m` is metres but `12 monitors` is a number followed by a note.
fn unit_prefix(s: &str) -> Option<(Unit, &str)> {
    let (unit, tail) = Unit::parse_prefix(s)?;
    let ascii = s[..s.len() - tail.len()].is_ascii();
    let ends_word = tail
        .chars()
        .next()
        .is_none_or(|c| !ascii || !c.is_ascii_alphanumeric());
    ends_word.then_some((unit, tail))
}

/// `value × 10^places`, by moving the decimal point rather than multiplying in binary.
fn shift(value: f64, places: i32) -> f64 {
    if places == 0 {
        return value;
    }
    // A finite f64 prints as the shortest decimal that reads back as itself; for numbers of
    // at most 15 significant digits that is the number as typed.
    format!("{value}e{places}")
        .parse()
        .unwrap_or(value * 10f64.powi(places))
}

/// Reads the number at the start of `s` (after any sign) in the one accepted form; returns
/// its value and the text after its digits, or what is wrong (`None`: no number at all).
fn read_number(s: &str) -> Result<(f64, &str), Option<NumberProblem>> {
    let digits_end = |t: &str| t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let int = &s[..digits_end(s)];
    let mut rest = &s[int.len()..];
    if int.is_empty() {
        let leading_point = rest.strip_prefix('.').is_some_and(starts_with_digit);
        return Err(leading_point.then_some(NumberProblem::LeadingPoint));
    }
    if int == "0"
        && rest
            .strip_prefix(['x', 'X'])
            .is_some_and(|t| t.starts_with(|c: char| c.is_ascii_hexdigit()))
    {
        return Err(Some(NumberProblem::Hex));
    }
    let mut frac = "";
    if let Some(after) = rest.strip_prefix('.') {
        frac = &after[..digits_end(after)];
        if frac.is_empty() {
            return Err(Some(NumberProblem::TrailingPoint));
        }
        rest = &after[frac.len()..];
        if rest.starts_with('.') {
            return Err(Some(NumberProblem::SecondPoint));
        }
    }
    // A separator or an exponent directly between digits: never the start of a unit or note.
    let mut chars = rest.chars();
    let next = chars.next();
    let after = chars.as_str();
    let problem = match next {
        Some(',' | '，') if starts_with_digit(after) => Some(NumberProblem::Comma),
        Some('_' | '\'' | '’') if starts_with_digit(after) => Some(NumberProblem::Separator),
        Some('e' | 'E') if starts_with_digit(after.trim_start_matches(['+', '-'])) => {
            Some(NumberProblem::Exponent)
        }
        _ => None,
    };
    if problem.is_some() {
        return Err(problem);
    }
    let significant = match int.trim_start_matches('0') {
        "" => frac.trim_matches('0').len(),
        whole => whole.len() + frac.trim_end_matches('0').len(),
    };
    if significant > MAX_SIGNIFICANT_DIGITS {
        return Err(Some(NumberProblem::TooManyDigits));
    }
    let number = if frac.is_empty() {
        int.to_string()
    } else {
        format!("{int}.{frac}")
    };
    let value: f64 = number.parse().map_err(|_| None)?;
    Ok((value, rest))
}

pub(super) fn starts_with_digit(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_digit())
}

/// What the officer should have typed instead of `s`, where it can be told: `1300个` for
/// `1,300个`, `1.5km` for `1,5km`, `2500m` for `2_500m`, `0.5km` for `.5km`, `5km` for `5.km`.
fn accepted_form(problem: NumberProblem, s: &str) -> String {
    let number_end = s
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | ',' | '，' | '_' | '\'' | '’')))
        .unwrap_or(s.len());
    let (number, rest) = s.split_at(number_end);
    let unit = unit_as_typed(rest);
    let number = number.replace('，', ",");
    let fixed = match problem {
        NumberProblem::Comma => {
            let (whole, frac) = number.split_once('.').unwrap_or((&number, ""));
            let groups: Vec<&str> = whole.split(',').collect();
            let thousands = groups.iter().skip(1).all(|g| g.len() == 3) && !groups[0].is_empty();
            if thousands && !frac.contains(',') {
                Some(number.replace(',', ""))
            } else if groups.len() == 2 && !number.contains('.') {
                Some(number.replace(',', "."))
            } else {
                None
            }
        }
        NumberProblem::Separator => Some(number.replace(['_', '\'', '’'], "")),
        NumberProblem::LeadingPoint => Some(format!("0{number}")),
        NumberProblem::TrailingPoint => Some(number.trim_end_matches('.').to_string()),
        _ => None,
    };
    match fixed {
        // Only a form that is itself accepted; otherwise the general example.
        Some(n) if read_number(&n).is_ok_and(|(_, rest)| rest.is_empty()) => format!("{n}{unit}"),
        _ => EXAMPLE_VALUE.to_string(),
    }
}

/// The unit (with a 万 before it) at the start of `s` as typed, or nothing.
fn unit_as_typed(s: &str) -> &str {
    let t = s.trim_start();
    let after = match unit_prefix(t) {
        Some((_, tail)) => tail,
        None => match t.strip_prefix('万').and_then(unit_prefix) {
            Some((_, tail)) => tail,
            None => return "",
        },
    };
    &t[..t.len() - after.len()]
}

/// The length of the number-like run at the start of `s`, malformed or not: digits, points,
/// separators, an exponent (`1e3`) or a hex form (`0x1f`).
fn loose_number_len(s: &str) -> usize {
    let mut hex = false;
    let mut prev = None;
    for (i, c) in s.char_indices() {
        let next = &s[i + c.len_utf8()..];
        let part = match c {
            '0'..='9' | '.' | ',' | '，' | '_' | '\'' | '’' => true,
            'e' | 'E' => starts_with_digit(next.trim_start_matches(['+', '-'])),
            '+' | '-' => matches!(prev, Some('e' | 'E')),
            'x' | 'X' => {
                hex = prev == Some('0');
                hex
            }
            _ => hex && c.is_ascii_hexdigit(),
        };
        if !part {
            return i;
        }
        prev = Some(c);
    }
    s.len()
}

/// Whether `text` begins with something read as a quantity: numbers (even malformed ones)
/// up to a known unit or the end. Such a note is a second value (`1km 500m`, `12 公里 3 米`,
/// `1 300`), not a remark like `2024年底完工` or `西永片区 3 处完工`.
pub(super) fn begins_with_quantity(text: &str) -> bool {
    let mut s = text.trim_start();
    loop {
        s = s.trim_start_matches(['-', '+']);
        let (number, rest) = s.split_at(loose_number_len(s));
        if !number.contains(|c: char| c.is_ascii_digit()) {
            return false;
        }
        if rest.trim().is_empty() || !unit_as_typed(rest).is_empty() {
            return true;
        }
        // `1 2 5km`: numbers in a row, as when digits were grouped with spaces.
        if !rest.starts_with(char::is_whitespace) {
            return false;
        }
        s = rest.trim_start();
    }
}

/// A number without trailing zeros: 20, 12.5, 2.27.
pub fn fmt_num(v: f64) -> String {
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_string()
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> (f64, Option<&'static str>, String) {
        let (q, rest) = Quantity::parse_prefix(s).expect(s);
        (q.value, q.unit.map(|u| u.symbol), rest.trim().to_string())
    }

    #[test]
    fn quantities_with_units_and_notes() {
        assert_eq!(q("12.5km"), (12.5, Some("公里"), String::new()));
        assert_eq!(
            q("12.5公里 西永片区完工"),
            (12.5, Some("公里"), "西永片区完工".into())
        );
        assert_eq!(q("1.5万平方米"), (1.5, Some("万平方米"), String::new()));
        assert_eq!(q("3万人次"), (30_000.0, Some("人次"), String::new()));
        assert_eq!(q("35%"), (35.0, Some("%"), String::new()));
        assert_eq!(q("860"), (860.0, None, String::new()));
        assert_eq!(q("12.5 m"), (12.5, Some("米"), String::new()));
        assert_eq!(
            q("12 monitors fitted"),
            (12.0, None, "monitors fitted".into())
        );
        assert_eq!(q("7户 已完工"), (7.0, Some("户"), "已完工".into()));
        assert_eq!(q("0.000000000000001km").0, 1e-15);
        assert_eq!(q("000123456789012345.000m").0, 123_456_789_012_345.0);
    }

    #[test]
    fn bad_quantities() {
        use QuantityError::*;
        assert_eq!(Quantity::parse_prefix("abc"), Err(NotANumber));
        assert_eq!(Quantity::parse_prefix("NaN"), Err(NotANumber));
        assert_eq!(Quantity::parse_prefix("inf"), Err(NotANumber));
        assert_eq!(Quantity::parse_prefix("-5km"), Err(Negative));
        assert_eq!(Quantity::parse_prefix("5kg"), Err(UnknownUnit("kg".into())));
        let malformed = |s: &str| match Quantity::parse_prefix(s) {
            Err(Malformed { problem, example }) => (problem, example),
            other => panic!("{s}: {other:?}"),
        };
        use NumberProblem as P;
        assert_eq!(malformed("1,5km"), (P::Comma, "1.5km".into()));
        assert_eq!(malformed("1,300个"), (P::Comma, "1300个".into()));
        assert_eq!(malformed("1，300"), (P::Comma, "1300".into()));
        assert_eq!(
            malformed("1,300,000.5 万人次"),
            (P::Comma, "1300000.5万人次".into())
        );
        assert_eq!(malformed("1,5,3km"), (P::Comma, EXAMPLE_VALUE.into()));
        assert_eq!(malformed("2_500m"), (P::Separator, "2500m".into()));
        assert_eq!(malformed("1e308km"), (P::Exponent, EXAMPLE_VALUE.into()));
        assert_eq!(malformed("1E-3km").0, P::Exponent);
        assert_eq!(malformed("0x10km"), (P::Hex, EXAMPLE_VALUE.into()));
        assert_eq!(malformed(".5km"), (P::LeadingPoint, "0.5km".into()));
        assert_eq!(malformed(".5"), (P::LeadingPoint, "0.5".into()));
        assert_eq!(malformed("5.km"), (P::TrailingPoint, "5km".into()));
        assert_eq!(malformed("5."), (P::TrailingPoint, "5".into()));
        assert_eq!(
            malformed("12.5.3km"),
            (P::SecondPoint, EXAMPLE_VALUE.into())
        );
        assert_eq!(malformed("1234567890123456km").0, P::TooManyDigits);
        assert_eq!(malformed("0.1234567890123456km").0, P::TooManyDigits);
        assert_eq!(
            Quantity::parse_prefix("12.5km西永"),
            Err(Glued {
                quantity: "12.5km".into(),
                rest: "西永".into()
            })
        );
        assert!(matches!(
            Quantity::parse_prefix("12西永片区完工"),
            Err(Glued { .. })
        ));
        assert!(matches!(Quantity::parse_prefix("35%,"), Err(Glued { .. })));
        assert_eq!(Quantity::parse_prefix("5斤"), Err(UnknownUnit("斤".into())));
        assert_eq!(
            Quantity::parse_prefix("5kmh"),
            Err(UnknownUnit("kmh".into()))
        );
        assert_eq!(
            Quantity::parse_prefix("0xkm"),
            Err(UnknownUnit("xkm".into()))
        );
    }

    #[test]
    fn notes_that_begin_with_a_quantity() {
        for note in [
            "500m",
            "3 米",
            " 1,500m",
            ".5km",
            "3万人次",
            "300",
            "1 2",
            "2 5km",
        ] {
            assert!(begins_with_quantity(note), "{note}");
        }
        for note in [
            "西永片区 3 处完工",
            "2024年底完工",
            "3 monitors",
            "",
            "第3段",
            "3 2024年",
        ] {
            assert!(!begins_with_quantity(note), "{note}");
        }
    }
}
