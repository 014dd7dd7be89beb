//! The mini-batch training loop: shuffle, gather, forward, loss, backward, update.

use std::time::Instant;

use crate::error::{Error, Result};
use crate::losses::Targets;
use crate::network::{Network, Workspace};
use crate::optimizers::{OptimizerConfig, OptimizerState};
use crate::rng::Rng;
use crate::scalar::Scalar;

/// Samples and their targets, row-major.
#[derive(Clone, Copy, Debug)]
pub struct Dataset<'a, T> {
    pub x: &'a [T],
    pub rows: usize,
    pub cols: usize,
    pub targets: Targets<'a, T>,
}

/// How to train.
#[derive(Clone, Copy, Debug)]
pub struct FitConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub shuffle: bool,
}

/// What one epoch measured.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochReport {
    /// 1-based.
    pub epoch: usize,
    /// Mean per-sample training loss, each batch's loss taken before its update.
    pub loss: f64,
    pub val_loss: Option<f64>,
    pub val_accuracy: Option<f64>,
    pub seconds: f64,
}

/// Calls from the loop to its driver: between batches (to notice Ctrl-C) and after each epoch.
pub trait Hooks {
    /// Return an error (typically [`Error::Interrupted`]) to stop before the next batch.
    fn poll(&mut self) -> Result<()> {
        Ok(())
    }

    fn epoch_end(&mut self, _report: &EpochReport) -> Result<()> {
        Ok(())
    }
}

/// Hooks that do nothing.
pub struct NoHooks;
impl Hooks for NoHooks {}

/// Buffers reused by every batch of a fit: one allocation per fit, none per step.
struct Batch<T> {
    order: Vec<usize>,
    x: Vec<T>,
    classes: Vec<i64>,
    values: Vec<T>,
}

/// One optimizer step on a batch; leaves the parameters untouched if the loss or a gradient is
/// not finite. `at` is the 1-based (epoch, batch) reported on divergence, if inside a fit.
#[allow(clippy::too_many_arguments)]
pub fn step<T: Scalar>(
    net: &mut Network<T>,
    config: &OptimizerConfig,
    state: &mut OptimizerState<T>,
    x: &[T],
    rows: usize,
    targets: &Targets<'_, T>,
    ws: &mut Workspace<T>,
    grads: &mut crate::network::Gradients<T>,
    at: Option<(usize, usize)>,
) -> Result<f64> {
    let loss = net.loss_and_gradients(x, rows, targets, ws, grads);
    if !loss.is_finite() || !grads.all_finite() {
        return Err(Error::Diverged { at, loss });
    }
    state.step(config, net, grads)?;
    Ok(loss)
}

/// Trains `net` for `fit.epochs` epochs. Data must have passed `Network::check_data`.
/// Each epoch visits every row once, in an order drawn from `rng` when shuffling; the last
/// partial batch is used, not dropped.
#[allow(clippy::too_many_arguments)]
pub fn fit<T: Scalar>(
    net: &mut Network<T>,
    config: &OptimizerConfig,
    state: &mut OptimizerState<T>,
    train: &Dataset<'_, T>,
    validation: Option<&Dataset<'_, T>>,
    fit: FitConfig,
    rng: &mut Rng,
    hooks: &mut dyn Hooks,
) -> Result<Vec<EpochReport>> {
    if fit.batch_size == 0 {
        return Err(Error::value(
            "batch_size: expected a positive integer, got 0",
        ));
    }
    let n_out = net.n_outputs();
    let batch_rows = fit.batch_size.min(train.rows);
    let mut ws = Workspace::new(net, batch_rows);
    let mut grads = net.zero_gradients();
    let mut buf = Batch {
        order: (0..train.rows).collect(),
        x: Vec::with_capacity(batch_rows * train.cols),
        classes: Vec::with_capacity(batch_rows),
        values: Vec::with_capacity(batch_rows * n_out),
    };
    let mut reports = Vec::with_capacity(fit.epochs);
    for epoch in 1..=fit.epochs {
        let started = Instant::now();
        if fit.shuffle {
            rng.shuffle(&mut buf.order);
        }
        let mut loss_sum = 0.0;
        for (b, idx) in buf.order.chunks(batch_rows).enumerate() {
            hooks.poll()?;
            gather_rows(&mut buf.x, train.x, train.cols, idx);
            let targets = train
                .targets
                .gather(idx, n_out, &mut buf.classes, &mut buf.values);
            let at = Some((epoch, b + 1));
            let loss = step(
                net,
                config,
                state,
                &buf.x,
                idx.len(),
                &targets,
                &mut ws,
                &mut grads,
                at,
            )?;
            loss_sum += loss * idx.len() as f64;
        }
        let (val_loss, val_accuracy) = match validation {
            Some(v) => {
                let (loss, acc) = net.evaluate(v.x, v.rows, &v.targets);
                (Some(loss), acc)
            }
            None => (None, None),
        };
        let report = EpochReport {
            epoch,
            loss: loss_sum / train.rows as f64,
            val_loss,
            val_accuracy,
            seconds: started.elapsed().as_secs_f64(),
        };
        hooks.epoch_end(&report)?;
        reports.push(report);
    }
    Ok(reports)
}

/// Copies rows `idx` of `src` (… × cols) into `dst`, in order.
fn gather_rows<T: Copy>(dst: &mut Vec<T>, src: &[T], cols: usize, idx: &[usize]) {
    dst.clear();
    for &i in idx {
        dst.extend_from_slice(&src[i * cols..(i + 1) * cols]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Activation, Init, Loss, NetworkSpec};

    fn xor() -> (Vec<f64>, Vec<i64>) {
        (vec![0., 0., 0., 1., 1., 0., 1., 1.], vec![0, 1, 1, 0])
    }

    #[test]
    fn learns_xor_and_stays_reproducible() {
        let spec = NetworkSpec {
            widths: vec![2, 8, 2],
            activations: vec![Activation::Tanh],
            loss: Loss::CrossEntropy,
            init: Init::Glorot,
            seed: 1,
        };
        let (x, y) = xor();
        let data = Dataset {
            x: &x,
            rows: 4,
            cols: 2,
            targets: Targets::Classes(&y),
        };
        let config = OptimizerConfig::adam(0.05, (0.9, 0.999), 1e-8, 0.0, false).unwrap();
        let fit_cfg = FitConfig {
            epochs: 300,
            batch_size: 2,
            shuffle: true,
        };
        let run = || {
            let mut net = Network::<f64>::new(&spec).unwrap();
            let mut state = OptimizerState::new();
            let reports = fit(
                &mut net,
                &config,
                &mut state,
                &data,
                Some(&data),
                fit_cfg,
                &mut Rng::new(5, 1),
                &mut NoHooks,
            )
            .unwrap();
            (net, reports)
        };
        let (net, reports) = run();
        assert_eq!(reports.last().unwrap().val_accuracy, Some(1.0));
        assert!(reports.last().unwrap().loss < 0.05);
        let (again, _) = run();
        assert_eq!(net.layers()[0].weight, again.layers()[0].weight);
    }

    #[test]
    fn divergence_keeps_finite_parameters() {
        let spec = NetworkSpec {
            widths: vec![2, 4, 1],
            activations: vec![Activation::Relu],
            loss: Loss::Mse,
            init: Init::He,
            seed: 0,
        };
        let mut net = Network::<f32>::new(&spec).unwrap();
        let x = vec![1e18f32, -1e18, 1e18, 1e18];
        let y = vec![1e18f32, -1e18];
        let data = Dataset {
            x: &x,
            rows: 2,
            cols: 2,
            targets: Targets::Values(&y),
        };
        let config = OptimizerConfig::sgd(1e6, 0.0, false, 0.0).unwrap();
        let fit_cfg = FitConfig {
            epochs: 50,
            batch_size: 1,
            shuffle: false,
        };
        let err = fit(
            &mut net,
            &config,
            &mut OptimizerState::new(),
            &data,
            None,
            fit_cfg,
            &mut Rng::new(0, 1),
            &mut NoHooks,
        )
        .unwrap_err();
        assert!(matches!(err, Error::Diverged { .. }));
        assert!(net
            .layers()
            .iter()
            .all(|l| l.weight.iter().chain(&l.bias).all(|v| v.is_finite())));
    }
}
