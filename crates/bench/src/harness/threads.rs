//! The parallel runs: a queue of run specs, `jobs` threads that each take the next, one rayon
//! pool of one thread per run.

use std::collections::VecDeque;
use std::sync::{mpsc, Mutex};

use lrmem_tasks::TaskFamily;

use super::{run_one, Observer, Protocol, RunResult, RunSpec};
use crate::BenchError;

/// Runs `specs` on `jobs` threads; `finished` sees each result as soon as it is there (on this
/// thread, in completion order); the results come back tagged with their index.
pub(super) fn execute(
    family: &dyn TaskFamily,
    protocol: &Protocol,
    specs: Vec<(usize, RunSpec)>,
    jobs: usize,
    observer: &dyn Observer,
    mut finished: impl FnMut(&RunResult) -> Result<(), BenchError>,
) -> Result<Vec<(usize, RunResult)>, BenchError> {
    let n = specs.len();
    let queue = Mutex::new(specs.into_iter().collect::<VecDeque<_>>());
    let (tx, rx) = mpsc::channel();
    let mut out = Vec::with_capacity(n);
    let mut first_error = None;
    std::thread::scope(|scope| {
        for _ in 0..jobs.min(n) {
            let tx = tx.clone();
            let queue = &queue;
            scope.spawn(move || {
                // Parallel runs each keep to a thread of their own: dfdx's CPU matmuls split
                // over rayon's global pool, where the runs would trade places (a thousand
                // context switches per BEGAN update, ≈ 15 % slower with 2 runs on 2 cores).
                let pool = (jobs > 1)
                    .then(|| rayon::ThreadPoolBuilder::new().num_threads(1).build().ok())
                    .flatten();
                loop {
                    let Some((i, spec)) = queue.lock().expect("queue lock").pop_front() else {
                        break;
                    };
                    let run = || run_one(family, protocol, &spec, observer);
                    let r = match &pool {
                        Some(pool) => pool.install(run),
                        None => run(),
                    };
                    if tx.send((i, r)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for (i, r) in rx {
            match r.and_then(|r| finished(&r).map(|()| r)) {
                Ok(r) => out.push((i, r)),
                Err(e) => {
                    // Stop handing out work; the runs in flight finish and are dropped.
                    queue.lock().expect("queue lock").clear();
                    first_error.get_or_insert(e);
                }
            }
        }
    });
    match first_error {
        Some(e) => Err(e),
        None => Ok(out),
    }
}
