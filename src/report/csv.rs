//! CSV as spreadsheets open it: UTF-8 with a byte-order mark (so Excel reads the Chinese),
//! CRLF line ends, fields quoted when they need it, and a text that starts like a formula
//! (`=`, `+`, `-`, `@`) prefixed with `'` so a spreadsheet shows it rather than runs it.

use super::{TaskRow, TrailEntry};

const BOM: &str = "\u{feff}";

fn field(out: &mut String, text: &str) {
    let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) && text.parse::<f64>().is_err()
    {
        format!("'{text}")
    } else {
        text.to_string()
    };
    if text.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&text.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(&text);
    }
}

fn row(out: &mut String, fields: &[String]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        field(out, f);
    }
    out.push_str("\r\n");
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// The columns of the metrics view, shared with the xlsx sheet.
pub(super) const ITEM_COLUMNS: [&str; 20] = [
    "task",
    "task_title_zh",
    "task_title_en",
    "task_status",
    "item",
    "item_id",
    "kind",
    "measure",
    "name_zh",
    "name_en",
    "part_of",
    "comparator",
    "target",
    "unit",
    "value",
    "stage",
    "status",
    "updated_at",
    "updated_by",
    "note",
];

pub(super) fn item_fields(t: &TaskRow, i: &super::ItemRow) -> Vec<String> {
    vec![
        t.number.to_string(),
        t.title_zh.clone(),
        t.title_en.clone(),
        t.status.to_string(),
        i.number.to_string(),
        i.id.clone(),
        i.kind.to_string(),
        i.measure.to_string(),
        i.name_zh.clone(),
        i.name_en.clone(),
        opt(i.part_of),
        opt(i.comparator),
        opt(i.target),
        opt(i.unit),
        opt(i.value),
        opt(i.stage),
        i.status.to_string(),
        opt(i.updated_at.clone()),
        opt(i.updated_by.clone()),
        opt(i.note.clone()),
    ]
}

pub(super) const TRAIL_COLUMNS: [&str; 13] = [
    "id",
    "at",
    "kind",
    "task",
    "item",
    "old_value",
    "new_value",
    "old_stage",
    "new_stage",
    "note",
    "by",
    "reverts",
    "hash",
];

pub(super) fn trail_fields(e: &TrailEntry) -> Vec<String> {
    vec![
        e.id.to_string(),
        e.at.clone(),
        e.kind.to_string(),
        e.task.to_string(),
        opt(e.item),
        opt(e.old_value),
        opt(e.new_value),
        opt(e.old_stage),
        opt(e.new_stage),
        opt(e.note.clone()),
        e.by.clone(),
        opt(e.reverts),
        opt(e.hash.clone()),
    ]
}

/// Every metric and goal of every task, one row each.
pub fn items_csv(tasks: &[TaskRow]) -> String {
    let mut out = String::from(BOM);
    row(&mut out, &ITEM_COLUMNS.map(String::from));
    for t in tasks {
        for i in &t.items {
            row(&mut out, &item_fields(t, i));
        }
    }
    out
}

/// The audit trail, oldest first.
pub fn trail_csv(trail: &[TrailEntry]) -> String {
    let mut out = String::from(BOM);
    row(&mut out, &TRAIL_COLUMNS.map(String::from));
    for e in trail {
        row(&mut out, &trail_fields(e));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_and_defuses_formulas() {
        let mut out = String::new();
        row(
            &mut out,
            &[
                "a,b".into(),
                "say \"hi\"".into(),
                "=HYPERLINK(1)".into(),
                "-3.5".into(),
                "plain".into(),
            ],
        );
        assert_eq!(
            out,
            "\"a,b\",\"say \"\"hi\"\"\",'=HYPERLINK(1),-3.5,plain\r\n"
        );
    }
}
