"""Smoke-test check scripts shared by the real-wheel trial tests and benchmarks/bench_trial.py."""

from __future__ import annotations

from pathlib import Path

NUMPY_CHECK = (Path(__file__).resolve().parent.parent / "recipes" / "checks" / "numpy_linalg_fft.py").read_text()

ONNX_CHECK = """\
import numpy as np
import onnxruntime as ort

weights = np.load({weights!r})
session = ort.InferenceSession({model!r}, providers=["CPUExecutionProvider"])
x = np.arange(8, dtype=np.float32).reshape(2, 4) / 7.0 - 0.5
(out,) = session.run(None, {{"x": x}})
expected = np.maximum(x @ weights["w"] + weights["b"], 0.0)
assert out.shape == (2, 3) and np.allclose(out, expected, atol=1e-5), (out, expected)
print("onnxruntime", ort.__version__, np.round(out, 4).tolist())
"""


def build_model(directory: Path) -> tuple[Path, Path]:
    """A Gemm + Relu model (4 inputs → 3 outputs) and its weights as an ``.npz`` for the check's own computation."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(7)
    w = rng.standard_normal((4, 3)).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w", "b"], ["y"]), helper.make_node("Relu", ["y"], ["out"])],
        "gemm_relu",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["batch", 3])],
        initializer=[numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model)
    model_path, weights_path = directory / "model.onnx", directory / "weights.npz"
    onnx.save(model, str(model_path))
    np.savez(weights_path, w=w, b=b)
    return model_path, weights_path
