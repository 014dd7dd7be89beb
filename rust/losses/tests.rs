//! Unit tests of the losses: known values, finite differences of every loss (with and without
//! sample weights), the reductions and the parameters.

use super::*;
use crate::activations::sigmoid;

/// Every loss, some with non-default parameters.
fn every_loss() -> Vec<Loss> {
    vec![
        Loss::CROSS_ENTROPY,
        Loss::cross_entropy(0.1).unwrap(),
        Loss::BinaryCrossEntropy,
        Loss::Mse,
        Loss::LogLoss,
        Loss::BinaryLogLoss,
        Loss::SquaredError,
        Loss::Poisson,
        Loss::HUBER,
        Loss::huber(0.3).unwrap(),
        Loss::L1,
    ]
}

/// The mean loss of logits `z` and its gradient.
fn mean_and_grad(
    loss: Loss,
    z: &[f64],
    cols: usize,
    targets: &Targets<'_, f64>,
    weights: Option<&[f64]>,
) -> (f64, Vec<f64>) {
    let mut g = z.to_vec();
    let total = loss.total(z.len() / cols, cols, weights);
    let sum = loss.sum_and_grad(&mut g, cols, targets, weights, total);
    (sum / total, g)
}

#[test]
fn bce_matches_the_naive_formula_and_mse_is_not_halved() {
    let mut z = vec![0.3f64, -1.2];
    let y = [1.0, 0.0];
    let s = Loss::BinaryCrossEntropy.sum_and_grad(&mut z, 2, &Targets::Values(&y), None, 2.0);
    let naive = -(sigmoid(0.3f64).ln()) - (1.0 - sigmoid(-1.2f64)).ln();
    assert!((s - naive).abs() < 1e-14);

    let mut z = vec![3.0f64];
    let s = Loss::Mse.sum_and_grad(&mut z, 1, &Targets::Values(&[1.0]), None, 1.0);
    assert_eq!(s, 4.0);
    assert_eq!(z[0], 4.0);
}

#[test]
fn huber_and_l1_match_pytorch_at_known_points() {
    let y = [0.0f64; 4];
    let z = [0.5, -2.0, 1.0, 0.0];
    let (mean, g) = mean_and_grad(Loss::HUBER, &z, 4, &Targets::Values(&y), None);
    // ½·0.25, 1·(2 - ½), 1·(1 - ½) at |r| = delta, 0.
    assert!((mean - (0.125 + 1.5 + 0.5) / 4.0).abs() < 1e-15);
    assert_eq!(g, vec![0.125, -0.25, 0.25, 0.0]);
    let (mean, g) = mean_and_grad(Loss::L1, &z, 4, &Targets::Values(&y), None);
    assert_eq!(mean, 3.5 / 4.0);
    // sign(0) = 0, as torch.sign.
    assert_eq!(g, vec![0.25, -0.25, 0.25, 0.0]);
}

#[test]
fn label_smoothing_zero_is_the_plain_kernel_and_smoothing_mixes_in_uniform() {
    let z = [1.0f64, 2.0, 0.5, -0.3, 0.0, 0.7];
    let labels = [2i64, 0];
    let t = Targets::Classes(&labels);
    let plain = mean_and_grad(Loss::CROSS_ENTROPY, &z, 3, &t, None);
    let mut kernel = z.to_vec();
    let s = kernels::softmax_cross_entropy(&mut kernel, 3, &labels, 0.5);
    assert_eq!(plain, (s / 2.0, kernel));

    let eps = 0.2;
    let (mean, g) = mean_and_grad(Loss::cross_entropy(eps).unwrap(), &z, 3, &t, None);
    let mut want = 0.0;
    for (row, &label) in z.chunks(3).zip(&labels) {
        let lse = row.iter().map(|v| v.exp()).sum::<f64>().ln();
        let nll = lse - row[label as usize];
        let uniform: f64 = row.iter().map(|v| lse - v).sum::<f64>() / 3.0;
        want += ((1.0 - eps) * nll + eps * uniform) / 2.0;
    }
    assert!((mean - want).abs() < 1e-14, "{mean} vs {want}");
    // Each gradient row sums to zero (both target distributions sum to one).
    for row in g.chunks(3) {
        assert!(row.iter().sum::<f64>().abs() < 1e-15);
    }
}

#[test]
fn unit_weights_give_the_unweighted_mean_and_weights_scale_rows() {
    let z = [0.4f64, -0.9, 1.3, 0.2, -0.5, 0.8];
    let values = [0.0, 1.0, 1.0, 0.0, 0.5, 0.5];
    let labels = [1i64, 0, 1];
    for loss in every_loss() {
        let t = if loss.wants_classes() {
            Targets::Classes(&labels[..])
        } else {
            Targets::Values(&values[..])
        };
        let (cols, rows) = if loss.wants_classes() { (2, 3) } else { (3, 2) };
        let t = t.slice(0, rows, cols);
        let (plain, g_plain) = mean_and_grad(loss, &z, cols, &t, None);
        let ones = vec![1.0; rows];
        let (ones_mean, g_ones) = mean_and_grad(loss, &z, cols, &t, Some(&ones));
        assert!((plain - ones_mean).abs() < 1e-15, "{loss:?}");
        for (a, b) in g_plain.iter().zip(&g_ones) {
            assert!((a - b).abs() < 1e-16, "{loss:?}");
        }
        // An integer weight counts the row that many times.
        let mut repeated = z.to_vec();
        repeated.extend_from_slice(&z[..cols]);
        let (weighted, _) = {
            let mut w = vec![1.0; rows];
            w[0] = 2.0;
            mean_and_grad(loss, &z, cols, &t, Some(&w))
        };
        let rep_targets: Vec<i64>;
        let rep_values: Vec<f64>;
        let t2 = match t {
            Targets::Classes(c) => {
                rep_targets = c.iter().chain(&c[..1]).copied().collect();
                Targets::Classes(&rep_targets[..])
            }
            Targets::Values(v) => {
                rep_values = v.iter().chain(&v[..cols]).copied().collect();
                Targets::Values(&rep_values[..])
            }
        };
        let (dup, _) = mean_and_grad(loss, &repeated, cols, &t2, None);
        assert!(
            (weighted - dup).abs() < 1e-14,
            "{loss:?}: {weighted} vs {dup}"
        );
    }
}

#[test]
fn every_loss_gradient_matches_finite_differences() {
    let z = [0.35f64, -1.1, 0.9, 1.6, -0.45, 0.2];
    let values = [0.1, 0.9, 1.0, 0.0, 0.3, 0.6];
    let labels = [1i64, 0, 1];
    let weights = [0.7, 2.0, 1.3, 0.4, 1.0, 2.5];
    for loss in every_loss() {
        // scikit-learn's squared error averages its value over outputs but not its gradient:
        // the two agree for one output.
        let cols = match loss {
            Loss::SquaredError => 1,
            _ if loss.wants_classes() => 2,
            _ => 3,
        };
        let rows = z.len() / cols;
        let t = if loss.wants_classes() {
            Targets::Classes(&labels[..rows])
        } else {
            Targets::Values(&values[..])
        };
        for w in [None, Some(&weights[..rows])] {
            let (_, g) = mean_and_grad(loss, &z, cols, &t, w);
            let h = 1e-6;
            for i in 0..z.len() {
                let mut up = z.to_vec();
                up[i] += h;
                let mut down = z.to_vec();
                down[i] -= h;
                let numeric = (mean_and_grad(loss, &up, cols, &t, w).0
                    - mean_and_grad(loss, &down, cols, &t, w).0)
                    / (2.0 * h);
                assert!(
                    (numeric - g[i]).abs() < 1e-8,
                    "{loss:?} weights {w:?} z[{i}]: {numeric} vs {}",
                    g[i]
                );
            }
        }
    }
}

#[test]
fn names_and_parameters_round_trip() {
    for name in NAMES {
        let loss = Loss::parse(name).unwrap();
        assert_eq!(loss.name(), name);
        assert_eq!(Loss::with_params(name, &loss.params()).unwrap(), loss);
    }
    assert_eq!(Loss::parse("huber").unwrap(), Loss::HUBER);
    assert_eq!(
        Loss::with_params("huber", &[("delta", 0.5)]).unwrap(),
        Loss::Huber { delta: 0.5 }
    );
    assert_eq!(
        Loss::cross_entropy(0.25).unwrap().params(),
        [("label_smoothing", 0.25)]
    );
    assert!(!Loss::L1.wants_classes() && Loss::CROSS_ENTROPY.wants_classes());
}

#[test]
fn bad_names_and_parameters_are_errors_naming_them() {
    let msg = |r: Result<Loss>| r.unwrap_err().to_string();
    assert!(msg(Loss::parse("hinge")).starts_with("loss: unknown name"));
    assert!(msg(Loss::parse("hinge")).contains("'l1'"));
    for bad in [-0.1, 1.5, f64::NAN] {
        assert!(msg(Loss::cross_entropy(bad)).starts_with("label_smoothing:"));
    }
    for bad in [0.0, -1.0, f64::INFINITY, f64::NAN] {
        assert!(msg(Loss::huber(bad)).starts_with("delta:"));
    }
    assert!(msg(Loss::with_params("mse", &[("delta", 1.0)])).starts_with("delta:"));
    assert!(msg(Loss::with_params("huber", &[("delta", -2.0)])).starts_with("delta:"));
}

#[test]
fn validation_names_the_problem() {
    let labels = [0i64, 3];
    let err = Loss::CROSS_ENTROPY
        .validate::<f64>(&Targets::Classes(&labels), 2, 3)
        .unwrap_err();
    assert!(err.to_string().contains("out of range"));
    let y = [0.5f64, 2.0];
    assert!(Loss::BinaryCrossEntropy
        .validate(&Targets::Values(&y), 1, 2)
        .is_err());
    assert!(Loss::Mse.validate(&Targets::Values(&y), 1, 2).is_ok());
    assert!(Loss::HUBER.validate(&Targets::Values(&y), 1, 2).is_ok());
    assert!(Loss::L1
        .validate(&Targets::<f64>::Classes(&labels), 2, 3)
        .is_err());
    assert!(Loss::Poisson
        .validate(&Targets::Values(&[-1.0f64]), 1, 1)
        .is_err());
}

#[test]
fn accuracy_for_classifiers_only() {
    let z = [2.0f64, -1.0, -0.5, 0.5];
    let labels = [0i64, 0];
    assert_eq!(
        Loss::CROSS_ENTROPY.correct(&z, 2, &Targets::Classes(&labels)),
        Some(1)
    );
    let y = [1.0, 0.0, 0.0, 1.0];
    assert_eq!(
        Loss::BinaryLogLoss.correct(&z, 2, &Targets::Values(&y)),
        Some(2)
    );
    assert_eq!(Loss::HUBER.correct(&z, 2, &Targets::Values(&y)), None);
    assert_eq!(Loss::L1.correct(&z, 2, &Targets::Values(&y)), None);
}
