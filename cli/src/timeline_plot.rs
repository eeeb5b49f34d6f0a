//! The failure demo's timeline as an SVG (plotters, as `netcraq bench
//! figures` draws): throughput above, latency below (log scale), the
//! failure and the controller's moves as vertical lines across both.

use crate::failover_report::{FailoverReport, MarkKind};
use netcraq_perf::figures::plot::{register_dejavu, FONT};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

const SIZE: (u32, u32) = (960, 620);

/// Writes the timeline of `report` to `path` as SVG.
pub fn write_svg(report: &FailoverReport, path: &Path) -> Result<(), String> {
    register_dejavu()?;
    draw(SVGBackend::new(path, SIZE).into_drawing_area(), report)
        .map_err(|e| format!("drawing {}: {e}", path.display()))
}

fn color(kind: MarkKind) -> RGBColor {
    match kind {
        MarkKind::Killed => RED,
        MarkKind::Detected => RGBColor(230, 140, 0),
        MarkKind::FailedOver => RGBColor(150, 60, 200),
        MarkKind::Recovered => RGBColor(0, 150, 60),
        MarkKind::Retried => RGBColor(120, 120, 120),
    }
}

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    report: &FailoverReport,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let title = format!("kill -9 of {} mid-run: throughput and latency over time", report.victim());
    let root = root.titled(&title, (FONT, 20))?;
    let (top, bottom) = root.split_vertically(SIZE.1 / 2 - 10);
    let row_s = crate::failover_report::ROW.as_secs_f64();
    let end_s = report.rows().len() as f64 * row_s;
    let x_max = report.marks().iter().map(|m| m.at_s).fold(end_s, f64::max) + row_s;

    let peak = report.rows().iter().map(|r| r.ops_per_s).fold(1.0, f64::max) * 1.15;
    let mut throughput = ChartBuilder::on(&top)
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..x_max, 0.0..peak)?;
    throughput.configure_mesh().y_desc("ops/s").label_style((FONT, 12)).axis_desc_style((FONT, 13)).draw()?;
    let points = report.rows().iter().map(|r| (r.start_s + row_s / 2.0, r.ops_per_s));
    throughput.draw_series(LineSeries::new(points, BLUE.stroke_width(2)))?;
    for (index, mark) in report.marks().iter().enumerate() {
        let style = color(mark.kind).stroke_width(2);
        throughput.draw_series(std::iter::once(PathElement::new(vec![(mark.at_s, 0.0), (mark.at_s, peak)], style)))?;
        // Staggered, so that marks close in time stay readable.
        let y = peak * (0.95 - 0.08 * (index % 4) as f64);
        let label = (FONT, 12).into_font().color(&color(mark.kind));
        throughput.draw_series(std::iter::once(Text::new(format!(" {}", mark.label()), (mark.at_s, y), label)))?;
    }

    let latencies = report.rows().iter().flat_map(|r| [r.latency_ms_p50, r.latency_ms_p99]).flatten();
    let (low, high) = latencies.fold((f64::MAX, 1.0f64), |(lo, hi), ms| (lo.min(ms), hi.max(ms)));
    let y_range = (low.min(high) * 0.8).max(0.001)..high * 1.5;
    let mut latency = ChartBuilder::on(&bottom)
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..x_max, y_range.clone().log_scale())?;
    latency
        .configure_mesh()
        .x_desc("seconds since the workload started")
        .y_desc("latency, ms (log)")
        .label_style((FONT, 12))
        .axis_desc_style((FONT, 13))
        .draw()?;
    let series = |pick: fn(&crate::failover_report::Row) -> Option<f64>| {
        report.rows().iter().filter_map(move |r| pick(r).map(|ms| (r.start_s + row_s / 2.0, ms))).collect::<Vec<_>>()
    };
    for (name, color, points) in
        [("p50", BLUE, series(|r| r.latency_ms_p50)), ("p99", RGBColor(200, 0, 120), series(|r| r.latency_ms_p99))]
    {
        latency
            .draw_series(LineSeries::new(points, color.stroke_width(2)))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
    }
    for mark in report.marks() {
        let line = vec![(mark.at_s, y_range.start), (mark.at_s, y_range.end)];
        latency.draw_series(std::iter::once(PathElement::new(line, color(mark.kind).stroke_width(2))))?;
    }
    latency
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font((FONT, 12))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .draw()?;
    root.present()
}
