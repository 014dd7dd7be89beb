//! Training diagnostics, measured inside the steps (opt-in): per layer with parameters the
//! gradient norm and the update-to-weight ratio of every step, and the weight norm at the end
//! of the epoch; per activation layer the mean and spread of its outputs and the share of dead
//! (ReLU, leaky ReLU) or saturated (sigmoid, tanh) units; per normalisation layer the mean and
//! spread of γ.
//!
//! Every sum is made per fixed block — of [`ROW_UNIT`] rows of a Dense weight, of a batch's
//! rows, or a whole small tensor — by the member that owns it, and the blocks are added in
//! block order by the leader, so the figures do not depend on the number of threads. Unit
//! counts are integers, added across members in any order.

use std::ops::Range;
use std::sync::Mutex;

use crate::activations::Activation;
use crate::error::{zeros, Result};
use crate::kernels::{self, Shared};
use crate::layers::Layer;
use crate::network::{Network, ROW_UNIT};
use crate::scalar::Scalar;

/// A unit is saturated on a row when its derivative is below this.
pub const SATURATED_DERIVATIVE: f64 = 0.01;
/// … and saturated for the epoch when it is so on at least this share of the rows.
pub const SATURATED_ROWS: f64 = 0.99;

/// One layer's figures for one epoch: `(metric, value)` in a fixed order per layer kind.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerReport {
    /// The layer's index (as in `state_dict()` names).
    pub layer: usize,
    pub values: Vec<(&'static str, f64)>,
}

/// An activation layer whose outputs are watched.
struct Watched {
    layer: usize,
    /// The layer whose output buffer holds the activations (the Dense it is fused into).
    source: usize,
    act: Activation,
    units: usize,
}

/// Where each parameter tensor's blocks sit among the step sums: a Dense weight in blocks of
/// [`ROW_UNIT`] rows (the unit members own), any other tensor as one block.
pub(super) struct Blocks {
    first: Vec<usize>,
    len: Vec<usize>,
    count: usize,
}

impl Blocks {
    fn new<T: Scalar>(net: &Network<T>) -> Self {
        let (mut first, mut len, mut count) = (Vec::new(), Vec::new(), 0);
        for (index, info) in net.param_info().iter().enumerate() {
            let size = info.len().max(1);
            let block = match net.dense_layers().find(|d| d.weight == index) {
                Some(d) => (ROW_UNIT * d.fan_out).max(1),
                None => size,
            };
            first.push(count);
            len.push(block);
            count += size.div_ceil(block);
        }
        Blocks { first, len, count }
    }

    /// The first block of tensor `index` in `span` (aligned to its blocks, as owned spans are)
    /// and the tensor's block length.
    pub(super) fn start(&self, index: usize, span: &Range<usize>) -> (usize, usize) {
        let len = self.len[index];
        (self.first[index] + span.start / len, len)
    }

    /// The blocks of tensor `index` that cover `span` (aligned to its blocks, as owned spans
    /// are): `(block number, element range)`.
    pub(super) fn of(
        &self,
        index: usize,
        span: Range<usize>,
    ) -> impl Iterator<Item = (usize, Range<usize>)> {
        let len = self.len[index];
        let first = self.first[index];
        (span.start..span.end)
            .step_by(len)
            .map(move |s| (first + s / len, s..(s + len).min(span.end)))
    }
}

/// What the members share during an epoch (of a fit with diagnostics or clipping by norm).
pub(super) struct ProbeView<'a> {
    pub(super) blocks: &'a Blocks,
    /// Whether the fit records diagnostics (else only the gradients' sums are needed).
    pub(super) record: bool,
    /// `Σg²` per parameter block (before any clipping), written by the block's owner.
    pub(super) grad_sq: Shared<'a, f64>,
    /// `(Σ(Δθ)², Σθ², Σg²)` per parameter block (θ before the update), written by its owner's
    /// optimizer kernel (whose `Σg²` is copied into `grad_sq` when nothing clipped them).
    pub(super) update: Shared<'a, f64>,
    /// `(Σa, Σa²)` per watched layer and block of `ROW_UNIT` rows of the batch.
    acts: Shared<'a, f64>,
    watched: &'a [Watched],
    row_blocks: usize,
    counts: &'a Mutex<Vec<Vec<u64>>>,
}

/// Each member's own: its unit counts for the epoch.
pub(super) struct MemberProbe {
    counts: Vec<Vec<u32>>,
}

/// The diagnostics of one fit: shared step buffers and the epoch's totals (the leader's).
pub(super) struct Probe {
    blocks: Blocks,
    record: bool,
    grad_sq: Vec<f64>,
    update: Vec<f64>,
    acts: Vec<f64>,
    watched: Vec<Watched>,
    row_blocks: usize,
    /// Per layer with parameters: its index and tensors.
    owners: Vec<(usize, Vec<usize>)>,
    grad_norm: Vec<f64>,
    ratio: Vec<f64>,
    steps: u64,
    act_sums: Vec<(f64, f64)>,
    rows: u64,
    /// Per watched layer and unit: the rows it was live (ReLU) or saturated on.
    counts: Mutex<Vec<Vec<u64>>>,
}

/// The parameter tensors of a layer, and which of them is a normalisation's γ.
fn tensors_of(layer: &Layer) -> (Vec<usize>, Option<usize>) {
    match layer {
        Layer::Dense(d) => (vec![d.weight, d.bias], None),
        Layer::LayerNorm(n) => (vec![n.weight, n.bias], Some(n.weight)),
        Layer::BatchNorm(n) => (vec![n.weight, n.bias], Some(n.weight)),
        Layer::Activation(_) | Layer::Dropout(_) => (Vec::new(), None),
    }
}

impl Probe {
    /// Buffers for `net` trained in batches of up to `batch_rows` rows; without `record`, only
    /// the gradients' sums (clipping by norm).
    pub(super) fn new<T: Scalar>(
        net: &Network<T>,
        batch_rows: usize,
        record: bool,
    ) -> Result<Self> {
        let blocks = Blocks::new(net);
        let mut watched = Vec::new();
        let mut owners = Vec::new();
        for (i, layer) in net.layers().iter().enumerate() {
            if let Layer::Activation(a) = layer {
                let source = if a.fused { i.saturating_sub(1) } else { i };
                watched.push(Watched {
                    layer: i,
                    source,
                    act: a.act,
                    units: a.width,
                });
            }
            let (tensors, _) = tensors_of(layer);
            if !tensors.is_empty() {
                owners.push((i, tensors));
            }
        }
        let row_blocks = batch_rows.div_ceil(ROW_UNIT);
        let what = "the diagnostics";
        Ok(Probe {
            record,
            grad_sq: zeros(Some(blocks.count), what)?,
            update: zeros(blocks.count.checked_mul(3), what)?,
            acts: zeros((watched.len() * 2).checked_mul(row_blocks), what)?,
            counts: Mutex::new(watched.iter().map(|w| vec![0; w.units]).collect()),
            grad_norm: vec![0.0; owners.len()],
            ratio: vec![0.0; owners.len()],
            act_sums: vec![(0.0, 0.0); watched.len()],
            blocks,
            watched,
            row_blocks,
            owners,
            steps: 0,
            rows: 0,
        })
    }

    /// Whether the fit records diagnostics.
    pub(super) fn records(&self) -> bool {
        self.record
    }

    /// The shared buffers, and the epoch's totals (behind `&mut`, for the leader).
    pub(super) fn split(&mut self) -> (ProbeView<'_>, Totals<'_>) {
        let view = ProbeView {
            blocks: &self.blocks,
            record: self.record,
            grad_sq: Shared::new(&mut self.grad_sq),
            update: Shared::new(&mut self.update),
            acts: Shared::new(&mut self.acts),
            watched: &self.watched,
            row_blocks: self.row_blocks,
            counts: &self.counts,
        };
        let totals = Totals {
            owners: &self.owners,
            grad_norm: &mut self.grad_norm,
            ratio: &mut self.ratio,
            steps: &mut self.steps,
            act_sums: &mut self.act_sums,
            rows: &mut self.rows,
        };
        (view, totals)
    }

    /// The epoch's figures per layer (from the totals and `net`'s parameters), then zeroes
    /// the totals for the next epoch.
    pub(super) fn report<T: Scalar>(&mut self, net: &Network<T>) -> Vec<LayerReport> {
        let steps = self.steps.max(1) as f64;
        let counts = std::mem::take(&mut *self.counts.lock().unwrap_or_else(|e| e.into_inner()));
        let mut reports: Vec<LayerReport> = Vec::new();
        for (o, (layer, tensors)) in self.owners.iter().enumerate() {
            let weight = tensors
                .iter()
                .map(|&t| kernels::sum_squares(net.param(t)))
                .sum::<f64>();
            let mut values = vec![
                ("grad_norm", self.grad_norm[o] / steps),
                ("weight_norm", weight.sqrt()),
                ("update_ratio", self.ratio[o] / steps),
            ];
            if let (_, Some(gamma)) = tensors_of(&net.layers()[*layer]) {
                let g = net.param(gamma);
                let (s, q) = (kernels::sum(g), kernels::sum_squares(g));
                let n = g.len().max(1) as f64;
                values.push(("gamma_mean", s / n));
                values.push(("gamma_std", (q / n - (s / n) * (s / n)).max(0.0).sqrt()));
            }
            reports.push(LayerReport {
                layer: *layer,
                values,
            });
        }
        let rows = self.rows as f64;
        for (w, watched) in self.watched.iter().enumerate() {
            let (s, q) = self.act_sums[w];
            let n = (rows * watched.units as f64).max(1.0);
            let mean = s / n;
            let mut values = vec![
                ("mean", mean),
                ("std", (q / n - mean * mean).max(0.0).sqrt()),
            ];
            let units = counts.get(w).map_or(&[][..], |c| &c[..]);
            let share = |f: &dyn Fn(u64) -> bool| {
                units.iter().filter(|&&c| f(c)).count() as f64 / watched.units.max(1) as f64
            };
            match watched.act {
                Activation::Relu | Activation::LeakyRelu => {
                    values.push(("dead_fraction", share(&|live| live == 0)));
                }
                Activation::Sigmoid | Activation::Tanh => {
                    let need = SATURATED_ROWS * rows;
                    values.push(("saturated_fraction", share(&|c| c as f64 >= need)));
                }
                Activation::Identity | Activation::Gelu => {}
            }
            reports.push(LayerReport {
                layer: watched.layer,
                values,
            });
        }
        reports.sort_by_key(|r| r.layer);
        self.grad_norm.fill(0.0);
        self.ratio.fill(0.0);
        self.act_sums.fill((0.0, 0.0));
        self.steps = 0;
        self.rows = 0;
        *self.counts.lock().unwrap_or_else(|e| e.into_inner()) =
            self.watched.iter().map(|w| vec![0; w.units]).collect();
        reports
    }
}

/// The epoch's running totals, which only the leader touches during the epoch.
pub(super) struct Totals<'a> {
    owners: &'a [(usize, Vec<usize>)],
    grad_norm: &'a mut [f64],
    ratio: &'a mut [f64],
    steps: &'a mut u64,
    act_sums: &'a mut [(f64, f64)],
    rows: &'a mut u64,
}

impl Totals<'_> {
    /// Adds one step's sums (every member's, after a barrier) for a batch of `rows` rows.
    pub(super) fn add_step(&mut self, view: &ProbeView<'_>, rows: usize) {
        // SAFETY: the caller's barrier ordered every member's writes before these reads.
        let (grad_sq, update) = unsafe { (view.grad_sq.read(), view.update.read()) };
        let acts = unsafe { view.acts.read() };
        let blocks = view.blocks;
        for (o, (_, tensors)) in self.owners.iter().enumerate() {
            let (mut g, mut d, mut p) = (0.0, 0.0, 0.0);
            for &t in tensors {
                let start = blocks.first[t];
                let end = blocks.first.get(t + 1).copied().unwrap_or(blocks.count);
                g += grad_sq[start..end].iter().sum::<f64>();
                for slot in update[start * 3..end * 3].chunks_exact(3) {
                    d += slot[0];
                    p += slot[1];
                }
            }
            self.grad_norm[o] += g.sqrt();
            self.ratio[o] += match (p > 0.0, d > 0.0) {
                (true, _) => (d / p).sqrt(),
                (false, false) => 0.0,
                (false, true) => f64::INFINITY,
            };
        }
        let used = rows.div_ceil(ROW_UNIT);
        for (w, sums) in self.act_sums.iter_mut().enumerate() {
            let base = w * view.row_blocks * 2;
            for b in acts[base..base + used * 2].chunks_exact(2) {
                sums.0 += b[0];
                sums.1 += b[1];
            }
        }
        *self.steps += 1;
        *self.rows += rows as u64;
    }
}

impl ProbeView<'_> {
    /// A member's own buffers.
    pub(super) fn member(&self) -> MemberProbe {
        MemberProbe {
            counts: self.watched.iter().map(|w| vec![0; w.units]).collect(),
        }
    }

    /// This member's rows `mine` of the batch (`rows` rows): each watched layer's sums per
    /// block of rows into the shared buffer, its unit counts into `member`.
    ///
    /// # Safety
    /// After the forward pass (a barrier if other members wrote the layers' outputs); `out(l)`
    /// is layer `l`'s output buffer; no member writes it meanwhile.
    pub(super) unsafe fn watch<'o, T: Scalar + 'o>(
        &self,
        mine: Range<usize>,
        out: impl Fn(usize) -> Shared<'o, T>,
        member: &mut MemberProbe,
    ) {
        for (w, watched) in self.watched.iter().enumerate() {
            let units = watched.units;
            let a = out(watched.source);
            for start in mine.clone().step_by(ROW_UNIT) {
                let end = (start + ROW_UNIT).min(mine.end);
                let rows = &a.read()[start * units..end * units];
                let (s, q) = (kernels::sum(rows), kernels::squares(rows));
                let slot = (w * self.row_blocks + start / ROW_UNIT) * 2;
                self.acts.part(slot..slot + 2).copy_from_slice(&[s, q]);
                let threshold = match watched.act {
                    Activation::Sigmoid | Activation::Tanh => SATURATED_DERIVATIVE,
                    _ => 0.0,
                };
                kernels::count_units(&mut member.counts[w], rows, watched.act, threshold);
            }
        }
    }

    /// Adds a member's unit counts to the epoch's totals (integers: any order gives the
    /// same sums) and zeroes them.
    pub(super) fn merge(&self, member: &mut MemberProbe) {
        let mut all = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        for (dst, src) in all.iter_mut().zip(member.counts.iter_mut()) {
            for (d, s) in dst.iter_mut().zip(src.iter_mut()) {
                *d += u64::from(std::mem::take(s));
            }
        }
    }
}
