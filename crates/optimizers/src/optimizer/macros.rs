//! The declarative macros that write each optimizer's wiring once: the struct of an optimizer
//! made of a config and per-tensor state (and model-wide scalars), its constructor, reset,
//! [`Checkpoint`](crate::Checkpoint), [`Inspect`](crate::Inspect) and
//! [`StateBytes`](crate::StateBytes); the hyperparameters of a config by key; its
//! [`Base::info`](crate::Base::info); the fields of a state; and the forwarding of every
//! [`Optimizer`](crate::Optimizer) method through a wrapper.

/// An optimizer made of `config`, per-tensor `states` and model-wide scalars `global` (a
/// [`ModelScalars`](crate::optimizer::model::ModelScalars); `()`, the default, for optimizers
/// that step one tensor at a time): the struct, its `new`, `config`, `reset` and `state`, and its
/// `Checkpoint`, `Inspect` and `StateBytes` (the config's). One definition for every such
/// optimizer of this crate. Its `Optimizer` impl (the step) is written by hand, with
/// [`config_hyperparameters!`] for the methods every such optimizer shares.
///
/// Checkpoints are tagged with the type's name and hold `(config, global, states)`; `()` takes no
/// bytes, so that a per-tensor optimizer's body is `(config, states)` as it always was.
macro_rules! optimizer_struct {
    ($(#[$meta:meta])* $ty:ident, $config:ty, $state:ty) => {
        $crate::optimizer::macros::optimizer_struct!($(#[$meta])* $ty, $config, $state, ());
    };
    ($(#[$meta:meta])* $ty:ident, $config:ty, $state:ty, $global:ty) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $ty {
            config: $config,
            pub(crate) states: $crate::optimizer::state::TensorStates<$state>,
            pub(crate) global: $global,
            /// The config the tensors' state was learned under, while a hyperparameter set
            /// since differs from it: the state follows the change at the next step
            /// ([`StateRules::follow`](crate::optimizer::state::StateRules::follow)), so that a
            /// value set and set back before it changes nothing (docs/guide.md §11).
            followed: Option<$config>,
        }

        impl $ty {
            /// Validates `config`.
            pub fn new(config: $config) -> Result<Self, $crate::optimizer::OptimError> {
                config.validate()?;
                Ok($ty {
                    config,
                    states: $crate::optimizer::state::TensorStates::default(),
                    global: <$global>::default(),
                    followed: None,
                })
            }

            /// The configuration.
            pub fn config(&self) -> &$config {
                &self.config
            }

            /// Forget every tensor's state and any model-wide scalars (a new task starts):
            /// afterwards the optimizer behaves bit for bit as one freshly built from the same
            /// config. What [`Optimizer::next_task`](crate::Optimizer::next_task) does.
            pub fn reset(&mut self) {
                self.states.clear();
                self.global = <$global>::default();
                self.followed = None;
            }

            /// The state of tensor `name` for a step with `params`, after every tensor's state
            /// has followed the hyperparameters set since the last step
            /// ([`StateRules::follow`](crate::optimizer::state::StateRules::follow)); made on the
            /// tensor's first step. The length is checked first, so that an error changes
            /// nothing.
            #[allow(dead_code)] // used by the optimizers whose state follows their config
            pub(crate) fn tensor_state(
                &mut self,
                name: &str,
                params: &[f32],
            ) -> Result<&mut $state, $crate::optimizer::OptimError> {
                if let Some(len) = self.states.len_of(name) {
                    $crate::optimizer::inputs::check_length(name, "params", len, params.len())?;
                }
                if let Some(old) = self.followed.take() {
                    $crate::optimizer::state::follow(&old, &self.config, &mut self.states);
                }
                self.states.get_or_start(name, params, &self.config)
            }

            /// Every tensor's state by tensor name and field, and any model-wide scalars
            /// ([`StateView`](crate::StateView)). Learned rates that follow `lr` (Rprop,
            /// hypergradient descent) show as learned until the next step follows a value set
            /// since (a checkpoint saves them as followed; docs/guide.md §8).
            pub fn state(&self) -> $crate::optimizer::state::StateView<'_> {
                let mut view = $crate::optimizer::state::view(&self.states);
                view.model = $crate::optimizer::model::model_fields(&self.global);
                view
            }
        }

        impl $crate::optimizer::state::Inspect for $ty {
            fn state(&self) -> $crate::optimizer::state::StateView<'_> {
                $ty::state(self)
            }
        }

        impl $crate::optimizer::StateBytes for $ty {
            /// 4 bytes for every value per coordinate of a fresh tensor state under the config
            /// (the moments, buffers and sums it keeps).
            fn bytes_per_coordinate(&self) -> usize {
                $crate::optimizer::state::bytes_per_coordinate(&self.config)
            }
        }

        impl $crate::optimizer::Checkpoint for $ty {
            /// The state as the next step will find it: one that has yet to follow a
            /// hyperparameter set since the last step is saved as it will follow it.
            fn save(&self) -> Result<Vec<u8>, $crate::optimizer::OptimError> {
                let followed;
                let states = match &self.followed {
                    None => &self.states,
                    Some(old) => {
                        let mut states = self.states.clone();
                        $crate::optimizer::state::follow(old, &self.config, &mut states);
                        followed = states;
                        &followed
                    }
                };
                $crate::optimizer::checkpoint::save(
                    stringify!($ty),
                    &(&self.config, &self.global, states),
                )
            }

            /// Checks which optimizer wrote the checkpoint before decoding it (a checkpoint of
            /// another kind is an error that names both), then restores its config with its
            /// states: the learning rate and every other hyperparameter as they were saved, as
            /// torch's `load_state_dict` restores each parameter group's, so that a run resumes
            /// as it was and a new rate is set after loading
            /// ([`Optimizer::set_hyperparameter`](crate::Optimizer::set_hyperparameter)). A
            /// difference that changes the shape of the state (SGD's momentum 0 against > 0) is
            /// an error naming the key. The model-wide scalars and every tensor's state are
            /// checked before they are trusted (lengths, finite values, the optimizer's own
            /// ranges): a damaged one is [`OptimError::Corrupt`](crate::OptimError::Corrupt)
            /// naming the tensor and field. Reads the checkpoints of format version 1 too.
            fn load(&mut self, bytes: &[u8]) -> Result<(), $crate::optimizer::OptimError> {
                let (config, global, states): ($config, $global, $crate::optimizer::state::TensorStates<$state>) =
                    $crate::optimizer::checkpoint::load(stringify!($ty), bytes)?;
                $crate::optimizer::hyper::check_restore(&self.config, &config)?;
                $crate::optimizer::model::check_scalars(&global)?;
                $crate::optimizer::state::check_loaded(&config, &states)?;
                self.config = config;
                self.global = global;
                self.states = states;
                self.followed = None;
                Ok(())
            }
        }
    };
}
pub(crate) use optimizer_struct;

/// Implements [`Hyper::get`](crate::optimizer::hyper::Hyper::get),
/// [`Hyper::field`](crate::optimizer::hyper::Hyper::field) and `check` (the config's `validate`)
/// from one list of the config's hyperparameters, each `field` (set by the registry key of its
/// own name) or `"key" => field.path` (`"beta" => hypergrad_lr`, `"eta_minus" => etas.0`), so
/// that the two cannot disagree.
macro_rules! hyper_fields {
    // Each item is `field` (set by the key of its own name) or `"key" => field.path`.
    (@norm [$($done:tt)*] $key:literal => $a:ident $(. $b:tt)* $(, $($rest:tt)*)?) => {
        $crate::optimizer::macros::hyper_fields!(@norm [$($done)* ($key, $a $(. $b)*)] $($($rest)*)?);
    };
    (@norm [$($done:tt)*] $field:ident $(, $($rest:tt)*)?) => {
        $crate::optimizer::macros::hyper_fields!(@norm [$($done)* (stringify!($field), $field)] $($($rest)*)?);
    };
    (@norm [$(($key:expr, $($path:tt)+))*]) => {
        fn get(&self) -> Vec<(&'static str, f32)> {
            vec![$(($key, self.$($path)+)),*]
        }

        fn field(&mut self, name: &str) -> Option<&mut f32> {
            $(if name == $key {
                return Some(&mut self.$($path)+);
            })*
            None
        }

        fn check(&self) -> Result<(), $crate::optimizer::OptimError> {
            self.validate()
        }
    };
    ($($items:tt)*) => {
        $crate::optimizer::macros::hyper_fields!(@norm [] $($items)*);
    };
}
pub(crate) use hyper_fields;

/// The `Optimizer` methods of an optimizer made by [`optimizer_struct!`] whose hyperparameters
/// are its config's [`Hyper`](crate::optimizer::hyper::Hyper) fields, applied from the next
/// step, and which carries nothing across tasks: `next_task` is its `reset`, `hyperparameters`
/// lists the config's, `set_hyperparameter` validates as the constructor does (an error names
/// the key and changes nothing) and keeps what the optimizer learned, adjusted to the new value
/// at the next step where the config's
/// [`StateRules::follow`](crate::optimizer::state::StateRules::follow) says how (hypergradient
/// descent's and Rprop's learned rates follow a new `lr`): setting a value never changes the
/// state itself, so that a value set and set back leaves it exactly as it was.
macro_rules! config_hyperparameters {
    () => {
        /// Forgets everything ([`reset`](Self::reset)): nothing carries over to the next task.
        fn next_task(&mut self) {
            self.reset();
        }

        /// The config's hyperparameters, by the registry's keys.
        fn hyperparameters(&self) -> Vec<(String, f32)> {
            $crate::optimizer::hyper::list(&self.config)
        }

        /// Sets a hyperparameter, validated as by the constructor (an error names the key and
        /// changes nothing); it applies from the next step, and what was learned is kept (and
        /// follows the new value at that step, docs/guide.md §11).
        fn set_hyperparameter(
            &mut self,
            name: &str,
            value: f32,
        ) -> Result<(), $crate::optimizer::OptimError> {
            let new = $crate::optimizer::hyper::updated(
                &self.config,
                name,
                value,
                !self.states.is_empty(),
            )?;
            $crate::optimizer::state::defer_follow(
                &mut self.followed,
                &self.config,
                &new,
                &self.states,
            );
            self.config = new;
            Ok(())
        }
    };
}
pub(crate) use config_hyperparameters;

/// [`Base::info`](crate::Base::info) of an optimizer made by [`optimizer_struct!`]: its type's
/// name, the kind its checkpoints are tagged with (so that a `Meta` over it saves checkpoints
/// of kind `Meta<Sgd>`), and its config's `lr` and `non_finite`.
macro_rules! base_info {
    ($ty:ident) => {
        fn info(&self) -> $crate::optimizer::BaseInfo {
            $crate::optimizer::BaseInfo::new(
                stringify!($ty),
                self.config.lr,
                self.config.non_finite,
            )
        }
    };
}
pub(crate) use base_info;

/// [`Optimizer::step`](crate::Optimizer::step) of an optimizer whose step needs the whole model
/// ([`Optimizer::step_model`](crate::Optimizer::step_model)): a step of the model made of the one
/// tensor `name`, what its reference does with a one-tensor parameter group. Unless given
/// `step_only`, also its [`Optimizer::check_model`](crate::Optimizer::check_model): the checks
/// its `step_model` begins with ([`check_model`](crate::optimizer::model::check_model), and with
/// `weight_decay` the config's weight decay coupled to each gradient), so that a wrapper
/// ([`Groups`](crate::Groups)) can check it before stepping anything.
macro_rules! one_tensor_model {
    () => {
        $crate::optimizer::macros::one_tensor_model!(step_only);
        $crate::optimizer::macros::one_tensor_model!(@check false);
    };
    (weight_decay) => {
        $crate::optimizer::macros::one_tensor_model!(step_only);
        $crate::optimizer::macros::one_tensor_model!(@check true);
    };
    (@check $decay:literal) => {
        /// The checks this step begins with, changing nothing.
        fn check_model(
            &self,
            tensors: &mut [$crate::optimizer::Tensor<'_>],
        ) -> Result<(), $crate::optimizer::OptimError> {
            let decay = if $decay { self.config.weight_decay } else { 0.0 };
            $crate::optimizer::model::check_model_decay(
                &self.states,
                tensors,
                self.config.non_finite,
                decay,
            )
        }
    };
    (step_only) => {
        /// A model of the one tensor `name`: use
        /// [`step_model`](crate::Optimizer::step_model) for a model of several.
        fn step(
            &mut self,
            name: &str,
            params: &mut [f32],
            grads: &[f32],
        ) -> Result<(), $crate::optimizer::OptimError> {
            self.step_model(&mut [$crate::optimizer::Tensor::new(name, params, grads)])
        }
    };
}
pub(crate) use one_tensor_model;

/// Implements [`StateFields`](crate::optimizer::state::StateFields) for a per-tensor state from
/// the list of its fields, each shown under its own name (or `field as "name"`): a step count
/// (`u64`) as [`Field::Count`](crate::Field::Count), a number (`f32`) as
/// [`Field::Scalar`](crate::Field::Scalar), a vector as [`Field::Values`](crate::Field::Values).
macro_rules! state_fields {
    ($state:ty { $($field:ident $(as $name:literal)?),* $(,)? }) => {
        impl $crate::optimizer::state::StateFields for $state {
            fn fields<'a>(&'a self, out: &mut $crate::optimizer::state::Fields<'a>) {
                use $crate::optimizer::state::AsField;
                $(out.insert(
                    $crate::optimizer::macros::state_fields!(@name $field $($name)?).into(),
                    self.$field.as_field(),
                );)*
            }
        }
    };
    (@name $field:ident) => { stringify!($field) };
    (@name $field:ident $name:literal) => { $name };
}
pub(crate) use state_fields;

/// Forwards every method of [`Optimizer`], overrides included, to `$inner` (an expression of
/// `$this`, the receiver): the one definition behind the impls for `Box<O>`, `&mut O` and
/// [`Built`](crate::Built), so that a wrapper never drops an override in silence.
macro_rules! forward_optimizer {
    ($this:ident => $inner:expr) => {
        fn step(
            &mut self,
            name: &str,
            params: &mut [f32],
            grads: &[f32],
        ) -> Result<(), $crate::optimizer::OptimError> {
            let $this = self;
            $inner.step(name, params, grads)
        }
        fn step_model(
            &mut self,
            tensors: &mut [$crate::optimizer::Tensor<'_>],
        ) -> Result<(), $crate::optimizer::OptimError> {
            let $this = self;
            $inner.step_model(tensors)
        }
        fn check_step(
            &self,
            name: &str,
            params: &[f32],
            grads: &[f32],
        ) -> Result<(), $crate::optimizer::OptimError> {
            let $this = self;
            $inner.check_step(name, params, grads)
        }
        fn check_model(
            &self,
            tensors: &mut [$crate::optimizer::Tensor<'_>],
        ) -> Result<(), $crate::optimizer::OptimError> {
            let $this = self;
            $inner.check_model(tensors)
        }
        fn next_task(&mut self) {
            let $this = self;
            $inner.next_task()
        }
        fn memory_thetas(&self) -> Vec<(String, Vec<f32>)> {
            let $this = self;
            $inner.memory_thetas()
        }
        fn eval_params(&self, name: &str) -> Option<&[f32]> {
            let $this = self;
            $inner.eval_params(name)
        }
        fn hyperparameters(&self) -> Vec<(String, f32)> {
            let $this = self;
            $inner.hyperparameters()
        }
        fn set_hyperparameter(
            &mut self,
            name: &str,
            value: f32,
        ) -> Result<(), $crate::optimizer::OptimError> {
            let $this = self;
            $inner.set_hyperparameter(name, value)
        }
    };
}
pub(crate) use forward_optimizer;

/// Implements [`Optimizer::check_step`](crate::Optimizer::check_step) for an optimizer of
/// per-tensor state whose step checks its inputs under `config.non_finite`, the weight decay
/// its gradient carries (`cfg => expr`, the config bound to `cfg`; none: 0) and the tensor's
/// length ([`check_tensor`](crate::optimizer::model::check_tensor)): what its `step` would
/// refuse, changing nothing.
macro_rules! tensor_checks {
    () => {
        $crate::optimizer::macros::tensor_checks!(_cfg => 0.0);
    };
    ($cfg:ident => $decay:expr) => {
        /// The step's own checks (inputs, the weight decay the gradient carries, the tensor's
        /// length), changing nothing.
        fn check_step(
            &self,
            name: &str,
            params: &[f32],
            grads: &[f32],
        ) -> Result<(), $crate::optimizer::OptimError> {
            let $cfg = &self.config;
            $crate::optimizer::model::check_tensor(
                &self.states,
                name,
                params,
                grads,
                $cfg.non_finite,
                $decay,
            )
        }
    };
}
pub(crate) use tensor_checks;
