//! One optimizer step on one tensor, every optimizer, D ∈ {10³, 10⁵, 10⁶, 10⁷}, M ∈ {20, 100}
//! for the meta optimizers. Throughput: coordinates/s and bytes/s, with the bytes a step
//! needs per coordinate from [`lrmem_bench::speed::cases`] (Adam: 28), the same list as the `speed`
//! binary.
//!
//! ```text
//! cargo bench -p lrmem-bench --bench step
//! ```

mod common;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use lrmem_bench::speed::cases;
use lrmem_bench::speed::{gradients, SIZES};

fn step(c: &mut Criterion) {
    for &d in &SIZES {
        let grads = gradients(d, 7);
        let measure_ms = if d >= 10_000_000 { 1500 } else { 800 };
        let mut group = common::group(c, "step", 10, 300, measure_ms);
        for case in cases() {
            let mut opt = case.build().expect("the suite's specs build");
            let mut params = vec![0.1f32; d];
            // The first step allocates the optimizer's state.
            opt.step("w", &mut params, &grads[0]).expect("finite");
            let mut k = 1usize;
            group.throughput(Throughput::ElementsAndBytes {
                elements: d as u64,
                bytes: (case.bytes * d) as u64,
            });
            group.bench_function(BenchmarkId::new(case.label(), d), |b| {
                b.iter(|| {
                    opt.step("w", &mut params, &grads[k % 2]).expect("finite");
                    k += 1;
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, step);
criterion_main!(benches);
