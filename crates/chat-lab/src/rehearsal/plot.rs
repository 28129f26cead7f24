//! The rehearsal's timeline (PNG): throughput, read p99, fallback rate and stale rate per second,
//! with the steps marked.

use std::path::Path;
use std::time::Duration;

use plotters::prelude::*;

use super::RehearsalOutcome;

const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
];

/// Registers DejaVu Sans as plotters' "sans-serif": plotters draws text only with a registered
/// font when built without its system-font features.
pub fn register_font() -> Result<(), String> {
    let bytes = FONT_PATHS
        .iter()
        .find_map(|path| std::fs::read(path).ok())
        .ok_or_else(|| "no DejaVu Sans font for the plots' text: install Debian's fonts-dejavu-core".to_owned())?;
    // plotters keeps registered fonts for the life of the process.
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
        .map_err(|_| "the DejaVu Sans font could not be read".to_owned())
}

/// Per-second series: (second, value).
struct Series {
    throughput: Vec<(f64, f64)>,
    p99_ms: Vec<(f64, f64)>,
    fallback_percent: Vec<(f64, f64)>,
    stale_percent: Vec<(f64, f64)>,
}

fn series(outcome: &RehearsalOutcome) -> Series {
    // Whole seconds only: the last, cut short by the stop, would look like a drop in throughput.
    let seconds = outcome.steps.last().map_or(0, |step| step.end.as_secs() as usize);
    let mut requests = vec![0u64; seconds];
    let mut reads: Vec<Vec<Duration>> = vec![Vec::new(); seconds];
    for sample in &outcome.samples {
        let second = sample.at.as_secs() as usize;
        if second < seconds {
            requests[second] += 1;
            if sample.op.is_read() {
                reads[second].push(sample.latency);
            }
        }
    }
    let p99_ms = reads
        .iter_mut()
        .enumerate()
        .filter(|(_, latencies)| !latencies.is_empty())
        .map(|(second, latencies)| {
            latencies.sort();
            let rank = ((0.99 * latencies.len() as f64).ceil() as usize).clamp(1, latencies.len());
            (second as f64, latencies[rank - 1].as_secs_f64() * 1000.0)
        })
        .collect();
    let mut fallback_percent = Vec::new();
    let mut stale_percent = Vec::new();
    for pair in outcome.ticks.windows(2) {
        let (before, after) = (pair[0].status.reads.total(), pair[1].status.reads.total());
        let at = pair[1].at.as_secs_f64();
        let fallbacks = after.all_fallbacks().saturating_sub(before.all_fallbacks());
        let served = after.served_by_scylla.saturating_sub(before.served_by_scylla);
        if fallbacks + served > 0 {
            fallback_percent.push((at, 100.0 * fallbacks as f64 / (fallbacks + served) as f64));
        }
        let compared = after.compared.saturating_sub(before.compared);
        if compared > 0 {
            stale_percent.push((at, 100.0 * after.stale.saturating_sub(before.stale) as f64 / compared as f64));
        }
    }
    Series {
        throughput: requests.iter().enumerate().map(|(second, count)| (second as f64, *count as f64)).collect(),
        p99_ms,
        fallback_percent,
        stale_percent,
    }
}

/// Draws the four panels, one above the other, with the steps as vertical lines.
pub fn timeline(path: &Path, outcome: &RehearsalOutcome) -> Result<(), String> {
    register_font()?;
    draw(path, outcome).map_err(|error| format!("cannot draw {}: {error}", path.display()))
}

fn draw(path: &Path, outcome: &RehearsalOutcome) -> Result<(), Box<dyn std::error::Error>> {
    let data = series(outcome);
    let end = outcome.steps.last().map_or(1.0, |step| step.end.as_secs_f64()).max(1.0);
    let root = BitMapBackend::new(path, (1400, 1100)).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((4, 1));
    let colour = RGBColor(0, 114, 178);
    let charts: [(&str, &Vec<(f64, f64)>); 4] = [
        ("requests per second", &data.throughput),
        ("read p99 (ms)", &data.p99_ms),
        ("reads falling back to PostgreSQL (%)", &data.fallback_percent),
        ("shadow reads found stale (%)", &data.stale_percent),
    ];
    for (index, (panel, (title, points))) in panels.iter().zip(charts).enumerate() {
        let top = points.iter().map(|(_, y)| *y).fold(1.0, f64::max) * 1.15;
        let mut chart = ChartBuilder::on(panel)
            .caption(title, ("sans-serif", 18))
            .margin(8)
            .x_label_area_size(if index == 3 { 35 } else { 20 })
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..end, 0.0..top)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc(if index == 3 { "seconds since the load began" } else { "" })
            .label_style(("sans-serif", 12))
            .draw()?;
        for (number, step) in outcome.steps.iter().enumerate() {
            let x = step.start.as_secs_f64();
            chart.draw_series(LineSeries::new(vec![(x, 0.0), (x, top)], BLACK.mix(0.3)))?;
            if index == 0 {
                // Alternate heights, so the names of short steps do not overlap.
                let y = if number % 2 == 0 { top * 0.95 } else { top * 0.8 };
                chart.draw_series(std::iter::once(Text::new(
                    step.name.clone(),
                    (x + end * 0.003, y),
                    ("sans-serif", 12).into_font(),
                )))?;
            }
        }
        chart.draw_series(LineSeries::new(points.iter().copied(), colour.stroke_width(2)))?;
    }
    root.present()?;
    Ok(())
}
