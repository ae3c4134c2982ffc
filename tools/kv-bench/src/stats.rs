//! Percentiles and per-phase accounting.

use crate::device::Cost;

/// The `p`-th percentile (0..=100) of `sorted` by the nearest-rank method:
/// the smallest value with at least `p` percent of the values at or below
/// it. 0 for an empty slice.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// p50, p99 and max of a set of samples.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Spread {
    /// Median.
    pub p50: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Largest sample.
    pub max: u64,
}

impl Spread {
    /// The spread of `samples` (sorted in place).
    pub fn of(samples: &mut [u64]) -> Spread {
        samples.sort_unstable();
        Spread {
            p50: percentile(samples, 50.0),
            p99: percentile(samples, 99.0),
            max: samples.last().copied().unwrap_or(0),
        }
    }
}

/// One phase of a workload on one store.
#[derive(Clone, Debug, Default)]
pub struct Phase {
    /// What the phase does.
    pub name: String,
    /// Operations attempted.
    pub ops: u64,
    /// Flash work of the whole phase.
    pub total: Cost,
    /// Per-operation time on nRF52, ns.
    pub nrf: Vec<u64>,
    /// Per-operation time on SPI NOR, ns.
    pub spi: Vec<u64>,
    /// The operation that took longest on nRF52, with its flash work.
    pub worst_nrf: Cost,
    /// The operation that took longest on SPI NOR.
    pub worst_spi: Cost,
    /// Operations that returned an error or panicked.
    pub errors: u64,
    /// Of those, operations that panicked (the store was then rebuilt and
    /// mounted again, as after a reset).
    pub panics: u64,
    /// The first error, for the report.
    pub first_error: Option<String>,
    /// Reads that returned neither the last acknowledged value nor the
    /// value of a failed write of that key.
    pub wrong: u64,
    /// The phase was cut short after too many errors.
    pub aborted: bool,
}

impl Phase {
    /// An empty phase.
    pub fn new(name: &str) -> Phase {
        Phase {
            name: name.to_string(),
            ..Phase::default()
        }
    }

    /// Accounts one operation's flash work.
    pub fn record(&mut self, c: Cost) {
        self.ops += 1;
        self.total.add(&c);
        self.nrf.push(c.nrf_ns);
        self.spi.push(c.spi_ns);
        if c.nrf_ns > self.worst_nrf.nrf_ns {
            self.worst_nrf = c;
        }
        if c.spi_ns > self.worst_spi.spi_ns {
            self.worst_spi = c;
        }
    }

    /// Accounts an error.
    pub fn error(&mut self, e: String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(format!("op {}: {e}", self.ops));
        }
    }

    /// Spread of per-operation nRF52 times.
    pub fn nrf_spread(&self) -> Spread {
        Spread::of(&mut self.nrf.clone())
    }

    /// Spread of per-operation SPI NOR times.
    pub fn spi_spread(&self) -> Spread {
        Spread::of(&mut self.spi.clone())
    }

    /// Per-operation average of a counter.
    pub fn per_op(&self, v: u64) -> f64 {
        if self.ops == 0 {
            0.0
        } else {
            v as f64 / self.ops as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 99.0), 99);
        assert_eq!(percentile(&v, 100.0), 100);
        assert_eq!(percentile(&v, 0.0), 1);
        assert_eq!(percentile(&[7], 99.0), 7);
        assert_eq!(percentile(&[], 50.0), 0);
        assert_eq!(percentile(&[1, 2, 3, 4], 50.0), 2);
        assert_eq!(percentile(&[1, 2, 3, 4], 51.0), 3);
    }

    #[test]
    fn spread_sorts_and_takes_max() {
        let mut v = vec![5, 1, 9, 3];
        let s = Spread::of(&mut v);
        assert_eq!((s.p50, s.p99, s.max), (3, 9, 9));
    }

    #[test]
    fn phase_tracks_the_worst_operation() {
        let mut p = Phase::new("x");
        let a = Cost {
            nrf_ns: 10,
            spi_ns: 50,
            ..Cost::default()
        };
        let b = Cost {
            nrf_ns: 20,
            spi_ns: 5,
            ..Cost::default()
        };
        p.record(a);
        p.record(b);
        assert_eq!(p.ops, 2);
        assert_eq!(p.worst_nrf.nrf_ns, 20);
        assert_eq!(p.worst_spi.spi_ns, 50);
        assert_eq!(p.total.nrf_ns, 30);
        p.error("boom".into());
        assert_eq!(p.first_error.as_deref(), Some("op 2: boom"));
    }
}
