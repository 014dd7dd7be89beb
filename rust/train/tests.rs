//! The training loop's unit tests.

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
        loss: Loss::CROSS_ENTROPY,
        init: Init::Glorot,
        seed: 1,
    };
    let (x, y) = xor();
    let data = Dataset {
        x: &x,
        rows: 4,
        cols: 2,
        targets: Targets::Classes(&y),
        weights: None,
    };
    let config = OptimizerConfig::adam(0.05, (0.9, 0.999), 1e-8, 0.0, false).unwrap();
    let fit_cfg = FitConfig {
        epochs: 300,
        batch_size: 2,
        shuffle: true,
        alpha: 0.0,
        inputs_checked: false,
        clip: None,
        diagnostics: false,
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
            None,
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
    assert_eq!(net.param(0), again.param(0));
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
        weights: None,
    };
    let config = OptimizerConfig::sgd(1e6, 0.0, false, 0.0).unwrap();
    let fit_cfg = FitConfig {
        epochs: 50,
        batch_size: 1,
        shuffle: false,
        alpha: 0.0,
        inputs_checked: false,
        clip: None,
        diagnostics: false,
    };
    let err = fit(
        &mut net,
        &config,
        &mut OptimizerState::new(),
        &data,
        None,
        fit_cfg,
        None,
        &mut Rng::new(0, 1),
        &mut NoHooks,
    )
    .unwrap_err();
    assert!(matches!(err, Error::Diverged { .. }));
    assert!((0..net.param_info().len()).all(|p| net.param(p).iter().all(|v| v.is_finite())));
}

#[test]
fn an_update_that_overflows_is_undone_bitwise() {
    let spec = NetworkSpec {
        widths: vec![2, 4, 1],
        activations: vec![Activation::Tanh],
        loss: Loss::Mse,
        init: Init::Glorot,
        seed: 4,
    };
    let (x, y) = (vec![0.5f32, -1.0, 1.0, 0.25], vec![30.0f32, -30.0]);
    let targets = Targets::Values(&y);
    let config = OptimizerConfig::sgd(0.01, 0.9, false, 0.0).unwrap();
    // Two runs: one with a failed step in the middle, one without it.
    let run = |fail: bool| {
        let mut net = Network::<f32>::new(&spec).unwrap();
        let mut state = OptimizerState::new();
        step(&mut net, &config, &mut state, &x, 2, &targets).unwrap();
        if fail {
            let mut huge = config.clone();
            huge.set_lr(3e38).unwrap();
            let before = net.param(0).to_vec();
            let err = step(&mut net, &huge, &mut state, &x, 2, &targets).unwrap_err();
            assert!(matches!(err, Error::Diverged { at: None, .. }));
            assert_eq!(net.param(0), &before[..]);
            assert_eq!(state.steps(), 1);
        }
        step(&mut net, &config, &mut state, &x, 2, &targets).unwrap();
        net
    };
    let (clean, undone) = (run(false), run(true));
    for p in 0..clean.param_info().len() {
        assert_eq!(clean.param(p), undone.param(p));
    }
}
