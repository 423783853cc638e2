//! Progress bars of `cargo xtask bench`: one per arm and phase, counting finished tasks.

use std::collections::BTreeMap;
use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use lrmem_bench::harness::{Observer, RunSpec, TaskResult};
use lrmem_bench::report::Progress;
use lrmem_optimizers::Optimizer;

/// The bars of every experiment of one `cargo xtask bench`, and its lines of progress.
pub struct Bars {
    multi: MultiProgress,
}

impl Bars {
    /// No bars yet: each experiment adds its own.
    pub fn new() -> Self {
        Bars {
            multi: MultiProgress::new(),
        }
    }
}

impl Progress for Bars {
    fn line(&self, text: &str) {
        eprintln!("{text}");
    }

    fn observer(&self, tasks: usize) -> Box<dyn Observer + '_> {
        Box::new(ExperimentBars {
            multi: &self.multi,
            tasks,
            bars: Mutex::new(BTreeMap::new()),
        })
    }
}

/// The bars of one experiment, whose family has `tasks` tasks.
struct ExperimentBars<'a> {
    multi: &'a MultiProgress,
    tasks: usize,
    bars: Mutex<BTreeMap<String, ProgressBar>>,
}

impl Observer for ExperimentBars<'_> {
    fn phase_started(&self, label: &str, runs: &[RunSpec]) {
        let style = ProgressStyle::with_template(
            "{prefix:>28} [{bar:30}] {pos}/{len} tasks  {elapsed_precise} eta {eta}",
        )
        .expect("valid template")
        .progress_chars("=> ");
        eprintln!("== {label}: {} runs", runs.len());
        let mut bars = self.bars.lock().expect("bars");
        bars.clear();
        for r in runs {
            let bar = bars.entry(r.arm.name.clone()).or_insert_with(|| {
                self.multi.add(
                    ProgressBar::new(0)
                        .with_style(style.clone())
                        .with_prefix(r.arm.name.clone()),
                )
            });
            bar.inc_length(r.tasks.min(self.tasks) as u64);
        }
    }

    fn task_finished(&self, run: &RunSpec, _: usize, _: &TaskResult, _: &[&dyn Optimizer]) {
        if let Some(b) = self.bars.lock().expect("bars").get(&run.arm.name) {
            b.inc(1);
        }
    }

    fn phase_finished(&self, _: &str) {
        for b in self.bars.lock().expect("bars").values() {
            b.finish();
        }
    }
}
