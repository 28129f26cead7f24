//! Progress bars for long runs (indicatif): position, rate and time left.

use indicatif::{ProgressBar, ProgressStyle};

/// A bar over `total` items of `unit`, with a message slot for rows per second.
pub fn bar(total: u64, unit: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    let template =
        format!("{{elapsed_precise}} [{{wide_bar}}] {{pos}}/{{len}} {unit} ({{per_sec}}) {{msg}} ETA {{eta}}");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}
