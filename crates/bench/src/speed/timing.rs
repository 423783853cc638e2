//! How the speed suite times: entries side by side in rotating rounds, medians over rounds, and
//! the machine it ran on. What [`measure`](super::measure) and the model table share.

use std::time::Instant;

use super::SpeedError;

/// Times `entries` side by side: `rounds` rounds, each timing every entry once (a sample of
/// as many calls as take ≥ `sample_ns`, sized after a warm-up call that also takes the
/// first-touch page faults), in an order rotated by one per round; entry `i` stops after
/// `rounds_of(i)` rounds (a slow baseline needs fewer). Returns each entry's per-call times,
/// ns.
pub(super) fn interleave<E>(
    entries: &mut [E],
    rounds: usize,
    sample_ns: f64,
    rounds_of: impl Fn(usize) -> usize,
    mut run: impl FnMut(&mut E) -> Result<(), SpeedError>,
) -> Result<Vec<Vec<f64>>, SpeedError> {
    let mut reps = Vec::with_capacity(entries.len());
    for e in entries.iter_mut() {
        run(e)?;
        let t = Instant::now();
        run(e)?;
        let ns = t.elapsed().as_nanos().max(1) as f64;
        reps.push(((sample_ns / ns).ceil() as usize).clamp(1, 1_000_000));
    }
    let n = entries.len();
    let mut times = vec![Vec::with_capacity(rounds); n];
    for r in 0..rounds {
        for j in 0..n {
            let i = (j + r) % n;
            if r >= rounds_of(i) {
                continue;
            }
            let t = Instant::now();
            for _ in 0..reps[i] {
                run(&mut entries[i])?;
            }
            times[i].push(t.elapsed().as_secs_f64() * 1e9 / reps[i] as f64);
        }
    }
    Ok(times)
}

/// The median; NaN for no values.
pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// The median of the per-round ratios a/b of two entries timed side by side.
pub(super) fn ratio(a: &[f64], b: &[f64]) -> f64 {
    median(a.iter().zip(b).map(|(x, y)| x / y).collect())
}

/// The CPU's model name, from `/proc/cpuinfo` (`None` where there is none).
pub(crate) fn cpu_name() -> Option<String> {
    std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|s| {
        s.lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split(':').nth(1))
            .map(|s| s.trim().to_string())
    })
}
