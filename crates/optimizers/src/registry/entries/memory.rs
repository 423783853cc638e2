//! The entries of the memory of learning rates over each base (`meta-*`): the memory's keys,
//! then the base's keys that shape its direction; the base's learning rate is the memory's η₀
//! (`lr`) and its non-finite policy the memory's.

use lrmem_memory_core::ContextConfig;

use super::keys::{
    memory_keys, read_memory, read_meta, BaseKeys, ADAM_HD_BETA, ADAM_WEIGHT_DECAY, BETA1, BETA2,
    DAMPENING, DECOUPLED, EPS, ETA_MINUS, ETA_PLUS, MOMENTUM, NESTEROV, SGD_HD_BETA,
    SGD_WEIGHT_DECAY, STEP_MAX, STEP_MIN,
};
use crate::methods::adam::AdamConfig;
use crate::methods::hd::{AdamHdConfig, SgdHdConfig};
use crate::methods::rprop::RpropConfig;
use crate::methods::sgd::SgdConfig;
use crate::optimizer::hyper::Hyper;
use crate::optimizer::{Base, IntoBase};
use crate::registry::{
    Built, Family, Key, Params, Preset, RegistryEntry, SpecError, Speed, SpeedCase, Tier,
};
use crate::wrappers::context::MetaContext;
use crate::wrappers::meta::Meta;
use crate::wrappers::meta::MEMORY_FIELDS;

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
        Key::new("span", "the context range: ln(RMS now / running RMS) clipped to +-span, in (0, 50]", "2"),
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
