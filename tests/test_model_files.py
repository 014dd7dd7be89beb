"""Model files: `Network.save` / `ferroprop.load` round trips, the metadata, atomic writes, and
files that are truncated, corrupted or hostile (each must raise a ValueError naming the path)."""

from __future__ import annotations

import errno
import json
import os
import struct
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ferroprop as fp
from ferroprop import _atomic_write, model_files

# -- helpers -------------------------------------------------------------------------------------


def _trained(widths: list[int], activation: Any, loss: str, dtype: str, seed: int) -> fp.Network:
    """A network one SGD step away from its initialisation (so a reload from seed would differ)."""
    net = fp.Network(widths, activation=activation, loss=loss, dtype=dtype, seed=seed)
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((8, widths[0]))
    if loss == "cross_entropy":
        y = rng.integers(0, widths[-1], 8)
    elif loss == "binary_cross_entropy":
        y = rng.integers(0, 2, (8, widths[-1])).astype(float)
    else:
        y = rng.standard_normal((8, widths[-1]))
    net.step(X, y, fp.SGD(lr=0.1))
    return net


def _header(data: bytes) -> dict:
    n = int.from_bytes(data[:8], "little")
    return json.loads(data[8 : 8 + n])


def _raw(header: object, body: bytes = b"", header_len: int | None = None) -> bytes:
    """A safetensors container from a header object (or raw header bytes) and tensor bytes."""
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    n = len(text) if header_len is None else header_len
    return struct.pack("<Q", n) + text + body


def _metadata(cfg: dict | None = None, **override: Any) -> dict:
    """Model-file metadata for `cfg` (default `_CONFIG`); keyword arguments replace entries
    (`_DROP` removes one)."""
    meta = {
        "format": "ferroprop",
        "kind": "Network",
        "ferroprop_version": fp.__version__,
        "config": json.dumps(_CONFIG if cfg is None else cfg),
    }
    for key, value in override.items():
        if value is _DROP:
            meta.pop(key)
        else:
            meta[key] = value
    return meta


_DROP = object()
_CONFIG = {
    "widths": [3, 4, 2],
    "activations": ["relu"],
    "loss": "mse",
    "dtype": "float32",
    "init": "glorot",
    "seed": 0,
}


def _tensors(widths: list[int] = _CONFIG["widths"], dtype: Any = np.float32) -> dict:
    rng = np.random.default_rng(0)
    out = {}
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        out[f"weights.{i}"] = rng.standard_normal((a, b)).astype(dtype)
        out[f"biases.{i}"] = rng.standard_normal(b).astype(dtype)
    return out


def _file(tensors: dict | None = None, metadata: dict | None = None) -> bytes:
    """A safetensors file written by the safetensors package itself (any dtype it supports)."""
    import safetensors.numpy

    return safetensors.numpy.save(
        _tensors() if tensors is None else tensors,
        metadata=_metadata() if metadata is None else metadata,
    )


def _valid() -> bytes:
    return _file()


def _assert_invalid(tmp_path: Path, data: bytes, match: str | None = None) -> ValueError:
    """`fp.load` of a file holding `data` raises a ValueError naming the path (and `match`)."""
    path = tmp_path / "model.safetensors"
    path.write_bytes(data)
    with pytest.raises(ValueError) as info:
        fp.load(path)
    message = str(info.value)
    assert str(path) in message
    assert "not a valid ferroprop model file" in message
    if match is not None:
        assert match in message, message
    return info.value


# -- round trips ---------------------------------------------------------------------------------

_ROUND_TRIPS = [
    ([4, 3], "relu", "mse", "float32"),
    ([5, 8, 3], "tanh", "cross_entropy", "float64"),
    ([6, 5, 4, 2], ["relu", "gelu"], "binary_cross_entropy", "float32"),
    ([3, 7, 7, 7, 1], ["sigmoid", "leaky_relu", "identity"], "mse", "float64"),
    ([10, 16, 10], "logistic", "cross_entropy", "float32"),
]


@pytest.mark.parametrize("widths, activation, loss, dtype", _ROUND_TRIPS)
def test_round_trip(tmp_path: Path, widths, activation, loss, dtype) -> None:
    net = _trained(widths, activation, loss, dtype, seed=len(widths))
    path = tmp_path / "net.safetensors"
    net.save(path)
    back = fp.load(path)
    assert isinstance(back, fp.Network)
    assert back.widths == net.widths
    assert back.activations == net.activations
    assert back.loss_name == net.loss_name
    assert back.dtype == net.dtype
    assert back.class_names is None  # saved without class names
    for a, b in zip(net.weights + net.biases, back.weights + back.biases, strict=True):
        assert a.dtype == b.dtype == np.dtype(dtype)
        assert a.shape == b.shape
        assert a.tobytes() == b.tobytes()
    X = np.random.default_rng(1).standard_normal((5, widths[0]))
    assert net.forward(X).tobytes() == back.forward(X).tobytes()
    # The same file from a str path; and saving the loaded network gives the same bytes.
    again = tmp_path / "again.safetensors"
    fp.load(str(path)).save(str(again))
    assert again.read_bytes() == path.read_bytes()


def test_loaded_network_keeps_init_and_seed_and_trains(tmp_path: Path) -> None:
    net = fp.Network([4, 6, 2], activation="relu", loss="mse", init="he", seed=12345)
    net.save(tmp_path / "n.safetensors")
    back = fp.load(tmp_path / "n.safetensors")
    assert back._init == "he" and back._seed == 12345
    X = np.random.default_rng(0).standard_normal((16, 4))
    y = np.random.default_rng(1).standard_normal((16, 2))
    h1 = net.fit(X, y, epochs=2, batch_size=4, seed=3)
    h2 = back.fit(X, y, epochs=2, batch_size=4, seed=3)
    assert h1.loss == h2.loss


@pytest.mark.parametrize(
    "names",
    [
        ["cat", "dog", "bird"],
        ("Iris, setosa", 'say "hi"', "virgínica"),
        np.array(["0", "-1", ""]),
    ],
)
def test_class_names_round_trip(tmp_path: Path, names: Any) -> None:
    net = _trained([5, 4, 3], "relu", "cross_entropy", "float32", seed=3)
    path = tmp_path / "net.safetensors"
    net.save(path, class_names=names)
    assert net.class_names is None  # saving does not change the network
    assert json.loads(_header(path.read_bytes())["__metadata__"]["config"])["class_names"] == [
        str(n) for n in names
    ]
    back = fp.load(path)
    assert back.class_names == [str(n) for n in names]
    assert all(type(n) is str for n in back.class_names)
    X = np.random.default_rng(0).standard_normal((6, 5))
    assert back.forward(X).tobytes() == net.forward(X).tobytes()
    # Read-only, and a copy: changing what it returns changes nothing.
    with pytest.raises(AttributeError):
        back.class_names = ["a", "b", "c"]  # type: ignore[misc]
    back.class_names.append("extra")  # type: ignore[union-attr]
    assert back.class_names == [str(n) for n in names]
    # Saving the loaded network keeps the names (the same bytes); explicit names replace them.
    again = tmp_path / "again.safetensors"
    back.save(again)
    assert again.read_bytes() == path.read_bytes()
    back.save(again, class_names=["x", "y", "z"])
    assert fp.load(again).class_names == ["x", "y", "z"]


@pytest.mark.parametrize(
    "loss, names, match",
    [
        ("cross_entropy", ["a", "b"], "expected 3 names"),
        ("cross_entropy", ["a", "b", "c", "d"], "expected 3 names"),
        ("cross_entropy", [], "expected 3 names"),
        ("cross_entropy", ["a", 1, "c"], r"class_names\[1\]: expected str"),
        ("cross_entropy", ["a", None, "c"], r"class_names\[1\]: expected str"),
        ("cross_entropy", [b"a", b"b", b"c"], r"class_names\[0\]: expected str"),
        ("cross_entropy", "abc", "expected a list of str"),
        ("cross_entropy", {"a", "b", "c"}, "expected a list of str"),
        ("cross_entropy", np.array([["a", "b", "c"]]), "1-D"),
        ("mse", ["a", "b", "c"], "only a cross_entropy network has classes"),
        ("binary_cross_entropy", ["a", "b", "c"], "only a cross_entropy network has classes"),
    ],
)
def test_save_rejects_bad_class_names(tmp_path: Path, loss: str, names: Any, match: str) -> None:
    net = fp.Network([5, 4, 3], loss=loss, seed=0)
    path = tmp_path / "net.safetensors"
    with pytest.raises(ValueError, match=match):
        net.save(path, class_names=names)
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_metadata(tmp_path: Path) -> None:
    import safetensors.numpy

    net = _trained([5, 4, 3], "tanh", "cross_entropy", "float64", seed=7)
    path = tmp_path / "net.safetensors"
    net.save(path)
    data = path.read_bytes()
    header = _header(data)
    meta = header["__metadata__"]
    assert set(meta) == {"format", "kind", "ferroprop_version", "config"}
    assert meta["format"] == "ferroprop"
    assert meta["kind"] == "Network"
    assert meta["ferroprop_version"] == fp.__version__
    assert json.loads(meta["config"]) == {
        "widths": [5, 4, 3],
        "activations": ["tanh"],
        "loss": "cross_entropy",
        "dtype": "float64",
        "init": "glorot",
        "seed": 7,
        "training_steps": net.training_steps,
    }
    assert {k: (v["dtype"], v["shape"]) for k, v in header.items() if k != "__metadata__"} == {
        "weights.0": ("F64", [5, 4]),
        "biases.0": ("F64", [4]),
        "weights.1": ("F64", [4, 3]),
        "biases.1": ("F64", [3]),
    }
    # A plain safetensors file: other readers see the same tensors.
    loaded = safetensors.numpy.load_file(str(path))
    np.testing.assert_array_equal(loaded["weights.1"], net.weights[1])
    kind, tensors, config = model_files.read_model_file(path)
    assert kind == "Network" and config["widths"] == [5, 4, 3]
    assert all(t.flags.writeable and t.flags.aligned for t in tensors.values())


# -- atomic writes -------------------------------------------------------------------------------


def test_overwrite_and_no_leftovers(tmp_path: Path) -> None:
    path = tmp_path / "net.safetensors"
    fp.Network([3, 2], seed=1).save(path)
    path.chmod(0o640)
    fp.Network([3, 5, 2], seed=2).save(path)
    assert fp.load(path).widths == [3, 5, 2]
    assert os.listdir(tmp_path) == ["net.safetensors"]
    assert path.stat().st_mode & 0o777 == 0o640  # the replaced file's mode is kept


def test_new_file_mode_follows_umask(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        fp.Network([3, 2]).save(tmp_path / "a.safetensors")
    finally:
        os.umask(old)
    assert (tmp_path / "a.safetensors").stat().st_mode & 0o777 == 0o640


@pytest.mark.parametrize("fail_in", ["replace", "fsync", "write"])
@pytest.mark.parametrize("error", [OSError("disk on fire"), KeyboardInterrupt()])
def test_failed_write_leaves_target_untouched(tmp_path: Path, monkeypatch, fail_in, error) -> None:
    path = tmp_path / "net.safetensors"
    fp.Network([3, 2], seed=1).save(path)
    before = path.read_bytes()

    def boom(*args: Any, **kwargs: Any) -> None:
        raise error

    if fail_in == "write":
        import safetensors.numpy

        monkeypatch.setattr(safetensors.numpy, "save", boom)
    else:
        monkeypatch.setattr(os, fail_in, boom)
    with pytest.raises(type(error)):
        fp.Network([3, 5, 2], seed=2).save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["net.safetensors"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs (POSIX)")
def test_save_refuses_to_replace_a_fifo(tmp_path: Path) -> None:
    # The rename would turn a FIFO (or /dev/null: the same check, not tried here, since
    # failing would break the machine) into a regular file.
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="not a regular file"):
        fp.Network([3, 2], seed=1).save(fifo)
    assert not fifo.is_file()
    assert os.listdir(tmp_path) == ["pipe"]


needs_o_tmpfile = pytest.mark.skipif(
    not hasattr(os, "O_TMPFILE") or not os.path.isdir("/proc/self/fd"),
    reason="needs O_TMPFILE and /proc (Linux)",
)


@needs_o_tmpfile
def test_write_uses_an_unnamed_temporary_file(tmp_path: Path, monkeypatch) -> None:
    def named(*args: Any) -> None:
        raise AssertionError("the named temporary file was used")

    monkeypatch.setattr(_atomic_write, "_write_named", named)
    path = tmp_path / "net.safetensors"
    fp.Network([3, 2], seed=1).save(path)
    path.chmod(0o604)
    fp.Network([3, 5, 2], seed=2).save(path)
    assert fp.load(path).widths == [3, 5, 2]
    assert os.listdir(tmp_path) == ["net.safetensors"]
    assert path.stat().st_mode & 0o777 == 0o604


def _refuse_o_tmpfile(monkeypatch: pytest.MonkeyPatch, errno_: int) -> None:
    real_open = os.open

    def fake_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if flags & getattr(os, "O_TMPFILE", 0) == getattr(os, "O_TMPFILE", -1):
            raise OSError(errno_, os.strerror(errno_))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", fake_open)


@pytest.mark.parametrize("how", ["no O_TMPFILE", "EOPNOTSUPP", "EISDIR", "no /proc link"])
def test_write_falls_back_to_a_named_temporary_file(tmp_path: Path, monkeypatch, how) -> None:
    if how == "no O_TMPFILE":
        monkeypatch.delattr(os, "O_TMPFILE", raising=False)
    elif how == "no /proc link":
        monkeypatch.setattr(_atomic_write, "_link_onto", lambda *args: False)
    else:
        _refuse_o_tmpfile(monkeypatch, getattr(errno, how))
    path = tmp_path / "net.safetensors"
    old = os.umask(0o027)
    try:
        fp.Network([3, 5, 2], seed=2).save(path)
    finally:
        os.umask(old)
    assert fp.load(path).widths == [3, 5, 2]
    assert os.listdir(tmp_path) == ["net.safetensors"]
    assert path.stat().st_mode & 0o777 == 0o640


def test_write_into_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        fp.Network([3, 2]).save(tmp_path / "nope" / "net.safetensors")
    assert os.listdir(tmp_path) == []


def test_write_onto_directory_leaves_nothing(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    with pytest.raises(OSError):
        fp.Network([3, 2]).save(tmp_path / "d")
    assert os.listdir(tmp_path) == ["d"] and os.listdir(tmp_path / "d") == []


@pytest.mark.parametrize(
    "kind, tensors, config",
    [
        ("Nope", {}, {}),
        ("Network", {"a": np.zeros(3, np.float16)}, {}),
        ("Network", {"a": np.zeros((3, 4), np.float32)[:, ::2]}, {}),
        ("Network", {"a": [1.0]}, {}),
        ("Network", {"__metadata__": np.zeros(1)}, {}),
        ("Network", {}, {"alpha": float("nan")}),
        ("Network", {}, {"f": object()}),
    ],
)
def test_write_rejects_bad_arguments(tmp_path: Path, kind, tensors, config) -> None:
    with pytest.raises((ValueError, TypeError)):
        model_files.write_model_file(tmp_path / "m.safetensors", kind, tensors, config)
    assert os.listdir(tmp_path) == []


# -- files that are not model files --------------------------------------------------------------


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        fp.load(tmp_path / "missing.safetensors")
    with pytest.raises((IsADirectoryError, ValueError)):
        fp.load(tmp_path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_fifo_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(ValueError, match="not a regular file"):
        fp.load(tmp_path / "pipe")


@pytest.mark.parametrize("size", range(8))
def test_too_short(tmp_path: Path, size: int) -> None:
    _assert_invalid(tmp_path, b"\x01" * size, "too short")


def test_truncated_at_every_offset(tmp_path: Path) -> None:
    data = _valid()
    path = tmp_path / "t.safetensors"
    for cut in range(len(data)):  # header-length field, header, tensor data
        with pytest.raises(ValueError, match="not a valid ferroprop model file") as info:
            model_files._parse(data[:cut], str(path))
        assert str(path) in str(info.value)
    n = int.from_bytes(data[:8], "little")
    for cut in (8, 8 + n // 2, 8 + n, len(data) - 1):  # one of each class through the file API
        _assert_invalid(tmp_path, data[:cut])


def test_trailing_garbage(tmp_path: Path) -> None:
    _assert_invalid(tmp_path, _valid() + b"\0" * 8)


@pytest.mark.parametrize("header_len", [2**20, 2**32, 2**63, 2**64 - 1])
def test_header_length_beyond_file(tmp_path: Path, header_len: int) -> None:
    data = _valid()
    _assert_invalid(tmp_path, struct.pack("<Q", header_len) + data[8:], "exceeds")


@pytest.mark.parametrize(
    "header",
    [b"{not json", b"\xff\xfe{}", b"{" * 8, b"[" * 100_000, b"", b"{}extra"],
)
def test_header_not_json(tmp_path: Path, header: bytes) -> None:
    _assert_invalid(tmp_path, _raw(header))


def test_huge_numbers_in_json(tmp_path: Path) -> None:
    digits = "9" * 5000  # more digits than Python's int parser accepts
    _assert_invalid(tmp_path, _raw(b'{"a": ' + digits.encode() + b"}"), "header is not JSON")
    config = json.dumps(_CONFIG).replace('"seed": 0', '"seed": ' + digits)
    _assert_invalid(tmp_path, _file(metadata=_metadata(config=config)), "'config'")


@pytest.mark.parametrize("header", [[1, 2], "str", None, 123, 1.5, True])
def test_header_not_an_object(tmp_path: Path, header: object) -> None:
    _assert_invalid(tmp_path, _raw(header), "expected an object")


def _entries(**overrides: dict) -> tuple[dict, bytes]:
    """A valid header for _CONFIG's network with some tensor entries changed, and its body."""
    data = _valid()
    header = _header(data)
    body = data[8 + int.from_bytes(data[:8], "little") :]
    for name, entry in overrides.items():
        header[name.replace("__", ".")] = entry
    return header, body


@pytest.mark.parametrize(
    "entry",
    [
        {"dtype": "F32", "shape": [3, 4], "data_offsets": [0, 10**6]},  # past the end
        {"dtype": "F32", "shape": [3, 4], "data_offsets": [2**63, 2**63 + 48]},
        {"dtype": "F32", "shape": [3, 4], "data_offsets": [48, 0]},  # reversed
        {"dtype": "F32", "shape": [3, 4], "data_offsets": [0, 44]},  # size != shape
        {"dtype": "F32", "shape": [3, 4], "data_offsets": [-1, 47]},
        {"dtype": "F32", "shape": [3, 4], "data_offsets": [0]},
        {"dtype": "F32", "shape": [3, 4]},
        {"dtype": "F32", "shape": [3, -4], "data_offsets": [0, 48]},
        {"dtype": "F32", "shape": [2**62, 2**62], "data_offsets": [0, 48]},
        {"dtype": "F32", "shape": "3x4", "data_offsets": [0, 48]},
        {"shape": [3, 4], "data_offsets": [0, 48]},
        "not an object",
    ],
)
def test_bad_tensor_entry(tmp_path: Path, entry: object) -> None:
    header, body = _entries(weights__0=entry)
    _assert_invalid(tmp_path, _raw(header, body))


def test_overlapping_tensors(tmp_path: Path) -> None:
    header, body = _entries()
    header["biases.0"]["data_offsets"] = header["weights.0"]["data_offsets"][:1] + [
        header["weights.0"]["data_offsets"][0] + 16
    ]
    _assert_invalid(tmp_path, _raw(header, body))


@pytest.mark.parametrize("dtype", [np.float16, np.int8, np.uint8, np.int32, np.bool_])
def test_unsupported_dtype(tmp_path: Path, dtype) -> None:
    tensors = _tensors()
    tensors["weights.1"] = tensors["weights.1"].astype(dtype)
    _assert_invalid(tmp_path, _file(tensors), "weights.1")


@pytest.mark.parametrize("dtype", ["BF16", "F8_E4M3", "X", 7, None, [2, 2], {"a": 1}])
def test_unknown_dtype_name(tmp_path: Path, dtype: object) -> None:
    header, body = _entries()
    header["biases.1"]["dtype"] = dtype
    _assert_invalid(tmp_path, _raw(header, body), "biases.1")


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda t: t.update({"weights.0": t["weights.0"].astype(np.float64)}), "dtype float32"),
        (lambda t: t.update({"biases.1": np.zeros(2, np.int64)}), "dtype float32"),
        (lambda t: t.update({"weights.0": np.ascontiguousarray(t["weights.0"].T)}), "shape"),
        (lambda t: t.update({"biases.0": t["biases.0"][:3].copy()}), "shape"),
        (lambda t: t.update({"biases.0": t["biases.0"].reshape(1, 4)}), "shape"),
        (lambda t: t.pop("weights.1"), "missing"),
        (lambda t: t.pop("biases.0"), "missing"),
        (lambda t: t.update({"weights.2": np.zeros((2, 2), np.float32)}), "unexpected"),
        (lambda t: t.update({"extra": np.zeros(1, np.float32)}), "unexpected"),
        (lambda t: t["weights.1"].__setitem__((1, 1), np.nan), "NaN or inf"),
        (lambda t: t["biases.0"].__setitem__(0, np.inf), "NaN or inf"),
        (lambda t: t["weights.0"].__setitem__((0, 0), -np.inf), "NaN or inf"),
    ],
)
def test_tensors_not_matching_config(tmp_path: Path, change, match: str) -> None:
    tensors = _tensors()
    change(tensors)
    _assert_invalid(tmp_path, _file(tensors), match)


@pytest.mark.parametrize(
    "header_meta, match",
    [
        (_DROP, "no __metadata__"),
        ("a string", "no __metadata__"),
        (_metadata(format=_DROP), "'format'"),
        (_metadata(kind=_DROP), "'kind'"),
        (_metadata(config=_DROP), "'config'"),
        (_metadata(ferroprop_version=_DROP), "'ferroprop_version'"),
        (_metadata(kind=3), "expected a string"),
        (_metadata(config={"widths": [3, 2]}), "expected a string"),
        (_metadata(ferroprop_version=None), "expected a string"),
        (_metadata(format="pytorch"), "'format'"),
        (_metadata(kind="Functional"), "unknown kind"),
        (_metadata(config="{not json"), "not JSON"),
        (_metadata(config="[1, 2]"), "expected an object"),
        (_metadata(config='"text"'), "expected an object"),
        (_metadata(config='{"widths": NaN}'), "NaN"),
        (_metadata(config="[" * 100_000), "config"),
    ],
)
def test_bad_metadata(tmp_path: Path, header_meta: object, match: str) -> None:
    header, body = _entries()
    if header_meta is _DROP:
        del header["__metadata__"]
    else:
        header["__metadata__"] = header_meta
    _assert_invalid(tmp_path, _raw(header, body), match)


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"widths": _DROP}, "'widths'"),
        ({"widths": "3,4,2"}, "'widths'"),
        ({"widths": [3]}, "at least 2"),
        ({"widths": []}, "at least 2"),
        ({"widths": [3, 0, 2]}, "positive"),
        ({"widths": [3, -4, 2]}, "positive"),
        ({"widths": [3, 4.0, 2]}, "expected int"),
        ({"widths": [3, True, 2]}, "expected int"),
        ({"widths": [3, 4, 5]}, "shape"),
        ({"widths": [2**40, 2**40, 2]}, "limit"),
        ({"widths": [10**100, 1]}, "limit"),
        # Under the parameter cap: refused on the tensor's shape, before anything is allocated.
        ({"widths": [2**30, 1], "activations": []}, "weights.0"),
        ({"activations": _DROP}, "'activations'"),
        ({"activations": "relu"}, "'activations'"),
        ({"activations": []}, "one per hidden"),
        ({"activations": ["relu", "relu"]}, "one per hidden"),
        ({"activations": [3]}, "expected str"),
        ({"activations": ["swish"]}, "activation"),
        ({"loss": "hinge"}, "loss"),
        ({"loss": None}, "'loss'"),
        ({"dtype": "float16"}, "'dtype'"),
        ({"dtype": 32}, "'dtype'"),
        ({"init": "zeros"}, "init"),
        ({"init": _DROP}, "'init'"),
        ({"seed": -1}, "seed"),
        ({"seed": 2**64}, "seed"),
        ({"seed": 10**40}, "seed"),
        ({"seed": 1.0}, "'seed'"),
        ({"seed": "0"}, "'seed'"),
        ({"seed": False}, "'seed'"),
    ],
)
def test_bad_config(tmp_path: Path, changes: dict, match: str) -> None:
    config = dict(_CONFIG)
    for key, value in changes.items():
        if value is _DROP:
            del config[key]
        else:
            config[key] = value
    start = time.perf_counter()
    _assert_invalid(tmp_path, _file(metadata=_metadata(config)), match)
    assert time.perf_counter() - start < 1.0  # refused before allocating anything large


_CE_CONFIG = {**_CONFIG, "loss": "cross_entropy"}


def test_class_names_in_a_written_file(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    path.write_bytes(_file(metadata=_metadata({**_CE_CONFIG, "class_names": ["no", "yes"]})))
    assert fp.load(path).class_names == ["no", "yes"]
    path.write_bytes(_file(metadata=_metadata(_CE_CONFIG)))  # files without them still load
    assert fp.load(path).class_names is None


@pytest.mark.parametrize(
    "config, match",
    [
        ({**_CE_CONFIG, "class_names": None}, "config['class_names']: expected list"),
        ({**_CE_CONFIG, "class_names": "no,yes"}, "config['class_names']: expected list"),
        ({**_CE_CONFIG, "class_names": {"0": "no"}}, "config['class_names']: expected list"),
        ({**_CE_CONFIG, "class_names": 2}, "config['class_names']: expected list"),
        ({**_CE_CONFIG, "class_names": [0, 1]}, "config['class_names'][0]: expected str"),
        ({**_CE_CONFIG, "class_names": ["no", True]}, "config['class_names'][1]: expected str"),
        ({**_CE_CONFIG, "class_names": ["no", None]}, "config['class_names'][1]: expected str"),
        ({**_CE_CONFIG, "class_names": ["no", ["yes"]]}, "config['class_names'][1]"),
        ({**_CE_CONFIG, "class_names": ["no"]}, "expected 2 names (one per output), got 1"),
        ({**_CE_CONFIG, "class_names": []}, "expected 2 names (one per output), got 0"),
        ({**_CE_CONFIG, "class_names": ["x"] * 10**6}, "expected 2 names"),
        ({**_CONFIG, "class_names": ["no", "yes"]}, "only a cross_entropy network has classes"),
    ],
)
def test_bad_class_names(tmp_path: Path, config: dict, match: str) -> None:
    start = time.perf_counter()
    _assert_invalid(tmp_path, _file(metadata=_metadata(config)), match)
    assert time.perf_counter() - start < 2.0


@pytest.mark.parametrize("seed", range(20))
def test_random_bytes(tmp_path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, int(rng.integers(0, 2000)), dtype=np.uint8).tobytes()
    if seed % 2:  # a plausible header length in front of the noise
        data = struct.pack("<Q", max(len(data) - 8, 0) // 2) + data[8:]
    _assert_invalid(tmp_path, data)


def test_oversized_file_refused_without_reading(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "big.safetensors"
    path.write_bytes(_valid())
    monkeypatch.setattr(model_files, "MAX_FILE_BYTES", 64)
    with pytest.raises(ValueError, match="limit") as info:
        fp.load(path)
    assert str(path) in str(info.value)


def test_unknown_kinds_are_refused_before_import(tmp_path: Path) -> None:
    # "MLPClassifier"/"MLPRegressor" go to ferroprop.sklearn; anything else never imports anything.
    _assert_invalid(tmp_path, _file(metadata=_metadata(kind="network")), "unknown kind")


def test_validation_helpers() -> None:
    cfg = {"a": 1, "b": True, "c": [1, 2], "d": "x", "f": 2}
    assert model_files.require(cfg, "a", int) == 1
    assert model_files.require(cfg, "f", float) == 2.0
    assert model_files.require(cfg, "b", bool) is True
    with pytest.raises(ValueError, match=r"config\['b'\]: expected int"):
        model_files.require(cfg, "b", int)
    with pytest.raises(ValueError, match="no 'z' entry"):
        model_files.require(cfg, "z", str)
    assert model_files.require_list(cfg, "c", int, min_len=2) == [1, 2]
    with pytest.raises(ValueError, match=r"config\['c'\]\[0\]: expected str"):
        model_files.require_list(cfg, "c", str)
    t = {"w": np.zeros((2, 3), np.float32)}
    assert model_files.tensor(t, "w", (2, 3), "float32") is t["w"]
    with pytest.raises(ValueError, match="tensor 'w': expected shape"):
        model_files.tensor(t, "w", (3, 2), np.float32)
    with pytest.raises(ValueError, match="tensor 'w': expected dtype float64"):
        model_files.tensor(t, "w", (2, 3), np.float64)
    with pytest.raises(ValueError, match="tensor 'v' is missing"):
        model_files.tensor(t, "v", (2, 3), np.float32)
    for bad in ("float16", "no such dtype", 3.5):
        with pytest.raises(ValueError, match="is not float32, float64 or int64"):
            model_files.tensor(t, "w", (2, 3), bad)
    with pytest.raises(ValueError, match="unexpected tensors: 'w'"):
        model_files.reject_extra_tensors(t, [])


# -- fuzz smoke test -----------------------------------------------------------------------------


def test_fuzz_smoke() -> None:
    """The atheris harness's property on 3000 seeded random mutations of valid files."""
    import fuzz_model_files as harness

    stages = harness.run_random(3000, seed=20240601)
    assert sum(stages.values()) == 3000
    # The mutations must reach the builder's checks, not only break the container.
    assert stages.get("build error", 0) >= 300, stages
