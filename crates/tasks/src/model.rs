//! What every dfdx model of this crate shares around its own maths: its tensors as a dfdx
//! [`TensorCollection`] (the [`tensor_collection!`] macro over the struct's fields), and its
//! training through the [`Adapter`] ([`Training`]: one update, from the loss to the optimizer's
//! step and its evaluation point). The models themselves ([`crate::lenet`], [`crate::mlp`],
//! [`crate::lstm`], [`crate::began`]) hold only their layers and their forward passes.

use dfdx::nn::tensor_collection::TensorCollection;
use dfdx::prelude::*;
use lrmem_optimizers::Optimizer;

use crate::adapter::Adapter;
use crate::layers::Dev;
use crate::TaskError;

/// Implements dfdx's [`TensorCollection`] for a struct whose fields are modules (dfdx layers
/// or other such structs): each field is visited under its own name, in the order listed, which
/// is the order of the tensors' dotted names (`conv1.weight`, `conv1.bias`, …) an optimizer
/// sees. The struct's generics are written as in its definition, const generics marked
/// `const`, with the element type `E` and the device `D` in their place:
///
/// ```text
/// tensor_collection!(LeNetParams<E, D, const CLASSES> { conv1, conv2, fc1, fc2 });
/// ```
macro_rules! tensor_collection {
    ($ty:ident<$(const $pre:ident,)* E, D $(, const $post:ident)*> { $($field:ident),+ $(,)? }) => {
        impl<$(const $pre: usize,)* E, D $(, const $post: usize)*>
            dfdx::nn::tensor_collection::TensorCollection<E, D> for $ty<$($pre,)* E, D $(, $post)*>
        where
            E: dfdx::prelude::Dtype + num_traits::Float + rand_distr::uniform::SampleUniform,
            D: dfdx::prelude::Device<E>,
        {
            type To<E2: dfdx::prelude::Dtype, D2: dfdx::prelude::Device<E2>> =
                $ty<$($pre,)* E2, D2 $(, $post)*>;

            fn iter_tensors<V: dfdx::nn::tensor_collection::ModuleVisitor<Self, E, D>>(
                visitor: &mut V,
            ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
                visitor.visit_fields(
                    ($(Self::module(stringify!($field), |s| &s.$field, |s| &mut s.$field),)+),
                    |($($field,)+)| $ty { $($field),+ },
                )
            }
        }
    };
}
pub(crate) use tensor_collection;

/// A loss on its tape, what one update backpropagates.
pub(crate) type Loss = Tensor<Rank0, f32, Dev, OwnedTape<f32, Dev>>;

/// A model trained through an [`Adapter`]: its trainable tensors, and a copy of it with other
/// values of them (an optimizer's evaluation point). A bare collection of tensors (a GAN's
/// player) is its own model.
pub(crate) trait Trainable: Clone {
    /// The trainable tensors.
    type Params: TensorCollection<f32, Dev> + Clone;

    /// The trainable tensors.
    fn params(&self) -> &Self::Params;

    /// The trainable tensors, to step.
    fn params_mut(&mut self) -> &mut Self::Params;

    /// This model with `params` in place of its own.
    fn with_params(&self, params: Self::Params) -> Self {
        let mut model = self.clone();
        *model.params_mut() = params;
        model
    }
}

impl<P: TensorCollection<f32, Dev> + Clone> Trainable for P {
    type Params = P;

    fn params(&self) -> &P {
        self
    }

    fn params_mut(&mut self) -> &mut P {
        self
    }

    fn with_params(&self, params: P) -> P {
        params
    }
}

/// What training a model through an [`Adapter`] keeps between updates: the adapter, the
/// gradients (taken by each forward pass and given back, zeroed, after the step) and the model
/// at the optimizer's evaluation point.
#[derive(Debug)]
pub(crate) struct Training<M> {
    adapter: Adapter,
    grads: Option<Gradients<f32, Dev>>,
    /// The model at the optimizer's evaluation point after the latest step, where the
    /// optimizer has one (Schedule-Free's x, DoG's average: [`Adapter::eval_point`]); `None`:
    /// the model itself.
    eval: Option<M>,
}

impl<M: Trainable> Training<M> {
    /// Training of `model`, whose first backward starts from [`Adapter::fresh_grads`] (so that
    /// the first step can tell a missing gradient from a zero one).
    pub(crate) fn new(model: &M) -> Result<Self, TaskError> {
        let adapter = Adapter::new(model.params())?;
        Ok(Training {
            grads: Some(adapter.fresh_grads()),
            adapter,
            eval: None,
        })
    }

    /// The gradients for the next forward pass's tape: the last step's, zeroed, or fresh ones
    /// after an error lost them.
    pub(crate) fn grads(&mut self) -> Gradients<f32, Dev> {
        self.grads
            .take()
            .unwrap_or_else(|| self.adapter.fresh_grads())
    }

    /// Steps `model` with `opt` on `grads` (its loss's, after backward), then zeroes them and
    /// keeps them for the next forward pass. An optimizer's error is returned after that, as
    /// the model keeps what the optimizer did ([`Adapter::update`]).
    pub(crate) fn apply(
        &mut self,
        model: &mut M,
        mut grads: Gradients<f32, Dev>,
        opt: &mut dyn Optimizer,
    ) -> Result<(), TaskError> {
        let stepped = self.adapter.update(model.params_mut(), &mut grads, opt);
        model.params_mut().try_zero_grads(&mut grads)?;
        self.grads = Some(grads);
        stepped
    }

    /// Records where to evaluate `model` after a step of `opt` ([`Training::evaluated`]).
    pub(crate) fn follow(&mut self, model: &M, opt: &dyn Optimizer) -> Result<(), TaskError> {
        self.eval = self
            .adapter
            .eval_point(model.params(), opt)?
            .map(|params| model.with_params(params));
        Ok(())
    }

    /// One update: `loss` of `model` on the tape of [`Training::grads`], backward,
    /// [`Training::apply`] and [`Training::follow`]. Returns the loss before the step.
    pub(crate) fn step(
        &mut self,
        model: &mut M,
        opt: &mut dyn Optimizer,
        loss: impl FnOnce(&M, Gradients<f32, Dev>) -> Result<Loss, TaskError>,
    ) -> Result<f32, TaskError> {
        let loss = loss(model, self.grads())?;
        let value = loss.array();
        let grads = loss.try_backward()?;
        self.apply(model, grads, opt)?;
        self.follow(model, opt)?;
        Ok(value)
    }

    /// The model to evaluate: `model` at the optimizer's evaluation point where it has one,
    /// else `model` itself.
    pub(crate) fn evaluated<'a>(&'a self, model: &'a M) -> &'a M {
        self.eval.as_ref().unwrap_or(model)
    }

    /// Whether the optimizer evaluates elsewhere than it trains.
    #[cfg(test)]
    pub(crate) fn evaluates_elsewhere(&self) -> bool {
        self.eval.is_some()
    }
}
