//! `sluice-bench chart`: an SVG (`plotters`) of WebRTC runs against load — SFU CPU per
//! forwarded packet and p99 one-way latency, per target, one point per JSON report (the median
//! over its repetitions), x the forwarded packets per second. Only figures of one run of the
//! suite belong in one chart (the machine is shared; runs at other times are not comparable).

use std::collections::BTreeMap;
use std::path::Path;

use plotters::prelude::*;
use serde_json::Value;

use crate::error::BenchError;
use crate::report::Spread;

/// Reads one figure of a measurement.
pub type Metric = fn(&Value) -> Option<f64>;

/// Per target, (median forwarded pkt/s, median of `metric`) of each report, sorted by load.
pub fn points(reports: &[Value], metric: Metric) -> BTreeMap<String, Vec<(f64, f64)>> {
    let mut out: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for r in reports {
        let mut by_target: BTreeMap<String, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
        for m in r["measurements"].as_array().into_iter().flatten() {
            let (Some(t), Some(x), Some(y)) =
                (m["target"].as_str(), m["forwarded_pps"].as_f64(), metric(m))
            else {
                continue;
            };
            let e = by_target.entry(t.to_string()).or_default();
            e.0.push(x);
            e.1.push(y);
        }
        for (t, (xs, ys)) in by_target {
            if let (Some(x), Some(y)) = (Spread::of(&xs), Spread::of(&ys)) {
                out.entry(t).or_default().push((x.median, y.median));
            }
        }
    }
    for v in out.values_mut() {
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    out
}

fn err(e: impl std::fmt::Display) -> BenchError {
    BenchError::Target(format!("chart: {e}"))
}

/// Draws the two panels into `out`.
pub fn render(reports: &[Value], out: &Path) -> Result<(), BenchError> {
    let root = SVGBackend::new(out, (1000, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let (left, right) = root.split_horizontally(500);
    let panels: [(_, Metric, &str); 2] = [
        (
            left,
            |m| m["cpu_ns_per_pkt"].as_f64(),
            "SFU CPU ns per forwarded packet",
        ),
        (
            right,
            |m| m["latency"]["p99_us"].as_f64(),
            "p99 one-way latency, µs",
        ),
    ];
    for (i, (area, metric, label)) in panels.into_iter().enumerate() {
        let series = points(reports, metric);
        let xmax = series.values().flatten().map(|p| p.0).fold(1.0, f64::max);
        let ymax = series.values().flatten().map(|p| p.1).fold(1.0, f64::max);
        let mut chart = ChartBuilder::on(&area)
            .caption(label, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..xmax * 1.1, 0f64..ymax * 1.2)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("forwarded packets/s")
            .draw()
            .map_err(err)?;
        for (target, pts) in series.iter() {
            let c = target_color(target);
            chart
                .draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))
                .map_err(err)?
                .label(target.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2))
                });
            chart
                .draw_series(pts.iter().map(|&p| Circle::new(p, 4, c.filled())))
                .map_err(err)?;
        }
        // CPU per packet falls with load (its highest point is on the left), p99 rises.
        let corner = if i == 0 {
            SeriesLabelPosition::UpperRight
        } else {
            SeriesLabelPosition::UpperLeft
        };
        chart
            .configure_series_labels()
            .position(corner)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(err)?;
    }
    root.present().map_err(err)
}

/// Reads the reports and draws the chart.
pub fn run(inputs: &[std::path::PathBuf], out: &Path) -> Result<(), BenchError> {
    let mut reports = Vec::new();
    for p in inputs {
        let text =
            std::fs::read_to_string(p).map_err(|e| BenchError::io(p.display().to_string(), e))?;
        reports
            .push(serde_json::from_str(&text).map_err(|e| err(format!("{}: {e}", p.display())))?);
    }
    render(&reports, out)
}

/// One colour per target in every chart, whatever targets a run has.
pub(crate) fn target_color(target: &str) -> RGBColor {
    match target {
        "sluice" => RGBColor(0x2c, 0xa0, 0x2c),
        "mediasoup" => RGBColor(0x1f, 0x77, 0xb4),
        "janus" => RGBColor(0xd6, 0x27, 0x28),
        _ => RGBColor(0x7f, 0x7f, 0x7f),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn report(rows: &[(&str, f64, f64)]) -> Value {
        json!({"measurements": rows.iter().map(|(t, x, y)|
            json!({"target": t, "forwarded_pps": x, "cpu_ns_per_pkt": y})).collect::<Vec<_>>()})
    }

    #[test]
    fn one_point_per_report_and_target_at_the_medians_sorted_by_load() {
        let reports = vec![
            report(&[
                ("sluice", 9000.0, 4000.0),
                ("mediasoup", 8990.0, 6000.0),
                ("sluice", 9010.0, 5000.0),
                ("sluice", 9005.0, 4500.0),
            ]),
            report(&[("sluice", 3000.0, 7000.0), ("mediasoup", 2999.0, 9000.0)]),
        ];
        let p = points(&reports, |m| m["cpu_ns_per_pkt"].as_f64());
        assert_eq!(p["sluice"], vec![(3000.0, 7000.0), (9005.0, 4500.0)]);
        assert_eq!(p["mediasoup"], vec![(2999.0, 9000.0), (8990.0, 6000.0)]);
    }

    #[test]
    fn renders_an_svg_with_both_targets() {
        let reports = vec![report(&[
            ("sluice", 9000.0, 4000.0),
            ("mediasoup", 8990.0, 6000.0),
        ])];
        let out = std::env::temp_dir().join(format!("chart-test-{}.svg", std::process::id()));
        render(&reports, &out).unwrap();
        let svg = std::fs::read_to_string(&out).unwrap();
        let _ = std::fs::remove_file(&out);
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("sluice") && svg.contains("mediasoup"));
        assert!(svg.contains("forwarded packets/s"));
    }
}
