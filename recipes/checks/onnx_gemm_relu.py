"""onnxruntime smoke check: run a Gemm + Relu model (gemm_relu.onnx, next to this file) on the CPU provider and
compare with numpy's own computation (weights in gemm_relu.npz)."""

from pathlib import Path

import numpy as np
import onnxruntime as ort

here = Path(__file__).resolve().parent
weights = np.load(here / "gemm_relu.npz")
session = ort.InferenceSession(str(here / "gemm_relu.onnx"), providers=["CPUExecutionProvider"])
x = np.arange(8, dtype=np.float32).reshape(2, 4) / 7.0 - 0.5
(out,) = session.run(None, {"x": x})
expected = np.maximum(x @ weights["w"] + weights["b"], 0.0)
assert out.shape == (2, 3) and np.allclose(out, expected, atol=1e-5), (out, expected)
print("onnxruntime", np.round(out, 4).tolist())
