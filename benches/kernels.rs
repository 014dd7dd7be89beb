//! Criterion benches of the hot loops, reported in GFLOPS (elements/s × 2 = FLOP/s for GEMMs).
//!
//! `cargo bench` (add `-- gemm` etc. to filter). `FERROPROP_SIMD` forces
//! a path; `FERROPROP_NUM_THREADS` sizes the pool (default: all cores).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ferroprop::kernels::{self, MatRef};
use ferroprop::rng::Rng;
use ferroprop::train::{self, Dataset, FitConfig, NoHooks};
use ferroprop::{threads, Activation, Init, Loss, Network, NetworkSpec, OptimizerConfig};
use ferroprop::{OptimizerState, Targets};

fn filled(len: usize, seed: f32) -> Vec<f32> {
    (0..len).map(|i| ((i as f32 + seed) * 0.37).sin()).collect()
}

/// (name, m, k, n, transpose-lhs, transpose-rhs): the products of 784-100-10 and 784-512-512-10.
const SHAPES: [(&str, usize, usize, usize, bool, bool); 9] = [
    ("fwd 64x784x100", 64, 784, 100, false, false),
    ("dW 784x64x100", 784, 64, 100, true, false),
    ("fwd 256x784x100", 256, 784, 100, false, false),
    ("head 256x100x10", 256, 100, 10, false, false),
    ("fwd 256x784x512", 256, 784, 512, false, false),
    ("fwd 256x512x512", 256, 512, 512, false, false),
    ("dW 512x256x512", 512, 256, 512, true, false),
    ("dA 256x512x512", 256, 512, 512, false, true),
    ("square 1024", 1024, 1024, 1024, false, false),
];

fn view(data: &[f32], rows: usize, cols: usize, transposed: bool) -> MatRef<'_, f32> {
    if transposed {
        MatRef::row_major(data, cols, rows).t()
    } else {
        MatRef::row_major(data, rows, cols)
    }
}

fn bench_gemm(c: &mut Criterion) {
    let mut group = c.benchmark_group("gemm");
    group.sample_size(20);
    for &(name, m, k, n, ta, tb) in &SHAPES {
        let a = filled(m * k, 1.0);
        let b = filled(k * n, 2.0);
        let mut out = vec![0f32; m * n];
        group.throughput(Throughput::Elements(2 * (m * n * k) as u64));
        group.bench_function(BenchmarkId::new("ferroprop", name), |bench| {
            bench.iter(|| kernels::gemm(&mut out, n, view(&a, m, k, ta), view(&b, k, n, tb)))
        });
        group.bench_function(BenchmarkId::new("gemm-crate", name), |bench| {
            let (a_rs, a_cs) = if ta { (1, m as isize) } else { (k as isize, 1) };
            let (b_rs, b_cs) = if tb { (1, k as isize) } else { (n as isize, 1) };
            let threads = threads::num_threads().unwrap();
            bench.iter(|| unsafe {
                gemm::gemm(
                    m,
                    n,
                    k,
                    out.as_mut_ptr(),
                    1,
                    n as isize,
                    false,
                    a.as_ptr(),
                    a_cs,
                    a_rs,
                    b.as_ptr(),
                    b_cs,
                    b_rs,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    if threads > 1 {
                        gemm::Parallelism::Rayon(threads)
                    } else {
                        gemm::Parallelism::None
                    },
                )
            })
        });
    }
    group.finish();
}

fn bench_elementwise(c: &mut Criterion) {
    let mut group = c.benchmark_group("elementwise");
    let (rows, cols) = (256, 512);
    let bias = filled(cols, 3.0);
    let mut z = filled(rows * cols, 4.0);
    let mut a = vec![0f32; rows * cols];
    group.throughput(Throughput::Elements((rows * cols) as u64));
    for act in [Activation::Relu, Activation::Tanh, Activation::Gelu] {
        group.bench_function(BenchmarkId::new("bias_activation", act.name()), |bench| {
            bench.iter(|| kernels::bias_activation(&mut z, &mut a, &bias, act))
        });
    }
    // The batch-1 update of a 784×100 layer: stored gradient vs outer product formed per row.
    let (fan_in, fan_out) = (784, 100);
    let mut w = filled(fan_in * fan_out, 7.0);
    let dense = filled(fan_in * fan_out, 8.0);
    let (xa, dz) = (filled(fan_in, 9.0), filled(fan_out, 10.0));
    let step = kernels::SgdStep {
        lr: 1e-3,
        momentum: 0.0,
        weight_decay: 0.0,
        nesterov: false,
        first: false,
        velocity: false,
    };
    group.throughput(Throughput::Elements((fan_in * fan_out) as u64));
    group.bench_function("sgd dense 784x100", |bench| {
        bench.iter(|| kernels::sgd(&mut w, kernels::Grad::Dense(&dense), &mut [], step))
    });
    group.bench_function("sgd outer 784x100", |bench| {
        let grad = || kernels::Grad::Outer { a: &xa, dz: &dz };
        bench.iter(|| kernels::sgd(&mut w, grad(), &mut [], step))
    });
    let mut z1 = vec![0f32; fan_out];
    group.bench_function("gemv 1x784x100", |bench| {
        bench.iter(|| kernels::matmul(&mut z1, &xa, &dense, 1, fan_in, fan_out))
    });
    let labels: Vec<i64> = (0..rows as i64).map(|i| i % 10).collect();
    let logits = filled(rows * 10, 5.0);
    let mut work = logits.clone();
    group.throughput(Throughput::Elements((rows * 10) as u64));
    group.bench_function("softmax_cross_entropy 256x10", |bench| {
        bench.iter(|| {
            work.copy_from_slice(&logits);
            kernels::softmax_cross_entropy(&mut work, 10, &labels, 1.0 / rows as f32)
        })
    });
    group.finish();
}

/// Training throughput: one epoch of `fit` (forward, loss, backward, SGD update per batch) over
/// 4096 synthetic rows; GFLOPS = 6 · weights · rows / time.
fn bench_fit_epoch(c: &mut Criterion) {
    let mut group = c.benchmark_group("fit_epoch");
    group.sample_size(10);
    let rows = 4096;
    for (widths, batch) in [
        (vec![784, 100, 10], 1),
        (vec![784, 100, 10], 16),
        (vec![784, 100, 10], 64),
        (vec![784, 100, 10], 256),
        (vec![784, 512, 512, 10], 256),
    ] {
        let spec = NetworkSpec {
            widths: widths.clone(),
            activations: vec![Activation::Relu; widths.len() - 2],
            loss: Loss::CROSS_ENTROPY,
            init: Init::Glorot,
            seed: 0,
        };
        let mut net = Network::<f32>::new(&spec).unwrap();
        let x: Vec<f32> = filled(rows * widths[0], 6.0)
            .iter()
            .map(|v| v.abs())
            .collect();
        let y: Vec<i64> = (0..rows as i64).map(|i| i % 10).collect();
        let data = Dataset {
            x: &x,
            rows,
            cols: widths[0],
            targets: Targets::Classes(&y),
            weights: None,
        };
        let config = OptimizerConfig::sgd(0.01, 0.0, false, 0.0).unwrap();
        let mut state = OptimizerState::new();
        let settings = FitConfig {
            epochs: 1,
            batch_size: batch,
            shuffle: true,
            alpha: 0.0,
            inputs_checked: false,
            clip: None,
            diagnostics: false,
        };
        let weights: usize = widths.windows(2).map(|w| w[0] * w[1]).sum();
        group.throughput(Throughput::Elements((6 * weights * rows) as u64));
        group.bench_function(format!("{widths:?} B={batch}"), |bench| {
            let mut rng = Rng::new(0, 1);
            bench.iter(|| {
                train::fit(
                    &mut net,
                    &config,
                    &mut state,
                    &data,
                    None,
                    settings,
                    None,
                    &mut rng,
                    &mut NoHooks,
                )
                .unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_gemm, bench_elementwise, bench_fit_epoch);
criterion_main!(benches);
