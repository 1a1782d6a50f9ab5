//! Tasks named by number in free text (`第14项`, `14号任务`, `task 14`): the matcher reads
//! words, and an ordinal is not a word it can weigh.

use super::normalize::fold;

/// A task named by its number inside a free-text question: `第14项是什么`, `14号任务进度`,
/// `任务十四完成了吗`, `task 14 progress`. Returns the number and whether the question asks what
/// the task is (rather than how far along it is). Numbers that are something else — `3号线`,
/// `1300个车位` — are not taken.
pub fn mentioned_task(text: &str) -> Option<(u32, bool)> {
    // Most questions hold no number at all: spare them the folding.
    if !text
        .chars()
        .any(|c| c.is_numeric() || "一二两三四五六七八九十".contains(c))
    {
        return None;
    }
    let t = fold(text);
    let chars: Vec<char> = t.chars().collect();
    let mut found = None;
    let mut i = 0;
    while i < chars.len() && found.is_none() {
        let Some((n, end)) = read_number(&chars, i) else {
            i += 1;
            continue;
        };
        let before: String = chars[..i]
            .iter()
            .rev()
            .skip_while(|c| c.is_whitespace() || **c == '#')
            .take(7)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let after: String = chars[end..]
            .iter()
            .skip_while(|c| c.is_whitespace())
            .take(3)
            .collect();
        let ordinal = before.ends_with('第');
        let led = ["任务", "task", "project", "item"]
            .iter()
            .any(|w| before.ends_with(w))
            || (i > 0 && chars[i - 1] == '#');
        let ordinal_suffix = after.starts_with(['项', '件']) || after.starts_with("个任务");
        // `14号` is a date, a metro line, a building or a document number far more often than
        // a task: only `14号任务` / `14号项目` / `14号项` name one.
        let hao = after.starts_with('号')
            && ["号任务", "号项目", "号项"]
                .iter()
                .any(|w| after.starts_with(w));
        let task_word = after.starts_with("任务");
        if (ordinal && ordinal_suffix) || led || hao || task_word {
            found = Some(n);
        }
        i = end;
    }
    let n = found?;
    const WHAT: &[&str] = &[
        "是什么",
        "什么是",
        "内容",
        "介绍",
        "讲的",
        "讲什么",
        "具体",
        "what is",
        "what's",
        "about",
        "describe",
    ];
    Some((n, WHAT.iter().any(|w| t.contains(w))))
}

/// A task-sized number (1–99) at `i`, in digits or Chinese numerals, and where it ends. A digit
/// run longer than two (a year, a count) is not one.
fn read_number(chars: &[char], i: usize) -> Option<(u32, usize)> {
    let is_cn = |c: char| "零一二两三四五六七八九十".contains(c);
    let start_ok = i == 0 || !(chars[i - 1].is_ascii_digit() || chars[i - 1] == '.');
    if !start_ok {
        return None;
    }
    let end = if chars[i].is_ascii_digit() {
        let end = i + chars[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        // 19.9 is a metric of task 19 and 12.5 a quantity: neither is a task here.
        if end - i > 2 || chars.get(end) == Some(&'.') {
            return None;
        }
        end
    } else if is_cn(chars[i]) {
        i + chars[i..].iter().take_while(|c| is_cn(**c)).count()
    } else {
        return None;
    };
    let word: String = chars[i..end].iter().collect();
    small_number(&word).map(|n| (n, end))
}

/// `14` or a Chinese numeral up to 九十九 (`十四`, `二十`).
pub fn small_number(s: &str) -> Option<u32> {
    if s.is_empty() {
        return None;
    }
    if s.chars().all(|c| c.is_ascii_digit()) {
        return s.parse().ok().filter(|n| *n > 0 && *n < 10_000);
    }
    let digit = |c: char| "零一二三四五六七八九".chars().position(|d| d == c);
    let chars: Vec<char> = s
        .chars()
        .map(|c| if c == '两' { '二' } else { c })
        .collect();
    let n = match chars.as_slice() {
        ['十'] => 10,
        [d] => digit(*d)?,
        ['十', u] => 10 + digit(*u)?,
        [t, '十'] => digit(*t)? * 10,
        [t, '十', u] => digit(*t)? * 10 + digit(*u)?,
        _ => return None,
    };
    u32::try_from(n).ok().filter(|n| *n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_mentioned_in_questions() {
        let m = mentioned_task;
        assert_eq!(m("第14项是什么"), Some((14, true)));
        assert_eq!(m("14号任务进度"), Some((14, false)));
        assert_eq!(m("第十四项进展如何"), Some((14, false)));
        assert_eq!(m("任务14完成了吗"), Some((14, false)));
        assert_eq!(m("task 14 progress"), Some((14, false)));
        assert_eq!(m("What is task #19?"), Some((19, true)));
        assert_eq!(m("14号项目怎么样了"), Some((14, false)));
        assert_eq!(m("第十四件办得如何"), Some((14, false)));
        // A bare number with 号 is a date, a line, a building or a document, not a task.
        for q in [
            "这个月18号 停水不",
            "3号 线地铁",
            "6号 有没有活动",
            "〔2024〕17号 文件",
            "14号怎么样了",
            "下周3号停电吗",
            "5号楼的电梯什么时候修",
            "12月12号有没有义诊",
            "is there an event on the 6th",
        ] {
            assert_eq!(m(q), None, "{q}");
        }
        assert_eq!(m("3号线地铁"), None);
        assert_eq!(m("1300个车位完成了吗"), None);
        assert_eq!(m("2024年的民生实事"), None);
        assert_eq!(m("19.9完成多少"), None);
        assert_eq!(m("错时共享停车"), None);
    }
}
