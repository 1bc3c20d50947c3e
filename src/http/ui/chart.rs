//! Bar charts drawn on the server as inline SVG: no script, no other
//! origin, and they print.
//!
//! The SVG is [maud] markup like the rest of the page, so every label (a
//! machine's name is whatever its owner typed) is escaped on the way in;
//! nothing here formats markup into a string. Each element is written with
//! an explicit end tag (`{}`): inside `<svg>` the HTML parser treats a start
//! tag without `/>` or an end tag as still open, and the next bar would be
//! drawn inside it (that is, not at all).
//!
//! A chart is `role="img"` with an `aria-label` and a `<title>`: a screen
//! reader announces it as one picture, and the page gives the same figures
//! in a table next to it. Each bar carries its own `<title>`, the browser's
//! tooltip with the exact figure.
//!
//! The scale always includes zero, so a negative value (a saving that went
//! the wrong way) is a bar below the axis; a missing value draws no bar and
//! says so in its tooltip; values that are not finite count as missing.

use maud::{Markup, html};

/// One series of values (one colour), e.g. cost or savings.
#[derive(Debug, Clone, Copy)]
pub(super) struct Series<'a> {
    /// Its name in the legend and the tooltips.
    pub name: &'a str,
    /// The CSS class of its bars (`bar-cost`, `bar-saved`: `app.css`).
    pub class: &'a str,
}

/// One group of bars: a month, a machine.
#[derive(Debug, Clone)]
pub(super) struct Group {
    /// What the axis says under (or beside) it; shortened when long.
    pub label: String,
    /// One value per series, in the order of the series; `None`: unknown.
    pub values: Vec<Option<f64>>,
}

/// How a chart is titled and how its values read.
#[derive(Debug, Clone, Copy)]
pub(super) struct Frame<'a> {
    /// The chart's accessible name and `<title>`.
    pub title: &'a str,
    /// Writes a value as the tooltips and the axis show it (e.g. dollars).
    pub format: fn(f64) -> String,
}

/// Labels longer than this (in characters) are cut, with `…`, and shown
/// whole in their tooltip.
const MAX_LABEL: usize = 24;

/// Font size of the labels, in SVG units (`app.css` sets the same).
const TEXT: f64 = 11.0;

/// `label` cut to `max` characters with a visible `…`, and whether it was cut.
pub(super) fn shorten(label: &str, max: usize) -> (String, bool) {
    if label.chars().count() <= max {
        return (label.to_string(), false);
    }
    let mut short: String = label.chars().take(max.saturating_sub(1)).collect();
    short.push('…');
    (short, true)
}

/// A value that can be drawn: finite, else none.
fn finite(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite())
}

/// The value axis: from `low` (≤ 0) to `high` (≥ 0), in steps of `step`,
/// each a round number.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Scale {
    low: f64,
    high: f64,
    step: f64,
}

impl Scale {
    /// A scale that holds zero and every value, with about four steps.
    fn of<'a>(values: impl Iterator<Item = &'a Option<f64>>) -> Scale {
        let (mut min, mut max) = (0.0_f64, 0.0_f64);
        for v in values.filter_map(|v| finite(*v)) {
            min = min.min(v);
            max = max.max(v);
        }
        if max - min <= 0.0 {
            // Nothing but zeros (or nothing): an axis of one unit.
            return Scale {
                low: 0.0,
                high: 1.0,
                step: 0.5,
            };
        }
        let step = nice_step((max - min) / 4.0);
        Scale {
            low: (min / step).floor() * step,
            high: (max / step).ceil() * step,
            step,
        }
    }

    /// Where `v` lies from 0 (`low`) to 1 (`high`).
    fn at(&self, v: f64) -> f64 {
        ((v - self.low) / (self.high - self.low)).clamp(0.0, 1.0)
    }

    /// The gridline values, low to high.
    fn ticks(&self) -> Vec<f64> {
        let n = ((self.high - self.low) / self.step).round() as i64;
        (0..=n.min(20))
            .map(|i| self.low + i as f64 * self.step)
            .collect()
    }
}

/// 1, 2 or 5 times a power of ten, at least `raw`.
fn nice_step(raw: f64) -> f64 {
    let power = 10f64.powf(raw.log10().floor());
    let fraction = raw / power;
    let nice = if fraction <= 1.0 {
        1.0
    } else if fraction <= 2.0 {
        2.0
    } else if fraction <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * power
}

/// A coordinate as SVG text: one decimal is finer than a pixel.
fn px(v: f64) -> String {
    format!("{v:.1}")
}

/// The tooltip of one bar: `2026-03 · cost: $12.00`.
fn tip(group: &str, series: &str, value: Option<f64>, format: fn(f64) -> String) -> String {
    match finite(value) {
        Some(v) => format!("{group} · {series}: {}", format(v)),
        None => format!("{group} · {series}: not known"),
    }
}

/// The legend, top right, one swatch per series.
fn legend(series: &[Series<'_>], right: f64) -> Markup {
    let width = 90.0;
    let left = right - width * series.len() as f64;
    html! {
        g.legend {
            @for (i, s) in series.iter().enumerate() {
                @let x = left + i as f64 * width;
                rect class=(s.class) x=(px(x)) y="2" width="10" height="10" {}
                text x=(px(x + 14.0)) y=(px(2.0 + TEXT - 1.0)) { (s.name) }
            }
        }
    }
}

/// Vertical bars, one cluster per group (months along the bottom), one
/// bar per series in each cluster.
pub(super) fn columns(frame: Frame<'_>, series: &[Series<'_>], groups: &[Group]) -> Markup {
    const WIDTH: f64 = 640.0;
    const HEIGHT: f64 = 240.0;
    const LEFT: f64 = 64.0;
    const RIGHT: f64 = 8.0;
    const TOP: f64 = 22.0;
    const BOTTOM: f64 = 26.0;
    let scale = Scale::of(groups.iter().flat_map(|g| g.values.iter()));
    let plot_h = HEIGHT - TOP - BOTTOM;
    let y = |v: f64| TOP + plot_h * (1.0 - scale.at(v));
    let slot = (WIDTH - LEFT - RIGHT) / groups.len().max(1) as f64;
    let bar_w = (slot * 0.7 / series.len().max(1) as f64).min(48.0);
    let cluster_w = bar_w * series.len() as f64;
    let zero = y(0.0);
    html! {
        svg.chart xmlns="http://www.w3.org/2000/svg" viewBox={ "0 0 " (WIDTH) " " (HEIGHT) }
            role="img" aria-label=(frame.title) {
            title { (frame.title) }
            @for t in scale.ticks() {
                line.axis x1=(px(LEFT)) x2=(px(WIDTH - RIGHT)) y1=(px(y(t))) y2=(px(y(t))) {}
                text x=(px(LEFT - 6.0)) y=(px(y(t) + TEXT / 3.0)) text-anchor="end" { ((frame.format)(t)) }
            }
            @if groups.is_empty() {
                text x=(px(LEFT + (WIDTH - LEFT - RIGHT) / 2.0)) y=(px(TOP + plot_h / 2.0)) text-anchor="middle" { "No figures yet" }
            }
            @for (i, g) in groups.iter().enumerate() {
                @let left = LEFT + slot * i as f64 + (slot - cluster_w) / 2.0;
                @let (label, cut) = shorten(&g.label, 12);
                @for (j, s) in series.iter().enumerate() {
                    @let value = finite(g.values.get(j).copied().flatten());
                    @let top = value.map_or(zero, |v| y(v).min(zero));
                    @let height = value.map_or(0.0, |v| (y(v) - zero).abs());
                    rect class=(s.class) x=(px(left + bar_w * j as f64)) y=(px(top)) width=(px(bar_w * 0.92)) height=(px(height)) {
                        title { (tip(&g.label, s.name, value, frame.format)) }
                    }
                }
                text x=(px(LEFT + slot * (i as f64 + 0.5))) y=(px(HEIGHT - 8.0)) text-anchor="middle" {
                    @if cut { title { (g.label) } }
                    (label)
                }
            }
            line.axis x1=(px(LEFT)) x2=(px(WIDTH - RIGHT)) y1=(px(zero)) y2=(px(zero)) {}
            (legend(series, WIDTH - RIGHT))
        }
    }
}

/// Horizontal bars, one row per group (machines down the left side, the
/// long names cut), one bar per series in each row.
pub(super) fn rows(frame: Frame<'_>, series: &[Series<'_>], groups: &[Group]) -> Markup {
    const WIDTH: f64 = 640.0;
    const LEFT: f64 = 170.0;
    const RIGHT: f64 = 70.0;
    const TOP: f64 = 22.0;
    const ROW: f64 = 20.0;
    let height = TOP + ROW * groups.len().max(1) as f64 + 20.0;
    let scale = Scale::of(groups.iter().flat_map(|g| g.values.iter()));
    let plot_w = WIDTH - LEFT - RIGHT;
    let x = |v: f64| LEFT + plot_w * scale.at(v);
    let zero = x(0.0);
    let bar_h = ROW * 0.7 / series.len().max(1) as f64;
    html! {
        svg.chart xmlns="http://www.w3.org/2000/svg" viewBox={ "0 0 " (WIDTH) " " (px(height)) }
            role="img" aria-label=(frame.title) {
            title { (frame.title) }
            @for t in scale.ticks() {
                line.axis x1=(px(x(t))) x2=(px(x(t))) y1=(px(TOP)) y2=(px(height - 18.0)) {}
                text x=(px(x(t))) y=(px(height - 6.0)) text-anchor="middle" { ((frame.format)(t)) }
            }
            @if groups.is_empty() {
                text x=(px(LEFT + plot_w / 2.0)) y=(px(TOP + ROW * 0.7)) text-anchor="middle" { "No machines in this month" }
            }
            @for (i, g) in groups.iter().enumerate() {
                @let row_top = TOP + ROW * i as f64;
                @let (label, cut) = shorten(&g.label, MAX_LABEL);
                text x=(px(LEFT - 6.0)) y=(px(row_top + ROW / 2.0 + TEXT / 3.0)) text-anchor="end" {
                    @if cut { title { (g.label) } }
                    (label)
                }
                @for (j, s) in series.iter().enumerate() {
                    @let value = finite(g.values.get(j).copied().flatten());
                    @let left = value.map_or(zero, |v| x(v).min(zero));
                    @let width = value.map_or(0.0, |v| (x(v) - zero).abs());
                    @let top = row_top + ROW * 0.15 + bar_h * j as f64;
                    rect class=(s.class) x=(px(left)) y=(px(top)) width=(px(width)) height=(px(bar_h * 0.92)) {
                        title { (tip(&g.label, s.name, value, frame.format)) }
                    }
                }
                @if let [only] = series {
                    @let value = finite(g.values.first().copied().flatten());
                    text x=(px(value.map_or(zero, |v| x(v).max(zero)) + 4.0)) y=(px(row_top + ROW / 2.0 + TEXT / 3.0)) {
                        @match value {
                            Some(v) => ((frame.format)(v)),
                            None => { (only.name) " not known" },
                        }
                    }
                }
            }
            line.axis x1=(px(zero)) x2=(px(zero)) y1=(px(TOP)) y2=(px(height - 18.0)) {}
            @if series.len() > 1 {
                (legend(series, WIDTH - RIGHT))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dollars(v: f64) -> String {
        format!("${v:.2}")
    }

    const FRAME: Frame<'static> = Frame {
        title: "Cost by month",
        format: dollars,
    };
    const COST: Series<'static> = Series {
        name: "cost",
        class: "bar-cost",
    };
    const SAVED: Series<'static> = Series {
        name: "saved",
        class: "bar-saved",
    };

    fn group(label: &str, values: &[Option<f64>]) -> Group {
        Group {
            label: label.to_string(),
            values: values.to_vec(),
        }
    }

    /// The `height` of every `<rect class="bar-cost"` in `svg`.
    fn heights(svg: &str, attr: &str) -> Vec<f64> {
        svg.split("<rect class=\"bar-cost\"")
            .skip(1)
            .map(|rest| {
                let at = rest.find(&format!(" {attr}=\"")).unwrap() + attr.len() + 3;
                rest[at..rest[at..].find('"').unwrap() + at]
                    .parse()
                    .unwrap()
            })
            .collect()
    }

    #[test]
    fn bars_scale_with_their_values() {
        let svg = columns(
            FRAME,
            &[COST],
            &[
                group("2026-01", &[Some(10.0)]),
                group("2026-02", &[Some(20.0)]),
                group("2026-03", &[Some(40.0)]),
            ],
        )
        .into_string();
        // The legend's swatch is a bar-cost rect too: skip it.
        let h = &heights(&svg, "height")[..3];
        assert!(h[0] > 0.0, "{svg}");
        assert!((h[1] / h[0] - 2.0).abs() < 0.05, "{h:?}");
        assert!((h[2] / h[0] - 4.0).abs() < 0.05, "{h:?}");
        assert!(svg.contains("role=\"img\"") && svg.contains("<title>Cost by month</title>"));
        assert!(svg.contains("2026-03 · cost: $40.00"), "{svg}");

        let svg = rows(
            FRAME,
            &[COST],
            &[group("a", &[Some(5.0)]), group("b", &[Some(1.0)])],
        )
        .into_string();
        let w = heights(&svg, "width");
        assert!((w[0] / w[1] - 5.0).abs() < 0.05, "{w:?}");
    }

    #[test]
    fn empty_zero_and_unknown_values_draw_no_bar_and_no_nan() {
        for svg in [
            columns(FRAME, &[COST, SAVED], &[]).into_string(),
            rows(FRAME, &[COST], &[]).into_string(),
            columns(
                FRAME,
                &[COST, SAVED],
                &[group("2026-03", &[Some(0.0), None])],
            )
            .into_string(),
            rows(
                FRAME,
                &[COST],
                &[group("x", &[Some(f64::NAN)]), group("y", &[None])],
            )
            .into_string(),
        ] {
            assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
            assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"), "{svg}");
            assert!(heights(&svg, "height").iter().all(|h| *h >= 0.0));
        }
        let one = columns(FRAME, &[COST], &[group("2026-03", &[None])]).into_string();
        assert!(one.contains("cost: not known"), "{one}");
    }

    #[test]
    fn negative_values_hang_below_the_axis() {
        let scale = Scale::of([Some(30.0), Some(-12.0)].iter());
        assert!(scale.low <= -12.0 && scale.high >= 30.0, "{scale:?}");
        assert!(scale.ticks().contains(&0.0), "{scale:?}");
        let svg = columns(
            FRAME,
            &[SAVED],
            &[group("a", &[Some(30.0)]), group("b", &[Some(-12.0)])],
        )
        .into_string();
        assert!(svg.contains("b · saved: $-12.00"), "{svg}");
    }

    #[test]
    fn labels_are_escaped_and_long_ones_cut_with_a_tooltip() {
        let evil = "<script>alert(1)</script> & a very long machine name indeed";
        let svg = rows(FRAME, &[COST], &[group(evil, &[Some(1.0)])]).into_string();
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(svg.contains(
            "&lt;script&gt;alert(1)&lt;/script&gt; &amp; a very long machine name indeed"
        ));
        assert!(svg.contains("…</text>"), "{svg}");
        let (short, cut) = shorten("abcdef", 4);
        assert_eq!((short.as_str(), cut), ("abc…", true));
        assert_eq!(shorten("abc", 4), ("abc".to_string(), false));
    }

    #[test]
    fn steps_are_round() {
        assert_eq!(nice_step(0.3), 0.5);
        assert_eq!(nice_step(7.0), 10.0);
        assert_eq!(nice_step(120.0), 200.0);
        let s = Scale::of([Some(0.0)].iter());
        assert_eq!((s.low, s.high), (0.0, 1.0));
    }
}
