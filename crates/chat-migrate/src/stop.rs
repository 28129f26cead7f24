//! Asking a long job to stop at its next safe point: a backfill after the batches in flight and
//! their checkpoints, a verify or repair after the sessions being checked. The command line asks
//! on SIGTERM and SIGINT; a service asks on its own shutdown.

use std::fmt;
use std::sync::Arc;

use tokio::sync::watch;

/// A request to stop, shared by whoever may ask and the jobs that heed it. The default is never
/// asked.
#[derive(Clone, Default)]
pub struct StopSignal(Option<Arc<watch::Sender<bool>>>);

impl StopSignal {
    /// A signal that [`StopSignal::stop`] on any clone sets for every clone.
    pub fn new() -> StopSignal {
        StopSignal(Some(Arc::new(watch::Sender::new(false))))
    }

    /// Asks every job holding a clone to stop at its next safe point.
    pub fn stop(&self) {
        if let Some(sender) = &self.0 {
            sender.send_replace(true);
        }
    }

    pub fn is_stopped(&self) -> bool {
        self.0.as_ref().is_some_and(|sender| *sender.borrow())
    }

    /// Resolves once a stop is asked; never, for the default signal.
    pub async fn stopped(&self) {
        match &self.0 {
            Some(sender) => {
                let mut receiver = sender.subscribe();
                // The sender lives in `self`, so the channel cannot close while this waits.
                let _ = receiver.wait_for(|stopped| *stopped).await;
            }
            None => std::future::pending().await,
        }
    }
}

impl fmt::Debug for StopSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StopSignal({})", if self.is_stopped() { "stopped" } else { "running" })
    }
}

/// Two signals are equal when neither can be asked or both are the same signal.
impl PartialEq for StopSignal {
    fn eq(&self, other: &StopSignal) -> bool {
        match (&self.0, &other.0) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl Eq for StopSignal {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_stop_reaches_every_clone_and_wakes_a_waiter() {
        let signal = StopSignal::new();
        let clone = signal.clone();
        let waiter = tokio::spawn(async move { clone.stopped().await });
        assert!(!signal.is_stopped());
        signal.stop();
        tokio::time::timeout(Duration::from_secs(5), waiter).await.expect("the waiter wakes").unwrap();
        assert!(signal.is_stopped());
        assert_eq!(signal.clone(), signal);
        assert_ne!(signal, StopSignal::new());
    }

    #[tokio::test]
    async fn the_default_signal_is_never_stopped() {
        let signal = StopSignal::default();
        signal.stop();
        assert!(!signal.is_stopped());
        let waited = tokio::time::timeout(Duration::from_millis(50), signal.stopped()).await;
        assert!(waited.is_err(), "the default signal never resolves");
        assert_eq!(signal, StopSignal::default());
    }
}
