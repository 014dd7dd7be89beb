"""Fuzz harness for the model-file loader: any bytes must load or raise ValueError naming the file.

Run with atheris (`pip install atheris`):

    PYTHONPATH=python python tests/fuzz_model_files.py -max_total_time=600 -max_len=4096

It seeds the corpus with valid files generated at start (add a corpus directory argument to keep
what it finds), mixes libFuzzer's byte mutations with structure-aware ones (the JSON header
decoded, a field of it changed, re-encoded with a consistent length), and feeds every input to
the loader's parse-and-rebuild path (`model_files._parse` then `_build`, as `ferroprop.load` does
after reading the file). Anything but a ValueError naming the file is a crash. Without atheris,
`tests/test_model_files.py::test_fuzz_smoke` runs the same check on seeded random mutations.
"""

from __future__ import annotations

import json
import os
import random
import struct
import sys
import tempfile

import numpy as np

NAME = "<fuzz input>"
#: FERROPROP_FUZZ_ESTIMATORS=1 also rebuilds MLPClassifier/MLPRegressor files (needs
#: scikit-learn) and seeds the corpus with fitted estimators; otherwise only their container is
#: checked.
ESTIMATORS = os.environ.get("FERROPROP_FUZZ_ESTIMATORS") == "1"
#: FERROPROP_FUZZ_BUG_DIR=dir: a builder raising something unanticipated (a bug, though `load`
#: still raised ValueError) saves the input there, one file per exception type and place, and the
#: run goes on instead of stopping. Exceptions escaping the loader always stop it.
BUG_DIR = os.environ.get("FERROPROP_FUZZ_BUG_DIR")

_INTERESTING_JSON: list[object] = [
    -1,
    0,
    1,
    2,
    3,
    2**31,
    2**32 + 1,
    2**63,
    2**64,
    10**30,
    -(2**63),
    1.5,
    -0.0,
    1e308,
    True,
    False,
    None,
    "",
    "relu",
    "logistic",
    "float16",
    "float64",
    "float32",
    "glorot",
    "he",
    "mse",
    "cross_entropy",
    "Network",
    "MLPClassifier",
    "ferroprop",
    "x" * 300,
    [],
    [0],
    [1],
    [3, 2],
    [2**40, 2**40],
    [2**31, 1],
    [3, -2],
    [3, True],
    ["relu"],
    ["relu", "tanh"],
    [[3]],
    {},
    {"widths": [3, 2]},
]
_DTYPE_NAMES = "F16 BF16 I8 U8 BOOL F32 F64 I64 U64 C64 F8_E4M3 X".split()
_INTERESTING_U64 = [0, 1, 2, 7, 8, 255, 2**31, 2**32, 2**63, 2**64 - 1]


def _import_ferroprop() -> None:
    global fp, model_files
    import ferroprop as fp
    from ferroprop import model_files


def check(data: bytes) -> str:
    """The property: `data` parses and rebuilds, or raises a ValueError naming the file.

    Returns how far it got: "parse error", "build error", "parsed" (an estimator's file, not
    rebuilt unless `ESTIMATORS`) or "loaded"."""
    stage = "parse error"
    try:
        kind, tensors, config = model_files._parse(data, NAME)
        if kind != "Network" and not ESTIMATORS:
            return "parsed"
        stage = "build error"
        model_files._build(kind, tensors, config, NAME)
        return "loaded"
    except ValueError as err:
        if NAME not in str(err):
            raise AssertionError(f"ValueError without the file name: {err}") from err
        # Anticipated failures: the parser's own (no cause) and the builders' ValueError,
        # TypeError, OverflowError, RecursionError. Anything else was turned into a ValueError by
        # a catch-all: the contract held, but it is a bug worth reporting.
        cause = err.__cause__
        if stage == "parse error" and cause is not None:
            raise AssertionError(f"the parser hit {type(cause).__name__}") from cause
        if cause is not None and not isinstance(cause, model_files._BUILD_ERRORS):
            if BUG_DIR:
                _save_bug(data, cause)
                return "builder bug"
            raise AssertionError(f"the builder raised {type(cause).__name__}") from cause
        return stage


def _save_bug(data: bytes, cause: BaseException) -> None:
    import traceback

    frames = traceback.extract_tb(cause.__traceback__)
    ours = [f for f in frames if f"{os.sep}ferroprop{os.sep}" in f.filename]
    frame = (ours or frames)[-1]  # the last line of ferroprop's code involved
    where = f"{os.path.basename(frame.filename)}-{frame.lineno}"
    path = os.path.join(BUG_DIR, f"{type(cause).__name__}-{where}.safetensors")
    if not os.path.exists(path):
        with open(path, "wb") as f:
            f.write(data)
        print(f"builder bug: {type(cause).__name__}: {cause} at {where} -> {path}", flush=True)


def run_random(count: int, seed: int) -> dict[str, int]:
    """`check` on `count` seeded random mutations of the seeds (no atheris needed): mostly one
    mutation at a time, with inputs that got past the container kept as further starting
    points. Returns how many inputs ended at each stage."""
    rng = random.Random(seed)
    pool = seeds()
    corpus = list(pool)
    stages: dict[str, int] = {}
    for data in pool:
        assert check(data) in ("loaded", "parsed")
    for _ in range(count):
        data = rng.choice(corpus)
        for _ in range(1 if rng.random() < 0.8 else rng.randint(2, 4)):
            data = mutate(data, rng, pool)
        stage = check(data)
        stages[stage] = stages.get(stage, 0) + 1
        if stage != "parse error" and len(corpus) < 500:
            corpus.append(data)
    return stages


def seeds() -> list[bytes]:
    """Valid model files of several shapes, dtypes and kinds."""
    out = []
    nets = [
        fp.Network([3, 2], activation="relu", loss="mse", dtype="float32", seed=1),
        fp.Network([4, 5, 3], activation="tanh", loss="cross_entropy", dtype="float64", seed=2),
        fp.Network(
            [2, 3, 3, 1], activation=["relu", "gelu"], loss="binary_cross_entropy", init="he"
        ),
        fp.Network([3, 4, 2], dropout=0.25, normalization="batch", dtype="float64", seed=3),
        fp.Sequential(
            [
                fp.layers.Dense(4),
                fp.layers.LayerNorm(),
                fp.layers.Activation("gelu"),
                fp.layers.Dropout(0.1),
                fp.layers.Dense(3),
                fp.layers.BatchNorm(),
                fp.layers.Dense(2),
            ],
            input_dim=3,
            seed=4,
        ),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "seed.safetensors")
        for net in nets:
            net.save(path)
            with open(path, "rb") as f:
                out.append(f.read())
        # A network with table preprocessing (`ferroprop train --data table.csv`).
        prep = fp.preprocessing.TablePreprocessor(target="y").fit(
            {"age": ["30", "", "41"], "city": ["paris", "rome", ""], "ok": ["true", "false", ""]}
        )
        fp.Network([prep.n_features, 2], seed=5).save(path, preprocessing=prep)
        with open(path, "rb") as f:
            out.append(f.read())
        if ESTIMATORS:
            out += _estimator_seeds(path)
        else:  # a container of another kind (with an int64 tensor), checked but not rebuilt
            model_files.write_model_file(
                path,
                "MLPRegressor",
                {"coef.0": np.zeros((2, 2), np.float32), "classes": np.arange(3, dtype=np.int64)},
                {"hidden_layer_sizes": [2], "alpha": 0.0001},
            )
            with open(path, "rb") as f:
                out.append(f.read())
    return out


def _estimator_seeds(path: str) -> list[bytes]:
    import warnings

    from ferroprop.sklearn import MLPClassifier, MLPRegressor

    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 3))
    fitted = [
        MLPClassifier(hidden_layer_sizes=(4,), max_iter=2).fit(X, (X[:, 0] > 0).astype(int)),
        MLPClassifier(hidden_layer_sizes=(3, 2), max_iter=2).fit(X, np.array(list("abc") * 10)),
        MLPClassifier(hidden_layer_sizes=(3,), max_iter=2).fit(X, rng.integers(0, 2, (30, 2))),
        MLPRegressor(hidden_layer_sizes=(4,), max_iter=2).fit(X, X[:, :2]),
    ]
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for est in fitted:
            est.save(path)
            with open(path, "rb") as f:
                out.append(f.read())
    return out


# -- mutations -----------------------------------------------------------------------------------


def _split(data: bytes) -> tuple[dict, bytes] | None:
    """(header, tensor bytes) of a well-formed container, else None."""
    if len(data) < 8:
        return None
    n = int.from_bytes(data[:8], "little")
    if n > len(data) - 8:
        return None
    try:
        header = json.loads(data[8 : 8 + n])
    except (ValueError, RecursionError):
        return None
    return (header, data[8 + n :]) if isinstance(header, dict) else None


def _join(header: object, body: bytes) -> bytes:
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + body


def _as_list(value: object) -> list:
    return list(value) if isinstance(value, list) else []


def _random_json(rng: random.Random) -> object:
    if rng.random() < 0.8:
        return rng.choice(_INTERESTING_JSON)
    return rng.randrange(-(2**64), 2**64) if rng.random() < 0.5 else rng.random() * 1e6


def mutate_structured(data: bytes, rng: random.Random) -> bytes:
    """A header-aware mutation: one field of the metadata, config or a tensor entry changed."""
    parts = _split(data)
    if parts is None:
        return mutate_bytes(data, rng, [])
    header, body = parts
    meta = header.get("__metadata__")
    tensor_names = [k for k in header if k != "__metadata__"]
    op = rng.randrange(10)
    if op <= 2 and isinstance(meta, dict) and isinstance(meta.get("config"), str):
        try:
            config = json.loads(meta["config"])
        except ValueError:
            config = None
        if isinstance(config, dict) and config:
            key = rng.choice(sorted(config))
            if rng.random() < 0.15:
                del config[key]
            elif isinstance(config[key], list) and config[key] and rng.random() < 0.5:
                config[key][rng.randrange(len(config[key]))] = _random_json(rng)
            else:
                config[key] = _random_json(rng)
            meta["config"] = json.dumps(config)
        elif rng.random() < 0.5:
            meta["config"] = rng.choice(["[]", "null", '{"widths": NaN}', "{", json.dumps("x")])
    elif op == 3 and isinstance(meta, dict):
        key = rng.choice(["format", "kind", "ferroprop_version", "config", "extra"])
        choice = rng.randrange(3)
        if choice == 0:
            meta.pop(key, None)
        elif choice == 1:
            meta[key] = _random_json(rng)
        else:
            meta[key] = rng.choice(["", "ferroprop", "Network", "MLPClassifier", "Foo"])
    elif op == 4:
        header["__metadata__"] = _random_json(rng)
    elif op <= 7 and tensor_names:
        name = rng.choice(tensor_names)
        entry = header[name]
        if not isinstance(entry, dict):
            header[name] = {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}
        elif op == 5:
            entry["dtype"] = rng.choice(_DTYPE_NAMES)
        elif op == 6:
            shape = _as_list(entry.get("shape"))
            edit = rng.randrange(4)
            if edit == 0 or not shape:
                shape.append(rng.choice([0, 1, 2, 3, 2**32]))
            elif edit == 1:
                shape.reverse()
            elif edit == 2:
                shape.pop()
            else:
                shape[rng.randrange(len(shape))] = _random_json(rng)
            entry["shape"] = shape
        else:
            offsets = _as_list(entry.get("data_offsets"))
            if len(offsets) == 2 and rng.random() < 0.7:
                offsets[rng.randrange(2)] = rng.choice(
                    [0, 1, 4, len(body), len(body) + 4, 2**63, -1, 2**64]
                )
            else:
                offsets = _random_json(rng)
            entry["data_offsets"] = offsets
    elif op == 8 and tensor_names:
        name = rng.choice(tensor_names)
        edit = rng.randrange(3)
        if edit == 0:
            del header[name]
        elif edit == 1:
            header[name + rng.choice(["", "x", ".0"])] = json.loads(json.dumps(header[name]))
        else:
            header[rng.choice(["weights.9", "biases.0", "extra"])] = header[name]
    else:
        # Poison the tensor data with a NaN or inf somewhere.
        if len(body) >= 4:
            at = rng.randrange(len(body) - 3)
            poison = rng.choice([b"\x00\x00\xc0\x7f", b"\x00\x00\x80\x7f", b"\xff\xff\xff\xff"])
            body = body[:at] + poison + body[at + 4 :]
    return _join(header, body)


def mutate_bytes(data: bytes, rng: random.Random, pool: list[bytes]) -> bytes:
    """A byte-level mutation: bit flips, byte overwrites, truncation, insertion, deletion, a
    splice with another input, or a new header-length field."""
    buf = bytearray(data)
    op = rng.randrange(7)
    if op == 0 and buf:
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(len(buf))
            buf[i] ^= 1 << rng.randrange(8)
    elif op == 1 and buf:
        for _ in range(rng.randint(1, 4)):
            buf[rng.randrange(len(buf))] = rng.choice([0, 1, 0x7F, 0x80, 0xFF, rng.randrange(256)])
    elif op == 2:
        del buf[rng.randrange(len(buf) + 1) :]
    elif op == 3:
        at = rng.randrange(len(buf) + 1)
        buf[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    elif op == 4 and buf:
        at = rng.randrange(len(buf))
        del buf[at : at + rng.randint(1, 16)]
    elif op == 5 and pool:
        other = rng.choice(pool)
        buf = buf[: rng.randrange(len(buf) + 1)] + other[rng.randrange(len(other) + 1) :]
    else:
        n = int.from_bytes(bytes(buf[:8]).ljust(8, b"\0"), "little")
        value = rng.choice(_INTERESTING_U64 + [n + 1, max(n - 1, 0), n + 8, len(buf)])
        buf[:8] = struct.pack("<Q", value % 2**64)
    return bytes(buf)


def mutate(data: bytes, rng: random.Random, pool: list[bytes]) -> bytes:
    """One mutation, structured or byte-level."""
    if rng.random() < 0.6:
        try:
            return mutate_structured(data, rng)
        except (TypeError, ValueError, KeyError, AttributeError, IndexError, RecursionError):
            pass  # a header too odd for the structured mutator: fall back to bytes
    return mutate_bytes(data, rng, pool)


# -- atheris entry point -------------------------------------------------------------------------


def main() -> None:
    import atheris

    with atheris.instrument_imports(include=["ferroprop"]):
        _import_ferroprop()
        if ESTIMATORS:
            import ferroprop.sklearn  # noqa: F401
    pool = seeds()
    for s in pool:  # the seeds themselves must load
        assert check(s) in ("loaded", "parsed")

    def custom_mutator(data: bytes, max_size: int, seed: int) -> bytes:
        rng = random.Random(seed)
        if not data or rng.random() < 0.05:
            data = rng.choice(pool)
        if rng.random() < 0.5:
            out = mutate(data, rng, pool)
        else:
            out = atheris.Mutate(data, max_size)
        return out[:max_size]

    def test_one_input(data: bytes) -> None:
        check(data)

    args = list(sys.argv)
    corpus_dirs = [a for a in args[1:] if not a.startswith("-")]
    if corpus_dirs:
        for i, s in enumerate(pool):  # make sure the valid seeds are in the corpus
            with open(os.path.join(corpus_dirs[0], f"seed-{i}.safetensors"), "wb") as f:
                f.write(s)
    atheris.Setup(args, test_one_input, custom_mutator=custom_mutator)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
else:
    _import_ferroprop()
