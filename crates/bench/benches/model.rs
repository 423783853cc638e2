//! One online update of the authors' LeNet (`lrmem_tasks::OnlineMnist`: one image, forward, backward,
//! then the optimizer's step over all 8 tensors, ~21k parameters) with each optimizer, so that
//! the optimizer's share of a real training step is visible. The images are synthetic (random
//! pixels): the cost of an update does not depend on what the pixels show.
//!
//! ```text
//! cargo bench -p lrmem-bench --bench model
//! ```

mod common;

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use lrmem_bench::speed::{cases, synthetic_images};
use lrmem_tasks::mnist::BinaryPair;
use lrmem_tasks::{OnlineMnist, Task};

fn model(c: &mut Criterion) {
    let pair = Arc::new(BinaryPair {
        digits: (1, 2),
        train: synthetic_images(256, 1),
        test: synthetic_images(16, 2),
    });
    let mut group = common::group(c, "model/lenet-online-update", 20, 300, 1000);
    for case in cases() {
        let mut task = OnlineMnist::new(pair.clone(), 0).expect("task");
        let mut opt = case.build().expect("the suite's specs build");
        task.update(opt.as_mut()).expect("update");
        group.bench_function(BenchmarkId::from_parameter(case.label()), |b| {
            b.iter(|| task.update(opt.as_mut()).expect("update"))
        });
    }
    group.finish();
}

criterion_group!(benches, model);
criterion_main!(benches);
