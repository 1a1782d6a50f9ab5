//! A metric's history as a step chart, server-rendered SVG (no script): the recorded value
//! over the list's period with its target as a dashed line. Geometry only; the template
//! draws it and escapes the labels.

use serde::Serialize;

/// Drawing area, in SVG user units (the SVG scales to the page's width).
const WIDTH: f64 = 320.0;
const HEIGHT: f64 = 150.0;
const LEFT: f64 = 8.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 18.0;
const BOTTOM: f64 = 22.0;

#[derive(Debug, Clone, Serialize)]
pub struct Chart {
    pub width: f64,
    pub height: f64,
    /// The step line, as an SVG `points` list.
    pub line: String,
    pub dots: Vec<Dot>,
    pub target_y: f64,
    pub target_label: String,
    /// Where the label sits: above the line, or below it when the line is near the top.
    pub target_label_y: f64,
    pub x_left: f64,
    pub x_right: f64,
    pub baseline_y: f64,
    pub start_label: String,
    pub end_label: String,
    pub label_y: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Dot {
    pub x: f64,
    pub y: f64,
    /// `2024-05-01: 12.5公里`, shown as the point's tooltip.
    pub label: String,
}

fn r1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// The chart of `points` (Unix ms, value, label), in time order, between `start` and `end`
/// (ms; the end is now for a running list), against `target`.
pub fn chart(
    points: &[(i64, f64, String)],
    start: i64,
    end: i64,
    target: f64,
    target_label: String,
    start_label: String,
    end_label: String,
) -> Option<Chart> {
    if points.is_empty() || end <= start {
        return None;
    }
    let max = points
        .iter()
        .map(|p| p.1)
        .fold(target, f64::max)
        .max(f64::MIN_POSITIVE);
    let top = max * 1.1;
    let x = |t: i64| {
        let share = ((t - start) as f64 / (end - start) as f64).clamp(0.0, 1.0);
        r1(LEFT + share * (WIDTH - LEFT - RIGHT))
    };
    let y = |v: f64| r1(TOP + (1.0 - (v / top).clamp(0.0, 1.0)) * (HEIGHT - TOP - BOTTOM));
    let mut line = Vec::new();
    let mut dots = Vec::new();
    for (i, (t, v, label)) in points.iter().enumerate() {
        let (px, py) = (x(*t), y(*v));
        if let Some(prev) = i.checked_sub(1).and_then(|j| points.get(j)) {
            // A step: the previous value holds until this update.
            line.push(format!("{px},{}", y(prev.1)));
        }
        line.push(format!("{px},{py}"));
        dots.push(Dot {
            x: px,
            y: py,
            label: label.clone(),
        });
    }
    if let Some(last) = points.last() {
        line.push(format!("{},{}", x(end), y(last.1)));
    }
    let target_y = y(target);
    Some(Chart {
        width: WIDTH,
        height: HEIGHT,
        line: line.join(" "),
        dots,
        target_y,
        target_label,
        target_label_y: if target_y < TOP + 4.0 {
            target_y + 12.0
        } else {
            target_y - 4.0
        },
        x_left: LEFT,
        x_right: WIDTH - RIGHT,
        baseline_y: HEIGHT - BOTTOM,
        start_label,
        end_label,
        label_y: HEIGHT - 6.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_hold_until_the_next_update() {
        let c = chart(
            &[(50, 5.0, "a".into()), (100, 10.0, "b".into())],
            0,
            200,
            20.0,
            "≥ 20".into(),
            "1".into(),
            "2".into(),
        )
        .expect("chart");
        let points: Vec<&str> = c.line.split(' ').collect();
        assert_eq!(points.len(), 4, "{}", c.line);
        assert_eq!(c.dots.len(), 2);
        assert!(c.target_y < c.dots[1].y, "the target is above the value");
        assert!(chart(&[], 0, 1, 1.0, String::new(), String::new(), String::new()).is_none());
    }
}
