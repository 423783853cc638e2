//! The entries of the papers' arms: SGD and Adam, the baselines; the memory of learning rates
//! over each base (`meta-*`: the memory's keys, then the base's keys that shape its direction,
//! the base's learning rate being the memory's η₀ and its non-finite policy the memory's); and
//! the peers the papers measure the memory against, Rprop and hypergradient descent.

use lrmem_memory_core::ContextConfig;

use super::keys::{
    memory_keys, read_memory, read_meta, BaseKeys, ADAM_HD_BETA, ADAM_WEIGHT_DECAY, BETA1, BETA2,
    DAMPENING, DECOUPLED, EPS, ETA_MINUS, ETA_PLUS, MOMENTUM, NESTEROV, SGD_HD_BETA,
    SGD_WEIGHT_DECAY, STEP_MAX, STEP_MIN,
};
use crate::methods::adam::{Adam, AdamConfig};
use crate::methods::hd::{AdamHd, AdamHdConfig, SgdHd, SgdHdConfig};
use crate::methods::rprop::{Rprop, RpropConfig};
use crate::methods::sgd::{Sgd, SgdConfig};
use crate::optimizer::hyper::Hyper;
use crate::optimizer::{Base, IntoBase};
use crate::registry::{
    Built, Family, Key, Params, Preset, RegistryEntry, SpecError, Speed, SpeedCase, Tier,
    NON_FINITE,
};
use crate::wrappers::context::MetaContext;
use crate::wrappers::meta::{Meta, MEMORY_FIELDS};

/// `sgd`: `sgd:lr=X` is `Sgd::new(SgdConfig::with_lr(X))`.
pub(crate) const SGD: RegistryEntry = RegistryEntry {
    name: "sgd",
    summary: "SGD as torch.optim.SGD: w <- w - lr*g, with optional momentum, Nesterov and L2 weight decay",
    keys: &[
        Key::new("lr", "learning rate", "0.001"),
        MOMENTUM,
        DAMPENING,
        NESTEROV,
        SGD_WEIGHT_DECAY,
        NON_FINITE,
    ],
    whole_model: false,
    family: Family::Reference,
    presets: &[Preset::defaults("sgd", Tier::Smoke)],
    // g, w | w; with momentum g, w, b | w, b.
    speed: Speed::Timed(&[SpeedCase::new("", 12), SpeedCase::new("momentum=0.9", 20)]),
    contract: "lr=0.1",
    fields: &[],
    build: |p| {
        let d = SgdConfig::default();
        let (lr, non_finite) = (p.f32("lr", d.lr)?, p.non_finite(d.non_finite)?);
        Ok(Built::new(Sgd::new(SgdConfig::read(p, lr, non_finite)?)?))
    },
};

/// `adam`: `adam:lr=X` is `Adam::new(AdamConfig::with_lr(X))`.
pub(crate) const ADAM: RegistryEntry = RegistryEntry {
    name: "adam",
    summary: "Adam as torch.optim.Adam (AdamW with decoupled=true)",
    keys: &[
        Key::new("lr", "learning rate", "0.001"),
        BETA1,
        BETA2,
        EPS,
        ADAM_WEIGHT_DECAY,
        DECOUPLED,
        NON_FINITE,
    ],
    whole_model: false,
    family: Family::Reference,
    presets: &[Preset::defaults("adam", Tier::Headline)],
    // g, w, m, v | w, m, v.
    speed: Speed::Timed(&[SpeedCase::new("", 28)]),
    contract: "lr=0.05",
    fields: &[],
    build: |p| {
        let d = AdamConfig::default();
        let (lr, non_finite) = (p.f32("lr", d.lr)?, p.non_finite(d.non_finite)?);
        Ok(Built::new(Adam::new(AdamConfig::read(p, lr, non_finite)?)?))
    },
};

/// `rprop`: `rprop:lr=X` is `Rprop::new(RpropConfig::with_lr(X))`.
pub(crate) const RPROP: RegistryEntry = RegistryEntry {
    name: "rprop",
    summary: "iRprop- as torch.optim.Rprop: per-coordinate step sizes grown while the gradient keeps its sign",
    keys: &[
        Key::new("lr", "initial step size Delta0, > 0", "0.01"),
        ETA_MINUS,
        ETA_PLUS,
        STEP_MIN,
        STEP_MAX,
        NON_FINITE,
    ],
    whole_model: false,
    family: Family::Papers,
    presets: &[Preset::defaults("rprop", Tier::Headline)],
    // g, w, g_prev, Δ | w, g_prev, Δ.
    speed: Speed::Timed(&[SpeedCase::new("", 28)]),
    contract: "",
    fields: &[<RpropConfig as Hyper>::FIELDS],
    build: |p| {
        let d = RpropConfig::default();
        let (lr, non_finite) = (p.f32("lr", d.lr)?, p.non_finite(d.non_finite)?);
        Ok(Built::new(Rprop::new(RpropConfig::read(p, lr, non_finite)?)?))
    },
};

/// The initial learning rate key of both HD optimizers.
const HD_LR: Key = Key::new("lr", "initial learning rate alpha0, >= 0", "0.001");

/// `sgd-hd`: `sgd-hd:lr=X` is `SgdHd::new(SgdHdConfig { lr: X, ..SgdHdConfig::default() })`.
pub(crate) const SGD_HD: RegistryEntry = RegistryEntry {
    name: "sgd-hd",
    summary: "SGD-HD (Baydin et al.): SGD whose per-tensor learning rate follows its hypergradient",
    keys: &[HD_LR, SGD_HD_BETA, NON_FINITE],
    whole_model: false,
    family: Family::Papers,
    presets: &[Preset::defaults("sgd-hd", Tier::Headline)],
    // g, g_prev (the hypergradient); g, w | w, g_prev.
    speed: Speed::Timed(&[SpeedCase::new("", 24)]),
    contract: "lr=0.05",
    fields: &[<SgdHdConfig as Hyper>::FIELDS],
    build: |p| {
        let d = SgdHdConfig::default();
        let (lr, non_finite) = (p.f32("lr", d.lr)?, p.non_finite(d.non_finite)?);
        Ok(Built::new(SgdHd::new(SgdHdConfig::read(
            p, lr, non_finite,
        )?)?))
    },
};

/// `adam-hd`: `adam-hd:lr=X` is `AdamHd::new(AdamHdConfig { lr: X, ..AdamHdConfig::default() })`.
pub(crate) const ADAM_HD: RegistryEntry = RegistryEntry {
    name: "adam-hd",
    summary:
        "Adam-HD (Baydin et al.): Adam whose per-tensor learning rate follows its hypergradient",
    keys: &[HD_LR, ADAM_HD_BETA, BETA1, BETA2, EPS, NON_FINITE],
    whole_model: false,
    family: Family::Papers,
    presets: &[Preset::defaults("adam-hd", Tier::Headline)],
    // g, m, v (the hypergradient); g, w, m, v | w, m, v.
    speed: Speed::Timed(&[SpeedCase::new("", 40)]),
    contract: "lr=0.05",
    fields: &[<AdamHdConfig as Hyper>::FIELDS],
    build: |p| {
        let d = AdamHdConfig::default();
        let (lr, non_finite) = (p.f32("lr", d.lr)?, p.non_finite(d.non_finite)?);
        Ok(Built::new(AdamHd::new(AdamHdConfig::read(
            p, lr, non_finite,
        )?)?))
    },
};

/// Builds `Meta` over the base config `C`, read with the memory's η₀ and policy.
fn meta<C>(p: &mut Params<'_>) -> Result<Built, SpecError>
where
    C: BaseKeys + IntoBase,
    C::Base: Base
        + crate::optimizer::Checkpoint
        + crate::optimizer::StateBytes
        + crate::optimizer::state::Inspect
        + 'static,
{
    let config = read_meta(p)?;
    let base = C::read(p, config.memory.eta0, config.memory.non_finite)?;
    Ok(Built::new(Meta::new(base, config)?))
}

/// The memory's arms at ξ = 0.1, 0.01 and 0.001 (η₀ = the protocol's), fresh on every task and
/// reloaded (θ carried into the next task): the papers' sequential protocol.
const META_SGD_PRESETS: &[Preset] = &[
    Preset::with("meta-sgd-xi0.1", "xi=0.1", Tier::Full),
    Preset::with("meta-sgd-xi0.01", "xi=0.01", Tier::Smoke),
    Preset::with("meta-sgd-xi0.001", "xi=0.001", Tier::Full),
    Preset::with("meta-sgd-reload-xi0.1", "xi=0.1", Tier::Full).reloaded(),
    Preset::with("meta-sgd-reload-xi0.01", "xi=0.01", Tier::Smoke).reloaded(),
    Preset::with("meta-sgd-reload-xi0.001", "xi=0.001", Tier::Full).reloaded(),
];

/// `meta-sgd`: `meta-sgd:lr=X,xi=Y` is `Meta::sgd(MetaConfig { memory: MemoryConfig { eta0: X,
/// optimizer: MemoryOptimizer::adam(Y), ..MemoryConfig::default() }, ..MetaConfig::default() })`.
pub(crate) const META_SGD: RegistryEntry = RegistryEntry {
    name: "meta-sgd",
    summary: "SGD with every tensor's learning rates from its own memory of learning rates, learned online (the authors' MetaSgd1d); next_task keeps theta",
    keys: memory_keys![MOMENTUM, DAMPENING, NESTEROV, SGD_WEIGHT_DECAY],
    whole_model: false,
    family: Family::Papers,
    presets: META_SGD_PRESETS,
    // g, z_prev (G); g, w | w, z_prev.
    speed: Speed::Timed(&[SpeedCase::new("m=20", 24), SpeedCase::new("m=100", 24)]),
    contract: "lr=0.1,clip=4",
    fields: &[MEMORY_FIELDS],
    build: meta::<SgdConfig>,
};

/// `meta-adam`: as `meta-sgd`, on Adam's directions, queried with Adam's first moment.
pub(crate) const META_ADAM: RegistryEntry = RegistryEntry {
    name: "meta-adam",
    summary: "Adam's directions with every tensor's learning rates from its own memory of learning rates, queried with Adam's first moment (the authors' TF backend); next_task keeps theta",
    keys: memory_keys![BETA1, BETA2, EPS, ADAM_WEIGHT_DECAY, DECOUPLED],
    whole_model: false,
    family: Family::Papers,
    presets: &[Preset::with("meta-adam-xi0.01", "xi=0.01", Tier::Headline)],
    // g, m, v; m, z_prev (G); m, v, w | m, v; w, z_prev.
    speed: Speed::Timed(&[SpeedCase::new("m=20", 48), SpeedCase::new("m=100", 48)]),
    contract: "lr=0.05,clip=4",
    fields: &[MEMORY_FIELDS],
    build: meta::<AdamConfig>,
};

/// `meta-rprop`: Rprop's relative steps sign(g)·Δ/Δ₀ with the memory's rates in place of Δ₀
/// (`lr` is η₀ = Δ₀).
pub(crate) const META_RPROP: RegistryEntry = RegistryEntry {
    name: "meta-rprop",
    summary: "Rprop's relative steps sign(g)*Delta/Delta0 with every tensor's learning rates from its own memory of learning rates (lr is eta0 = Delta0); next_task keeps theta",
    keys: memory_keys![ETA_MINUS, ETA_PLUS, STEP_MIN, STEP_MAX],
    whole_model: false,
    family: Family::Papers,
    presets: &[],
    // g, z_prev (G); g, g_prev, Δ | g_prev, Δ, u; u, w | w, z_prev.
    speed: Speed::Timed(&[SpeedCase::new("", 52)]),
    contract: "lr=0.01,clip=4",
    fields: &[MEMORY_FIELDS, <RpropConfig as Hyper>::FIELDS],
    build: meta::<RpropConfig>,
};

/// `meta-sgd-hd`: SGD-HD's directions (α_t/α₀)·g with the memory's rates (`lr` is η₀ = α₀).
pub(crate) const META_SGD_HD: RegistryEntry = RegistryEntry {
    name: "meta-sgd-hd",
    summary: "SGD-HD's directions (alpha_t/alpha0)*g with every tensor's learning rates from its own memory of learning rates (lr is eta0 = alpha0); next_task keeps theta",
    keys: memory_keys![SGD_HD_BETA],
    whole_model: false,
    family: Family::Papers,
    presets: &[],
    // g, g_prev (the hypergradient); g, z_prev (G); g | g_prev, u; u, w | w, z_prev.
    speed: Speed::Timed(&[SpeedCase::new("", 44)]),
    contract: "lr=0.05,clip=4",
    fields: &[MEMORY_FIELDS, <SgdHdConfig as Hyper>::FIELDS],
    build: meta::<SgdHdConfig>,
};

/// `meta-adam-hd`: Adam-HD's update divided by α₀, with the memory's rates (`lr` is η₀ = α₀).
pub(crate) const META_ADAM_HD: RegistryEntry = RegistryEntry {
    name: "meta-adam-hd",
    summary: "Adam-HD's update divided by alpha0 with every tensor's learning rates from its own memory of learning rates (lr is eta0 = alpha0); next_task keeps theta",
    keys: memory_keys![ADAM_HD_BETA, BETA1, BETA2, EPS],
    whole_model: false,
    family: Family::Papers,
    presets: &[],
    // g, m, v (the hypergradient), then as meta-adam.
    speed: Speed::Timed(&[SpeedCase::new("", 60)]),
    contract: "lr=0.05,clip=4",
    fields: &[MEMORY_FIELDS, <AdamHdConfig as Hyper>::FIELDS],
    build: meta::<AdamHdConfig>,
};

/// `meta-ctx-sgd`: the memory keys of `meta-sgd` (except `scale` and `query`) plus the
/// context's.
pub(crate) const META_CTX_SGD: RegistryEntry = RegistryEntry {
    name: "meta-ctx-sgd",
    summary: "SGD with every tensor's learning rates from its own memory over (gradient, the tensor's gradient scale relative to its running RMS), learned online; contexts=1 is meta-sgd; next_task keeps theta",
    keys: memory_keys![@context
        Key::new("contexts", "K, contexts along the gradient-scale input, in 1..=64 (1: the plain memory)", "5"),
        Key::new("span", "the context range: ln(RMS now / running RMS) clipped to +-span, in (0, 50], with 2*span/(contexts-1) >= 1e-6", "2"),
        Key::new("ctx_beta", "decay of the running mean square the context compares with, in (0, 1)", "0.99"),
    ],
    whole_model: false,
    family: Family::Papers,
    presets: &[],
    // g (RMS); g, z_prev (G); g, w | w, z_prev.
    speed: Speed::Timed(&[SpeedCase::new("", 28)]),
    contract: "lr=0.1,clip=4",
    fields: &[MEMORY_FIELDS],
    build: |p| {
        let memory = read_memory(p)?;
        let d = ContextConfig::default();
        let config = ContextConfig {
            memory,
            contexts: p.usize("contexts", d.contexts)?,
            span: p.f32("span", d.span)?,
            beta: p.f32("ctx_beta", d.beta)?,
        };
        Ok(Built::new(MetaContext::new(config)?))
    },
};
