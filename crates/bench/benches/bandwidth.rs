//! STREAM-style copy (`a ← b`, 8 B per element) and triad (`a ← b + s·c`, 12 B) on the sizes of
//! the step suite: the memory-bandwidth roofline every optimizer step is measured against.
//!
//! ```text
//! cargo bench -p lrmem-bench --bench bandwidth
//! ```

mod common;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use lrmem_bench::speed::{copy, gradients, triad, COPY_BYTES, SIZES, TRIAD_BYTES};

fn bandwidth(c: &mut Criterion) {
    let mut group = common::group(c, "bandwidth", 20, 200, 700);
    for &d in &SIZES {
        let [b, cc] = gradients(d, 3);
        let mut a = vec![0.0f32; d];
        group.throughput(Throughput::ElementsAndBytes {
            elements: d as u64,
            bytes: (COPY_BYTES * d) as u64,
        });
        group.bench_function(BenchmarkId::new("copy", d), |bch| {
            bch.iter(|| copy(&mut a, &b))
        });
        group.throughput(Throughput::ElementsAndBytes {
            elements: d as u64,
            bytes: (TRIAD_BYTES * d) as u64,
        });
        group.bench_function(BenchmarkId::new("triad", d), |bch| {
            bch.iter(|| triad(&mut a, &b, &cc, 0.5))
        });
    }
    group.finish();
}

criterion_group!(benches, bandwidth);
criterion_main!(benches);
