//! PNG plots: latency against throughput, one chart per pattern, one colour per system.

use std::path::{Path, PathBuf};

use plotters::prelude::*;

use crate::model::{Pattern, System};
use crate::outcome::Series;

/// One colour per system, the same in every chart.
pub(crate) fn colour(system: System) -> RGBColor {
    match system {
        System::Scylla => RGBColor(0, 114, 178),
        System::ScyllaTwoReads => RGBColor(86, 180, 233),
        System::RawDriver | System::RawDriverTwoReads => RGBColor(120, 120, 120),
        System::Postgres => RGBColor(213, 94, 0),
        System::PostgresParentJoin => RGBColor(0, 158, 115),
    }
}

/// One chart per pattern; returns the files written.
pub fn write_plots(dir: &Path, series: &[Series]) -> Result<Vec<PathBuf>, String> {
    crate::rehearsal::register_font()?;
    let mut written = Vec::new();
    for pattern in Pattern::ALL {
        let path = dir.join(format!("{}.png", pattern.slug()));
        // The raw-driver references have one point each: the read-path table reports them.
        let chosen: Vec<&Series> =
            series.iter().filter(|series| series.pattern == pattern && !series.system.is_reference()).collect();
        chart(&path, pattern, &chosen).map_err(|error| format!("cannot draw {}: {error}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

type Points = Vec<(f64, f64)>;

/// (throughput, p50) and (throughput, p99) for the closed-loop points, and (achieved, p99) for
/// the open-loop points.
fn curves(series: &Series) -> (Points, Points, Points) {
    let p50 = series.closed.iter().map(|(_, m)| (m.throughput(), m.percentile_ms(50.0))).collect();
    let p99 = series.closed.iter().map(|(_, m)| (m.throughput(), m.percentile_ms(99.0))).collect();
    let open = series.open.iter().map(|m| (m.throughput(), m.percentile_ms(99.0))).collect();
    (p50, p99, open)
}

fn chart(path: &Path, pattern: Pattern, series: &[&Series]) -> Result<(), Box<dyn std::error::Error>> {
    let all: Vec<(f64, f64)> = series
        .iter()
        .flat_map(|series| {
            let (p50, p99, open) = curves(series);
            p50.into_iter().chain(p99).chain(open)
        })
        .filter(|(x, y)| *x > 0.0 && *y > 0.0)
        .collect();
    let max_x = all.iter().map(|(x, _)| *x).fold(1.0, f64::max) * 1.5;
    let min_x = all.iter().map(|(x, _)| *x).fold(f64::MAX, f64::min).min(max_x / 10.0) / 1.5;
    // Headroom above the data keeps the legend (upper left) clear of it.
    let max_y = all.iter().map(|(_, y)| *y).fold(1.0, f64::max) * 12.0;
    let min_y = all.iter().map(|(_, y)| *y).fold(f64::MAX, f64::min).min(max_y / 100.0) / 1.5;

    let root = BitMapBackend::new(path, (1000, 650)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("{}: latency against throughput", pattern.title()), ("sans-serif", 24))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d((min_x.max(0.1)..max_x).log_scale(), (min_y.max(0.01)..max_y).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("throughput (requests/s, log scale)")
        .y_desc("latency (ms, log scale)")
        .label_style(("sans-serif", 14))
        .draw()?;
    for series in series {
        let colour = colour(series.system);
        let (p50, p99, open) = curves(series);
        chart
            .draw_series(LineSeries::new(p99.clone(), colour.stroke_width(3)))?
            .label(format!("{}: p99, closed loop", series.system.label()))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(3)));
        chart.draw_series(p99.iter().map(|point| Circle::new(*point, 4, colour.filled())))?;
        chart
            .draw_series(LineSeries::new(p50.clone(), colour.mix(0.5).stroke_width(1)))?
            .label(format!("{}: p50, closed loop", series.system.label()))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour.mix(0.5).stroke_width(1)));
        if !open.is_empty() {
            chart
                .draw_series(open.iter().map(|point| TriangleMarker::new(*point, 6, colour.filled())))?
                .label(format!("{}: p99, open loop", series.system.label()))
                .legend(move |(x, y)| TriangleMarker::new((x + 10, y), 6, colour.filled()));
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 13))
        .draw()?;
    root.present()?;
    Ok(())
}
