"""ai-edge-litert (LiteRT) smoke check: runs tflite_mlp.py, next to this file, on LiteRT's interpreter.

It guarantees the same thing as tflite_mlp.py, on ``ai_edge_litert.interpreter`` instead of tflite-runtime's:
the 4-8-3 perceptron in tflite_mlp.tflite loads, its input is float32 [2, 4], and its output matches numpy's own
computation of it; the script's stdout is tflite_mlp.py's, unchanged. A module named ``tflite_runtime.interpreter``
is put in ``sys.modules`` as an alias of ``ai_edge_litert.interpreter`` (LiteRT keeps tflite-runtime's
``Interpreter`` API), then tflite_mlp.py runs as ``__main__`` with runpy.

It must NOT know the model's weights or expected outputs (tflite_mlp.py owns them), nor import tflite-runtime:
a tflite-runtime installed beside LiteRT must not be what the check exercises.
"""

import runpy
import sys
import types
from pathlib import Path

import ai_edge_litert.interpreter as litert_interpreter  # type: ignore[import-not-found, unused-ignore]

SCRIPT = Path(__file__).resolve().with_name("tflite_mlp.py")

package = types.ModuleType("tflite_runtime")
package.__path__ = []  # a package with no directory: only the alias below can be imported from it
package.interpreter = litert_interpreter  # type: ignore[attr-defined]
sys.modules["tflite_runtime"] = package
sys.modules["tflite_runtime.interpreter"] = litert_interpreter

runpy.run_path(str(SCRIPT), run_name="__main__")
