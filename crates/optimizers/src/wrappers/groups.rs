//! [`Groups`]: parameter groups, each tensor routed by name to its own optimizer.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::optimizer::model::check_distinct;
use crate::optimizer::{Checkpoint, OptimError, Optimizer, StateBytes, Tensor};

/// The name of the group that takes every tensor no pattern matches.
const DEFAULT: &str = "default";

/// A pattern of a group, and whether it has routed a tensor yet.
#[derive(Debug, Clone)]
struct Pattern {
    text: String,
    matched: bool,
}

impl Pattern {
    /// `*` matches any run of characters (dots included); everything else matches itself.
    fn matches(&self, name: &str) -> bool {
        glob(&self.text, name)
    }
}

/// Whether `name` matches `pattern`, in which `*` matches any run of characters.
fn glob(pattern: &str, name: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = name.strip_prefix(first) else {
        return false;
    };
    let mut parts: Vec<&str> = parts.collect();
    let Some(last) = parts.pop() else {
        return rest.is_empty(); // no `*`: an exact name
    };
    for part in parts {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// One parameter group: its name, patterns and optimizer.
#[derive(Debug)]
struct Group<O> {
    name: String,
    patterns: Vec<Pattern>,
    optimizer: O,
}

/// Parameter groups: each tensor goes, by its name, to the first group with a pattern that
/// matches it, or else to the default group; each group has its own optimizer and
/// hyperparameters (torch's `param_groups`, optax's `multi_transform`).
///
/// Patterns are exact tensor names or contain `*`, which matches any run of characters, dots
/// included: `*.bias`, `conv1.*`, `conv*`. Groups are tried in the order they were added.
///
/// **No silent patterns.** Every pattern must route at least one tensor of the first model step
/// (the first [`step_model`](Optimizer::step_model), or with per-tensor steps, the tensors
/// stepped before the first name repeats); one that routes none (a typo, a renamed layer, a
/// pattern whose tensors all went to an earlier group) makes that step fail with
/// [`OptimError::UnmatchedPattern`], naming it and the tensors seen, before anything of that
/// [`step_model`](Optimizer::step_model) is stepped. The default group may stay empty.
///
/// **Whole groups.** [`step_model`](Optimizer::step_model) hands each group's tensors, in the
/// model's order, to that group's optimizer in one `step_model` call, so that an optimizer with
/// statistics across tensors sees its group whole. Groups step in the order of their first
/// tensor in the model, so that, as with [`Optimizer::step_model`]'s default, a bad first tensor
/// fails before anything changes; an error in a later group leaves the groups before it stepped.
///
/// **Hyperparameters.** [`hyperparameters`](Optimizer::hyperparameters) lists every group's as
/// `group/key` (`bias/lr`, `default/weight_decay`), and
/// [`set_hyperparameter`](Optimizer::set_hyperparameter) takes the same names, so that a
/// [`Scheduled`](crate::Scheduled) optimizer can follow a schedule per group;
/// [`set_group_hyperparameter`](Groups::set_group_hyperparameter) is the same with the group
/// named apart. [`next_task`](Optimizer::next_task) forwards to every group;
/// [`memory_thetas`](Optimizer::memory_thetas) gathers every group's, and prefixes a key with
/// `group/` when two groups report it.
///
/// **Checkpoints.** `Groups<O>` is a [`Checkpoint`] when `O` is: use
/// [`Built`](crate::Built) (what [`OptimizerSpec::build`](crate::OptimizerSpec::build)
/// returns) to mix optimizers of different types and checkpoint them; `Box<dyn Optimizer + Send>`
/// (the default type, what [`OptimizerSpec::build`](crate::OptimizerSpec::build) returns) cannot
/// be saved.
///
/// No weight decay on biases and norms, and a memory of learning rates on the convolutions only:
///
/// ```
/// use lrmem_optimizers::{AdamConfig, Groups, Optimizer, OptimizerSpec, Tensor};
///
/// let adam = |wd: f32| -> Result<_, lrmem_optimizers::SpecError> {
///     OptimizerSpec::new("adam")?.with("lr", 1e-3).with("weight_decay", wd).build()
/// };
/// let mut opt = Groups::new(adam(1e-2)?)
///     .group("no_decay", &["*.bias", "norm.*"], adam(0.0)?)?
///     .group("memory", &["conv*"], "meta-sgd:xi=0.01".parse::<OptimizerSpec>()?.build()?)?;
///
/// let (mut conv, mut fc, mut bias, mut norm) = (vec![0.1f32; 4], vec![0.2f32; 3], vec![0.0f32; 3], vec![1.0f32]);
/// opt.step_model(&mut [
///     Tensor::new("conv1.weight", &mut conv, &[0.1; 4]),
///     Tensor::new("fc.weight", &mut fc, &[0.1; 3]),
///     Tensor::new("fc.bias", &mut bias, &[0.1; 3]),
///     Tensor::new("norm.scale", &mut norm, &[0.1]),
/// ])?;
/// assert_eq!(opt.group_of("fc.bias"), "no_decay");
/// assert_eq!(opt.group_of("fc.weight"), "default");
/// opt.set_hyperparameter("no_decay/lr", 3e-4)?;
/// assert_eq!(opt.hyperparameter("no_decay/lr"), Some(3e-4));
/// # Ok::<(), lrmem_optimizers::SpecError>(())
/// ```
#[derive(Debug)]
pub struct Groups<O = Box<dyn Optimizer + Send>> {
    /// The groups in the order they were added, the default group last.
    groups: Vec<Group<O>>,
    /// Which group each tensor seen so far goes to.
    routes: HashMap<String, usize>,
    /// The tensors of the first model step, in order, until every pattern has been checked.
    first_step: Option<Vec<String>>,
}

impl<O: Optimizer> Groups<O> {
    /// Parameter groups with only the default group, whose optimizer is `default`; add groups
    /// with [`group`](Groups::group).
    pub fn new(default: O) -> Self {
        Groups {
            groups: vec![Group {
                name: DEFAULT.to_owned(),
                patterns: Vec::new(),
                optimizer: default,
            }],
            routes: HashMap::new(),
            first_step: Some(Vec::new()),
        }
    }

    /// Adds the group `name` after those added before, with its `patterns` and its `optimizer`.
    ///
    /// Errors ([`OptimError::InvalidConfig`]): a name that is empty, contains `/`, is `default` or
    /// is taken; no pattern, or an empty one; or a tensor has stepped already (the routes of the
    /// tensors seen so far are fixed).
    pub fn group(
        mut self,
        name: &str,
        patterns: &[&str],
        optimizer: O,
    ) -> Result<Self, OptimError> {
        if name.is_empty() || name.contains('/') || self.groups.iter().any(|g| g.name == name) {
            return Err(OptimError::invalid(
                "group",
                format!("`{name}`"),
                "a name that is not empty, has no `/` and is not `default` or another group's",
            ));
        }
        if patterns.is_empty() || patterns.iter().any(|p| p.is_empty()) {
            return Err(OptimError::invalid(
                "patterns",
                format!("{patterns:?}"),
                "at least one, none empty: tensor names, or patterns with `*` such as `*.bias`",
            ));
        }
        if !self.routes.is_empty() {
            return Err(OptimError::invalid(
                "group",
                format!("`{name}`"),
                "added before the first step (tensors have been routed already)",
            ));
        }
        let group = Group {
            name: name.to_owned(),
            patterns: patterns
                .iter()
                .map(|p| Pattern {
                    text: (*p).to_owned(),
                    matched: false,
                })
                .collect(),
            optimizer,
        };
        let default = self.groups.len() - 1;
        self.groups.insert(default, group);
        Ok(self)
    }

    /// The groups' names, in the order they were added, the default group (`default`) last: the
    /// order in which patterns are tried.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.groups.iter().map(|g| g.name.as_str())
    }

    /// The group the tensor `name` goes to.
    pub fn group_of(&self, name: &str) -> &str {
        &self.groups[self.find(name)].name
    }

    /// The optimizer of the group `group`.
    pub fn get(&self, group: &str) -> Option<&O> {
        self.groups
            .iter()
            .find(|g| g.name == group)
            .map(|g| &g.optimizer)
    }

    /// The optimizer of the group `group`, mutably (to set its hyperparameters, load its
    /// state, …).
    pub fn get_mut(&mut self, group: &str) -> Option<&mut O> {
        self.groups
            .iter_mut()
            .find(|g| g.name == group)
            .map(|g| &mut g.optimizer)
    }

    /// Sets the hyperparameter `name` of the group `group`'s optimizer:
    /// `set_hyperparameter("{group}/{name}", value)`. An unknown group is
    /// [`OptimError::UnknownGroup`]; otherwise as that optimizer's
    /// [`set_hyperparameter`](Optimizer::set_hyperparameter).
    pub fn set_group_hyperparameter(
        &mut self,
        group: &str,
        name: &str,
        value: f32,
    ) -> Result<(), OptimError> {
        let known: Vec<String> = self.names().map(str::to_owned).collect();
        match self.get_mut(group) {
            Some(opt) => opt.set_hyperparameter(name, value),
            None => Err(OptimError::UnknownGroup {
                name: group.to_owned(),
                known,
            }),
        }
    }

    /// The first group with a pattern matching `name`, else the default group.
    fn find(&self, name: &str) -> usize {
        if let Some(&g) = self.routes.get(name) {
            return g;
        }
        let default = self.groups.len() - 1;
        self.groups[..default]
            .iter()
            .position(|g| g.patterns.iter().any(|p| p.matches(name)))
            .unwrap_or(default)
    }

    /// The group of `name`, remembered, and the patterns of that group that match it marked.
    fn route(&mut self, name: &str) -> usize {
        if let Some(&g) = self.routes.get(name) {
            return g;
        }
        let g = self.find(name);
        for p in &mut self.groups[g].patterns {
            if !p.matched && p.matches(name) {
                p.matched = true;
            }
        }
        self.routes.insert(name.to_owned(), g);
        g
    }

    /// Once the first model step is complete: every pattern must have routed a tensor.
    fn check_patterns(&self, seen: &[String]) -> Result<(), OptimError> {
        for group in &self.groups {
            if let Some(p) = group.patterns.iter().find(|p| !p.matched) {
                // A pattern that matches a tensor but did not route it lost it to an earlier group.
                let shadowed_by = seen
                    .iter()
                    .find(|n| p.matches(n))
                    .map(|n| self.groups[self.find(n)].name.clone());
                return Err(OptimError::UnmatchedPattern {
                    group: group.name.clone(),
                    pattern: p.text.clone(),
                    shadowed_by,
                    seen: seen.to_vec(),
                });
            }
        }
        Ok(())
    }
}

impl<O: Optimizer> Optimizer for Groups<O> {
    /// Steps `name` with its group's optimizer. The first time a name repeats, the first model
    /// step is complete and every pattern must have routed one of its tensors (else
    /// [`OptimError::UnmatchedPattern`], and this tensor is not stepped).
    fn step(&mut self, name: &str, params: &mut [f32], grads: &[f32]) -> Result<(), OptimError> {
        if let Some(first) = &self.first_step {
            if first.iter().any(|n| n == name) {
                self.check_patterns(first)?;
                self.first_step = None;
            }
        }
        let g = self.route(name);
        self.groups[g].optimizer.step(name, params, grads)?;
        if let Some(first) = &mut self.first_step {
            if !first.iter().any(|n| n == name) {
                first.push(name.to_owned());
            }
        }
        Ok(())
    }

    /// Hands each group its tensors in one `step_model` call; see [`Groups`]. Every group's
    /// tensors are checked ([`check_model`](Optimizer::check_model)) before any group steps,
    /// and the first call checks every pattern before stepping anything.
    fn step_model(&mut self, tensors: &mut [Tensor<'_>]) -> Result<(), OptimError> {
        self.check_model(tensors)?;
        let route: Vec<usize> = tensors.iter().map(|t| self.route(t.name)).collect();
        if let Some(first) = &self.first_step {
            let mut seen = first.clone();
            for t in tensors.iter() {
                if !seen.iter().any(|n| n == t.name) {
                    seen.push(t.name.to_owned());
                }
            }
            self.check_patterns(&seen)?;
            self.first_step = None;
        }
        let mut parts: Vec<Vec<Tensor<'_>>> = self.groups.iter().map(|_| Vec::new()).collect();
        for (t, &g) in tensors.iter_mut().zip(&route) {
            parts[g].push(Tensor::new(t.name, &mut *t.params, t.grads));
        }
        let mut order: Vec<usize> = Vec::new();
        for &g in &route {
            if !order.contains(&g) {
                order.push(g);
            }
        }
        for g in order {
            self.groups[g].optimizer.step_model(&mut parts[g])?;
        }
        Ok(())
    }

    /// The checks of the group `name` goes to, changing nothing.
    fn check_step(&self, name: &str, params: &[f32], grads: &[f32]) -> Result<(), OptimError> {
        self.groups[self.find(name)]
            .optimizer
            .check_step(name, params, grads)
    }

    /// A name given twice, then each group's optimizer's checks of its tensors, in the order
    /// the groups would step; changes nothing.
    fn check_model(&self, tensors: &mut [Tensor<'_>]) -> Result<(), OptimError> {
        check_distinct(tensors)?;
        let route: Vec<usize> = tensors.iter().map(|t| self.find(t.name)).collect();
        let mut parts: Vec<Vec<Tensor<'_>>> = self.groups.iter().map(|_| Vec::new()).collect();
        for (t, &g) in tensors.iter_mut().zip(&route) {
            parts[g].push(Tensor::new(t.name, &mut *t.params, t.grads));
        }
        let mut checked = vec![false; parts.len()];
        for &g in &route {
            if !std::mem::replace(&mut checked[g], true) {
                self.groups[g].optimizer.check_model(&mut parts[g])?;
            }
        }
        Ok(())
    }

    /// Forwards to every group's optimizer; the routes and the pattern check stay.
    fn next_task(&mut self) {
        for g in &mut self.groups {
            g.optimizer.next_task();
        }
    }

    /// Every group's, with `group/` before a key that two groups report.
    /// The evaluation point of `name` from the optimizer of its group.
    fn eval_params(&self, name: &str) -> Option<&[f32]> {
        let g = self.routes.get(name)?;
        self.groups[*g].optimizer.eval_params(name)
    }

    fn memory_thetas(&self) -> Vec<(String, Vec<f32>)> {
        type Thetas = Vec<(String, Vec<f32>)>;
        let per_group: Vec<(&str, Thetas)> = self
            .groups
            .iter()
            .map(|g| (g.name.as_str(), g.optimizer.memory_thetas()))
            .collect();
        let mut count: BTreeMap<&str, usize> = BTreeMap::new();
        for (_, thetas) in &per_group {
            for (k, _) in thetas {
                *count.entry(k.as_str()).or_default() += 1;
            }
        }
        let mut out = Vec::new();
        for (group, thetas) in &per_group {
            for (k, theta) in thetas {
                let key = if count[k.as_str()] > 1 {
                    format!("{group}/{k}")
                } else {
                    k.clone()
                };
                out.push((key, theta.clone()));
            }
        }
        out
    }

    /// Every group's hyperparameters as `group/key`.
    fn hyperparameters(&self) -> Vec<(String, f32)> {
        self.groups
            .iter()
            .flat_map(|g| {
                g.optimizer
                    .hyperparameters()
                    .into_iter()
                    .map(move |(k, v)| (format!("{}/{k}", g.name), v))
            })
            .collect()
    }

    /// `group/key`: the hyperparameter `key` of the group `group`.
    fn set_hyperparameter(&mut self, name: &str, value: f32) -> Result<(), OptimError> {
        match name.split_once('/') {
            Some((group, key)) => self.set_group_hyperparameter(group, key, value),
            None => Err(crate::optimizer::hyper::unknown(
                name,
                &self.hyperparameters(),
            )),
        }
    }
}

/// What a [`Groups`] checkpoint holds: every group's name and its optimizer's checkpoint.
#[derive(Serialize, Deserialize)]
struct SavedGroups {
    groups: Vec<(String, Vec<u8>)>,
}

impl<O: Optimizer + Checkpoint> Checkpoint for Groups<O> {
    /// Every group's optimizer's checkpoint, by group name.
    fn save(&self) -> Result<Vec<u8>, OptimError> {
        let groups = self
            .groups
            .iter()
            .map(|g| Ok((g.name.clone(), g.optimizer.save()?)))
            .collect::<Result<Vec<_>, OptimError>>()?;
        crate::optimizer::checkpoint::save("Groups", &SavedGroups { groups })
    }

    /// Loads every group's optimizer from the group of the same name; the checkpoint must have
    /// the same groups in the same order. All or nothing: if one group fails to load, those
    /// loaded before it get their previous state back. Routes and patterns are this optimizer's
    /// (they are code, not state), and are checked at the first step as always.
    fn load(&mut self, bytes: &[u8]) -> Result<(), OptimError> {
        let saved: SavedGroups = crate::optimizer::checkpoint::load("Groups", bytes)?;
        let names: Vec<&str> = saved.groups.iter().map(|(n, _)| n.as_str()).collect();
        if !names.iter().copied().eq(self.names()) {
            let ours: Vec<&str> = self.names().collect();
            return Err(OptimError::Corrupt {
                reason: format!(
                    "the checkpoint has the parameter groups {names:?} and this optimizer {ours:?}; build the same groups to load it"
                ),
            });
        }
        let before = self
            .groups
            .iter()
            .map(|g| g.optimizer.save())
            .collect::<Result<Vec<_>, OptimError>>()?;
        for (i, (group, (_, bytes))) in self.groups.iter_mut().zip(&saved.groups).enumerate() {
            if let Err(e) = group.optimizer.load(bytes) {
                for (g, b) in self.groups.iter_mut().zip(&before).take(i) {
                    g.optimizer.load(b)?;
                }
                return Err(match e {
                    OptimError::Corrupt { reason } => OptimError::Corrupt {
                        reason: format!("parameter group `{}`: {reason}", saved.groups[i].0),
                    },
                    e => e,
                });
            }
        }
        Ok(())
    }
}

impl<O: StateBytes> StateBytes for Groups<O> {
    /// The largest of the groups' (an upper bound: a coordinate's state depends on its group).
    fn bytes_per_coordinate(&self) -> usize {
        self.groups
            .iter()
            .map(|g| g.optimizer.bytes_per_coordinate())
            .max()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn glob_matches_like_a_shell_star() {
        assert!(glob("fc.bias", "fc.bias"));
        assert!(!glob("fc.bias", "fc.bias2"));
        assert!(!glob("fc.bias", "xfc.bias"));
        assert!(glob("*.bias", "conv1.bias"));
        assert!(glob("*.bias", "a.b.bias"));
        assert!(!glob("*.bias", "bias"));
        assert!(glob("conv1.*", "conv1.weight"));
        assert!(!glob("conv1.*", "conv10.weight"));
        assert!(glob("conv*", "conv10.weight"));
        assert!(glob("*", ""));
        assert!(glob("a*b*c", "abc"));
        assert!(glob("a*b*c", "a_b_b_c"));
        assert!(!glob("a*b*c", "acb"));
        assert!(!glob("ab*ba", "aba")); // prefix and suffix must not overlap
        assert!(glob("**", "x"));
    }
}
