# The two quick-start commands: `make demo` (the main job) and `make test` (the whole suite).
PYTHON ?= python3
PIP := $(PYTHON) -m pip
export OPENBLAS_NUM_THREADS ?= 1

.PHONY: demo test install test-deps lint rust-test stubtest py-test bench \
	wheel sdist test-wheel test-sdist

# What pytest needs; also installed into the venvs that test the wheel and the sdist.
TEST_DEPS := "numpy>=1.24" "safetensors>=0.4" "scikit-learn>=1.6" scipy pandas joblib tqdm \
	"matplotlib>=3.7" "pytest>=7" "hypothesis>=6.170,<7" onnx onnxruntime skl2onnx pyarrow
# Lint, build and stub tools (not needed to test an installed package).
DEV_TOOLS := "ruff>=0.5" "maturin>=1.7,<2" "mypy>=1.18"

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
	$(PIP) install --quiet $(TEST_DEPS) $(DEV_TOOLS)

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

## An abi3 (CPython >= 3.10) wheel for x86-64 in dist/, tagged manylinux2014 / manylinux_2_17:
## zig (the `ziglang` package) links it against glibc 2.17. RUSTFLAGS is dropped so that no
## CPU-specific flag (target-cpu) gets in: the kernels choose their SIMD path at run time.
wheel:
	$(PIP) install --quiet "maturin>=1.7,<2" ziglang
	rm -f dist/ferroprop-*.whl
	# maturin looks for `zig` on PATH: the binary inside the ziglang package.
	PATH="$$($(PYTHON) -c 'import os, ziglang; print(os.path.dirname(ziglang.__file__))'):$$PATH" \
	env -u RUSTFLAGS -u CARGO_ENCODED_RUSTFLAGS -u CARGO_BUILD_RUSTFLAGS \
		$(PYTHON) -m maturin build --release --zig --compatibility manylinux2014 \
		--target x86_64-unknown-linux-gnu --out dist

## The source distribution in dist/ (pip builds it with maturin and Rust).
sdist:
	$(PIP) install --quiet "maturin>=1.7,<2"
	rm -f dist/ferroprop-*.tar.gz
	$(PYTHON) -m maturin sdist --out dist

## The wheel in a fresh venv without cargo or rustc on PATH: `auditwheel show`, the core's
## imports, then the whole pytest suite against the installed package (.ci/test-installed).
test-wheel: wheel
	PYTHON=$(PYTHON) .ci/test-installed wheel dist/ferroprop-*.whl $(TEST_DEPS)

## The same for the sdist, built by pip with Rust on PATH.
test-sdist: sdist
	PYTHON=$(PYTHON) .ci/test-installed sdist dist/ferroprop-*.tar.gz $(TEST_DEPS)
