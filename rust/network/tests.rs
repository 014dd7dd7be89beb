use super::*;

fn spec(widths: Vec<usize>, act: Activation, loss: Loss) -> NetworkSpec {
    let hidden = widths.len() - 2;
    NetworkSpec {
        widths,
        activations: vec![act; hidden],
        loss,
        init: Init::Glorot,
        seed: 3,
    }
}

#[test]
fn same_seed_same_weights_in_both_precisions() {
    let s = spec(vec![4, 5, 3], Activation::Tanh, Loss::CROSS_ENTROPY);
    let a = Network::<f64>::new(&s).unwrap();
    let b = Network::<f64>::new(&s).unwrap();
    let c = Network::<f32>::new(&s).unwrap();
    assert_eq!(a.params[0], b.params[0]);
    assert_eq!(c.params[0][0], a.params[0][0] as f32);
    let bound = (6.0f64 / 9.0).sqrt();
    assert!(a.params[0].iter().all(|w| w.abs() <= bound));
    assert!(a.params[3].iter().all(|&b| b == 0.0));
    assert_eq!(a.stages(), &[0, 2]);
}

#[test]
fn bad_specs_are_errors() {
    let mut s = spec(vec![4, 0, 3], Activation::Relu, Loss::Mse);
    assert!(Network::<f32>::new(&s).is_err());
    s.widths = vec![4];
    assert!(Network::<f32>::new(&s).is_err());
    s.widths = vec![4, 1 << 62, 3];
    assert!(Network::<f32>::new(&s).is_err());
    s.widths = vec![4, 1 << 31, 1 << 31, 3];
    assert!(Network::<f32>::new(&s).is_err());
    let stack = |layers: Vec<LayerSpec>| StackSpec {
        input_dim: 3,
        layers,
        loss: Loss::Mse,
        seed: 0,
    };
    assert!(Network::<f64>::stack(&stack(vec![])).is_err());
    let dense = LayerSpec::dense(2, Init::Glorot).unwrap();
    let relu = LayerSpec::Activation(Activation::Relu);
    assert!(Network::<f64>::stack(&stack(vec![dense, relu])).is_err());
    assert!(Network::<f64>::stack(&stack(vec![relu, dense])).is_ok());
    assert!(LayerSpec::dropout(1.0).is_err());
    assert!(LayerSpec::batch_norm(1.5, 1e-5).is_err());
    assert!(LayerSpec::layer_norm(0.0).is_err());
    assert!(LayerSpec::dense(0, Init::He).is_err());
}

/// Checks every parameter gradient of `net` on `data` against central differences of the
/// training-mode loss (the same dropout masks at the same step).
fn check_gradients(net: &mut Network<f64>, data: &Dataset<'_, f64>, alpha: f64, tol: f64) {
    let mut ws = Workspace::new(net, data.rows).unwrap();
    let mut grads = net.zero_gradients().unwrap();
    net.loss_and_gradients(data, alpha, &mut ws, &mut grads)
        .unwrap();
    let objective = |net: &Network<f64>| {
        let mut ws = Workspace::new(net, data.rows).unwrap();
        let mut scratch = net.zero_gradients().unwrap();
        net.loss_and_gradients(data, alpha, &mut ws, &mut scratch)
            .unwrap()
    };
    let h = 1e-6;
    for p in 0..net.params.len() {
        for i in 0..net.params[p].len() {
            let w0 = net.params[p][i];
            net.params[p][i] = w0 + h;
            let up = objective(net);
            net.params[p][i] = w0 - h;
            let down = objective(net);
            net.params[p][i] = w0;
            let numeric = (up - down) / (2.0 * h);
            let analytic = grads.tensors[p][i];
            let name = &net.param_info[p].name;
            assert!(
                (numeric - analytic).abs() < tol * (1.0 + analytic.abs()),
                "{name}[{i}]: {numeric} vs {analytic}"
            );
        }
    }
}

#[test]
fn gradients_match_finite_differences() {
    let losses = [
        Loss::CROSS_ENTROPY,
        Loss::BinaryCrossEntropy,
        Loss::Mse,
        Loss::LogLoss,
        Loss::BinaryLogLoss,
        Loss::SquaredError,
        Loss::Poisson,
    ];
    for act in [Activation::Tanh, Activation::Gelu, Activation::Sigmoid] {
        for loss in losses {
            // scikit-learn's squared error averages its value over outputs but not its
            // gradient: the two agree for one output.
            let n_out = if loss == Loss::SquaredError { 1 } else { 2 };
            let mut net = Network::<f64>::new(&spec(vec![3, 4, n_out], act, loss)).unwrap();
            let x = [0.3, -1.2, 0.8, 1.1, 0.4, -0.6];
            let labels = [1i64, 0];
            let values = [1.0, 0.0, 0.0, 1.0];
            // scikit-learn's losses also take sample weights and the L2 term.
            let (weights, alpha) = if loss.is_sklearn() {
                (Some(&[0.7, 2.0][..]), 0.3)
            } else {
                (None, 0.0)
            };
            let data = Dataset {
                x: &x,
                rows: 2,
                cols: 3,
                targets: if loss.wants_classes() {
                    Targets::Classes(&labels[..])
                } else {
                    Targets::Values(&values[..2 * n_out])
                },
                weights,
            };
            check_gradients(&mut net, &data, alpha, 1e-7);
        }
    }
}

#[test]
fn every_layer_kind_matches_finite_differences() {
    let dense = |n| LayerSpec::dense(n, Init::Glorot).unwrap();
    let act = LayerSpec::Activation;
    let stacks = [
        vec![
            dense(5),
            LayerSpec::batch_norm(0.1, 1e-5).unwrap(),
            act(Activation::Tanh),
            LayerSpec::dropout(0.3).unwrap(),
            dense(4),
            LayerSpec::layer_norm(1e-5).unwrap(),
            act(Activation::Gelu),
            dense(3),
        ],
        // Layers before the first Dense, consecutive ones, an activation not after a Dense.
        vec![
            LayerSpec::layer_norm(1e-3).unwrap(),
            LayerSpec::dropout(0.5).unwrap(),
            dense(6),
            LayerSpec::layer_norm(1e-5).unwrap(),
            act(Activation::Sigmoid),
            act(Activation::LeakyRelu),
            LayerSpec::batch_norm(0.5, 1e-3).unwrap(),
            dense(3),
        ],
    ];
    let x: Vec<f64> = (0..24)
        .map(|i| ((i * 37 % 11) as f64 - 5.0) * 0.3)
        .collect();
    let labels = [0i64, 2, 1, 1, 0, 2];
    for layers in stacks {
        let spec = StackSpec {
            input_dim: 4,
            layers,
            loss: Loss::CROSS_ENTROPY,
            seed: 9,
        };
        let mut net = Network::<f64>::stack(&spec).unwrap();
        net.set_training_steps(5);
        let data = Dataset {
            x: &x,
            rows: 6,
            cols: 4,
            targets: Targets::Classes(&labels),
            weights: None,
        };
        check_gradients(&mut net, &data, 0.0, 1e-6);
    }
}

#[test]
fn state_dict_round_trips_in_torch_layout() {
    let spec = StackSpec {
        input_dim: 3,
        layers: vec![
            LayerSpec::dense(2, Init::Glorot).unwrap(),
            LayerSpec::batch_norm(0.1, 1e-5).unwrap(),
            LayerSpec::dense(4, Init::He).unwrap(),
        ],
        loss: Loss::Mse,
        seed: 1,
    };
    let net = Network::<f32>::stack(&spec).unwrap();
    let sd = net.state_dict().unwrap();
    let names: Vec<&str> = sd.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "0.weight",
            "0.bias",
            "1.weight",
            "1.bias",
            "1.running_mean",
            "1.running_var",
            "1.num_batches_tracked",
            "2.weight",
            "2.bias"
        ]
    );
    assert_eq!(sd[0].shape, vec![2, 3]);
    let StateValues::Float(w) = &sd[0].values else {
        panic!("a weight is a float tensor")
    };
    // torch's (out, in) is the transpose of the engine's (in, out).
    assert_eq!(w[3], net.params[0][1]);
    let mut other = Network::<f32>::stack(&StackSpec { seed: 2, ..spec }).unwrap();
    let refs: Vec<(&str, StateRef<'_, f32>)> = sd
        .iter()
        .map(|e| {
            let value = match &e.values {
                StateValues::Float(v) => StateRef::Float {
                    shape: &e.shape,
                    data: v,
                },
                StateValues::Count(c) => StateRef::Count(*c),
            };
            (e.name.as_str(), value)
        })
        .collect();
    other.load_state_dict(&refs).unwrap();
    assert_eq!(other.params, net.params);
    assert!(other.load_state_dict(&refs[1..]).is_err());
    let mut bad = refs.clone();
    bad[0].1 = StateRef::Float {
        shape: &[3, 2],
        data: &[0.0; 6],
    };
    let err = other.load_state_dict(&bad).unwrap_err().to_string();
    assert!(err.contains("0.weight"), "{err}");
}
