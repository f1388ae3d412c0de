"""Which precision a run trains in: bfloat16 only where this machine computes it natively fast.

bf16 autocast trained SmolLM2-135M 1.46x faster than fp32 on a CPU with AVX-512 BF16, and 30x *slower* on an AVX2
CPU without it (a 512x2048 by 2048x2048 matmul: 119.5 GFLOP/s in fp32, 0.3 in bf16), where torch emulates it. So
``precision: auto`` probes once per process: torch's capability check first (CUDA's bf16 support; on a CPU,
oneDNN's bf16 kernels), then a short matmul timing, bf16 against fp32 on the same shapes, that bf16 must win by
:data:`MIN_SPEEDUP`. An explicit ``bf16`` on a machine that fails the probe is refused (:func:`resolve`).

    probe()                  # {"cpu_capability": "AVX512", "native_bf16": True, "bf16_speedup": 3.9, ...}
    resolve("auto")          # "bf16" or "fp32"
"""

from __future__ import annotations

import functools
import time
from typing import Any

MIN_SPEEDUP = 1.3  # bf16 matmul throughput over fp32's for bf16 to count as natively fast
PROBE_SHAPE = (256, 1024, 1024)  # (m, k, n) of the timed matmul: about 1 ms per fp32 product on one core


def cpu_capability() -> str:
    """torch's name for the CPU's vector instruction set (``AVX2``, ``AVX512``, ...)."""
    import torch

    try:
        return str(torch.backends.cpu.get_cpu_capability())
    except Exception:  # older torch
        return "unknown"


def _matmul_rate(dtype, seconds: float = 0.05) -> float:
    """Multiply-adds per second of a :data:`PROBE_SHAPE` matmul in ``dtype`` (best of a few timed products)."""
    import torch

    m, k, n = PROBE_SHAPE
    a, b = torch.randn(m, k).to(dtype), torch.randn(k, n).to(dtype)
    a @ b  # warm-up: kernel choice and allocation
    best, started = float("inf"), time.perf_counter()
    while time.perf_counter() - started < seconds:
        tick = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - tick)
    return m * k * n / best


@functools.lru_cache(maxsize=None)
def probe() -> dict[str, Any]:
    """Once per process: the device, torch's CPU capability, whether bf16 is natively fast, and the measured
    bf16/fp32 matmul speed-up (None where no timing was needed)."""
    import torch

    if torch.cuda.is_available():
        native = bool(torch.cuda.is_bf16_supported())
        return dict(device="cuda", cpu_capability=cpu_capability(), native_bf16=native, bf16_speedup=None)
    supported = bool(getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)())
    speedup = None
    if supported:
        speedup = _matmul_rate(torch.bfloat16) / _matmul_rate(torch.float32)
    return dict(device="cpu", cpu_capability=cpu_capability(), native_bf16=supported and speedup >= MIN_SPEEDUP,
                bf16_speedup=speedup)


def resolve(precision: str) -> str:
    """The precision a run with ``precision`` (``auto``, ``fp32``, ``bf16``) trains in on this machine: ``auto``
    gives bf16 where :func:`probe` finds it natively fast, else fp32. Raises one ValueError for ``bf16`` where it is
    not, naming the choices that work."""
    if precision == "fp32":
        return "fp32"
    facts = probe()
    if precision == "auto":
        return "bf16" if facts["native_bf16"] else "fp32"
    if precision == "bf16":
        if not facts["native_bf16"]:
            speed = f", bf16 matmul {facts['bf16_speedup']:.2f}x fp32" if facts["bf16_speedup"] else ""
            raise ValueError(f"precision 'bf16' needs native bfloat16, which this {facts['device']} lacks "
                             f"(capability {facts['cpu_capability']}{speed}): use precision 'auto' or 'fp32'")
        return "bf16"
    raise ValueError(f"precision must be one of ['auto', 'fp32', 'bf16'], got {precision!r}")
