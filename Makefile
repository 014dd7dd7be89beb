# The two quick-start commands: `make demo` (the main job) and `make test` (the whole suite).
PYTHON ?= python3
PIP := $(PYTHON) -m pip
export OPENBLAS_NUM_THREADS ?= 1

.PHONY: demo test install test-deps lint rust-test stubtest py-test bench

## Build and install the package, then `ferroprop train`: 784-256-128-10 on Fashion-MNIST
## (Debian's dataset-fashion-mnist, installed here when missing and we may).
demo: install
	@test -d /usr/share/datasets/fashion-mnist || apt-get install -y -qq dataset-fashion-mnist \
		|| (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist) || true
	$(PYTHON) -m ferroprop train

## Build the extension in release mode and install it (maturin, via pip).
install:
	$(PIP) install --quiet .

test-deps:
	$(PIP) install --quiet "numpy>=1.24" "safetensors>=0.4" "scikit-learn>=1.6" scipy pandas joblib tqdm "matplotlib>=3.7" \
		"pytest>=7" "hypothesis>=6.170,<7" "ruff>=0.5" "maturin>=1.7,<2" "mypy>=1.18" onnx onnxruntime skl2onnx

## Everything CI runs: formatting, lints, Rust unit tests, the build, the stubs, pytest.
test: test-deps lint rust-test install stubtest py-test

lint:
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --all-targets --features python -- -D warnings
	$(PYTHON) -m ruff check python tests benches
	$(PYTHON) -m ruff format --check python tests benches

rust-test:
	cargo test

## The type stubs of the extension against the built module (run from outside the source tree).
stubtest:
	cd /tmp && $(PYTHON) -m mypy.stubtest --ignore-disjoint-bases ferroprop._core

py-test:
	cd tests && $(PYTHON) -m pytest -q -ra .
