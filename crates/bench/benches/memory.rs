//! The memory alone: its update (G, then θ) and its prediction (η for every coordinate),
//! lrmem's truncated kernels against the dense D×M formulation of the authors' code
//! ([`lrmem_bench::speed::dense::DenseMemory`]). Also `Memory::step` (a closure call per coordinate) against
//! `Memory::step_blocks` (a closure call per block of 256).
//!
//! ```text
//! cargo bench -p lrmem-bench --bench memory
//! ```

mod common;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use lrmem_bench::speed::dense::DenseMemory;
use lrmem_bench::speed::{gradients, memory_config, CENTERS, SIZES};
use lrmem_memory_core::{Memory, Trace};

/// The dense baseline keeps two D×M f32 matrices: cap them at 800 MB.
fn dense_fits(d: usize, m: usize) -> bool {
    d * m <= 20_000_000
}

fn update(c: &mut Criterion) {
    let mut group = common::group(c, "memory/update", 10, 200, 800);
    for &d in &SIZES {
        let grads = gradients(d, 11);
        group.throughput(Throughput::Elements(d as u64));
        for m in CENTERS {
            let mut mem = Memory::new(memory_config(m)).expect("valid");
            let mut k = 0usize;
            group.bench_function(BenchmarkId::new(format!("truncated M={m}"), d), |b| {
                b.iter(|| {
                    mem.learn(&grads[k % 2], &grads[(k + 1) % 2])
                        .expect("finite");
                    k += 1;
                })
            });
            if dense_fits(d, m) {
                let mut dense = DenseMemory::new(&memory_config(m), d);
                let mut k = 0usize;
                group.bench_function(BenchmarkId::new(format!("dense M={m}"), d), |b| {
                    b.iter(|| {
                        dense.update(&grads[k % 2]);
                        k += 1;
                    })
                });
            }
        }
    }
    group.finish();
}

fn predict(c: &mut Criterion) {
    let mut group = common::group(c, "memory/predict", 10, 200, 800);
    for &d in &SIZES {
        let grads = gradients(d, 11);
        let mut eta = vec![0.0f32; d];
        group.throughput(Throughput::Elements(d as u64));
        for m in CENTERS {
            let mut mem = Memory::new(memory_config(m)).expect("valid");
            mem.learn(&grads[0], &grads[1]).expect("finite");
            group.bench_function(BenchmarkId::new(format!("truncated M={m}"), d), |b| {
                b.iter(|| {
                    mem.for_each_rate_block(&grads[1], |start, e, _| {
                        eta[start..start + e.len()].copy_from_slice(e)
                    })
                })
            });
            if dense_fits(d, m) {
                let mut dense = DenseMemory::new(&memory_config(m), d);
                dense.update(&grads[0]);
                dense.update(&grads[1]);
                group.bench_function(BenchmarkId::new(format!("dense M={m}"), d), |b| {
                    b.iter(|| dense.predict())
                });
            }
        }
    }
    group.finish();
}

fn step_api(c: &mut Criterion) {
    let mut group = common::group(c, "memory/step", 10, 200, 800);
    let d = 1_000_000;
    let grads = gradients(d, 11);
    group.throughput(Throughput::Elements(d as u64));
    let mut w = vec![0.1f32; d];
    let mut mem = Memory::new(memory_config(20)).expect("valid");
    let mut trace = Trace::new(d);
    let mut k = 0usize;
    group.bench_function(BenchmarkId::new("step (closure per coordinate)", d), |b| {
        b.iter(|| {
            mem.step(&mut trace, &grads[k % 2], |i, eta, z| w[i] -= eta * z)
                .expect("finite");
            k += 1;
        })
    });
    group.bench_function(
        BenchmarkId::new("step_blocks (closure per block)", d),
        |b| {
            b.iter(|| {
                mem.step_blocks(&mut trace, &grads[k % 2], |start, etas, zs| {
                    let w = &mut w[start..start + etas.len()];
                    for ((w, &e), &z) in w.iter_mut().zip(etas).zip(zs) {
                        *w -= e * z;
                    }
                })
                .expect("finite");
                k += 1;
            })
        },
    );
    group.finish();
}

criterion_group!(benches, update, predict, step_api);
criterion_main!(benches);
