//! What the criterion suites share: benchmark groups with short, bounded timings (each suite
//! times many cases at several sizes on shared machines, where ratios taken in one run are what
//! to quote).

use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion};

/// The group `name` with `samples` samples, `warm_ms` of warm-up and `measure_ms` of
/// measurement per benchmark.
pub fn group<'a>(
    c: &'a mut Criterion,
    name: &str,
    samples: usize,
    warm_ms: u64,
    measure_ms: u64,
) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .sample_size(samples)
        .warm_up_time(Duration::from_millis(warm_ms))
        .measurement_time(Duration::from_millis(measure_ms));
    group
}
