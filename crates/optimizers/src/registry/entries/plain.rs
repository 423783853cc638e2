//! The entries of the plain optimizers: SGD and Adam, the baselines, and the peers the papers
//! measure the memory against, Rprop and hypergradient descent.

use super::keys::{
    BaseKeys, ADAM_HD_BETA, ADAM_WEIGHT_DECAY, BETA1, BETA2, DAMPENING, DECOUPLED, EPS, ETA_MINUS,
    ETA_PLUS, MOMENTUM, NESTEROV, SGD_HD_BETA, SGD_WEIGHT_DECAY, STEP_MAX, STEP_MIN,
};
use crate::methods::adam::{Adam, AdamConfig};
use crate::methods::hd::{AdamHd, AdamHdConfig, SgdHd, SgdHdConfig};
use crate::methods::rprop::{Rprop, RpropConfig};
use crate::methods::sgd::{Sgd, SgdConfig};
use crate::optimizer::hyper::Hyper;
use crate::registry::{
    Built, Family, Key, Preset, RegistryEntry, Speed, SpeedCase, Tier, NON_FINITE,
};

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
