"""Is an ONNX model real? The full checker plus one onnxruntime run.

Every adapter's network must pass this (DESIGN §1.1): a model that only looks right in text
but cannot run would make the surrogate read fiction.
"""

from __future__ import annotations

import numpy as np
import onnx

from ..errors import ModelFormatError


def check_runnable(model: onnx.ModelProto) -> None:
    """Full checker plus one onnxruntime run on a random input; raises ModelFormatError."""
    import onnxruntime as ort

    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.checker.ValidationError as e:
        raise ModelFormatError(f"invalid ONNX model: {e}") from e
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = {}
    for i in sess.get_inputs():
        shape = [d if isinstance(d, int) else 1 for d in i.shape]
        feeds[i.name] = np.random.default_rng(0).random(shape, dtype=np.float32)
    outs = sess.run(None, feeds)
    if not all(np.all(np.isfinite(o)) for o in outs):
        raise ModelFormatError("the model produced non-finite outputs on a random input")
