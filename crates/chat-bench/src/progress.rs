//! Progress lines for long loads: one line per step of about 10%, with the rate so far.

use std::time::Instant;

pub struct Progress {
    label: String,
    total: usize,
    done: usize,
    next_report: usize,
    started: Instant,
}

impl Progress {
    pub fn new(label: impl Into<String>, total: usize) -> Progress {
        Progress {
            label: label.into(),
            total,
            done: 0,
            next_report: total.div_ceil(10).max(1),
            started: Instant::now(),
        }
    }

    pub fn advance(&mut self, by: usize) {
        self.done += by;
        if self.done >= self.next_report || self.done >= self.total {
            let seconds = self.started.elapsed().as_secs_f64().max(1e-9);
            println!(
                "  {}: {}/{} ({:.0}%) in {:.1}s, {:.0}/s",
                self.label,
                self.done,
                self.total,
                100.0 * self.done as f64 / self.total.max(1) as f64,
                seconds,
                self.done as f64 / seconds
            );
            while self.next_report <= self.done {
                self.next_report += self.total.div_ceil(10).max(1);
            }
        }
    }
}
