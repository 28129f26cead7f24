//! Progress bars on the terminal (indicatif), for the lab's runs and the command line: a bar of
//! its own, or one drawn from a migration job's progress events.

use chat_migrate::progress::{Progress, ProgressSink};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar over `total` items of `unit`, with a message slot for rows per second.
pub fn bar(total: u64, unit: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    if let Some(style) = style(unit) {
        bar.set_style(style);
    }
    bar
}

/// Position, rate, a message and the time left.
fn style(unit: &str) -> Option<ProgressStyle> {
    let template =
        format!("{{elapsed_precise}} [{{wide_bar}}] {{pos}}/{{len}} {unit} ({{per_sec}}) {{msg}} ETA {{eta}}");
    Some(ProgressStyle::with_template(&template).ok()?.progress_chars("=> "))
}

/// A sink that draws a job's progress as a bar; it appears when the job starts, is cleared when
/// the job completes, and stays where it stopped when the job fails.
pub fn sink() -> ProgressSink {
    let drawn = ProgressBar::hidden();
    ProgressSink::new(move |progress| match progress {
        Progress::Started { total, unit } => {
            drawn.set_draw_target(ProgressDrawTarget::stderr());
            drawn.set_length(total);
            if let Some(style) = style(unit) {
                drawn.set_style(style);
            }
            drawn.reset();
        }
        Progress::Advanced { done, rows_per_second } => {
            drawn.inc(done);
            if let Some(rate) = rows_per_second {
                drawn.set_message(format!("{rate:.0} rows/s"));
            }
        }
        Progress::Finished { completed: true } => drawn.finish_and_clear(),
        Progress::Finished { completed: false } => drawn.abandon(),
    })
}
