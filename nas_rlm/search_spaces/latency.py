"""Latency of an ONNX model measured with onnxruntime on this machine.

This is how a user adds their own device when no published table exists: the same model the
surrogate reads is timed where it will run. Warm-up runs are discarded (first runs allocate
and pick kernels) and the median of the repeats is reported, because it is robust to the
scheduling noise of a shared machine.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import onnx

from ..errors import ConfigError, ModelFormatError


@dataclass(frozen=True)
class Latency:
    median_ms: float
    p10_ms: float
    p90_ms: float
    repeats: int
    warmup: int
    batch_size: int
    threads: int

    def to_dict(self) -> dict:
        return asdict(self)


def measure_latency(
    model: onnx.ModelProto,
    batch_size: int = 1,
    warmup: int = 10,
    repeats: int = 50,
    threads: int = 1,
    seed: int = 0,
) -> Latency:
    """Time ``model`` on the CPU with onnxruntime; symbolic dims take ``batch_size``."""
    import onnxruntime as ort

    if repeats < 1 or warmup < 0 or batch_size < 1 or threads < 0:
        raise ConfigError("need repeats >= 1, warmup >= 0, batch_size >= 1, threads >= 0")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    try:
        sess = ort.InferenceSession(
            model.SerializeToString(), opts, providers=["CPUExecutionProvider"]
        )
    except Exception as e:  # onnxruntime raises its own exception types
        raise ModelFormatError(f"onnxruntime could not load the model: {e}") from e
    rng = np.random.default_rng(seed)
    feeds = {
        i.name: rng.random([d if isinstance(d, int) else batch_size for d in i.shape],
                           dtype=np.float32)
        for i in sess.get_inputs()
    }
    for _ in range(warmup):
        sess.run(None, feeds)
    times = np.empty(repeats)
    for r in range(repeats):
        t0 = time.perf_counter()
        sess.run(None, feeds)
        times[r] = (time.perf_counter() - t0) * 1e3
    return Latency(
        median_ms=float(np.median(times)),
        p10_ms=float(np.percentile(times, 10)),
        p90_ms=float(np.percentile(times, 90)),
        repeats=repeats, warmup=warmup, batch_size=batch_size, threads=threads,
    )


def measure_archs(
    space,
    archs: list,
    out: Path | None = None,
    batch_size: int = 1,
    warmup: int = 10,
    repeats: int = 50,
    threads: int = 1,
    progress: bool = True,
) -> list[dict]:
    """Measure each arch of ``space`` and return rows ``{arch, latency_ms, p10_ms, p90_ms}``.

    With ``out`` the rows go to a CSV (written atomically) whose ``arch`` and ``latency_ms``
    columns are a ready-made device column for a user's own hardware. Archs are validated
    before any timing starts, so a typo fails fast.
    """
    from tqdm import tqdm

    from ..io import write_csv

    parsed = [space.parse(a) for a in archs]
    rows = []
    for arch in tqdm(parsed, desc=f"measure {space.name}", unit="arch", disable=not progress):
        lat = measure_latency(space.to_onnx(arch, weights="random"), batch_size, warmup,
                              repeats, threads)
        rows.append({"arch": space.to_string(arch), "latency_ms": round(lat.median_ms, 5),
                     "p10_ms": round(lat.p10_ms, 5), "p90_ms": round(lat.p90_ms, 5)})
    if out is not None:
        cols = ["arch", "latency_ms", "p10_ms", "p90_ms"]
        write_csv(out, cols, ([r[c] for c in cols] for r in rows))
    return rows
