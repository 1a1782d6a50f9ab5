//! The xlsx workbook: a sheet per view (tasks, every metric and goal, the audit trail).
//! Text is always written as text, never as a formula.

use rust_xlsxwriter::{Format, Workbook, Worksheet};

use super::csv::{ITEM_COLUMNS, TRAIL_COLUMNS, item_fields, trail_fields};
use super::{TaskRow, TrailEntry};

/// The workbook could not be written (it is built in memory, so this is a bug or a limit).
#[derive(Debug, thiserror::Error)]
#[error("building the xlsx export failed: {0}")]
pub struct XlsxError(String);

impl From<rust_xlsxwriter::XlsxError> for XlsxError {
    fn from(e: rust_xlsxwriter::XlsxError) -> Self {
        XlsxError(e.to_string())
    }
}

/// Columns written as numbers when they hold one.
const NUMERIC: &[&str] = &[
    "task",
    "item",
    "part_of",
    "target",
    "value",
    "id",
    "old_value",
    "new_value",
    "reverts",
    "reported",
    "fulfilled",
    "total",
];

fn sheet(
    ws: &mut Worksheet,
    name: &str,
    columns: &[&str],
    rows: impl Iterator<Item = Vec<String>>,
) -> Result<(), XlsxError> {
    let bold = Format::new().set_bold();
    ws.set_name(name)?;
    for (c, title) in (0u16..).zip(columns) {
        ws.write_string_with_format(0, c, *title, &bold)?;
    }
    for (r, fields) in rows.enumerate() {
        let r = u32::try_from(r + 1).map_err(|_| XlsxError("too many rows".into()))?;
        for (c, text) in fields.iter().enumerate() {
            if text.is_empty() {
                continue;
            }
            let numeric = columns.get(c).is_some_and(|name| NUMERIC.contains(name));
            let c = u16::try_from(c).map_err(|_| XlsxError("too many columns".into()))?;
            match text.parse::<f64>() {
                Ok(v) if numeric && v.is_finite() => ws.write_number(r, c, v)?,
                _ => ws.write_string(r, c, text)?,
            };
        }
    }
    ws.set_freeze_panes(1, 0)?;
    Ok(())
}

/// The workbook's bytes: sheets `Tasks`, `Metrics`, `Audit`.
pub fn workbook(tasks: &[TaskRow], trail: &[TrailEntry]) -> Result<Vec<u8>, XlsxError> {
    let mut wb = Workbook::new();
    let task_columns = [
        "task",
        "id",
        "title_zh",
        "title_en",
        "status",
        "reported",
        "fulfilled",
        "total",
    ];
    sheet(
        wb.add_worksheet(),
        "Tasks",
        &task_columns,
        tasks.iter().map(|t| {
            vec![
                t.number.to_string(),
                t.id.clone(),
                t.title_zh.clone(),
                t.title_en.clone(),
                t.status.to_string(),
                t.reported.to_string(),
                t.fulfilled.to_string(),
                t.total.to_string(),
            ]
        }),
    )?;
    sheet(
        wb.add_worksheet(),
        "Metrics",
        &ITEM_COLUMNS,
        tasks
            .iter()
            .flat_map(|t| t.items.iter().map(move |i| item_fields(t, i))),
    )?;
    sheet(
        wb.add_worksheet(),
        "Audit",
        &TRAIL_COLUMNS,
        trail.iter().map(trail_fields),
    )?;
    Ok(wb.save_to_buffer()?)
}
