//! [`run`] and [`merge`]: an experiment's runs in their order — the paper setting, the tuning
//! rounds, the tuned setting — skipping what a results file already holds, keeping to a shard's
//! slice, or joining the results files of the shards.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use lrmem_tasks::TaskFamily;

use super::shard::holders;
use super::threads::execute;
use super::{
    pick_lr, takes_base_lr, widened, Arm, Experiment, Observer, Results, ResultsFile, RunOptions,
    RunResult, RunSpec, Setting, TunedLr, Tuning,
};
use crate::BenchError;

/// Carries out `experiment` on `family`: the paper setting (every arm at the base learning
/// rate), then, with [`Experiment::tuning`], the tuning runs on the first task (widening the
/// grid while a pick sits at its edge) and the tuned setting. Each finished run is appended to
/// the results file at once, so a killed experiment resumes where it stopped.
///
/// With [`RunOptions::shard`] only that shard's runs are carried out (and written, into a file
/// of their own: [`results_file_name`](super::results_file_name)); the results hold those runs
/// and the tuned rates of the arms the shard tunes.
pub fn run(
    family: &dyn TaskFamily,
    experiment: &Experiment,
    options: &RunOptions,
    observer: &dyn Observer,
) -> Result<Results, BenchError> {
    check(family, experiment, options)?;
    let file = match &options.results {
        Some(path) => Some(ResultsFile::open(
            path,
            experiment,
            options.resume,
            options.shard,
        )?),
        None => None,
    };
    Runner::new(family, experiment, options, observer, file, Missing::Run).schedule()
}

/// Joins the results files `sources` of `experiment` (its shards' files, or the files of runs
/// interrupted on several machines) into the results one machine would have written: every run
/// in [`run`]'s order, the tuned rates picked from the joined tuning runs. A file written for
/// another experiment is refused ([`BenchError::OtherExperiment`]); a run held twice is taken
/// from the first file that holds it. Every run goes into [`RunOptions::results`] (written
/// anew), so that the folder then looks as after one machine's run.
///
/// A run that no file holds is an error naming the shards that hold it
/// ([`BenchError::MissingRuns`]), unless [`RunOptions::resume`]: then it is carried out here.
pub fn merge(
    family: &dyn TaskFamily,
    experiment: &Experiment,
    sources: &[PathBuf],
    options: &RunOptions,
    observer: &dyn Observer,
) -> Result<Results, BenchError> {
    check(family, experiment, options)?;
    if options.shard.is_some() {
        return Err(BenchError::Invalid(
            "merging joins every shard: leave out the shard".into(),
        ));
    }
    // Every source is read before the merged file is written: it may be one of them.
    let mut runs: Vec<RunResult> = Vec::new();
    let mut seen = BTreeSet::new();
    let mut counts = BTreeSet::new();
    for path in sources {
        let (shard, held) = ResultsFile::read_for(path, experiment)?;
        counts.insert(shard.map_or(1, |s| s.count()));
        runs.extend(held.into_iter().filter(|r| seen.insert(r.spec.key())));
    }
    let file = match &options.results {
        Some(path) => {
            let mut file = ResultsFile::open(path, experiment, false, None)?;
            for r in &runs {
                file.append(r)?;
            }
            Some(file)
        }
        None => None,
    };
    let missing = if options.resume {
        Missing::Run
    } else {
        Missing::Refuse(counts.into_iter().collect())
    };
    let mut runner = Runner::new(family, experiment, options, observer, file, missing);
    runner.done = runs.into_iter().map(|r| (r.spec.key(), r)).collect();
    runner.schedule()
}

/// What [`run`] and [`merge`] check before anything runs.
fn check(
    family: &dyn TaskFamily,
    experiment: &Experiment,
    options: &RunOptions,
) -> Result<(), BenchError> {
    experiment.validate()?;
    if family.is_empty() {
        return Err(BenchError::Invalid(format!(
            "workload `{}` has no tasks",
            family.name()
        )));
    }
    if options.jobs == 0 {
        return Err(BenchError::Invalid("jobs must be at least 1".into()));
    }
    Ok(())
}

/// The tuned learning rate of each tuning twin.
type Picks = BTreeMap<String, TunedLr>;

/// What to do with a run that no results file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Missing {
    /// Carry it out.
    Run,
    /// Refuse: a merge without `resume`. The shard counts of the merged files, to say which
    /// shards hold what is missing.
    Refuse(Vec<usize>),
}

/// One carrying out of an experiment: the runs a results file already holds, and where new
/// ones go.
struct Runner<'a> {
    family: &'a dyn TaskFamily,
    experiment: &'a Experiment,
    options: &'a RunOptions,
    observer: &'a dyn Observer,
    file: Option<ResultsFile>,
    /// The finished runs not handed out yet, by key.
    done: BTreeMap<String, RunResult>,
    executed: usize,
    missing: Missing,
}

impl<'a> Runner<'a> {
    fn new(
        family: &'a dyn TaskFamily,
        experiment: &'a Experiment,
        options: &'a RunOptions,
        observer: &'a dyn Observer,
        mut file: Option<ResultsFile>,
        missing: Missing,
    ) -> Self {
        let done = file
            .as_mut()
            .map(|f| f.take_done())
            .unwrap_or_default()
            .into_iter()
            .map(|r| (r.spec.key(), r))
            .collect();
        Runner {
            family,
            experiment,
            options,
            observer,
            file,
            done,
            executed: 0,
            missing,
        }
    }

    /// Whether this machine carries out `run` (every run without a shard).
    fn mine(&self, run: &RunSpec) -> bool {
        self.options.shard.is_none_or(|s| s.holds(run))
    }

    /// The results of `specs`, in their order: those already held, and the others carried out
    /// now (on `jobs` threads, each appended to the results file as it finishes).
    fn exec(&mut self, label: &str, specs: Vec<RunSpec>) -> Result<Vec<RunResult>, BenchError> {
        let (ready, todo): (Vec<_>, Vec<_>) = specs
            .into_iter()
            .enumerate()
            .partition(|(_, s)| self.done.contains_key(&s.key()));
        if let (Missing::Refuse(counts), Some((_, first))) = (&self.missing, todo.first()) {
            let specs: Vec<RunSpec> = todo.iter().map(|(_, s)| s.clone()).collect();
            let shards = holders(&specs, counts);
            return Err(BenchError::MissingRuns {
                count: todo.len(),
                first: format!(
                    "{:?} run of arm `{}`, seed {}, lr {}",
                    first.setting,
                    first.arm.name,
                    first.seed,
                    first.lr.map_or("its own".into(), |lr| format!("{lr:e}"))
                ),
                shards: if shards.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; they belong to shard(s) {}",
                        shards
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                },
            });
        }
        let mut out: Vec<(usize, RunResult)> = ready
            .into_iter()
            .map(|(i, s)| (i, self.done.remove(&s.key()).expect("partitioned on it")))
            .collect();
        for (_, r) in &out {
            self.observer.run_finished(r);
        }
        if !todo.is_empty() {
            let runs: Vec<RunSpec> = todo.iter().map(|(_, s)| s.clone()).collect();
            self.observer.phase_started(label, &runs);
            self.executed += todo.len();
            let file = &mut self.file;
            let fresh = execute(
                self.family,
                &self.experiment.protocol,
                todo,
                self.options.jobs,
                self.observer,
                |r| match file.as_mut() {
                    Some(f) => f.append(r),
                    None => Ok(()),
                },
            )?;
            out.extend(fresh);
            self.observer.phase_finished(label);
        }
        out.sort_by_key(|(i, _)| *i);
        Ok(out.into_iter().map(|(_, r)| r).collect())
    }

    /// The runs of `setting` this machine carries out: every arm (at the base learning rate
    /// `lr` gives it) with every seed, through the experiment's tasks.
    fn specs(&self, setting: Setting, lr: impl Fn(&Arm) -> Option<f32>) -> Vec<RunSpec> {
        let experiment = self.experiment;
        let tasks = experiment.tasks.unwrap_or(usize::MAX);
        experiment
            .arms
            .iter()
            .flat_map(|arm| {
                let lr = lr(arm);
                experiment.seeds.iter().map(move |&seed| RunSpec {
                    setting,
                    arm: arm.clone(),
                    lr,
                    seed,
                    tasks,
                })
            })
            .filter(|s| self.mine(s))
            .collect()
    }

    /// Every setting in order: paper, tuning, tuned.
    fn schedule(mut self) -> Result<Results, BenchError> {
        let experiment = self.experiment;
        let tasks = experiment.tasks.unwrap_or(usize::MAX);
        let mut runs = Vec::new();
        if let Some(lr) = experiment.base_lr {
            let specs = self.specs(Setting::Paper, |arm| takes_base_lr(arm).then_some(lr));
            runs.extend(self.exec("paper", specs)?);
        }
        let mut tuned = BTreeMap::new();
        if let Some(tuning) = &experiment.tuning {
            let (tuning_runs, picks) = self.tune(tuning)?;
            tuned = picks;
            runs.extend(tuning_runs);
            let specs = self.specs(Setting::Tuned, |arm| {
                tuned.get(&arm.tuning_twin().name).map(|t| t.lr)
            });
            runs.extend(self.exec("tuned", specs)?);
        }
        let family = self.family;
        Ok(Results {
            experiment: experiment.clone(),
            task_labels: (0..family.len().min(tasks))
                .map(|k| family.label(k))
                .collect(),
            metric: family.metric().name.to_string(),
            runs,
            tuned,
            executed: self.executed,
        })
    }

    /// The tuning runs of every arm this machine tunes (an arm with its own `lr` is not tuned),
    /// round after round while a pick sits at an edge of its grid, and the picks by tuning
    /// twin.
    fn tune(&mut self, tuning: &Tuning) -> Result<(Vec<RunResult>, Picks), BenchError> {
        let experiment = self.experiment;
        let mut twins: Vec<Arm> = Vec::new();
        for arm in &experiment.arms {
            let twin = arm.tuning_twin();
            if !twins.iter().any(|t| t.name == twin.name) && arm.spec.get("lr").is_none() {
                twins.push(twin);
            }
        }
        if let Some(shard) = self.options.shard {
            twins.retain(|t| shard.holds_tuning_of(&t.name));
        }
        let plans: BTreeMap<String, Tuning> = twins
            .iter()
            .map(|t| (t.name.clone(), tuning.for_arm(t)))
            .collect();
        let mut grids: BTreeMap<String, Vec<f32>> = plans
            .iter()
            .map(|(name, plan)| (name.clone(), plan.grid.clone()))
            .collect();
        let mut tuning_runs: Vec<RunResult> = Vec::new();
        let mut pending: Vec<(Arm, f32)> = twins
            .iter()
            .flat_map(|t| plans[&t.name].grid.iter().map(move |&lr| (t.clone(), lr)))
            .collect();
        for round in 0..=2 * tuning.max_widen {
            if pending.is_empty() {
                break;
            }
            let specs: Vec<RunSpec> = pending
                .iter()
                .flat_map(|(arm, lr)| {
                    tuning.seeds.iter().map(move |&seed| RunSpec {
                        setting: Setting::Tuning,
                        arm: arm.clone(),
                        lr: Some(*lr),
                        seed,
                        tasks: 1,
                    })
                })
                .collect();
            let label = if round == 0 {
                "tuning".to_string()
            } else {
                format!("tuning, widened grid (round {round})")
            };
            tuning_runs.extend(self.exec(&label, specs)?);
            pending.clear();
            for twin in &twins {
                let grid = grids.get_mut(&twin.name).expect("one grid per twin");
                let plan = &plans[&twin.name];
                if let Some(lr) =
                    widened(&tuning_runs, &twin.name, grid, plan, &experiment.protocol)
                {
                    grid.push(lr);
                    grid.sort_by(f32::total_cmp);
                    pending.push((twin.clone(), lr));
                }
            }
        }
        let picks = twins
            .iter()
            .map(|twin| {
                let grid = &grids[&twin.name];
                let pick = pick_lr(&tuning_runs, &twin.name, grid, &experiment.protocol);
                (twin.name.clone(), pick)
            })
            .collect();
        Ok((tuning_runs, picks))
    }
}
