//! How far the long jobs (backfill, verify, repair) have come, reported as events: the command
//! line draws a bar from them, a service may log or export them. The library draws nothing.

use std::fmt;
use std::sync::Arc;

/// One step of a job's progress.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Progress {
    /// The job has `total` items of `unit` ahead of it.
    Started { total: u64, unit: &'static str },
    /// `done` more items are through. A job that copies rows adds its rows per second so far.
    Advanced { done: u64, rows_per_second: Option<f64> },
    /// The job is through (`completed`), or stopped: on an error, which the job returns, or
    /// on request ([`crate::StopSignal`]).
    Finished { completed: bool },
}

/// Where a job reports its progress; by default nowhere.
#[derive(Clone, Default)]
pub struct ProgressSink(Option<Arc<dyn Fn(Progress) + Send + Sync>>);

impl ProgressSink {
    /// Reports every event to `report`, which must return quickly: jobs call it from their
    /// tasks.
    pub fn new(report: impl Fn(Progress) + Send + Sync + 'static) -> ProgressSink {
        ProgressSink(Some(Arc::new(report)))
    }

    pub(crate) fn report(&self, progress: Progress) {
        if let Some(report) = &self.0 {
            report(progress);
        }
    }
}

impl fmt::Debug for ProgressSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() { "ProgressSink(reporting)" } else { "ProgressSink(none)" })
    }
}

/// Two sinks are equal when both report nowhere or both report to the same closure.
impl PartialEq for ProgressSink {
    fn eq(&self, other: &ProgressSink) -> bool {
        match (&self.0, &other.0) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl Eq for ProgressSink {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn a_sink_passes_every_event_on_and_the_default_drops_them() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = {
            let seen = seen.clone();
            ProgressSink::new(move |progress| seen.lock().unwrap().push(progress))
        };
        sink.report(Progress::Started { total: 2, unit: "sessions" });
        sink.report(Progress::Advanced { done: 2, rows_per_second: None });
        sink.report(Progress::Finished { completed: true });
        ProgressSink::default().report(Progress::Finished { completed: true });
        assert_eq!(seen.lock().unwrap().len(), 3);
        assert_eq!(sink.clone(), sink);
        assert_ne!(sink, ProgressSink::default());
    }
}
