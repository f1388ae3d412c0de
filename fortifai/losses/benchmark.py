"""What ``benchmarks/losses.py`` measures and the losses chapter's quick run: one forward+backward of each loss
case (ours, ``F.cross_entropy``, the authors' TCE, the plain and chunked LM-head paths, a small Llama's training
step), its median time over interleaved repeats and the rise of peak memory of one run in a fresh interpreter.

    x = make_loss_inputs(512, 8192, 256)
    times = time_cases(["ce", "tce"], x, repeats=3)            # seconds, median per case
    measure_memory("tce", 8192, 512, 256)                      # MB above the inputs, in a fresh process
    quick_benchmark(["ce", "tce"], 512, 8192, 256, repeats=3)  # the chapter's rows, ratios to each case's baseline

Memory: the case runs once more in ``python -m fortifai.losses.benchmark CASE V N H``, whose inputs are made in
place; the rise of its peak resident set (VmHWM, reset just before the step) above the resident set once the inputs
exist is what the step adds (tracemalloc cannot see torch's allocations).
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from .causal_lm import causal_lm_loss
from .functional import cross_entropy, dynamic_truncated_cross_entropy, focal_loss, loss_from_token_ce
from .functional import truncated_cross_entropy
from .linear import default_chunk_size, linear_causal_lm_loss, linear_cross_entropy

GAMMA = 0.9
LOSS_CASES = ["ce", "ce_fortifai", "tce", "focal", "tce_dynamic", "authors_tce", "linear+tce", "chunked_tce"]
LLAMA_CASES = ["llama_authors", "llama_ours", "llama_lean"]
HEAD_CASES = ["linear+tce", "chunked_tce", "torch_lce_tce", "torch_lce_ce", "torch_lce_tce_auto",
              "linear+focal", "chunked_focal", "torch_lce_focal"]
HEAD_DEFAULT = ["linear+tce", "chunked_tce", "torch_lce_tce", "torch_lce_ce", "torch_lce_tce_auto"]
HEAD_SHAPES = ["1024,1024,262144", "4096,2048,128256"]
TIMED_ONCE = {"torch_lce_tce_auto"}  # too slow on CPU to repeat: timed in its memory run
BASELINE = {"llama_ours": "llama_authors", "llama_lean": "llama_authors", "llama_authors": "llama_authors",
            **{c: "linear+tce" for c in HEAD_CASES}}


def authors_tce(logits, target, gamma=GAMMA):
    """The authors' formulation: a full log_softmax, gather, mask, mean."""
    log_probs = F.log_softmax(logits.float(), dim=-1)
    log_p_t = log_probs.gather(-1, target.unsqueeze(-1)).squeeze(-1)
    mask = (log_p_t.exp() <= gamma).float()
    return -(log_p_t * mask).mean()


def make_loss_inputs(n, v, h, seed=0, cases=None):
    """The inputs of the loss cases, each made in place (no temporary): (N, V) logits only if a case uses them."""
    g = torch.Generator().manual_seed(seed)
    x = {"target": torch.empty(n, dtype=torch.long).random_(0, v, generator=g)}
    if cases is None or any(not _is_linear(c) for c in cases):
        x["logits"] = torch.empty(n, v).normal_(0, 4, generator=g).requires_grad_()  # spread: the mask is active
    if cases is None or any(_is_linear(c) for c in cases):
        x["hidden"] = torch.empty(n, h).normal_(generator=g).requires_grad_()
        x["weight"] = torch.empty(v, h).normal_(0, 4 * h**-0.5, generator=g).requires_grad_()
    return x


def _is_linear(case):
    return case.startswith(("linear+", "chunked_", "torch_lce_"))


def torch_linear_ce(x, reduction, chunk_size=None):
    """torch's chunked F.linear_cross_entropy (torch >= 2.13): our default chunk size, or torch's own (None)."""
    options = torch.nn.LinearCrossEntropyOptions() if chunk_size is None else \
        torch.nn.LinearCrossEntropyOptions(batch_chunk_size=chunk_size, chunking_method=None)
    return F.linear_cross_entropy(x["hidden"], x["weight"], x["target"], reduction=reduction, options=options)


def loss_step(case, x):
    """One forward+backward of a loss case; gradients are dropped afterwards."""
    logits, target = x.get("logits"), x["target"]
    if case == "ce":
        out = F.cross_entropy(logits, target)
    elif case == "ce_fortifai":
        out = cross_entropy(logits, target)
    elif case == "tce":
        out = truncated_cross_entropy(logits, target, GAMMA)
    elif case == "focal":
        out = focal_loss(logits, target, 2.0)
    elif case == "tce_dynamic":
        out = dynamic_truncated_cross_entropy(logits, target, 1.0)
    elif case == "authors_tce":
        out = authors_tce(logits, target)
    elif case == "linear+tce":
        out = truncated_cross_entropy(x["hidden"] @ x["weight"].T, target, GAMMA)
    elif case == "linear+focal":
        out = focal_loss(x["hidden"] @ x["weight"].T, target, 2.0)
    elif case == "chunked_tce":
        out = linear_cross_entropy(x["hidden"], x["weight"], target, "tce", gamma=GAMMA)
    elif case == "chunked_focal":
        out = linear_cross_entropy(x["hidden"], x["weight"], target, "focal", gamma=2.0)
    elif case in ("torch_lce_tce", "torch_lce_tce_auto"):
        chunk = None if case.endswith("auto") else default_chunk_size(x["weight"].shape[0])
        out = loss_from_token_ce(torch_linear_ce(x, "none", chunk), target, "tce", gamma=GAMMA)
    elif case == "torch_lce_focal":
        nll = torch_linear_ce(x, "none", default_chunk_size(x["weight"].shape[0]))
        out = loss_from_token_ce(nll, target, "focal", gamma=2.0)
    elif case == "torch_lce_ce":
        out = torch_linear_ce(x, "mean", default_chunk_size(x["weight"].shape[0]))
    else:
        raise ValueError(f"unknown case {case!r}")
    out.backward()
    for t in x.values():
        t.grad = None


def make_llama_inputs(v, n, seed=0):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=v, hidden_size=256, intermediate_size=688, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=512)
    seq = min(512, n)
    ids = torch.randint(0, v, (max(1, n // seq), seq))
    return {"model": LlamaForCausalLM(config), "ids": ids}


def llama_step(case, x):
    model, ids = x["model"], x["ids"]
    if case == "llama_authors":
        outputs = model(input_ids=ids, labels=ids)  # the model computes a CE that is never used
        logits = outputs.logits[:, :-1].reshape(-1, outputs.logits.shape[-1])
        out = authors_tce(logits, ids[:, 1:].reshape(-1))
    elif case == "llama_ours":
        out = causal_lm_loss(model(input_ids=ids).logits, ids, "tce", gamma=GAMMA)
    elif case == "llama_lean":
        out = linear_causal_lm_loss(model, {"input_ids": ids, "labels": ids}, "tce", gamma=GAMMA)
    else:
        raise ValueError(f"unknown case {case!r}")
    out.backward()
    model.zero_grad(set_to_none=True)


def step_fn(case):
    return llama_step if case.startswith("llama") else loss_step


def measure_fresh(case, v, n, h):
    """Run one case once in a fresh interpreter: {"peak_mb": rise of peak RSS above the inputs, "seconds"}."""
    cmd = [sys.executable, "-m", "fortifai.losses.benchmark", case, str(v), str(n), str(h)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def measure_memory(case, v, n, h):
    """MB the peak RSS of one run of ``case`` in a fresh interpreter rises above the RSS with its inputs made."""
    return measure_fresh(case, v, n, h)["peak_mb"]


def _status_kib(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def memory_child(case, v, n, h):
    x = make_llama_inputs(v, n) if case.startswith("llama") else make_loss_inputs(n, v, h, cases=[case])
    # The peak RSS so far includes imports and making the inputs; reset it (Linux: clear_refs 5) so the peak
    # we read afterwards is the case's own. Without that reset, fall back to ru_maxrss, which then only
    # shows a rise above the earlier peak.
    try:
        Path("/proc/self/clear_refs").write_text("5")
        before, peak = _status_kib("VmRSS"), lambda: _status_kib("VmHWM")
    except OSError:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # noqa: E731
    started = time.perf_counter()
    step_fn(case)(case, x)
    seconds = time.perf_counter() - started
    print(json.dumps({"peak_mb": (peak() - before) / 1024, "seconds": seconds}))


def time_cases(cases, x, repeats, warmup=1):
    times = {c: [] for c in cases}
    for _ in range(warmup):
        for c in cases:
            step_fn(c)(c, x)
    for _ in range(repeats):
        for c in cases:
            t0 = time.perf_counter()
            step_fn(c)(c, x)
            times[c].append(time.perf_counter() - t0)
    return {c: statistics.median(ts) for c, ts in times.items()}


def quick_benchmark(cases: list[str], tokens: int, vocab: int, hidden: int, repeats: int, seed: int = 0,
                    memory_cases: tuple[str, ...] = ("ce", "tce")) -> list[dict]:
    """The losses chapter's quick run: per case its median time (ms) and ratio to its baseline (``BASELINE``,
    else ``ce``); for ``memory_cases`` the peak MB of a fresh process and its ratio."""
    x = make_loss_inputs(tokens, vocab, hidden, seed=seed)
    times = time_cases(cases, x, repeats)
    del x
    memory = {c: measure_memory(c, vocab, tokens, hidden) for c in memory_cases}
    rows = []
    for c in cases:
        base = BASELINE.get(c, "ce")
        rows.append({"case": c, "time_ms": 1e3 * times[c], "time_vs_base": times[c] / times[base], "base": base,
                     "peak_mb": memory.get(c), "mem_vs_base": memory[c] / memory[base] if c in memory else None})
    return rows


if __name__ == "__main__":  # the fresh process of measure_fresh: CASE V N H
    memory_child(sys.argv[1], *(int(a) for a in sys.argv[2:5]))
