use super::*;

fn sgd(lr: f64, momentum: f64) -> OptimizerConfig {
    OptimizerConfig::sgd(lr, momentum, false, 0.0).unwrap()
}

fn close(a: &[f64], b: &[f64]) {
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= 1e-12 * y.abs().max(1e-300),
            "{i}: {x} vs {y}"
        );
    }
}

#[test]
fn step_and_multistep_decay_per_epoch() {
    let s = Schedule::step_lr(2, 0.5).unwrap();
    close(
        &s.lrs(1.0, 5, 2, None).unwrap(),
        &[1., 1., 1., 1., 0.5, 0.5, 0.5, 0.5, 0.25, 0.25],
    );
    let m = Schedule::multi_step_lr(&[1, 3], 0.1).unwrap();
    close(&m.lrs(1.0, 4, 1, None).unwrap(), &[1., 0.1, 0.1, 0.01]);
    let e = Schedule::exponential_lr(0.5).unwrap();
    close(&e.lrs(2.0, 3, 1, None).unwrap(), &[2., 1., 0.5]);
}

#[test]
fn cosine_closed_form_beyond_t_max() {
    let c = Schedule::cosine_annealing_lr(4, 0.1).unwrap();
    let lrs = c.lrs(1.0, 9, 1, None).unwrap();
    assert!((lrs[4] - 0.1).abs() < 1e-15);
    assert!((lrs[8] - 1.0).abs() < 1e-15);
    assert!((lrs[2] - 0.55).abs() < 1e-15);
}

#[test]
fn validation_names_the_argument() {
    let msg = |r: Result<Schedule>| r.unwrap_err().to_string();
    assert_eq!(
        msg(Schedule::cosine_annealing_lr(0, 0.0)),
        "T_max: expected a positive integer, got 0"
    );
    assert!(msg(Schedule::step_lr(-3, 0.1)).contains("step_size"));
    assert!(msg(Schedule::multi_step_lr(&[3, 2], 0.1)).contains("milestones"));
    assert!(msg(Schedule::exponential_lr(0.0)).contains("gamma"));
    let plateau = |factor| {
        Schedule::reduce_lr_on_plateau("min", factor, 10, 1e-4, "rel", 0, 0.0, 1e-8, "loss")
    };
    assert!(msg(plateau(1.0)).contains("factor"));
    assert!(msg(Schedule::reduce_lr_on_plateau(
        "min", 0.1, 10, 1e-4, "rel", 0, 0.0, 1e-8, "lost"
    ))
    .contains("monitor"));
    let mut one = OneCycleLr::new(0.1);
    one.pct_start = 1.5;
    assert!(msg(Schedule::one_cycle_lr(one)).contains("pct_start"));
    assert!(msg(Schedule::linear_warmup(0, None)).contains("warmup_period"));
}

#[test]
fn one_cycle_overstep_and_momentum() {
    let mut args = OneCycleLr::new(1.0);
    args.total_steps = Some(10);
    let s = Schedule::one_cycle_lr(args).unwrap();
    let lrs = s.lrs(0.1, 2, 5, None).unwrap();
    assert!((lrs[0] - 0.04).abs() < 1e-15);
    assert!((lrs[2] - 1.0).abs() < 1e-15);
    let err = s.lrs(0.1, 3, 4, None).unwrap_err().to_string();
    assert!(err.contains("Tried to step 12 times. The specified number of total steps is 10"));
    // Fit-sized cycle, across two fits: the second would overstep.
    let fit_sized = Schedule::one_cycle_lr(OneCycleLr::new(1.0)).unwrap();
    let mut state = ScheduleState::default();
    let config = sgd(0.1, 0.9);
    fit_sized.begin(&mut state, &config, 2, 3).unwrap();
    assert_eq!(state.total_steps, Some(6));
    assert_eq!(
        fit_sized.config_at(&state, &config, 0).momentum(),
        Some(0.95)
    );
    for _ in 0..2 {
        fit_sized.end_epoch(&mut state, 3, &|_| None).unwrap();
    }
    assert!(fit_sized.begin(&mut state, &config, 1, 1).is_err());
    // No momentum to cycle.
    let err = fit_sized
        .begin(&mut ScheduleState::default(), &sgd(0.1, 0.0), 1, 1)
        .unwrap_err()
        .to_string();
    assert!(err.contains("cycle_momentum=False"), "{err}");
    let ada = OptimizerConfig::adagrad(0.01, 0.0, 0.0, 0.0, 1e-10).unwrap();
    assert!(fit_sized
        .begin(&mut ScheduleState::default(), &ada, 1, 1)
        .is_err());
    // Adam cycles beta1, keeping its buffers.
    let adam = OptimizerConfig::adam(1e-3, (0.9, 0.999), 1e-8, 0.0, false).unwrap();
    let mut state = ScheduleState::default();
    fit_sized.begin(&mut state, &adam, 2, 3).unwrap();
    let c = fit_sized.config_at(&state, &adam, 1);
    assert!(c.momentum().unwrap() < 0.95);
    assert_eq!(c.buffers_per_parameter(), adam.buffers_per_parameter());
}

#[test]
fn set_momentum_keeps_buffers() {
    let mut s = sgd(0.1, 0.9);
    assert!(s.set_momentum(0.0).is_err());
    s.set_momentum(0.5).unwrap();
    assert_eq!(s.momentum(), Some(0.5));
    assert!(sgd(0.1, 0.0).set_momentum(0.5).is_err());
    let mut rms = OptimizerConfig::rmsprop(0.01, 0.99, 1e-8, 0.0, 0.0, false).unwrap();
    assert_eq!(rms.momentum(), None);
    assert!(rms.set_momentum(0.9).is_err());
}

#[test]
fn warmup_dampens_per_batch() {
    let w = Schedule::linear_warmup(4, None).unwrap();
    close(
        &w.lrs(1.0, 2, 3, None).unwrap(),
        &[0.25, 0.5, 0.75, 1., 1., 1.],
    );
    let inner = Schedule::step_lr(1, 0.5).unwrap();
    let w = Schedule::linear_warmup(4, Some(inner)).unwrap();
    close(
        &w.lrs(1.0, 2, 3, None).unwrap(),
        &[0.25, 0.5, 0.75, 0.5, 0.5, 0.5],
    );
    let nested = Schedule::linear_warmup(2, Some(w)).unwrap();
    assert_eq!(nested.lrs(1.0, 1, 2, None).unwrap(), vec![0.125, 0.5]);
}

#[test]
fn plateau_follows_torch() {
    let p = Schedule::reduce_lr_on_plateau("min", 0.5, 1, 0.0, "abs", 1, 0.2, 1e-8, "val_loss")
        .unwrap();
    assert_eq!(p.monitor(), Some("val_loss"));
    let metrics = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.5];
    // bad epochs 1, 2 → reduce after epoch 2 (index 2), cooldown 1 (epoch 3 ignored), then
    // epochs 4, 5 bad → reduce after epoch 5 (0.25 → max(0.125, 0.2) = 0.2).
    let lrs = p.lrs(1.0, 8, 1, Some(&metrics)).unwrap();
    close(&lrs, &[1., 1., 1., 0.5, 0.5, 0.5, 0.25, 0.25]);
    let err = p.lrs(1.0, 3, 1, None).unwrap_err().to_string();
    assert!(err.contains("metrics"), "{err}");
    let mut state = ScheduleState::default();
    p.begin(&mut state, &sgd(0.1, 0.0), 1, 1).unwrap();
    let err = p
        .end_epoch(&mut state, 1, &|_| None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("pass validation_data or monitor='loss'"),
        "{err}"
    );
}

#[test]
fn shown_as_python_builds_them() {
    let w = Schedule::linear_warmup(5, Some(Schedule::cosine_annealing_lr(10, 0.0).unwrap()));
    assert_eq!(
        w.unwrap().to_string(),
        "LinearWarmup(warmup_period=5, schedule=CosineAnnealingLR(T_max=10, eta_min=0.0))"
    );
    assert_eq!(
        Schedule::multi_step_lr(&[2, 5], 0.1).unwrap().to_string(),
        "MultiStepLR(milestones=[2, 5], gamma=0.1)"
    );
}
