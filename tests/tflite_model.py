"""A small float32 TFLite model written directly as a FlatBuffer (no TensorFlow), and a check script that runs it.

The model is a two-layer perceptron, 4 inputs → 8 hidden → 3 outputs, as three operators of one subgraph::

    x[2,4] --FULLY_CONNECTED(w1[8,4], b1[8])--> h[2,8] --RELU--> r[2,8] --FULLY_CONNECTED(w2[3,8], b2[3])--> y[2,3]

The file follows the TFLite schema (``tensorflow/lite/schema/schema.fbs``, file identifier ``TFL3``, version 3):
``Model`` → ``operator_codes``, ``subgraphs`` (``tensors``, ``inputs``, ``outputs``, ``operators``) and
``buffers``. Buffer 0 is the empty buffer that every non-constant tensor points at; each constant tensor has its
own buffer holding its little-endian float32 data, aligned to 16 bytes as the schema asks. Only the ``flatbuffers``
package is needed to write it; reading it back needs ``tflite_runtime`` (and numpy 1.x for tflite-runtime 2.14).

:func:`build_tflite_model` returns the weights, so a check can compute the expected output with plain numpy:
``y = relu(x @ w1.T + b1) @ w2.T + b2`` (TFLite's fully connected weights are ``[out, in]``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from wheelcache import RealWheel

#: The stock wheels of the story: tflite-runtime 2.14.0 was built against numpy 1.x, so it needs numpy < 2.
TFLITE_RUNTIME_LINUX = RealWheel("tflite-runtime", "2.14.0", "manylinux2014_x86_64")
NUMPY_126_LINUX = RealWheel("numpy", "1.26.4", "manylinux2014_x86_64")

# Schema constants (enum values and field indices of tensorflow/lite/schema/schema.fbs).
TENSOR_FLOAT32 = 0
OP_FULLY_CONNECTED = 9
OP_RELU = 19
OPTIONS_FULLY_CONNECTED = 8  # BuiltinOptions union member
ACTIVATION_NONE = 0
SCHEMA_VERSION = 3
FILE_IDENTIFIER = b"TFL3"

INPUT_SHAPE = (2, 4)
HIDDEN = 8
OUTPUTS = 3
SEED = 11


def make_weights(seed: int = SEED) -> dict[str, np.ndarray]:
    """The model's weights and a fixed input, float32, from a seeded generator."""
    rng = np.random.default_rng(seed)
    inputs = INPUT_SHAPE[1]
    return {
        "w1": rng.standard_normal((HIDDEN, inputs)).astype(np.float32),
        "b1": (0.1 * rng.standard_normal(HIDDEN)).astype(np.float32),
        "w2": rng.standard_normal((OUTPUTS, HIDDEN)).astype(np.float32),
        "b2": (0.1 * rng.standard_normal(OUTPUTS)).astype(np.float32),
        "x": (np.arange(np.prod(INPUT_SHAPE), dtype=np.float32).reshape(INPUT_SHAPE) / 7.0 - 0.5),
    }


def expected_output(weights: dict[str, np.ndarray], x: np.ndarray | None = None) -> np.ndarray:
    """What the model computes, in float32 numpy."""
    x = weights["x"] if x is None else x
    hidden = np.maximum(x @ weights["w1"].T + weights["b1"], np.float32(0.0))
    result: np.ndarray = (hidden @ weights["w2"].T + weights["b2"]).astype(np.float32)
    return result


def model_bytes(weights: dict[str, np.ndarray]) -> bytes:
    """Serialise the model for ``weights`` (see the module docstring) into a TFLite FlatBuffer."""
    import flatbuffers  # type: ignore[import-untyped]

    builder = flatbuffers.Builder(1024)

    def int_vector(values: list[int]) -> int:
        builder.StartVector(4, len(values), 4)
        for value in reversed(values):
            builder.PrependInt32(value)
        return int(builder.EndVector())

    def offset_vector(offsets: list[int]) -> int:
        builder.StartVector(4, len(offsets), 4)
        for offset in reversed(offsets):
            builder.PrependUOffsetTRelative(offset)
        return int(builder.EndVector())

    def data_vector(data: bytes) -> int:
        builder.StartVector(1, len(data), 16)  # Buffer.data is declared (force_align: 16)
        builder.head -= len(data)
        builder.Bytes[builder.head : builder.head + len(data)] = data
        return int(builder.EndVector())

    # Buffers: 0 is the empty sentinel, then one per constant tensor.
    constants = ["w1", "b1", "w2", "b2"]
    buffers = []
    for name in [None, *constants]:
        data = None if name is None else data_vector(np.ascontiguousarray(weights[name], dtype="<f4").tobytes())
        builder.StartObject(3)  # Buffer: data, offset, size
        if data is not None:
            builder.PrependUOffsetTRelativeSlot(0, data, 0)
        buffers.append(builder.EndObject())

    # Tensors: (name, shape, buffer index).
    batch, inputs = INPUT_SHAPE
    tensor_specs = [
        ("x", [batch, inputs], 0),
        ("w1", [HIDDEN, inputs], 1),
        ("b1", [HIDDEN], 2),
        ("hidden", [batch, HIDDEN], 0),
        ("relu", [batch, HIDDEN], 0),
        ("w2", [OUTPUTS, HIDDEN], 3),
        ("b2", [OUTPUTS], 4),
        ("y", [batch, OUTPUTS], 0),
    ]
    index = {name: i for i, (name, _, _) in enumerate(tensor_specs)}
    tensors = []
    for name, shape, buffer in tensor_specs:
        name_offset = builder.CreateString(name)
        shape_offset = int_vector(shape)
        builder.StartObject(4)  # Tensor: shape, type, buffer, name, (quantization, ... not written)
        builder.PrependUOffsetTRelativeSlot(0, shape_offset, 0)
        builder.PrependInt8Slot(1, TENSOR_FLOAT32, -1)  # default 0 would drop the field; write it anyway
        builder.PrependUint32Slot(2, buffer, 0)
        builder.PrependUOffsetTRelativeSlot(3, name_offset, 0)
        tensors.append(builder.EndObject())

    def fully_connected_options() -> int:
        builder.StartObject(4)  # FullyConnectedOptions: fused_activation_function, weights_format, ...
        builder.PrependInt8Slot(0, ACTIVATION_NONE, -1)
        return int(builder.EndObject())

    # Operators: (opcode index, inputs, outputs, has FullyConnectedOptions).
    operator_specs = [
        (0, ["x", "w1", "b1"], ["hidden"], True),
        (1, ["hidden"], ["relu"], False),
        (0, ["relu", "w2", "b2"], ["y"], True),
    ]
    operators = []
    for opcode, op_inputs, op_outputs, has_options in operator_specs:
        inputs_offset = int_vector([index[n] for n in op_inputs])
        outputs_offset = int_vector([index[n] for n in op_outputs])
        options = fully_connected_options() if has_options else None
        builder.StartObject(5)  # Operator: opcode_index, inputs, outputs, builtin_options_type, builtin_options
        builder.PrependUint32Slot(0, opcode, 0xFFFFFFFF)
        builder.PrependUOffsetTRelativeSlot(1, inputs_offset, 0)
        builder.PrependUOffsetTRelativeSlot(2, outputs_offset, 0)
        if options is not None:
            builder.PrependUint8Slot(3, OPTIONS_FULLY_CONNECTED, 0)
            builder.PrependUOffsetTRelativeSlot(4, options, 0)
        operators.append(builder.EndObject())

    tensors_vec = offset_vector(tensors)
    operators_vec = offset_vector(operators)
    sub_inputs, sub_outputs = int_vector([index["x"]]), int_vector([index["y"]])
    subgraph_name = builder.CreateString("main")
    builder.StartObject(5)  # SubGraph: tensors, inputs, outputs, operators, name
    builder.PrependUOffsetTRelativeSlot(0, tensors_vec, 0)
    builder.PrependUOffsetTRelativeSlot(1, sub_inputs, 0)
    builder.PrependUOffsetTRelativeSlot(2, sub_outputs, 0)
    builder.PrependUOffsetTRelativeSlot(3, operators_vec, 0)
    builder.PrependUOffsetTRelativeSlot(4, subgraph_name, 0)
    subgraph = builder.EndObject()

    operator_codes = []
    for code in (OP_FULLY_CONNECTED, OP_RELU):
        builder.StartObject(4)  # OperatorCode: deprecated_builtin_code (int8), custom_code, version, builtin_code
        builder.PrependInt8Slot(0, code, -1)  # readers before schema 3a look only here (all codes < 127 fit)
        builder.PrependInt32Slot(2, 1, 0)
        builder.PrependInt32Slot(3, code, -1)
        operator_codes.append(builder.EndObject())

    codes_vec = offset_vector(operator_codes)
    subgraphs_vec = offset_vector([subgraph])
    buffers_vec = offset_vector(buffers)
    description = builder.CreateString("slimwheel test model: fully connected, relu, fully connected")
    builder.StartObject(5)  # Model: version, operator_codes, subgraphs, description, buffers
    builder.PrependUint32Slot(0, SCHEMA_VERSION, 0)
    builder.PrependUOffsetTRelativeSlot(1, codes_vec, 0)
    builder.PrependUOffsetTRelativeSlot(2, subgraphs_vec, 0)
    builder.PrependUOffsetTRelativeSlot(3, description, 0)
    builder.PrependUOffsetTRelativeSlot(4, buffers_vec, 0)
    model = builder.EndObject()
    builder.Finish(model, file_identifier=FILE_IDENTIFIER)
    return bytes(builder.Output())


def build_tflite_model(path: Path, seed: int = SEED) -> dict[str, np.ndarray]:
    """Write the model to ``path``; return its weights (``w1``, ``b1``, ``w2``, ``b2``) and fixed input ``x``."""
    weights = make_weights(seed)
    path.write_bytes(model_bytes(weights))
    return weights


def _literal(array: np.ndarray) -> str:
    # float32 → Python float is exact, and repr() of that float round-trips, so the check rebuilds the same bits.
    values: Any = array.astype(np.float64).tolist()
    return f"np.array({values!r}, dtype=np.float32)"


TFLITE_CHECK = """\
import numpy as np
from tflite_runtime.interpreter import Interpreter

w1 = {w1}
b1 = {b1}
w2 = {w2}
b2 = {b2}
x = {x}

interpreter = Interpreter(model_path={model!r})
interpreter.allocate_tensors()
(inp,) = interpreter.get_input_details()
(out,) = interpreter.get_output_details()
assert list(inp["shape"]) == {input_shape!r} and inp["dtype"] == np.float32, inp
interpreter.set_tensor(inp["index"], x)
interpreter.invoke()
y = interpreter.get_tensor(out["index"])
expected = np.maximum(x @ w1.T + b1, np.float32(0.0)) @ w2.T + b2
assert y.shape == {output_shape!r} and np.allclose(y, expected, rtol=1e-5, atol=1e-5), (y, expected)
print("tflite model output", np.round(y.astype(np.float64), 4).tolist())
"""


def check_script(model: Path, weights: dict[str, np.ndarray]) -> str:
    """A check that runs ``model`` with ``tflite_runtime`` on the fixed input and compares with numpy.

    It prints the output rounded to 4 decimals (stable enough for ``--same-output``) and exits non-zero if the
    interpreter's output differs from numpy's computation. The weights are written into the script as literals,
    so it needs nothing but numpy and tflite_runtime (no ``np.load``, no file besides the model).
    """
    return TFLITE_CHECK.format(
        model=str(model),
        input_shape=list(INPUT_SHAPE),
        output_shape=(INPUT_SHAPE[0], OUTPUTS),
        **{name: _literal(weights[name]) for name in ("w1", "b1", "w2", "b2", "x")},
    )
