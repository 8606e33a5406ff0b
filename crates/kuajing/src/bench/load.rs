//! The load engine: closed loop (C workers, each sends its next request when the last one
//! answers: peak throughput) or open loop (requests sent at a fixed rate whatever happens:
//! latency, measured from when each request was due, so a stall counts against every
//! request it delayed — no coordinated omission).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::sync::Semaphore;

/// One operation: given a sequence number, do the request.
pub trait Op: Send + Sync + 'static {
    /// Runs request `n`; `Err` carries the gRPC code.
    fn run(&self, n: u64) -> impl Future<Output = Result<(), tonic::Code>> + Send;
}

/// What a run measured.
#[derive(Debug)]
pub struct Report {
    /// Successful operations.
    pub ok: u64,
    /// Failed operations by gRPC code.
    pub errors: BTreeMap<String, u64>,
    /// Latency of successful operations, microseconds.
    pub latency: Histogram<u64>,
    /// Wall time of the measured window.
    pub elapsed: Duration,
}

impl Default for Report {
    fn default() -> Self {
        Report::new()
    }
}

impl Report {
    /// A report of nothing yet (to record into, or to `extend`).
    pub fn new() -> Report {
        Report {
            ok: 0,
            errors: BTreeMap::new(),
            latency: Histogram::new_with_bounds(1, 60_000_000, 3).expect("bounds"),
            elapsed: Duration::ZERO,
        }
    }

    fn record(&mut self, started: Instant, result: Result<(), tonic::Code>) {
        self.record_latency(started.elapsed(), result);
    }

    fn record_latency(&mut self, latency: Duration, result: Result<(), tonic::Code>) {
        match result {
            Ok(()) => {
                self.ok += 1;
                let us = u64::try_from(latency.as_micros())
                    .unwrap_or(u64::MAX)
                    .max(1);
                let _ = self.latency.record(us);
            }
            Err(code) => *self.errors.entry(format!("{code:?}")).or_default() += 1,
        }
    }

    /// Adds a report of a later window (its operations, errors, latencies and time).
    pub fn extend(&mut self, other: Report) {
        self.elapsed += other.elapsed;
        self.merge(other);
    }

    fn merge(&mut self, other: Report) {
        self.ok += other.ok;
        for (k, v) in other.errors {
            *self.errors.entry(k).or_default() += v;
        }
        let _ = self.latency.add(other.latency);
    }

    /// Successful operations per second, in hundredths (integer arithmetic, no floats).
    pub fn ops_per_s_x100(&self) -> u64 {
        let us = u64::try_from(self.elapsed.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        self.ok.saturating_mul(100_000_000) / us
    }

    /// A latency quantile (per mille, e.g. 990 for p99) in microseconds: the smallest
    /// recorded value with at least that share of the samples at or below it (integer
    /// ranks, no floating point).
    pub fn quantile_us(&self, per_mille: u32) -> u64 {
        self.quantile_ppm_us(u64::from(per_mille) * 1000)
    }

    /// The same for a quantile in parts per million (999_900 for p99.99).
    pub fn quantile_ppm_us(&self, ppm: u64) -> u64 {
        let total = self.latency.len();
        let rank = total.saturating_mul(ppm).div_ceil(1_000_000);
        let mut seen = 0u64;
        for v in self.latency.iter_recorded() {
            seen += v.count_since_last_iteration();
            if seen >= rank.max(1) {
                return self.latency.highest_equivalent(v.value_iterated_to());
            }
        }
        self.latency.max()
    }

    /// Total errors.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// Closed loop: `clients` workers for `duration`.
pub async fn closed<O: Op>(op: Arc<O>, clients: u32, duration: Duration) -> Report {
    let start = Instant::now();
    let deadline = start + duration;
    let mut workers = Vec::new();
    for w in 0..clients {
        let op = op.clone();
        workers.push(tokio::spawn(async move {
            let mut report = Report::new();
            let mut n = u64::from(w) << 40;
            while Instant::now() < deadline {
                let t = Instant::now();
                let r = op.run(n).await;
                report.record(t, r);
                n += 1;
            }
            report
        }));
    }
    let mut total = Report::new();
    for w in workers {
        if let Ok(r) = w.await {
            total.merge(r);
        }
    }
    total.elapsed = start.elapsed();
    total
}

/// Open loop: `rate` requests per second for `duration`, at most `max_in_flight` at once
/// (beyond that a request waits, and its latency still counts from when it was due).
pub async fn open<O: Op>(
    op: Arc<O>,
    rate: u32,
    duration: Duration,
    max_in_flight: usize,
) -> Report {
    let start = Instant::now();
    let total = u64::from(rate) * duration.as_secs();
    let interval_ns = 1_000_000_000 / u64::from(rate.max(1));
    let slots = Arc::new(Semaphore::new(max_in_flight));
    let (tx, mut rx) =
        tokio::sync::mpsc::unbounded_channel::<(Duration, Result<(), tonic::Code>)>();
    for n in 0..total {
        let due = start + Duration::from_nanos(n * interval_ns);
        tokio::time::sleep_until(due.into()).await;
        let permit = slots.clone().acquire_owned().await.expect("semaphore open");
        let (op, tx) = (op.clone(), tx.clone());
        tokio::spawn(async move {
            let r = op.run(n).await;
            // From when it was due, not when it was sent: a stall counts against every
            // request it delayed.
            let _ = tx.send((due.elapsed(), r));
            drop(permit);
        });
    }
    drop(tx);
    let mut report = Report::new();
    while let Some((latency, r)) = rx.recv().await {
        report.record_latency(latency, r);
    }
    // Throughput of an open loop is the offered rate over the window (minus failures).
    report.elapsed = duration;
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_by_rank() {
        let mut r = Report::new();
        for v in 1..=1000u64 {
            r.latency.record(v).unwrap();
        }
        assert_eq!(r.quantile_us(500), 500);
        assert_eq!(r.quantile_us(990), 990);
        assert_eq!(r.quantile_us(1000), 1000);
        r.ok = 1000;
        r.elapsed = Duration::from_secs(4);
        assert_eq!(r.ops_per_s_x100(), 25_000);
    }
}
