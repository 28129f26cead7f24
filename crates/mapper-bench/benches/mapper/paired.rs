//! Paired rounds: the ratio of two variants measured side by side.
//!
//! Criterion measures one function after another, so a change in the machine's load between them
//! (two shared cores, a node compacting) lands in their ratio: runs of the same code differed by
//! 10% per row and by 2x end to end. Here the two variants alternate, a then b then b then a, in
//! many short rounds, and each round gives one ratio; the median of those ratios is what drift
//! cannot move.

use std::time::Duration;

/// What the rounds found: per-operation medians of each variant and the median ratio a / b with
/// its interquartile range.
#[derive(Debug, Clone, Copy)]
pub struct Paired {
    pub a_per_op: Duration,
    pub b_per_op: Duration,
    pub ratio: f64,
    pub ratio_p25: f64,
    pub ratio_p75: f64,
    pub rounds: usize,
}

/// Runs `rounds` rounds; `a` and `b` each run a batch of `ops` operations and return the time (or
/// CPU time) the batch took.
pub fn measure(rounds: usize, ops: u64, mut a: impl FnMut() -> Duration, mut b: impl FnMut() -> Duration) -> Paired {
    // One unmeasured round of each first: caches, connections, the allocator.
    a();
    b();
    let (mut a_times, mut b_times, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let (a_time, b_time) = if round % 2 == 0 {
            let a_time = a();
            (a_time, b())
        } else {
            let b_time = b();
            (a(), b_time)
        };
        if !b_time.is_zero() {
            ratios.push(a_time.as_secs_f64() / b_time.as_secs_f64());
        }
        a_times.push(a_time);
        b_times.push(b_time);
    }
    let per_op = |times: &mut Vec<Duration>| {
        median(times).checked_div(u32::try_from(ops).unwrap_or(u32::MAX)).unwrap_or_default()
    };
    ratios.sort_by(f64::total_cmp);
    let at = |quantile: f64| {
        ratios.get(((ratios.len().saturating_sub(1)) as f64 * quantile).round() as usize).copied().unwrap_or(f64::NAN)
    };
    Paired {
        a_per_op: per_op(&mut a_times),
        b_per_op: per_op(&mut b_times),
        ratio: at(0.5),
        ratio_p25: at(0.25),
        ratio_p75: at(0.75),
        rounds,
    }
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times.get(times.len() / 2).copied().unwrap_or_default()
}
