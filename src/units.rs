//! Units of measure: the closed list that `faq/` targets and officers' `/update` values may use.
//!
//! Every unit belongs to a [`Dimension`] and converts to that dimension's base unit (metres,
//! square metres, a count, a percentage), so `12.5km`, `12.5公里` and `12500米` compare equal.

use std::fmt;

/// What a unit measures. Counts carry a classifier kind: `5户` (households) does not fit a metric
/// counted in `人` (people), while the generic `个`/`项` fits any count when nothing else is meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dimension {
    Length,
    Area,
    Percent,
    Count(CountKind),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CountKind {
    /// 个 项 — a generic classifier.
    Generic,
    /// 人 名
    People,
    /// 人次
    PersonTimes,
    /// 户
    Households,
    /// 台
    Machines,
    /// 家 所
    Organisations,
    /// 处
    Places,
    /// 批次
    Batches,
    /// 场次 次
    Sessions,
}

impl Dimension {
    pub fn is_count(self) -> bool {
        matches!(self, Dimension::Count(_))
    }
}

/// A unit as written, with its dimension and the factor to the dimension's base unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Unit {
    /// The spelling used for display, e.g. `公里`, `万平方米`, `个`.
    pub symbol: &'static str,
    pub dimension: Dimension,
    /// Multiply a value in this unit by `factor` to get base units (m, m², count, %).
    pub factor: f64,
}

const fn unit(symbol: &'static str, dimension: Dimension, factor: f64) -> Unit {
    Unit {
        symbol,
        dimension,
        factor,
    }
}

use CountKind::*;
use Dimension::*;

/// Every spelling the bot understands. Longer spellings come first so that parsing `万平方米`
/// never stops at `平方米`, nor `人次` at `人`.
const UNITS: &[(&str, Unit)] = &[
    ("万平方米", unit("万平方米", Area, 10_000.0)),
    ("万平米", unit("万平方米", Area, 10_000.0)),
    ("万㎡", unit("万平方米", Area, 10_000.0)),
    ("万m²", unit("万平方米", Area, 10_000.0)),
    ("万m2", unit("万平方米", Area, 10_000.0)),
    ("平方公里", unit("平方公里", Area, 1_000_000.0)),
    ("平方千米", unit("平方公里", Area, 1_000_000.0)),
    ("km²", unit("平方公里", Area, 1_000_000.0)),
    ("km2", unit("平方公里", Area, 1_000_000.0)),
    ("平方米", unit("平方米", Area, 1.0)),
    ("平米", unit("平方米", Area, 1.0)),
    ("㎡", unit("平方米", Area, 1.0)),
    ("m²", unit("平方米", Area, 1.0)),
    ("m2", unit("平方米", Area, 1.0)),
    ("sqm", unit("平方米", Area, 1.0)),
    ("公里", unit("公里", Length, 1_000.0)),
    ("千米", unit("公里", Length, 1_000.0)),
    ("km", unit("公里", Length, 1_000.0)),
    ("米", unit("米", Length, 1.0)),
    ("m", unit("米", Length, 1.0)),
    ("%", unit("%", Percent, 1.0)),
    ("percent", unit("%", Percent, 1.0)),
    ("人次", unit("人次", Count(PersonTimes), 1.0)),
    ("批次", unit("批次", Count(Batches), 1.0)),
    ("场次", unit("场次", Count(Sessions), 1.0)),
    ("个", unit("个", Count(Generic), 1.0)),
    ("项", unit("项", Count(Generic), 1.0)),
    ("处", unit("处", Count(Places), 1.0)),
    ("家", unit("家", Count(Organisations), 1.0)),
    ("所", unit("所", Count(Organisations), 1.0)),
    ("台", unit("台", Count(Machines), 1.0)),
    ("户", unit("户", Count(Households), 1.0)),
    ("人", unit("人", Count(People), 1.0)),
    ("名", unit("名", Count(People), 1.0)),
    ("场", unit("场次", Count(Sessions), 1.0)),
    ("次", unit("次", Count(Sessions), 1.0)),
];

impl Unit {
    /// The unit spelled exactly `s` (after trimming; ASCII letters in any case), if known.
    pub fn parse(s: &str) -> Option<Unit> {
        let s = s.trim();
        UNITS
            .iter()
            .find(|(spelling, _)| spelling.eq_ignore_ascii_case(s))
            .map(|(_, u)| *u)
    }

    /// The longest known unit that `s` starts with, and the rest of `s` after it.
    pub fn parse_prefix(s: &str) -> Option<(Unit, &str)> {
        UNITS.iter().find_map(|(spelling, u)| {
            let head = s.get(..spelling.len())?;
            head.eq_ignore_ascii_case(spelling)
                .then(|| (*u, &s[spelling.len()..]))
        })
    }

    /// All spellings, for error messages and the `faq/` guide.
    pub fn known_spellings() -> impl Iterator<Item = &'static str> {
        UNITS.iter().map(|(s, _)| *s)
    }

    pub fn to_base(self, value: f64) -> f64 {
        value * self.factor
    }

    pub fn from_base(self, base: f64) -> f64 {
        base / self.factor
    }

    /// `factor` as a power of ten, which every unit in the list is.
    fn decimal_exponent(self) -> Option<i32> {
        let e = self.factor.log10().round();
        (e.abs() < 30.0 && 10f64.powi(e as i32) == self.factor).then_some(e as i32)
    }

    /// `value` in `self` expressed in `to`. The decimal point is moved rather than multiplied
    /// and divided in binary, so `1.1米` is the `f64` nearest to 0.0011 km, as if typed so.
    pub fn convert(self, value: f64, to: Unit) -> f64 {
        let binary = || to.from_base(self.to_base(value));
        match (self.decimal_exponent(), to.decimal_exponent()) {
            (Some(from), Some(into)) if value.is_finite() => {
                // A finite f64 prints as the shortest decimal that reads back as itself.
                format!("{value}e{}", from - into)
                    .parse()
                    .unwrap_or_else(|_| binary())
            }
            _ => binary(),
        }
    }

    /// Whether a value given in `self` may be recorded against a metric measured in `metric`.
    /// Same dimension is required; among counts the classifier must agree, except the generic
    /// `个`/`项`, which fits any count.
    pub fn fits(self, metric: Unit) -> bool {
        match (self.dimension, metric.dimension) {
            (Count(given), Count(wanted)) => given == wanted || given == Generic,
            (a, b) => a == b,
        }
    }

    /// English name for replies in English.
    pub fn english(self) -> &'static str {
        match self.symbol {
            "万平方米" => "×10k m²",
            "平方公里" => "km²",
            "平方米" => "m²",
            "公里" => "km",
            "米" => "m",
            "%" => "%",
            "人次" => "person-times",
            "批次" => "batches",
            "场次" | "次" => "sessions",
            "处" => "sites",
            "家" | "所" => "institutions",
            "台" => "units",
            "户" => "households",
            "人" | "名" => "people",
            _ => "",
        }
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_spelling_wins() {
        let (u, rest) = Unit::parse_prefix("万平方米 西永").unwrap();
        assert_eq!(u.symbol, "万平方米");
        assert_eq!(rest, " 西永");
        assert_eq!(Unit::parse_prefix("人次").unwrap().0.symbol, "人次");
        assert_eq!(Unit::parse_prefix("KM").unwrap().0.symbol, "公里");
    }

    #[test]
    fn conversions_meet_in_base_units() {
        let km = Unit::parse("km").unwrap();
        let m = Unit::parse("米").unwrap();
        assert_eq!(km.to_base(12.5), m.to_base(12_500.0));
        let wan = Unit::parse("万平方米").unwrap();
        assert!((wan.to_base(2.27) - 22_700.0).abs() < 1e-6);
    }

    #[test]
    fn conversions_move_the_decimal_point() {
        for (spelling, u) in UNITS {
            assert!(
                u.decimal_exponent().is_some(),
                "{spelling}: not a power of ten"
            );
        }
        let km = Unit::parse("km").unwrap();
        let m = Unit::parse("米").unwrap();
        assert_eq!(m.convert(1.1, km), 0.0011);
        assert_eq!(m.convert(13_000.0, km), 13.0);
        assert_eq!(km.convert(12.5, km), 12.5);
        let wan = Unit::parse("万平方米").unwrap();
        assert_eq!(Unit::parse("平方米").unwrap().convert(15_000.0, wan), 1.5);
    }

    #[test]
    fn counts_fit_by_classifier() {
        let ge = Unit::parse("个").unwrap();
        let hu = Unit::parse("户").unwrap();
        let ren = Unit::parse("人").unwrap();
        let ming = Unit::parse("名").unwrap();
        assert!(ge.fits(hu));
        assert!(!hu.fits(ren));
        assert!(ming.fits(ren));
        assert!(!ge.fits(Unit::parse("km").unwrap()));
    }
}
