"""Forward+backward time and peak memory of the losses, against a baseline measured in the same run.

    python benchmarks/losses.py               # both tables below at full size: ~1 h on 2 cores, ~14 GB of RAM
    python benchmarks/losses.py --quick       # small sizes: a few seconds
    python benchmarks/losses.py --no-llama --vocab --head-shapes 1024,1024,262144    # one LM-head shape only

Table 1, the losses on given (N, V) float32 logits (N = --tokens, V in --vocab), H = --hidden for the linear rows:
  ce                              torch.nn.functional.cross_entropy, the baseline
  ce_fortifai, tce, focal, tce_dynamic   ours on the logits                       -> ratio to ce
  authors_tce                     log_softmax, gather, mask, mean (the authors')   -> ratio to ce
  linear+tce                      lm_head matmul then tce (the plain path)         -> ratio to linear+tce
  chunked_tce                     linear_cross_entropy(hidden, weight, ...)        -> ratio to linear+tce
and one training step (forward, loss, backward) of a small Llama:
  llama_ours                      model(x) then causal_lm_loss(..., "tce")         -> ratio to llama_authors
  llama_lean                      linear_causal_lm_loss(model, ..., "tce")         -> ratio to llama_authors
  llama_authors                   model(x, labels=x) (an unused CE) plus a TCE on the logits

Table 2, the LM head at real shapes (--head-shapes N,H,V: tokens, hidden size, vocabulary; the defaults are a
Gemma-3 vocabulary and LLaMA-3.2-1B's head), TCE gamma 0.9 unless named, every ratio to linear+tce:
  linear+tce / linear+focal       hidden @ weight.T, then our loss on the logits (the plain path)
  chunked_tce / chunked_focal     fortifai.losses.linear_cross_entropy (our chunked path, default chunk)
  torch_lce_tce / torch_lce_focal torch's F.linear_cross_entropy(reduction="none", chunked with our chunk size),
                                  then loss_from_token_ce (what linear_cross_entropy(reduction="none") runs)
  torch_lce_tce_auto              the same with torch's own chunk size (LinearCrossEntropyOptions()); slow on
                                  CPU, so timed once, in its memory run (marked *)
  torch_lce_ce                    torch's chunked F.linear_cross_entropy(reduction="mean"): plain CE, our chunk
The weight gradient is (V, H) float32 whatever the path; the limit printed is the chunked path's target:
peak <= weight gradient + 0.25 x logits, time <= 1.3 x linear+tce. Measured (torch 2.13 CPU, 2 threads, load
average 5-9 from other jobs; the losses chapter has every row):
  1024,1024,262144  linear+tce 29.6 s 2069 MB | chunked_tce 1.18x 1173 MB (limit 1280) | torch_lce_tce 1.76x 1242 MB
  4096,2048,128256  linear+tce 70.8 s 4025 MB | chunked_tce 1.09x 1179 MB (limit 1503)

Time: median over --repeats runs (after --warmup runs), cases interleaved round-robin so that load from other
processes falls on all of them alike. Memory: each case runs once more in a fresh interpreter, whose inputs are
made in place (``torch.empty(...).normal_()``, so that no temporary raises the high-water mark); we report the
rise of its peak resident set (VmHWM, reset just before the step) above the resident set once the inputs exist,
i.e. what the step itself (activations, logits, gradients, the weight gradient included) adds. tracemalloc cannot
see torch's allocations; the kernel's resident-set accounting can.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fortifai.losses import default_chunk_size  # noqa: E402
from fortifai.losses.benchmark import (  # noqa: E402  the cases and the measurements live in the package
    BASELINE, GAMMA, HEAD_CASES, HEAD_DEFAULT, HEAD_SHAPES, LLAMA_CASES, LOSS_CASES, TIMED_ONCE, authors_tce,
    llama_step, loss_step, make_llama_inputs, make_loss_inputs, measure_fresh, measure_memory, memory_child,
    step_fn, time_cases,
)


def head_table(shapes, cases, repeats, warmup):
    """Table 2: the LM head at real shapes; each row also states the weight gradient and the issue's limits."""
    rows = []
    header = (f"{'N':>5} {'H':>5} {'V':>7} {'case':<19} {'time s':>8} {'x plain':>7} {'peak MB':>8} {'x plain':>7} "
              f"{'limit MB':>8}  peak<=limit, time<=1.3x")
    print(f"\nTable 2, LM head: float32, TCE gamma {GAMMA} (focal gamma 2), ratios to linear+tce; limit = weight "
          f"gradient + 0.25 x logits; * = timed once (in its fresh process)")
    print(header)
    print("-" * len(header))
    for shape in shapes:
        n, h, v = (int(part) for part in shape.split(","))
        logits_mb, wgrad_mb = n * v * 4 / 2**20, v * h * 4 / 2**20
        limit = wgrad_mb + 0.25 * logits_mb
        print(f"# N={n} H={h} V={v}: logits {logits_mb:.0f} MB, weight gradient {wgrad_mb:.0f} MB, "
              f"default chunk {default_chunk_size(v)} tokens")
        repeated = [c for c in cases if c not in TIMED_ONCE]
        x = make_loss_inputs(n, v, h, cases=repeated)
        times = time_cases(repeated, x, repeats, warmup) if repeated else {}
        del x
        fresh = {c: measure_fresh(c, v, n, h) for c in cases}
        for c in TIMED_ONCE & set(cases):
            times[c] = fresh[c]["seconds"]
        base = "linear+tce" if "linear+tce" in cases else cases[0]
        for c in cases:
            peak = fresh[c]["peak_mb"]
            row = {"N": n, "H": h, "V": v, "case": c, "time_s": times[c], "time_ratio": times[c] / times[base],
                   "peak_mb": peak, "mem_ratio": peak / fresh[base]["peak_mb"], "baseline": base,
                   "logits_mb": logits_mb, "weight_grad_mb": wgrad_mb, "limit_mb": limit,
                   "timed_once": c in TIMED_ONCE, "repeats": 1 if c in TIMED_ONCE else repeats}
            rows.append(row)
            ok = f"{'yes' if peak <= limit else 'no'}, {'yes' if row['time_ratio'] <= 1.3 else 'no'}"
            print(f"{n:>5} {h:>5} {v:>7} {c + ('*' if c in TIMED_ONCE else ''):<19} {times[c]:>8.2f} "
                  f"{row['time_ratio']:>7.2f} {peak:>8.0f} {row['mem_ratio']:>7.2f} {limit:>8.0f}  {ok}", flush=True)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--tokens", type=int, default=4096)
    parser.add_argument("--vocab", type=int, nargs="*", default=[32768, 131072, 262144], help="table 1 (none: skip)")
    parser.add_argument("--hidden", type=int, default=256, help="H of the lm_head for table 1's linear rows")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs of every case before the timed ones")
    parser.add_argument("--llama-vocab", type=int, default=32768)
    parser.add_argument("--no-llama", action="store_true")
    parser.add_argument("--no-loss-rows", action="store_true", help="only the Llama training step in table 1")
    parser.add_argument("--cases", nargs="+", default=None, help=f"a subset of {LOSS_CASES} (keep ce for ratios)")
    parser.add_argument("--head-shapes", nargs="*", default=HEAD_SHAPES, metavar="N,H,V", help="table 2 (none: skip)")
    parser.add_argument("--head-cases", nargs="+", default=HEAD_DEFAULT, choices=HEAD_CASES,
                        help="table 2's rows (keep linear+tce, the baseline, first)")
    parser.add_argument("--head-repeats", type=int, default=3)
    parser.add_argument("--head-warmup", type=int, default=0)
    parser.add_argument("--json", type=str, default=None, help="also write the rows to this file")
    parser.add_argument("--memory-case", type=str, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_case:
        return memory_child(args.memory_case, args.vocab[0], args.tokens, args.hidden)
    if args.quick:
        args.tokens, args.vocab, args.llama_vocab, args.repeats = 512, [8192], 8192, 3
        args.head_shapes, args.head_repeats = ["256,128,16384"], 2
        if args.head_cases == HEAD_DEFAULT:  # torch's own chunk size is a token or two here: minutes
            args.head_cases = [c for c in HEAD_DEFAULT if c not in TIMED_ONCE]
    if not hasattr(F, "linear_cross_entropy"):  # torch < 2.13: no built-in rows
        args.head_cases = [c for c in args.head_cases if not c.startswith("torch_lce_")]

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, float32, CPU")
    rows = []
    loss_cases = [c for c in LOSS_CASES if args.cases is None or c in args.cases]
    groups = [] if args.no_loss_rows else [(v, loss_cases) for v in args.vocab]
    if not args.no_llama:
        groups.append((args.llama_vocab, LLAMA_CASES))
    if groups:
        print(f"\nTable 1: N = {args.tokens} tokens, H = {args.hidden} (linear rows), median of {args.repeats}")
        header = f"{'V':>7} {'case':<14} {'time ms':>9} {'x base':>7} {'peak MB':>9} {'x base':>7}  base"
        print(header)
        print("-" * len(header))
    for v, cases in groups:
        llama = cases is LLAMA_CASES
        x = make_llama_inputs(v, args.tokens) if llama else make_loss_inputs(args.tokens, v, args.hidden, cases=cases)
        times = time_cases(cases, x, args.repeats, args.warmup)
        del x
        mem = {c: measure_memory(c, v, args.tokens, args.hidden) for c in cases}
        for c in cases:
            base = BASELINE.get(c, "ce")
            if base not in times:
                base = c
            row = {"V": v, "N": args.tokens, "H": args.hidden, "case": c, "time_ms": 1e3 * times[c],
                   "time_ratio": times[c] / times[base], "peak_mb": mem[c],
                   "mem_ratio": mem[c] / mem[base] if mem[base] > 0 else float("nan"), "baseline": base}
            rows.append(row)
            print(f"{v:>7} {c:<14} {row['time_ms']:>9.1f} {row['time_ratio']:>7.2f} {row['peak_mb']:>9.0f} "
                  f"{row['mem_ratio']:>7.2f}  {base}", flush=True)
    if args.head_shapes:
        rows += head_table(args.head_shapes, args.head_cases, args.head_repeats, args.head_warmup)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return rows


if __name__ == "__main__":
    main()
