//! The network's named tensors in the names and layouts of a `torch.nn.Sequential` built from
//! the same layers: `"{i}.weight"` `(out, in)` and `"{i}.bias"` for a Dense (`nn.Linear`; the
//! engine stores the transpose), `"{i}.weight"`/`"{i}.bias"` for the normalisations, and
//! `"{i}.running_mean"`, `"{i}.running_var"`, `"{i}.num_batches_tracked"` for BatchNorm.

use std::collections::HashMap;

use super::{Gradients, Network, TensorInfo};
use crate::error::{zeros, Error, Result};
use crate::layers::Layer;
use crate::scalar::Scalar;

/// One entry's values: floats in the network's type, or a counter.
#[derive(Clone, Debug, PartialEq)]
pub enum StateValues<T> {
    Float(Vec<T>),
    Count(i64),
}

/// A named tensor in torch's layout (`shape` empty for a counter).
#[derive(Clone, Debug, PartialEq)]
pub struct StateEntry<T> {
    pub name: String,
    pub shape: Vec<usize>,
    pub values: StateValues<T>,
}

/// A borrowed entry for [`Network::load_state_dict`].
#[derive(Clone, Copy, Debug)]
pub enum StateRef<'a, T> {
    Float { shape: &'a [usize], data: &'a [T] },
    Count(i64),
}

/// Where an entry lives in the network.
#[derive(Clone, Copy, Debug)]
enum Slot {
    Param(usize),
    Buffer(usize),
    Count(usize),
}

impl<T: Scalar> Network<T> {
    /// Every entry's name and where it lives, in torch's order.
    fn slots(&self) -> Vec<(String, Slot)> {
        let mut out = Vec::new();
        let name = |i: usize, what: &str| format!("{i}.{what}");
        for (i, layer) in self.layers.iter().enumerate() {
            match layer {
                Layer::Dense(d) => {
                    out.push((name(i, "weight"), Slot::Param(d.weight)));
                    out.push((name(i, "bias"), Slot::Param(d.bias)));
                }
                Layer::LayerNorm(n) => {
                    out.push((name(i, "weight"), Slot::Param(n.weight)));
                    out.push((name(i, "bias"), Slot::Param(n.bias)));
                }
                Layer::BatchNorm(n) => {
                    out.push((name(i, "weight"), Slot::Param(n.weight)));
                    out.push((name(i, "bias"), Slot::Param(n.bias)));
                    out.push((name(i, "running_mean"), Slot::Buffer(n.running_mean)));
                    out.push((name(i, "running_var"), Slot::Buffer(n.running_var)));
                    out.push((name(i, "num_batches_tracked"), Slot::Count(n.count)));
                }
                Layer::Activation(_) | Layer::Dropout(_) => {}
            }
        }
        out
    }

    /// The torch shape of an engine tensor: a 2-D (Dense) weight transposed.
    fn torch_shape(info: &TensorInfo) -> Vec<usize> {
        info.shape.iter().rev().copied().collect()
    }

    /// Copies of every entry, in torch's names, layouts and order.
    pub fn state_dict(&self) -> Result<Vec<StateEntry<T>>> {
        self.slots()
            .into_iter()
            .map(|(name, slot)| {
                let (shape, values) = match slot {
                    Slot::Param(p) => (
                        Self::torch_shape(&self.param_info[p]),
                        StateValues::Float(to_torch(&self.param_info[p], &self.params[p])?),
                    ),
                    Slot::Buffer(b) => (
                        self.buffer_info[b].shape.clone(),
                        StateValues::Float(copy(&self.buffers[b])?),
                    ),
                    Slot::Count(c) => (Vec::new(), StateValues::Count(self.counts[c])),
                };
                Ok(StateEntry {
                    name,
                    shape,
                    values,
                })
            })
            .collect()
    }

    /// The gradients in torch's names and layouts (the trainable entries of `state_dict`).
    pub fn gradient_dict(&self, grads: Gradients<T>) -> Result<Vec<StateEntry<T>>> {
        self.param_info
            .iter()
            .zip(grads.tensors)
            .map(|(info, g)| {
                Ok(StateEntry {
                    name: info.name.clone(),
                    shape: Self::torch_shape(info),
                    values: StateValues::Float(to_torch(info, &g)?),
                })
            })
            .collect()
    }

    /// Replaces every entry from `entries` (torch's names and layouts): each name must be
    /// present once, with its shape, finite values (a non-negative `running_var` and counter).
    /// Checked whole before anything is copied.
    pub fn load_state_dict(&mut self, entries: &[(&str, StateRef<'_, T>)]) -> Result<()> {
        let slots = self.slots();
        let given: HashMap<&str, StateRef<'_, T>> = entries.iter().copied().collect();
        if given.len() != entries.len() {
            return Err(Error::value("state_dict: an entry appears more than once"));
        }
        let mut missing = slots
            .iter()
            .filter(|(n, _)| !given.contains_key(n.as_str()));
        if let Some((name, _)) = missing.next() {
            return Err(Error::value(format!("state_dict: missing entry {name:?}")));
        }
        if let Some((extra, _)) = entries
            .iter()
            .find(|(n, _)| !slots.iter().any(|(s, _)| s == n))
        {
            return Err(Error::value(format!(
                "state_dict: unexpected entry {extra:?} (this network has {})",
                slots
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        for (name, slot) in &slots {
            let value = given[name.as_str()];
            let expected = match *slot {
                Slot::Param(p) => Self::torch_shape(&self.param_info[p]),
                Slot::Buffer(b) => self.buffer_info[b].shape.clone(),
                Slot::Count(_) => Vec::new(),
            };
            match (slot, value) {
                (Slot::Count(_), StateRef::Count(c)) if c >= 0 => {}
                (Slot::Count(_), _) => {
                    return Err(Error::value(format!(
                        "state_dict[{name:?}]: expected a non-negative integer count"
                    )))
                }
                (_, StateRef::Float { shape, data }) => {
                    if shape != expected.as_slice()
                        || data.len() != expected.iter().product::<usize>()
                    {
                        return Err(Error::value(format!(
                            "state_dict[{name:?}]: expected shape {expected:?}, got {shape:?}"
                        )));
                    }
                    if let Some(v) = data.iter().find(|v| !v.is_finite()) {
                        return Err(Error::value(format!(
                            "state_dict[{name:?}]: values must be finite, got {v:?}"
                        )));
                    }
                    if name.ends_with("running_var") && data.iter().any(|&v| v < T::zero()) {
                        return Err(Error::value(format!(
                            "state_dict[{name:?}]: a variance must be >= 0"
                        )));
                    }
                }
                (_, StateRef::Count(_)) => {
                    return Err(Error::value(format!(
                        "state_dict[{name:?}]: expected a float array of shape {expected:?}"
                    )))
                }
            }
        }
        for (name, slot) in &slots {
            match (*slot, given[name.as_str()]) {
                (Slot::Param(p), StateRef::Float { data, .. }) => {
                    from_torch(&self.param_info[p], data, &mut self.params[p])
                }
                (Slot::Buffer(b), StateRef::Float { data, .. }) => {
                    self.buffers[b].copy_from_slice(data)
                }
                (Slot::Count(c), StateRef::Count(v)) => self.counts[c] = v,
                _ => {}
            }
        }
        Ok(())
    }
}

fn copy<T: Scalar>(v: &[T]) -> Result<Vec<T>> {
    let mut out = zeros(Some(v.len()), "a copy of the parameters")?;
    out.copy_from_slice(v);
    Ok(out)
}

/// An engine tensor in torch's layout: a `(fan_in, fan_out)` weight transposed.
fn to_torch<T: Scalar>(info: &TensorInfo, v: &[T]) -> Result<Vec<T>> {
    let mut out = copy(v)?;
    if let [rows, cols] = info.shape[..] {
        for i in 0..rows {
            for j in 0..cols {
                out[j * rows + i] = v[i * cols + j];
            }
        }
    }
    Ok(out)
}

/// The inverse of [`to_torch`], into `dst`.
fn from_torch<T: Scalar>(info: &TensorInfo, v: &[T], dst: &mut [T]) {
    match info.shape[..] {
        [rows, cols] => {
            for i in 0..rows {
                for j in 0..cols {
                    dst[i * cols + j] = v[j * rows + i];
                }
            }
        }
        _ => dst.copy_from_slice(v),
    }
}
