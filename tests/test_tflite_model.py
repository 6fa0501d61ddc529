"""The hand-written TFLite model (``tests/tflite_model.py``): a valid FlatBuffer that the real runtime executes.

The first tests read the file back with ``flatbuffers``' own table reader (no TensorFlow anywhere): identifier,
schema version, operators, and every constant tensor's bytes, 16-byte aligned as the schema asks. The real-wheel
test installs the stock tflite-runtime 2.14.0 and numpy 1.26.4 manylinux wheels with ``pip --target`` and runs the
story's check script in a fresh interpreter that sees nothing but that directory: the interpreter must load the
model, and its output must match numpy's computation of the same network.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import wheelcache

flatbuffers = pytest.importorskip("flatbuffers", reason="the model writer needs the flatbuffers package")

from tflite_model import (  # noqa: E402  (after the importorskip)
    FILE_IDENTIFIER,
    NUMPY_126_LINUX,
    OP_FULLY_CONNECTED,
    OP_RELU,
    OPTIONS_FULLY_CONNECTED,
    SCHEMA_VERSION,
    TFLITE_RUNTIME_LINUX,
    build_tflite_model,
    check_script,
    expected_output,
    make_weights,
    model_bytes,
)


class Reader:
    """Just enough of a FlatBuffer table reader for the fields the model writes."""

    def __init__(self, buf: bytes, pos: int) -> None:
        from flatbuffers import table  # type: ignore[import-untyped]

        self.buf, self.table = buf, table.Table(bytearray(buf), pos)

    def _field(self, index: int) -> int:
        return int(self.table.Offset(4 + 2 * index))

    def scalar(self, index: int, flags: type, default: int) -> int:
        off = self._field(index)
        return default if not off else int(self.table.Get(flags, self.table.Pos + off))

    def tables(self, index: int) -> list[Reader]:
        off = self._field(index)
        if not off:
            return []
        start, n = self.table.Vector(off), self.table.VectorLen(off)
        return [Reader(self.buf, self.table.Indirect(start + 4 * i)) for i in range(n)]

    def table_at(self, index: int) -> Reader | None:
        off = self._field(index)
        return Reader(self.buf, self.table.Indirect(self.table.Pos + off)) if off else None

    def ints(self, index: int) -> list[int]:
        off = self._field(index)
        if not off:
            return []
        start, n = self.table.Vector(off), self.table.VectorLen(off)
        return [int(v) for v in np.frombuffer(self.buf, dtype="<i4", count=n, offset=start)]

    def bytes_at(self, index: int) -> tuple[int, bytes]:
        off = self._field(index)
        if not off:
            return 0, b""
        start, n = self.table.Vector(off), self.table.VectorLen(off)
        return start, self.buf[start : start + n]

    def string(self, index: int) -> str:
        off = self._field(index)
        return self.table.String(self.table.Pos + off).decode() if off else ""


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    path = tmp_path_factory.mktemp("tflite") / "model.tflite"
    return path, build_tflite_model(path)


def root(path: Path) -> Reader:
    from flatbuffers import encode, number_types

    buf = path.read_bytes()
    return Reader(buf, encode.Get(number_types.UOffsetTFlags.packer_type, buf, 0))


def test_model_file_follows_the_tflite_schema(model: tuple[Path, dict[str, np.ndarray]]) -> None:
    from flatbuffers import number_types as nt

    path, weights = model
    buf = path.read_bytes()
    assert buf[4:8] == FILE_IDENTIFIER
    top = root(path)
    assert top.scalar(0, nt.Uint32Flags, 0) == SCHEMA_VERSION
    codes = [code.scalar(3, nt.Int32Flags, 0) for code in top.tables(1)]
    assert codes == [OP_FULLY_CONNECTED, OP_RELU]
    assert [code.scalar(0, nt.Int8Flags, 0) for code in top.tables(1)] == codes  # the deprecated field too

    (subgraph,) = top.tables(2)
    tensors = subgraph.tables(0)
    names = [t.string(3) for t in tensors]
    assert names == ["x", "w1", "b1", "hidden", "relu", "w2", "b2", "y"]
    assert subgraph.ints(1) == [names.index("x")] and subgraph.ints(2) == [names.index("y")]
    operators = subgraph.tables(3)
    assert [op.scalar(0, nt.Uint32Flags, 0) for op in operators] == [0, 1, 0]
    assert [op.scalar(3, nt.Uint8Flags, 0) for op in operators] == [OPTIONS_FULLY_CONNECTED, 0, OPTIONS_FULLY_CONNECTED]
    assert [op.ints(1) for op in operators] == [[0, 1, 2], [3], [4, 5, 6]]
    assert [op.ints(2) for op in operators] == [[3], [4], [7]]
    assert all(op.table_at(4) is not None for op in (operators[0], operators[2]))

    buffers = top.tables(4)
    assert buffers[0].bytes_at(0) == (0, b""), "buffer 0 must be the empty sentinel"
    for tensor, name in zip(tensors, names, strict=True):
        assert tensor.scalar(1, nt.Int8Flags, -1) == 0  # FLOAT32
        start, data = buffers[tensor.scalar(2, nt.Uint32Flags, 0)].bytes_at(0)
        if name in weights and name != "x":
            assert tensor.ints(0) == list(weights[name].shape)
            assert start % 16 == 0, f"{name}'s data is not 16-byte aligned"
            assert np.array_equal(np.frombuffer(data, dtype="<f4").reshape(weights[name].shape), weights[name])
        else:
            assert data == b"", f"{name} is not a constant"


def test_model_is_deterministic(tmp_path: Path, model: tuple[Path, dict[str, np.ndarray]]) -> None:
    again = tmp_path / "again.tflite"
    weights = build_tflite_model(again)
    assert again.read_bytes() == model[0].read_bytes()
    assert all(np.array_equal(weights[k], model[1][k]) for k in weights)


def test_check_script_embeds_the_exact_weights(model: tuple[Path, dict[str, np.ndarray]]) -> None:
    path, weights = model
    namespace: dict[str, object] = {"np": np}
    header = check_script(path, weights).split("interpreter = ")[0].replace("from tflite_runtime", "# ")
    exec(header, namespace)
    for name in ("w1", "b1", "w2", "b2", "x"):
        value = namespace[name]
        assert isinstance(value, np.ndarray) and value.dtype == np.float32
        assert np.array_equal(value, weights[name]), name


@pytest.mark.realwheel
def test_stock_tflite_runtime_runs_the_model_like_numpy(
    model: tuple[Path, dict[str, np.ndarray]], tmp_path: Path
) -> None:
    path, weights = model
    wheels = [wheelcache.fetch(TFLITE_RUNTIME_LINUX), wheelcache.fetch(NUMPY_126_LINUX)]
    target = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--disable-pip-version-check"]
    subprocess.run([*pip, "--target", str(target), *map(str, wheels)], check=True)

    bare = tmp_path / "bare"  # no third-party package at all: only the target directory provides numpy
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    check = tmp_path / "check.py"
    check.write_text(check_script(path, weights))
    code = f"import sys; sys.path.insert(0, {str(target)!r}); exec(open({str(check)!r}).read())"
    result = subprocess.run(
        [str(bare / "bin" / "python"), "-I", "-c", code], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
    prefix = "tflite model output "
    (line,) = [ln for ln in result.stdout.splitlines() if ln.startswith(prefix)]
    printed = np.array(ast.literal_eval(line[len(prefix) :]))
    assert printed.shape == (2, 3)
    assert np.allclose(printed, expected_output(weights), atol=2e-4)


def test_shipped_recipe_check_and_model_are_this_model(tmp_path: Path) -> None:
    """recipes/checks/tflite_mlp.{tflite,py} are what this module builds, and the shipped check passes on stock
    tflite-runtime 2.14 + numpy 1.26.4 with the same output as the generated check."""
    shipped = Path(__file__).resolve().parent.parent / "recipes" / "checks"
    weights = make_weights()
    assert (shipped / "tflite_mlp.tflite").read_bytes() == model_bytes(weights)
    wheels = [wheelcache.fetch(TFLITE_RUNTIME_LINUX), wheelcache.fetch(NUMPY_126_LINUX)]
    target = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--disable-pip-version-check"]
    subprocess.run([*pip, "--target", str(target), *map(str, wheels)], check=True)
    generated = tmp_path / "generated.py"
    generated.write_text(check_script(shipped / "tflite_mlp.tflite", weights))
    outputs = []
    for script in (shipped / "tflite_mlp.py", generated):
        code = f"import runpy, sys; sys.path.insert(0, {str(target)!r}); runpy.run_path({str(script)!r})"
        result = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, cwd=tmp_path)
        assert result.returncode == 0, result.stderr[-3000:]
        outputs.append(result.stdout)
    assert outputs[0] == outputs[1] and outputs[0].startswith("tflite model output ")
