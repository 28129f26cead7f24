//! Load generation: closed loop (N clients, each sends its next request when the last returns)
//! and open loop (requests start on a fixed schedule; latency counts from the scheduled start, so
//! a slow server cannot hide its queueing delay: no coordinated omission).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::sync::{mpsc, Semaphore};

use crate::cpu_time::{CpuReading, ServerCpu};
use crate::model::P99_TARGET_MS;
use crate::rng::Rng;

/// One request of a pattern. It gets a random number to pick its target with.
pub type Operation = Arc<dyn Fn(u64) -> Pin<Box<dyn Future<Output = Result<usize, String>> + Send>> + Send + Sync>;

/// Requests in flight at most in open-loop mode; beyond this, requests wait (and their wait counts).
const OPEN_LOOP_MAX_IN_FLIGHT: usize = 4096;

/// The latencies and counts of one run.
pub struct Measurement {
    /// Latencies in microseconds.
    pub histogram: Histogram<u64>,
    pub errors: u64,
    pub first_error: Option<String>,
    /// Wall time of the measured part.
    pub elapsed: Duration,
    /// This process's CPU time (user + system) during the measured part.
    pub client_cpu: Duration,
    /// The database server's CPU time during the measured part, when it runs on this machine.
    pub server_cpu: Option<Duration>,
    /// For open loop: the rate requested, per second.
    pub offered_rate: Option<f64>,
    /// For open loop: every request that took longer than [`LATE_AFTER`], by scheduled start.
    pub late: Vec<LateRequest>,
}

/// A request counts as late past the benchmark's p99 target.
pub const LATE_AFTER: Duration = Duration::from_millis(P99_TARGET_MS as u64);

/// Late requests whose scheduled starts are closer than this belong to one burst: the server
/// (or the machine) stalled once and everything in flight waited.
const BURST_GAP: Duration = Duration::from_millis(50);

/// One open-loop request that took longer than [`LATE_AFTER`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LateRequest {
    /// Its scheduled start, from the start of the measured part.
    pub scheduled: Duration,
    pub latency: Duration,
}

/// Late requests grouped into bursts: how a point's tail came about.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LateBursts {
    pub bursts: usize,
    /// The sum over bursts of the time from the first late request's scheduled start to the
    /// last one's completion: how long, in all, requests were waiting past the target.
    pub total: Duration,
    /// The longest such span.
    pub longest: Duration,
}

impl Measurement {
    pub(crate) fn empty(elapsed: Duration, offered_rate: Option<f64>) -> Measurement {
        Measurement {
            histogram: new_histogram(),
            errors: 0,
            first_error: None,
            elapsed,
            client_cpu: Duration::ZERO,
            server_cpu: None,
            offered_rate,
            late: Vec::new(),
        }
    }

    /// The late requests grouped into bursts.
    pub fn late_bursts(&self) -> LateBursts {
        let mut late = self.late.clone();
        late.sort_by_key(|request| request.scheduled);
        let mut summary = LateBursts::default();
        let mut burst: Option<(Duration, Duration, Duration)> = None; // first start, last start, last end
        let close = |(first, _, end): (Duration, Duration, Duration), summary: &mut LateBursts| {
            let span = end.saturating_sub(first);
            summary.bursts += 1;
            summary.total += span;
            summary.longest = summary.longest.max(span);
        };
        for request in late {
            let end = request.scheduled + request.latency;
            burst = match burst {
                Some((first, last, last_end)) if request.scheduled.saturating_sub(last) < BURST_GAP => {
                    Some((first, request.scheduled, last_end.max(end)))
                }
                Some(done) => {
                    close(done, &mut summary);
                    Some((request.scheduled, request.scheduled, end))
                }
                None => Some((request.scheduled, request.scheduled, end)),
            };
        }
        if let Some(done) = burst {
            close(done, &mut summary);
        }
        summary
    }

    pub fn operations(&self) -> u64 {
        self.histogram.len()
    }

    pub fn throughput(&self) -> f64 {
        self.operations() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// A percentile in milliseconds.
    pub fn percentile_ms(&self, percentile: f64) -> f64 {
        self.histogram.value_at_quantile(percentile / 100.0) as f64 / 1000.0
    }

    pub fn max_ms(&self) -> f64 {
        self.histogram.max() as f64 / 1000.0
    }

    /// Client CPU per operation, in microseconds.
    pub fn cpu_per_op_us(&self) -> f64 {
        self.client_cpu.as_secs_f64() * 1e6 / self.operations().max(1) as f64
    }

    /// The server's CPU per operation, in microseconds, when the server runs on this machine.
    pub fn server_cpu_per_op_us(&self) -> Option<f64> {
        self.server_cpu.map(|cpu| cpu.as_secs_f64() * 1e6 / self.operations().max(1) as f64)
    }

    /// Client CPU per request, in microseconds, for operations of `requests_per_op` requests.
    pub fn cpu_per_request_us(&self, requests_per_op: f64) -> f64 {
        self.cpu_per_op_us() / requests_per_op.max(1e-9)
    }
}

fn new_histogram() -> Histogram<u64> {
    // 1 µs to 60 s at 3 significant digits.
    Histogram::new_with_bounds(1, 60_000_000, 3)
        .unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable!()))
}

fn record(histogram: &mut Histogram<u64>, latency: Duration) {
    let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX).max(1);
    histogram.saturating_record(micros);
}

/// `concurrency` clients in a loop for `warmup` (not recorded) and then `duration`; `server`'s
/// CPU time is read beside the client's.
pub async fn closed_loop(
    operation: Operation,
    server: &ServerCpu,
    concurrency: usize,
    warmup: Duration,
    duration: Duration,
    seed: u64,
) -> Measurement {
    let start = Instant::now();
    let measure_from = start + warmup;
    let deadline = measure_from + duration;
    let cpu_before = Arc::new(std::sync::Mutex::new(None::<CpuReading>));
    let mut workers = Vec::with_capacity(concurrency);
    for worker in 0..concurrency {
        let (operation, server) = (operation.clone(), server.clone());
        let cpu_before = cpu_before.clone();
        workers.push(tokio::spawn(async move {
            let mut rng = Rng::new(seed ^ (worker as u64).wrapping_mul(0x9E37_79B9));
            let mut histogram = new_histogram();
            let (mut errors, mut first_error) = (0, None);
            loop {
                let began = Instant::now();
                if began >= deadline {
                    break;
                }
                if began >= measure_from {
                    let mut guard = cpu_before.lock().unwrap_or_else(|poison| poison.into_inner());
                    guard.get_or_insert_with(|| CpuReading::take(&server));
                }
                let result = operation(rng.next_u64()).await;
                if began >= measure_from {
                    match result {
                        Ok(_) => record(&mut histogram, began.elapsed()),
                        Err(error) => {
                            errors += 1;
                            first_error.get_or_insert(error);
                        }
                    }
                }
            }
            (histogram, errors, first_error)
        }));
    }
    let mut measurement = Measurement::empty(duration, None);
    for worker in workers {
        if let Ok((histogram, errors, first_error)) = worker.await {
            let _ = measurement.histogram.add(&histogram);
            measurement.errors += errors;
            if measurement.first_error.is_none() {
                measurement.first_error = first_error;
            }
        }
    }
    let cpu_start =
        cpu_before.lock().unwrap_or_else(|poison| poison.into_inner()).unwrap_or_else(|| CpuReading::take(server));
    (measurement.client_cpu, measurement.server_cpu) = cpu_start.spent_since(server);
    measurement.elapsed = deadline.saturating_duration_since(measure_from).max(Duration::from_millis(1));
    measurement
}

/// Requests at `rate` per second for `warmup` (not recorded) and then `duration`, each measured
/// from its scheduled start. The schedule runs on an OS thread of its own: its sleep wakes within
/// tens of microseconds, where the async timer's 1 ms granularity would add up to 1 ms to every
/// latency.
pub async fn open_loop(
    operation: Operation,
    server: &ServerCpu,
    rate: f64,
    warmup: Duration,
    duration: Duration,
    seed: u64,
) -> Measurement {
    let interval = Duration::from_secs_f64(1.0 / rate.max(0.001));
    let total = ((warmup + duration).as_secs_f64() * rate).ceil() as u64;
    let warmup_requests = (warmup.as_secs_f64() * rate).ceil() as u64;
    let (sender, mut receiver) = mpsc::unbounded_channel::<(bool, Instant, Result<Duration, String>)>();
    let in_flight = Arc::new(Semaphore::new(OPEN_LOOP_MAX_IN_FLIGHT));
    let runtime = tokio::runtime::Handle::current();
    let start = Instant::now() + Duration::from_millis(5);
    let measure_start = start + interval.mul_f64(warmup_requests as f64);
    let cpu_start = Arc::new(std::sync::Mutex::new(None::<CpuReading>));
    let scheduler = {
        let (cpu_start, server) = (cpu_start.clone(), server.clone());
        std::thread::spawn(move || {
            let mut rng = Rng::new(seed);
            for request in 0..total {
                let scheduled = start + interval.mul_f64(request as f64);
                let now = Instant::now();
                if scheduled > now {
                    std::thread::sleep(scheduled - now);
                }
                let measured = request >= warmup_requests;
                let (operation, sender, in_flight) = (operation.clone(), sender.clone(), in_flight.clone());
                let target = rng.next_u64();
                runtime.spawn(async move {
                    let _permit = in_flight.acquire_owned().await;
                    let result = operation(target).await.map(|_| scheduled.elapsed());
                    let _ = sender.send((measured, scheduled, result));
                });
                // After the spawn, so that reading /proc (a file per server process) does not
                // hold up the first measured request.
                if request == warmup_requests {
                    *cpu_start.lock().unwrap_or_else(|poison| poison.into_inner()) = Some(CpuReading::take(&server));
                }
            }
        })
    };
    let mut measurement = Measurement::empty(duration, Some(rate));
    let mut last_completion = measure_start;
    while let Some((measured, scheduled, result)) = receiver.recv().await {
        if !measured {
            continue;
        }
        last_completion = Instant::now();
        match result {
            Ok(latency) => {
                record(&mut measurement.histogram, latency);
                if latency > LATE_AFTER {
                    let scheduled = scheduled.saturating_duration_since(measure_start);
                    measurement.late.push(LateRequest { scheduled, latency });
                }
            }
            Err(error) => {
                measurement.errors += 1;
                measurement.first_error.get_or_insert(error);
            }
        }
    }
    let _ = scheduler.join();
    let cpu_before =
        cpu_start.lock().unwrap_or_else(|poison| poison.into_inner()).unwrap_or_else(|| CpuReading::take(server));
    (measurement.client_cpu, measurement.server_cpu) = cpu_before.spent_since(server);
    measurement.elapsed = last_completion.saturating_duration_since(measure_start).max(duration);
    measurement
}

/// An operation from a fallible async function of the request's random number; it returns the
/// rows it read.
pub fn operation<F, Fut, E>(function: F) -> Operation
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<usize, E>> + Send + 'static,
    E: std::fmt::Display,
{
    let function = Arc::new(function);
    Arc::new(move |random| {
        let future = function(random);
        Box::pin(async move { future.await.map_err(|error| error.to_string()) })
    })
}

/// Prints one measured point on a line.
pub fn print_point(label: &str, measurement: &Measurement) {
    let bursts = if measurement.offered_rate.is_some() {
        let bursts = measurement.late_bursts();
        format!("  late bursts {} ({:.0} ms)", bursts.bursts, bursts.total.as_secs_f64() * 1000.0)
    } else {
        String::new()
    };
    let server = measurement.server_cpu_per_op_us().map_or(String::new(), |us| format!("  server CPU {us:.0} µs/op"));
    println!(
        "  {label}: {:>8.0} ops/s  p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>8.2} ms  errors {}{bursts}{server}",
        measurement.throughput(),
        measurement.percentile_ms(50.0),
        measurement.percentile_ms(99.0),
        measurement.max_ms(),
        measurement.errors
    );
    if let Some(error) = &measurement.first_error {
        println!("    first error: {error}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn late(scheduled_ms: u64, latency_ms: u64) -> LateRequest {
        LateRequest { scheduled: Duration::from_millis(scheduled_ms), latency: Duration::from_millis(latency_ms) }
    }

    #[test]
    fn late_requests_close_together_are_one_burst_from_the_first_start_to_the_last_completion() {
        let mut measurement = Measurement::empty(Duration::from_secs(8), Some(800.0));
        // One stall: requests scheduled during 60 ms all finish when it ends, at 1,090 ms.
        measurement.late = vec![late(1_030, 60), late(1_000, 90), late(1_060, 30)];
        // Another, two seconds later.
        measurement.late.push(late(3_000, 25));
        let bursts = measurement.late_bursts();
        assert_eq!(bursts.bursts, 2);
        assert_eq!(bursts.longest, Duration::from_millis(90));
        assert_eq!(bursts.total, Duration::from_millis(115));
    }

    #[test]
    fn no_late_requests_no_bursts() {
        let measurement = Measurement::empty(Duration::from_secs(8), Some(800.0));
        assert_eq!(measurement.late_bursts(), LateBursts::default());
    }
}
