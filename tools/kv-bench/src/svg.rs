//! Hand-written SVG charts (no font or rendering dependencies: the viewer
//! renders the text).

use std::fmt::Write;

const W: f64 = 960.0;
const H: f64 = 460.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 230.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 90.0;
const COLORS: [&str; 6] = [
    "#1b7837", "#5aae61", "#d6604d", "#2166ac", "#92c5de", "#8c510a",
];

/// One named row of values.
pub struct Series {
    /// Legend text.
    pub name: String,
    /// One value per category (bars) or per x position (lines).
    pub values: Vec<f64>,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn label(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v >= 1e6 {
        format!("{}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{}k", v / 1e3)
    } else {
        format!("{v}")
    }
}

/// A y axis: maps values to plot coordinates and lists its ticks.
struct Axis {
    log: bool,
    lo: f64,
    hi: f64,
}

impl Axis {
    fn new(values: impl Iterator<Item = f64> + Clone, log: bool) -> Axis {
        let max = values.clone().fold(0.0f64, f64::max).max(1e-9);
        if log {
            let min = values.filter(|v| *v > 0.0).fold(f64::INFINITY, f64::min);
            let min = if min.is_finite() { min } else { 1.0 };
            Axis {
                log,
                lo: 10f64.powf(min.log10().floor()),
                hi: 10f64
                    .powf(max.log10().ceil())
                    .max(10f64.powf(min.log10().floor() + 1.0)),
            }
        } else {
            let step = nice_step(max / 5.0);
            Axis {
                log,
                lo: 0.0,
                hi: (max / step).ceil() * step,
            }
        }
    }

    /// Fraction of the plot height (0 at the bottom) for `v`.
    fn frac(&self, v: f64) -> f64 {
        if self.log {
            if v <= 0.0 {
                return 0.0;
            }
            ((v.log10() - self.lo.log10()) / (self.hi.log10() - self.lo.log10())).clamp(0.0, 1.0)
        } else {
            (v / self.hi).clamp(0.0, 1.0)
        }
    }

    fn ticks(&self) -> Vec<f64> {
        if self.log {
            let mut t = Vec::new();
            let mut v = self.lo;
            while v <= self.hi * 1.0001 {
                t.push(v);
                v *= 10.0;
            }
            t
        } else {
            let step = nice_step(self.hi / 5.0);
            (0..=((self.hi / step).round() as usize))
                .map(|i| i as f64 * step)
                .collect()
        }
    }
}

/// 1, 2 or 5 times a power of ten, at least `x`.
fn nice_step(x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    let p = 10f64.powf(x.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|s| *s >= x)
        .unwrap_or(10.0 * p)
}

fn frame(svg: &mut String, title: &str, y_label: &str, axis: &Axis) {
    let ph = H - TOP - BOTTOM;
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">
<rect width="{W}" height="{H}" fill="white"/>
<text x="{}" y="24" font-size="16" text-anchor="middle">{}</text>
<text transform="translate(18,{}) rotate(-90)" text-anchor="middle">{}</text>
"#,
        (W - RIGHT + LEFT) / 2.0,
        esc(title),
        TOP + ph / 2.0,
        esc(y_label)
    );
    for t in axis.ticks() {
        let y = TOP + ph * (1.0 - axis.frac(t));
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            W - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            label(t)
        );
    }
    let _ = writeln!(
        svg,
        r##"<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{}" stroke="#333"/><line x1="{LEFT}" x2="{}" y1="{}" y2="{}" stroke="#333"/>"##,
        H - BOTTOM,
        W - RIGHT,
        H - BOTTOM,
        H - BOTTOM
    );
}

fn legend(svg: &mut String, names: impl Iterator<Item = String>) {
    for (i, n) in names.enumerate() {
        let y = TOP + 10.0 + i as f64 * 20.0;
        let _ = writeln!(
            svg,
            r#"<rect x="{}" y="{}" width="12" height="12" fill="{}"/><text x="{}" y="{}">{}</text>"#,
            W - RIGHT + 16.0,
            y - 10.0,
            COLORS[i % COLORS.len()],
            W - RIGHT + 34.0,
            y,
            esc(&n)
        );
    }
}

/// Grouped bars: one group per category, one bar per series.
pub fn bars(
    title: &str,
    y_label: &str,
    categories: &[String],
    series: &[Series],
    log: bool,
) -> String {
    let axis = Axis::new(series.iter().flat_map(|s| s.values.iter().copied()), log);
    let mut svg = String::new();
    frame(&mut svg, title, y_label, &axis);
    let pw = W - LEFT - RIGHT;
    let ph = H - TOP - BOTTOM;
    let group = pw / categories.len().max(1) as f64;
    let bar = group * 0.8 / series.len().max(1) as f64;
    for (ci, c) in categories.iter().enumerate() {
        let gx = LEFT + ci as f64 * group + group * 0.1;
        for (si, s) in series.iter().enumerate() {
            let v = s.values.get(ci).copied().unwrap_or(0.0);
            let h = ph * axis.frac(v);
            let x = gx + si as f64 * bar;
            let _ = writeln!(
                svg,
                r#"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="{}"><title>{}: {}</title></rect>"#,
                TOP + ph - h,
                (bar - 1.0).max(1.0),
                COLORS[si % COLORS.len()],
                esc(&s.name),
                v
            );
        }
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
            gx + group * 0.4,
            H - BOTTOM + 18.0,
            esc(c)
        );
    }
    legend(&mut svg, series.iter().map(|s| s.name.clone()));
    svg.push_str("</svg>\n");
    svg
}

/// One polyline per series over x = 0, 1, 2, ...
pub fn lines(title: &str, y_label: &str, x_label: &str, series: &[Series], log: bool) -> String {
    let axis = Axis::new(series.iter().flat_map(|s| s.values.iter().copied()), log);
    let mut svg = String::new();
    frame(&mut svg, title, y_label, &axis);
    let pw = W - LEFT - RIGHT;
    let ph = H - TOP - BOTTOM;
    let n = series
        .iter()
        .map(|s| s.values.len())
        .max()
        .unwrap_or(1)
        .max(2);
    let x_of = |i: usize| LEFT + pw * i as f64 / (n - 1) as f64;
    for (si, s) in series.iter().enumerate() {
        let points: Vec<String> = s
            .values
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{:.1},{:.1}", x_of(i), TOP + ph * (1.0 - axis.frac(*v))))
            .collect();
        let _ = writeln!(
            svg,
            r#"<polyline fill="none" stroke="{}" stroke-width="1.5" points="{}"/>"#,
            COLORS[si % COLORS.len()],
            points.join(" ")
        );
    }
    for i in (0..n).step_by((n / 8).max(1)) {
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{i}</text>"#,
            x_of(i),
            H - BOTTOM + 18.0
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
        LEFT + pw / 2.0,
        H - BOTTOM + 40.0,
        esc(x_label)
    );
    legend(&mut svg, series.iter().map(|s| s.name.clone()));
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_steps() {
        assert_eq!(nice_step(0.7), 1.0);
        assert_eq!(nice_step(1.3), 2.0);
        assert_eq!(nice_step(3.0), 5.0);
        assert_eq!(nice_step(60.0), 100.0);
    }

    #[test]
    fn log_axis_spans_powers_of_ten() {
        let a = Axis::new([3.0, 4500.0].into_iter(), true);
        assert_eq!((a.lo, a.hi), (1.0, 10000.0));
        assert_eq!(a.ticks().len(), 5);
        assert_eq!(a.frac(100.0), 0.5);
        assert_eq!(a.frac(0.0), 0.0);
    }

    #[test]
    fn charts_are_well_formed() {
        let s = [Series {
            name: "a<b".into(),
            values: vec![1.0, 10.0],
        }];
        let b = bars("t", "y", &["x".into(), "z".into()], &s, true);
        assert!(b.starts_with("<svg") && b.ends_with("</svg>\n"));
        assert!(b.contains("a&lt;b"));
        assert_eq!(b.matches("<rect").count(), 1 + 2 + 1);
        let l = lines("t", "y", "x", &s, false);
        assert_eq!(l.matches("<polyline").count(), 1);
    }
}
