//! The dense baseline computes what lrmem computes: same θ and η within float noise.

use lrmem_bench::speed::dense::DenseMemory;
use lrmem_bench::speed::{gradients, memory_config};
use lrmem_memory_core::{Memory, Trace};

fn scaled(a: &[f32], b: &[f32]) -> f64 {
    let scale = b.iter().fold(0.0f64, |m, &x| m.max((x as f64).abs()));
    let err = a
        .iter()
        .zip(b)
        .fold(0.0f64, |m, (&x, &y)| m.max((x as f64 - y as f64).abs()));
    err / scale
}

#[test]
fn dense_baseline_matches_memory_core() {
    for (d, m) in [(3_000, 20), (50_000, 20), (2_000, 100)] {
        let grads = gradients(d, 5);
        let mut dense = DenseMemory::new(&memory_config(m), d);
        let mut mem = Memory::new(memory_config(m)).unwrap();
        let mut trace = Trace::new(d);
        let (mut wd, mut wm) = (vec![0.1f32; d], vec![0.1f32; d]);
        let mut eta = vec![0.0f32; d];
        for t in 0..8 {
            let g = &grads[t % 2];
            dense.step(&mut wd, g);
            mem.step(&mut trace, g, |i, e, z| {
                eta[i] = e;
                wm[i] -= e * z;
            })
            .unwrap();
            assert!(
                scaled(mem.theta(), dense.theta()) < 1e-5,
                "D={d} M={m} step {t}: θ"
            );
            assert!(scaled(&eta, dense.eta()) < 1e-5, "D={d} M={m} step {t}: η");
        }
        assert!(scaled(&wm, &wd) < 1e-5);
    }
}
