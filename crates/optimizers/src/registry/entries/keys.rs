//! The keys several entries share, each defined once: the keys that shape a base optimizer's
//! direction (read by the base's own entry, by the memory over it and by Mechanic over it), the
//! memory's keys (read by every `meta-*` entry), and `non_finite`.

use lrmem_memory_core::{Layout, MemoryConfig, MemoryOptimizer, QueryScale, Reload, Signal};

use crate::methods::adam::AdamConfig;
use crate::methods::hd::{AdamHdConfig, SgdHdConfig};
use crate::methods::rprop::RpropConfig;
use crate::methods::sgd::SgdConfig;
use crate::registry::{Key, Params, SpecError};
use crate::wrappers::meta::{MetaConfig, Query};
use lrmem_memory_core::{NonFinite, ThetaSpace};

/// SGD's momentum μ (the keys of [`SgdConfig`] that shape its direction follow).
pub(super) const MOMENTUM: Key = Key::new(
    "momentum",
    "momentum mu in [0, 1); 0 disables the buffer",
    "0",
);
/// See [`MOMENTUM`].
pub(super) const DAMPENING: Key = Key::new(
    "dampening",
    "dampening of the momentum buffer, in [0, 1]",
    "0",
);
/// See [`MOMENTUM`].
pub(super) const NESTEROV: Key = Key::new(
    "nesterov",
    "Nesterov momentum, true or false (needs momentum > 0 and dampening 0)",
    "false",
);
/// See [`MOMENTUM`]: SGD's L2 penalty.
pub(super) const SGD_WEIGHT_DECAY: Key = Key::new(
    "weight_decay",
    "L2 penalty lambda added to the gradient: g + lambda*w",
    "0",
);

/// Adam's β₁ (the keys of [`AdamConfig`] that shape its direction follow).
pub(super) const BETA1: Key = Key::new("beta1", "decay of the first moment, in [0, 1)", "0.9");
/// See [`BETA1`].
pub(super) const BETA2: Key = Key::new("beta2", "decay of the second moment, in [0, 1)", "0.999");
/// See [`BETA1`].
pub(super) const EPS: Key = Key::new(
    "eps",
    "epsilon added to the root of the second moment, > 0",
    "1e-8",
);
/// See [`BETA1`]: Adam's weight decay, coupled or decoupled.
pub(super) const ADAM_WEIGHT_DECAY: Key = Key::new(
    "weight_decay",
    "weight decay lambda: added to the gradient (g + lambda*w), or decoupled with decoupled=true",
    "0",
);
/// See [`BETA1`].
pub(super) const DECOUPLED: Key = Key::new(
    "decoupled",
    "true: decoupled weight decay (AdamW); false: L2 added to the gradient (Adam)",
    "false",
);

/// Rprop's step factors and bounds (its `lr` is Δ₀).
pub(super) const ETA_MINUS: Key = Key::new(
    "eta_minus",
    "factor of a step size when the gradient flips, in (0, 1)",
    "0.5",
);
/// See [`ETA_MINUS`].
pub(super) const ETA_PLUS: Key = Key::new(
    "eta_plus",
    "factor of a step size when the gradient keeps its sign, > 1",
    "1.2",
);
/// See [`ETA_MINUS`].
pub(super) const STEP_MIN: Key = Key::new("step_min", "smallest step size, >= 0", "1e-6");
/// See [`ETA_MINUS`].
pub(super) const STEP_MAX: Key = Key::new("step_max", "largest step size, >= step_min", "50");

/// The hypergradient learning rate β of SGD-HD.
pub(super) const SGD_HD_BETA: Key =
    Key::new("beta", "hypergradient learning rate beta, >= 0", "0.001");
/// The hypergradient learning rate β of Adam-HD.
pub(super) const ADAM_HD_BETA: Key =
    Key::new("beta", "hypergradient learning rate beta, >= 0", "1e-7");

/// The config of a base optimizer as the entries built on it read it: the keys that shape its
/// direction, over its defaults, with the learning rate and the non-finite policy set by the
/// entry (the base's own keys, the memory's η₀ and policy, or Mechanic's), so that the base's
/// entry, the memory over it and Mechanic over it read it in one way.
pub(super) trait BaseKeys: Sized {
    /// The config with `lr`, `non_finite` and the direction's keys.
    fn read(p: &mut Params<'_>, lr: f32, non_finite: NonFinite) -> Result<Self, SpecError>;
}

impl BaseKeys for SgdConfig {
    fn read(p: &mut Params<'_>, lr: f32, non_finite: NonFinite) -> Result<Self, SpecError> {
        // Destructured in full so that a new field fails to compile until it has a key.
        let SgdConfig {
            lr: _,
            momentum,
            dampening,
            nesterov,
            weight_decay,
            non_finite: _,
        } = SgdConfig::default();
        Ok(SgdConfig {
            lr,
            momentum: p.f32("momentum", momentum)?,
            dampening: p.f32("dampening", dampening)?,
            nesterov: p.bool("nesterov", nesterov)?,
            weight_decay: p.f32("weight_decay", weight_decay)?,
            non_finite,
        })
    }
}

impl BaseKeys for AdamConfig {
    fn read(p: &mut Params<'_>, lr: f32, non_finite: NonFinite) -> Result<Self, SpecError> {
        // Destructured in full so that a new field fails to compile until it has a key.
        let AdamConfig {
            lr: _,
            beta1,
            beta2,
            eps,
            weight_decay,
            decoupled,
            non_finite: _,
        } = AdamConfig::default();
        Ok(AdamConfig {
            lr,
            beta1: p.f32("beta1", beta1)?,
            beta2: p.f32("beta2", beta2)?,
            eps: p.f32("eps", eps)?,
            weight_decay: p.f32("weight_decay", weight_decay)?,
            decoupled: p.bool("decoupled", decoupled)?,
            non_finite,
        })
    }
}

impl BaseKeys for RpropConfig {
    fn read(p: &mut Params<'_>, lr: f32, non_finite: NonFinite) -> Result<Self, SpecError> {
        let d = RpropConfig::default();
        Ok(RpropConfig {
            lr,
            etas: (p.f32("eta_minus", d.etas.0)?, p.f32("eta_plus", d.etas.1)?),
            step_sizes: (
                p.f32("step_min", d.step_sizes.0)?,
                p.f32("step_max", d.step_sizes.1)?,
            ),
            non_finite,
        })
    }
}

impl BaseKeys for SgdHdConfig {
    fn read(p: &mut Params<'_>, lr: f32, non_finite: NonFinite) -> Result<Self, SpecError> {
        Ok(SgdHdConfig {
            lr,
            hypergrad_lr: p.f32("beta", SgdHdConfig::default().hypergrad_lr)?,
            non_finite,
        })
    }
}

impl BaseKeys for AdamHdConfig {
    fn read(p: &mut Params<'_>, lr: f32, non_finite: NonFinite) -> Result<Self, SpecError> {
        let d = AdamHdConfig::default();
        Ok(AdamHdConfig {
            lr,
            hypergrad_lr: p.f32("beta", d.hypergrad_lr)?,
            beta1: p.f32("beta1", d.beta1)?,
            beta2: p.f32("beta2", d.beta2)?,
            eps: p.f32("eps", d.eps)?,
            non_finite,
        })
    }
}

/// The keys of the memory every `meta-*` entry takes, then the base's keys. `meta-ctx-sgd`
/// takes them without the query scale's and the query's (`@context`).
macro_rules! memory_keys {
    ($($base:expr),* $(,)?) => {
        $crate::registry::entries::keys::memory_keys!(@keys [
            Key::new("scale", "what indexes the memory: raw (the query, the authors') or rms (the query over its tensor's running RMS; clip is then in RMS units)", "raw"),
            Key::new("scale_beta", "decay of scale=rms's running mean, in (0, 1)", "0.99"),
        ] [
            Key::new("query", "what the memory is queried with: base (the base's query: g for SGD, m_t for Adam, the authors') or grad (the gradient)", "base"),
        ] $($base),*)
    };
    (@context $($base:expr),* $(,)?) => {
        $crate::registry::entries::keys::memory_keys!(@keys [] [] $($base),*)
    };
    (@keys [$($scale:expr,)*] [$($query:expr,)*] $($base:expr),*) => {
        &[
            Key::new("lr", "eta0: the initial learning rate, theta_m = eta0 for every local model, in (theta_min, theta_max]; changed between steps, it multiplies the rates of memories made at another eta0 by lr/eta0", "0.001"),
            Key::new("xi", "the memory optimizer's learning rate xi (the meta learning rate), >= 0", "0.001"),
            Key::new("theta_opt", "how theta follows the signal: adam, sgd (theta + xi*G) or momentum", "adam"),
            Key::new("theta_momentum", "momentum of theta_opt=momentum, in [0, 1)", "0.9"),
            Key::new("theta_beta1", "beta1 of theta_opt=adam, in [0, 1)", "0.9"),
            Key::new("theta_beta2", "beta2 of theta_opt=adam, in [0, 1)", "0.999"),
            Key::new("theta_eps", "epsilon of theta_opt=adam, > 0", "1e-8"),
            Key::new("m", "number of local models M (centres), at least 2 (even for layout=log)", "20"),
            Key::new("clip", "queries are clipped to +-clip, and the centres span that range, > 0; with m and lm_scale the kernel width lm_scale*2*clip/(m-1) must lie in [1e-19, 1e18]", "1"),
            Key::new("lm_scale", "kernel width as a multiple of the centre spacing, >= 1e-6", "0.5"),
            Key::new("layout", "centre layout: linear or log (dense near zero)", "linear"),
            Key::new("theta_min", "lower bound of theta", "1e-9"),
            Key::new("theta_max", "upper bound of theta, > theta_min", "1"),
            Key::new("signal", "learning signal: product (clamp(z_t*z_t-1, -1, 1), the authors' code) or sign", "product"),
            Key::new("cutoff", "kernel cutoff in kernel widths, > 0 (inf: the dense sum)", "9"),
            Key::new("space", "where the memory optimizer moves theta: linear (theta, the authors') or log (ln theta: xi is a relative change per step; theta_min > 0)", "linear"),
            $($scale,)*
            Key::new("reload", "what next_task keeps besides theta: theta (moments afresh, the paper's), moments (theta and the memory optimizer's state) or decay (theta pulled toward lr by reload_keep)", "theta"),
            Key::new("reload_keep", "reload=decay's share of theta kept, in [0, 1]", "0.5"),
            $($query,)*
            $crate::registry::NON_FINITE,
            $($base),*
        ]
    };
}
pub(super) use memory_keys;

/// Which [`MemoryOptimizer`] `theta_opt` names.
#[derive(Clone, Copy)]
enum ThetaOpt {
    Sgd,
    Momentum,
    Adam,
}

/// Reads the memory's optimizer of θ: `theta_opt`, `xi` and the keys of the optimizer chosen
/// (the others are refused).
fn read_theta_optimizer(
    p: &mut Params<'_>,
    default: MemoryOptimizer,
) -> Result<MemoryOptimizer, SpecError> {
    let default_opt = match default {
        MemoryOptimizer::Sgd { .. } => ThetaOpt::Sgd,
        MemoryOptimizer::Momentum { .. } => ThetaOpt::Momentum,
        _ => ThetaOpt::Adam,
    };
    let kind = p.choice(
        "theta_opt",
        default_opt,
        &[
            ("adam", ThetaOpt::Adam),
            ("sgd", ThetaOpt::Sgd),
            ("momentum", ThetaOpt::Momentum),
        ],
    )?;
    let xi = p.f32("xi", default.lr())?;
    const MOMENTUM_KEYS: &[&str] = &["theta_momentum"];
    const ADAM_KEYS: &[&str] = &["theta_beta1", "theta_beta2", "theta_eps"];
    Ok(match kind {
        ThetaOpt::Sgd => {
            p.forbid(MOMENTUM_KEYS, "applies only with theta_opt=momentum")?;
            p.forbid(ADAM_KEYS, "applies only with theta_opt=adam")?;
            MemoryOptimizer::sgd(xi)
        }
        ThetaOpt::Momentum => {
            p.forbid(ADAM_KEYS, "applies only with theta_opt=adam")?;
            match MemoryOptimizer::momentum(xi) {
                MemoryOptimizer::Momentum { lr, momentum } => MemoryOptimizer::Momentum {
                    lr,
                    momentum: p.f32("theta_momentum", momentum)?,
                },
                _ => unreachable!("MemoryOptimizer::momentum makes Momentum"),
            }
        }
        ThetaOpt::Adam => {
            p.forbid(MOMENTUM_KEYS, "applies only with theta_opt=momentum")?;
            match MemoryOptimizer::adam(xi) {
                MemoryOptimizer::Adam {
                    lr,
                    beta1,
                    beta2,
                    eps,
                } => MemoryOptimizer::Adam {
                    lr,
                    beta1: p.f32("theta_beta1", beta1)?,
                    beta2: p.f32("theta_beta2", beta2)?,
                    eps: p.f32("theta_eps", eps)?,
                },
                _ => unreachable!("MemoryOptimizer::adam makes Adam"),
            }
        }
    })
}

/// Reads the memory's keys over [`MemoryConfig::default`].
pub(super) fn read_memory(p: &mut Params<'_>) -> Result<MemoryConfig, SpecError> {
    // Destructured in full so that a new field of the config fails to compile until it has a key.
    let MemoryConfig {
        num_centers,
        clip,
        lm_scale,
        layout,
        eta0,
        theta_min,
        theta_max,
        signal,
        optimizer,
        cutoff,
        non_finite,
        space,
        scale,
        reload,
    } = MemoryConfig::default();
    let optimizer = read_theta_optimizer(p, optimizer)?;
    Ok(MemoryConfig {
        num_centers: p.usize("m", num_centers)?,
        clip: p.f32("clip", clip)?,
        lm_scale: p.f32("lm_scale", lm_scale)?,
        layout: p.choice(
            "layout",
            layout,
            &[("linear", Layout::Linear), ("log", Layout::Log)],
        )?,
        eta0: p.f32("lr", eta0)?,
        theta_min: p.f32("theta_min", theta_min)?,
        theta_max: p.f32("theta_max", theta_max)?,
        signal: p.choice(
            "signal",
            signal,
            &[("product", Signal::ClippedProduct), ("sign", Signal::Sign)],
        )?,
        optimizer,
        cutoff: p.f32("cutoff", cutoff)?,
        non_finite: p.non_finite(non_finite)?,
        space: p.choice(
            "space",
            space,
            &[("linear", ThetaSpace::Linear), ("log", ThetaSpace::Log)],
        )?,
        scale: match p.choice(
            "scale",
            scale == QueryScale::Raw,
            &[("raw", true), ("rms", false)],
        )? {
            true => {
                p.forbid(&["scale_beta"], "applies only with scale=rms")?;
                QueryScale::Raw
            }
            false => QueryScale::Rms {
                beta: p.f32("scale_beta", 0.99)?,
            },
        },
        reload: match p.choice(
            "reload",
            reload,
            &[
                ("theta", Reload::Theta),
                ("moments", Reload::ThetaAndMoments),
                ("decay", Reload::Decay { keep: 0.5 }),
            ],
        )? {
            Reload::Decay { keep } => Reload::Decay {
                keep: p.f32("reload_keep", keep)?,
            },
            other => {
                p.forbid(&["reload_keep"], "applies only with reload=decay")?;
                other
            }
        },
    })
}

/// Reads the keys of a `meta-*` entry's [`MetaConfig`]: the memory's and the query.
pub(super) fn read_meta(p: &mut Params<'_>) -> Result<MetaConfig, SpecError> {
    let memory = read_memory(p)?;
    let query = p.choice(
        "query",
        MetaConfig::default().query,
        &[("base", Query::Base), ("grad", Query::Gradient)],
    )?;
    Ok(MetaConfig { memory, query })
}
