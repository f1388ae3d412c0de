"""Forward+backward time and peak memory of the losses, against cross entropy measured in the same run.

    python benchmarks/losses.py            # N = 4096 tokens, V in {32k, 128k, 262k}: needs ~14 GB of RAM
    python benchmarks/losses.py --quick    # N = 512, V = 8k: a few seconds

Rows, per vocabulary size V:
  ce                              torch.nn.functional.cross_entropy, the baseline
  ce_fortifai, tce, focal, tce_dynamic   ours on given (N, V) float32 logits       -> ratio to ce
  authors_tce                     log_softmax, gather, mask, mean (the authors')   -> ratio to ce
  linear+tce                      lm_head matmul then tce (the plain path)         -> ratio to linear+tce
  chunked_tce                     linear_cross_entropy(hidden, weight, ...)        -> ratio to linear+tce
and one training step (forward, loss, backward) of a small Llama:
  llama_ours                      model(x) then causal_lm_loss(..., "tce")         -> ratio to llama_authors
  llama_lean                      linear_causal_lm_loss(model, ..., "tce")         -> ratio to llama_authors
  llama_authors                   model(x, labels=x) (an unused CE) plus a TCE on the logits

Time: median over --repeats runs after one warm-up, cases interleaved round-robin so that load from other
processes falls on all of them alike. Memory: each case runs once more in a fresh subprocess; we report the
rise of its peak resident set (VmHWM, reset just before the step) over the resident set once the inputs
exist, i.e. what the step itself (activations, logits, gradients) adds. tracemalloc cannot see torch's
allocations; the kernel's resident-set accounting can.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fortifai.losses import causal_lm_loss, cross_entropy, focal_loss, linear_causal_lm_loss, linear_cross_entropy  # noqa: E402
from fortifai.losses import dynamic_truncated_cross_entropy, truncated_cross_entropy  # noqa: E402

GAMMA = 0.9
LOSS_CASES = ["ce", "ce_fortifai", "tce", "focal", "tce_dynamic", "authors_tce", "linear+tce", "chunked_tce"]
LLAMA_CASES = ["llama_authors", "llama_ours", "llama_lean"]
BASELINE = {"linear+tce": "linear+tce", "chunked_tce": "linear+tce",
            "llama_ours": "llama_authors", "llama_lean": "llama_authors", "llama_authors": "llama_authors"}


def authors_tce(logits, target, gamma=GAMMA):
    """The authors' formulation: a full log_softmax, gather, mask, mean."""
    log_probs = F.log_softmax(logits.float(), dim=-1)
    log_p_t = log_probs.gather(-1, target.unsqueeze(-1)).squeeze(-1)
    mask = (log_p_t.exp() <= gamma).float()
    return -(log_p_t * mask).mean()


def make_loss_inputs(n, v, h, seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, v, generator=g).mul_(4).requires_grad_()  # spread so that the mask is active
    target = torch.randint(0, v, (n,), generator=g)
    hidden = torch.randn(n, h, generator=g).requires_grad_()
    weight = torch.randn(v, h, generator=g).mul_(h**-0.5 * 4).requires_grad_()
    return {"logits": logits, "target": target, "hidden": hidden, "weight": weight}


def loss_step(case, x):
    """One forward+backward of a loss case; gradients are dropped afterwards."""
    logits, target = x["logits"], x["target"]
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
    elif case == "chunked_tce":
        out = linear_cross_entropy(x["hidden"], x["weight"], target, "tce", gamma=GAMMA)
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


def measure_memory(case, v, n, h):
    """Run one case once in a fresh interpreter; MB its peak RSS rises above the RSS with inputs made."""
    cmd = [sys.executable, __file__, "--memory-case", case, "--tokens", str(n), "--hidden", str(h), "--vocab", str(v)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])["peak_mb"]


def _status_kib(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def memory_child(case, v, n, h):
    x = make_llama_inputs(v, n) if case.startswith("llama") else make_loss_inputs(n, v, h)
    # The peak RSS so far includes imports and making the inputs; reset it (Linux: clear_refs 5) so the peak
    # we read afterwards is the case's own. Without that reset, fall back to ru_maxrss, which then only
    # shows a rise above the earlier peak.
    try:
        Path("/proc/self/clear_refs").write_text("5")
        before, peak = _status_kib("VmRSS"), lambda: _status_kib("VmHWM")
    except OSError:
        before, peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    step_fn(case)(case, x)
    print(json.dumps({"peak_mb": (peak() - before) / 1024}))


def time_cases(cases, x, repeats):
    times = {c: [] for c in cases}
    for c in cases:  # warm-up
        step_fn(c)(c, x)
    for _ in range(repeats):
        for c in cases:
            t0 = time.perf_counter()
            step_fn(c)(c, x)
            times[c].append(time.perf_counter() - t0)
    return {c: statistics.median(ts) for c, ts in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="N = 512, V = 8192: a smoke run")
    parser.add_argument("--tokens", type=int, default=4096)
    parser.add_argument("--vocab", type=int, nargs="+", default=[32768, 131072, 262144])
    parser.add_argument("--hidden", type=int, default=256, help="H of the lm_head for the linear rows")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--llama-vocab", type=int, default=32768)
    parser.add_argument("--no-llama", action="store_true")
    parser.add_argument("--no-loss-rows", action="store_true", help="only the Llama training step")
    parser.add_argument("--cases", nargs="+", default=None, help=f"a subset of {LOSS_CASES} (keep ce for ratios)")
    parser.add_argument("--json", type=str, default=None, help="also write the rows to this file")
    parser.add_argument("--memory-case", type=str, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_case:
        return memory_child(args.memory_case, args.vocab[0], args.tokens, args.hidden)
    if args.quick:
        args.tokens, args.vocab, args.llama_vocab, args.repeats = 512, [8192], 8192, 3

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, N = {args.tokens} tokens, "
          f"H = {args.hidden} (linear rows), median of {args.repeats}, float32, CPU")
    loss_cases = [c for c in LOSS_CASES if args.cases is None or c in args.cases]
    groups = [] if args.no_loss_rows else [(v, loss_cases) for v in args.vocab]
    if not args.no_llama:
        groups.append((args.llama_vocab, LLAMA_CASES))
    rows = []
    header = f"{'V':>7} {'case':<14} {'time ms':>9} {'x base':>7} {'peak MB':>9} {'x base':>7}  base"
    print(header)
    print("-" * len(header))
    for v, cases in groups:
        llama = cases is LLAMA_CASES
        x = make_llama_inputs(v, args.tokens) if llama else make_loss_inputs(args.tokens, v, args.hidden)
        times = time_cases(cases, x, args.repeats)
        del x
        mem = {c: measure_memory(c, v, args.tokens, args.hidden) for c in cases}
        for c in cases:
            base = BASELINE.get(c, "ce")
            if base not in times:
                base = c
            row = {"V": v, "case": c, "time_ms": 1e3 * times[c], "time_ratio": times[c] / times[base],
                   "peak_mb": mem[c], "mem_ratio": mem[c] / mem[base] if mem[base] > 0 else float("nan"),
                   "baseline": base}
            rows.append(row)
            print(f"{v:>7} {c:<14} {row['time_ms']:>9.1f} {row['time_ratio']:>7.2f} {row['peak_mb']:>9.0f} "
                  f"{row['mem_ratio']:>7.2f}  {base}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return rows


if __name__ == "__main__":
    main()
