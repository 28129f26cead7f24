//! A cap on rows written per second (`--rate`), shared by every task of a run.

use std::num::NonZeroU32;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

/// Rows per second at most, with up to one second's worth in a burst.
pub struct RowRate {
    limiter: DefaultDirectRateLimiter,
    per_second: NonZeroU32,
}

impl RowRate {
    pub fn new(per_second: NonZeroU32) -> RowRate {
        RowRate { limiter: RateLimiter::direct(Quota::per_second(per_second)), per_second }
    }

    /// Waits until `rows` more rows may be written.
    pub async fn wait_for(&self, rows: usize) {
        let mut left = u32::try_from(rows).unwrap_or(u32::MAX);
        while let Some(chunk) = NonZeroU32::new(left.min(self.per_second.get())) {
            // A chunk never exceeds the burst, so the limiter always has the capacity.
            let _ = self.limiter.until_n_ready(chunk).await;
            left -= chunk.get();
        }
    }
}
