//! One step of a tensor under [`Meta`] (docs/algorithm.md §11): the checks, the base's
//! direction, the memory's rates and the move, each a function of its own, in the order they
//! run; and the routing of tensors seen for the first time.

use std::borrow::Cow;
use std::collections::BTreeSet;

use lrmem_memory_core::{Memory, Trace};

use super::rates::{Acc, StepInfo};
use super::{listed, Meta, MetaTensor, Query, NON_FINITE_SETTING};
use crate::optimizer::inputs::{check_inputs, check_length};
use crate::optimizer::{Base, Direction, DirectionBuf, OptimError};

impl<B: Base> Meta<B> {
    /// One step of tensor `name`: its gradient checked, its routing settled on its first step,
    /// the base's direction u, the tensor's state made on its first step, then every coordinate
    /// moved by −η̂(z)·u with the memory's rates (or η₀ without a memory). An error before the
    /// move changes nothing.
    pub(super) fn step_tensor(
        &mut self,
        name: &str,
        params: &mut [f32],
        grads: &[f32],
    ) -> Result<(), OptimError> {
        let grads = self.checked(name, params, grads)?;
        let n = params.len();
        let route = self.admit(name, n)?;
        let kind =
            self.base
                .direction(name, params, &grads, DirectionBuf::new(&mut self.dir, n))?;
        // A base that did not write its buffer moves by zeros rather than reading past it; the
        // gradient's query writes the base's own direction into it.
        let needs_buffer = kind != Direction::ClippedQuery || self.config.query != Query::Base;
        if needs_buffer && self.dir.len() < n {
            self.dir.resize(n, 0.0);
        }
        if let Some(memory) = route {
            self.add_tensor(name, n, memory)?;
        }
        self.move_params(name, params, &grads, kind)
    }

    /// The checks of [`step_tensor`](Self::step_tensor) before anything changes, changing
    /// nothing: the gradient, the tensor's length (or, on its first step, its routing), and
    /// the base's own checks on the gradient it would get (its weight decay, its state's
    /// length). What [`Optimizer::check_step`](crate::Optimizer::check_step) is for `Meta`.
    pub(super) fn check_tensor(
        &self,
        name: &str,
        params: &[f32],
        grads: &[f32],
    ) -> Result<(), OptimError> {
        let grads = self.checked(name, params, grads)?;
        match self.tensors.len_of(name) {
            Some(len) => check_length(name, "params", len, params.len())?,
            None => {
                self.route_new(name)?;
            }
        }
        self.base.check_direction(name, params, &grads)
    }

    /// The gradients to use ([`check_inputs`] under the memory's policy), with the message
    /// pointing at `Meta`'s setting of the policy.
    fn checked<'g>(
        &self,
        name: &str,
        params: &[f32],
        grads: &'g [f32],
    ) -> Result<Cow<'g, [f32]>, OptimError> {
        check_inputs(name, params, grads, self.config.memory.non_finite).map_err(|e| match e {
            OptimError::NonFiniteGradient {
                tensor,
                index,
                value,
                ..
            } => OptimError::NonFiniteGradient {
                tensor,
                index,
                value,
                setting: NON_FINITE_SETTING,
            },
            e => e,
        })
    }

    /// Checks that tensor `name` keeps its length and tracks the first pass over the model;
    /// for a tensor seen for the first time, its memory key (`Some(None)`: no memory).
    fn admit(&mut self, name: &str, n: usize) -> Result<Option<Option<String>>, OptimError> {
        let route = match self.tensors.len_of(name) {
            Some(len) => {
                check_length(name, "params", len, n)?;
                None
            }
            None => Some(self.route_new(name)?),
        };
        self.first_pass(name)?;
        Ok(route)
    }

    /// The state of a tensor seen for the first time: its memory (made at η₀ if its key has
    /// none yet) and an empty trace.
    fn add_tensor(
        &mut self,
        name: &str,
        n: usize,
        memory: Option<String>,
    ) -> Result<(), OptimError> {
        if let Some(key) = &memory {
            if !self.memories.contains_key(key) {
                let mut fresh = Memory::new(self.config.memory)?;
                fresh.set_kernels(self.kernels);
                self.memories.insert(key.clone(), fresh);
                if self.loaded.is_some() {
                    self.fresh.push(key.clone());
                }
            }
        }
        let trace = Trace::new(if memory.is_some() { n } else { 0 });
        self.tensors.get_or_init(name, n, || MetaTensor {
            memory,
            trace,
            steps: 0,
            last: None,
            rates: Vec::new(),
        })?;
        Ok(())
    }

    /// Moves every coordinate of `params` by −η·u: the memory learns from the query z and
    /// predicts η̂(z) block by block (Eq. 3–5, `Memory::step_blocks`), or η₀ without a memory;
    /// then records what the step applied and tells the observer.
    fn move_params(
        &mut self,
        name: &str,
        params: &mut [f32],
        grads: &[f32],
        kind: Direction,
    ) -> Result<(), OptimError> {
        let n = params.len();
        let (mem_cfg, query) = (self.config.memory, self.config.query);
        let Meta {
            base,
            memories,
            tensors,
            dir,
            record,
            observer,
            ..
        } = self;
        let MetaTensor {
            memory,
            trace,
            steps,
            last,
            rates,
        } = tensors.get_mut(name).expect("made above");
        let record = *record;
        if record {
            rates.resize(n, 0.0);
        } else if !rates.is_empty() {
            *rates = Vec::new();
        }
        let base_query = base.query(name, grads);
        let z = match query {
            Query::Base => base_query,
            Query::Gradient => grads,
        };
        let kind = if query != Query::Base {
            own_direction(kind, dir, base_query, mem_cfg.clip)
        } else {
            kind
        };
        let dir = &dir[..];
        let acc = match memory.as_deref() {
            Some(key) => {
                let mem = memories.get_mut(key).expect("a tensor's memory exists");
                let mut acc = Acc::new();
                let buf = |start: usize, end: usize| dir.get(start..end).unwrap_or(&[]);
                // `lr` scales the rates of a memory made at another η₀ (docs/guide.md §11).
                let (made_at, lr) = (mem.config().eta0, mem_cfg.eta0);
                let mut scaled = Vec::new();
                mem.step_blocks(trace, z, |start, eta, zc| {
                    let eta = if made_at == lr {
                        eta
                    } else {
                        scale_rates(&mut scaled, eta, made_at, lr)
                    };
                    let end = start + eta.len();
                    apply(
                        kind,
                        &mut params[start..end],
                        eta,
                        zc,
                        buf(start, end),
                        &mut acc,
                    );
                    if record {
                        rates[start..end].copy_from_slice(eta);
                    }
                })
                .map_err(|source| OptimError::Memory {
                    tensor: Some(name.to_owned()),
                    source,
                })?;
                acc
            }
            None => {
                let eta = mem_cfg.eta0;
                apply_constant(kind, params, eta, z, dir, mem_cfg.clip);
                if record {
                    rates.fill(eta);
                }
                Acc::constant(eta, n)
            }
        };
        *steps += 1;
        let summary = acc.finish();
        *last = Some(summary);
        if let Some(observer) = observer {
            let info = StepInfo {
                tensor: name,
                memory: memory.as_deref(),
                step: *steps,
                rates: summary,
                per_coordinate: record.then_some(&rates[..]),
            };
            let mut f = observer.lock().unwrap_or_else(|e| e.into_inner());
            f(&info);
        }
        Ok(())
    }

    /// The memory key of a tensor seen for the first time; under a strict
    /// [`load_memories`](Meta::load_memories), an error if that memory does not exist.
    fn route_new(&self, name: &str) -> Result<Option<String>, OptimError> {
        let key = (self.routing)(name);
        if let (Some(k), Some(loaded)) = (&key, &self.loaded) {
            if loaded.strict && !self.memories.contains_key(k) {
                let used: BTreeSet<&str> = self
                    .tensors
                    .iter()
                    .filter_map(|(_, t)| t.memory.as_deref())
                    .collect();
                return Err(OptimError::Routing {
                    reason: format!(
                        "tensor `{name}` uses the memory `{k}`, which `Meta::load_memories` did not load (it loaded {}; not used by any tensor yet: {}). If the tensor was renamed, map its saved memory with `LoadMemories {{ rename: &[(\"<saved key>\", \"{k}\")], .. }}`; to let it start fresh at η₀, load with `strict: false`",
                        listed(&loaded.keys),
                        listed(loaded.keys.iter().filter(|k| !used.contains(k.as_str())))
                    ),
                });
            }
        }
        Ok(key)
    }

    /// Tracks the first pass over the model for [`Meta::only`]: when a tensor steps again, every
    /// name given to `only` must have stepped.
    fn first_pass(&mut self, name: &str) -> Result<(), OptimError> {
        if self.only.is_none() || self.pass.done {
            return Ok(());
        }
        if !self.pass.seen.iter().any(|s| s == name) {
            self.pass.seen.push(name.to_owned());
            return Ok(());
        }
        self.check_only(&[])?;
        self.pass.done = true;
        Ok(())
    }

    /// Errors if a name given to [`Meta::only`] is neither among the tensors seen so far nor in
    /// `also`.
    pub(super) fn check_only(&self, also: &[&str]) -> Result<(), OptimError> {
        let Some(only) = &self.only else {
            return Ok(());
        };
        let seen = &self.pass.seen;
        let known = |n: &str| seen.iter().any(|s| s == n) || also.contains(&n);
        let missing: Vec<&str> = only
            .iter()
            .map(String::as_str)
            .filter(|n| !known(n))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let stepped = seen.iter().map(String::as_str).chain(
            also.iter()
                .copied()
                .filter(|a| !seen.iter().any(|s| s == a)),
        );
        Err(OptimError::Routing {
            reason: format!(
                "`Meta::only` names {}, which no tensor of the first pass over the model has (the tensors stepped: {}); such a tensor would step at η₀ without a memory. Give `only` the names the model steps with",
                listed(&missing),
                listed(stepped)
            ),
        })
    }
}

/// The direction a base gave with `kind`, written out in full into `dir` when the memory is not
/// queried with the base's query: the base's direction reads its own clipped query, which the
/// memory no longer hands over.
fn own_direction(kind: Direction, dir: &mut [f32], base_query: &[f32], clip: f32) -> Direction {
    if kind == Direction::Values {
        return kind;
    }
    for (u, &q) in dir.iter_mut().zip(base_query) {
        let q = q.clamp(-clip, clip);
        *u = if kind == Direction::ClippedQueryPlus {
            q + *u
        } else {
            q
        };
    }
    Direction::Values
}

/// The rates `eta` of a memory made at η₀ = `made_at`, handed out while `lr` is set: each
/// multiplied by lr/η₀ (shifted by lr where η₀ = 0, as a learned rate follows a new `lr` in
/// hypergradient descent), within ±10⁶ (memory-core's `MAX_RATE`), so that a ratio beyond f32
/// (η₀ = 10⁻³⁸, lr = 1) saturates rather than overflowing the step (docs/guide.md §11).
fn scale_rates<'a>(out: &'a mut Vec<f32>, eta: &[f32], made_at: f32, lr: f32) -> &'a [f32] {
    let max = lrmem_memory_core::MAX_RATE;
    out.clear();
    out.extend(
        eta.iter()
            .map(|&e| crate::optimizer::hyper::rescale(e, made_at, lr).clamp(-max, max)),
    );
    out
}

/// w ← w − η₀·u for a tensor without a memory, u as `kind` says (`z` clipped to ±`clip`).
fn apply_constant(
    kind: Direction,
    params: &mut [f32],
    eta: f32,
    z: &[f32],
    dir: &[f32],
    clip: f32,
) {
    for (d, w) in params.iter_mut().enumerate() {
        let zc = z[d].clamp(-clip, clip);
        let u = match kind {
            Direction::ClippedQuery => zc,
            Direction::ClippedQueryPlus => zc + dir[d],
            Direction::Values => dir[d],
        };
        *w -= eta * u;
    }
}

/// w ← w − η·u for one block, u as `kind` says (`zc`: the clipped queries, `b`: the buffer),
/// and the block's rates into `acc`.
#[inline(always)]
fn apply(kind: Direction, w: &mut [f32], eta: &[f32], zc: &[f32], b: &[f32], acc: &mut Acc) {
    match kind {
        Direction::ClippedQuery => {
            // Plain SGD, the hot path: the rates are summarised in the same pass.
            let (mut lo, mut hi, mut sums) = (acc.lo, acc.hi, [0.0f32; 8]);
            let mut wc = w.chunks_exact_mut(8);
            let mut ec = eta.chunks_exact(8);
            let mut zcc = zc.chunks_exact(8);
            for ((w, e), z) in (&mut wc).zip(&mut ec).zip(&mut zcc) {
                for i in 0..8 {
                    let e = e[i];
                    w[i] -= e * z[i];
                    sums[i] += e;
                    lo[i] = if e < lo[i] { e } else { lo[i] };
                    hi[i] = if e > hi[i] { e } else { hi[i] };
                }
            }
            for ((w, &e), &z) in wc
                .into_remainder()
                .iter_mut()
                .zip(ec.remainder())
                .zip(zcc.remainder())
            {
                *w -= e * z;
                sums[0] += e;
                lo[0] = lo[0].min(e);
                hi[0] = hi[0].max(e);
            }
            acc.lo = lo;
            acc.hi = hi;
            acc.sum += sums.iter().map(|&s| s as f64).sum::<f64>();
            acc.count += eta.len();
            return;
        }
        Direction::ClippedQueryPlus => {
            for (((w, &e), &z), &b) in w.iter_mut().zip(eta).zip(zc).zip(b) {
                *w -= e * (z + b);
            }
        }
        Direction::Values => {
            for ((w, &e), &u) in w.iter_mut().zip(eta).zip(b) {
                *w -= e * u;
            }
        }
    }
    acc.add(eta);
}
