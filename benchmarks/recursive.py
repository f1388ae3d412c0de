"""One stage of a recursive preset, phase by phase, on this machine: where a run's time goes and how close it
comes to the machine's peak.

Measured in one run, beside the matmul peak probed in the same run (fp32 and bf16):

- **training**: optimizer steps at the preset's block and batch size in the precision ``auto`` picks here (and
  in fp32 too where that is bf16: ``fp32_tokens_per_s``);
- **regeneration**: today's path (``regeneration_context: stream``, every window prefilled alone) against the
  paragraph path (``paragraph``, every window of a paragraph forked from one prefill), interleaved, on the same
  text; ``identical_windows`` is the share of windows whose tokens the shared prefill gives exactly as prefilling
  each window alone on the same paragraph context; ``flop_share`` how close it comes to the fp32 peak (matmul
  FLOPs of prefill and beams, attention left out);
- **evaluation**: the KR-test, real-text NLL and the confidence profile of a stage's model, each apart
  (``evaluation: per_measure``) against one packed pass (``one_pass``), interleaved, with the largest difference
  of their values;
- **the rest**: writing the stage's model (what a stage does besides).

    python benchmarks/recursive.py --quick --json /tmp/recursive.json     # a few minutes on 2 cores
    python benchmarks/recursive.py --json results/benchmarks/recursive.json

Everything runs on ``--threads`` (default 1: one core, as the targets are stated), the peak probe too.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from fortifai import krtest, recursive
from fortifai.lm import corpus, models, precision, pretrain
from fortifai.recursive import regeneration
from fortifai.recursive.engine import _score_kr
from fortifai.recursive.instruments import onepass
from fortifai.recursive.instruments.divergence import confidence_gap
from fortifai.recursive.instruments.likelihood import paragraph_nll
from fortifai.results import write_json

PEAK_SHAPE = (512, 2048, 2048)


def peak_gflops(dtype, seconds: float) -> float:
    """The best GFLOP/s of a :data:`PEAK_SHAPE` matmul in ``dtype`` over ``seconds``."""
    m, k, n = PEAK_SHAPE
    a, b = torch.randn(m, k).to(dtype), torch.randn(k, n).to(dtype)
    a @ b
    best, started = float("inf"), time.perf_counter()
    while time.perf_counter() - started < seconds:
        tick = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - tick)
    return 2 * m * k * n / best / 1e9


def load(config, texts):
    if config.model in pretrain.SCRATCH_MODELS:
        return pretrain.load_scratch(pretrain.pretrain(config.model, texts, progress=False))
    return models.load_model(config.model)


def training(model, tokenizer, texts, config, used: str, steps: int) -> dict:
    from fortifai.lm.lmdata import block_dataset
    from fortifai.losses import causal_lm_loss

    blocks = block_dataset(tokenizer, texts, config.block_size).blocks[:config.batch_size]
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-6)
    model.train()
    times = []
    for _ in range(steps + 1):  # the first step warms up allocators and kernels
        started = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=used == "bf16"):
            logits = model(input_ids=blocks).logits
        causal_lm_loss(logits, blocks, config.loss, **config.loss_kwargs()).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - started)
    model.eval()
    rate = blocks.numel() / statistics.median(times[1:])
    n_params = sum(p.numel() for p in model.parameters())
    return dict(tokens_per_s=rate, gflops=6 * n_params * rate / 1e9, steps=steps, precision=used)


def regeneration_phase(model, tokenizer, texts, config, repeats: int, peak: float) -> dict:
    """Today's stream path against the paragraph path with its shared prefill, interleaved; then the paragraph
    path with every window prefilled alone, for the identical-window count."""
    new = dataclasses.replace(config, regeneration_context="paragraph")
    stream, segments = regeneration.paragraph_stream(tokenizer, texts)
    step = config.new_tokens
    windows = [(s, step, a) for a, b in segments for s in range(a + step, b, step)]
    reference, ours = [], []
    for _ in range(repeats):
        _, stats = regeneration.regenerate(model, tokenizer, texts, config, progress=False)
        reference.append(stats["tokens_per_second"])
        started = time.perf_counter()
        shared = regeneration._generate_paragraph_windows(model, tokenizer, stream, windows, new, False)
        seconds = time.perf_counter() - started
        ours.append(len(windows) * step / seconds)
    alone = regeneration._generate_windows(model, tokenizer, stream, windows, new, False)
    identical = sum(shared[s] == alone[s] for s, _, _ in windows) / len(windows)
    # matmul FLOPs of the paragraph path: each paragraph prefilled once up to its last window, then every window's
    # beams decoding new_tokens - 1 steps (the first token comes from the prefill's logits)
    prefill = sum(max(s for s, _, f in windows if f == a) - a for a, _ in segments if any(f == a for _, _, f in windows))
    n_params = sum(p.numel() for p in model.parameters())
    flops = 2 * n_params * (prefill + config.num_beams * (step - 1) * len(windows))
    tokens_per_s = statistics.median(ours)
    gflops = flops / (len(windows) * step / tokens_per_s) / 1e9
    return dict(reference_tokens_per_s=statistics.median(reference), tokens_per_s=tokens_per_s,
                speedup=tokens_per_s / statistics.median(reference), identical_windows=identical,
                windows=len(windows), paragraphs=len(texts), gflops=gflops, flop_share=gflops / peak, gate=None)


def evaluation_phase(model, tokenizer, data, generated, config, repeats: int) -> dict:
    """One stage's scoring, per measure against one pass, interleaved."""
    real = {"split0": data["splits"][0], "heldout": data["heldout"]}
    texts = {"trained": data["splits"][0], "unseen": data["heldout"], "generated": generated}
    nll_length = max(config.context_tokens, config.block_size)
    batch = config.eval_batch_size
    per_measure, one_pass, parts = [], [], {"kr": [], "nll": [], "confidence": []}
    for _ in range(repeats):
        tick = time.perf_counter()
        margins = [_score_kr(model, tokenizer, items, batch) for items in data["kr_items"]]
        parts["kr"].append(time.perf_counter() - tick)
        tick = time.perf_counter()
        nll = {k: paragraph_nll(model, tokenizer, v, batch_size=batch, max_length=nll_length) for k, v in real.items()}
        parts["nll"].append(time.perf_counter() - tick)
        tick = time.perf_counter()
        probs = confidence_gap(model, tokenizer, texts, batch, config.block_size)["probabilities"]
        parts["confidence"].append(time.perf_counter() - tick)
        per_measure.append(sum(parts[k][-1] for k in parts))
        tick = time.perf_counter()
        margins2, nll2, probs2 = onepass.score_stage(model, tokenizer, data["kr_items"], real, nll_length, texts,
                                                    config.block_size, batch)
        one_pass.append(time.perf_counter() - tick)
    difference = dict(
        kr_margin=max((abs(a - b) for x, y in zip(margins, margins2) for a, b in zip(x, y)), default=0.0),
        nll=max(abs(a - b) for k in real for a, b in zip(nll[k], nll2[k])),
        probability=max(float(np.abs(probs[k] - probs2[k]).max()) for k in texts))
    text = [p for split in data["splits"] for p in split] + data["heldout"] + list(generated)
    return dict(reference_seconds=statistics.median(per_measure), seconds=statistics.median(one_pass),
                text_tokens=sum(len(ids) for ids in tokenizer(text, add_special_tokens=False)["input_ids"]),
                speedup=statistics.median(per_measure) / statistics.median(one_pass),
                reference_parts={k: statistics.median(v) for k, v in parts.items()},
                kr_questions=sum(map(len, data["kr_items"])), max_abs_difference=difference)


def rest_phase(model, tokenizer) -> dict:
    from fortifai.lm.models import save_atomically

    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        save_atomically(model, tokenizer, Path(folder) / "model")
        return dict(save_model_seconds=time.perf_counter() - started)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", type=Path, default=Path("presets/llm_recursive/decisive.yaml"),
                        help="the preset whose model, text and shapes are measured")
    parser.add_argument("--quick", action="store_true",
                        help="a third of a split's paragraphs, two splits' KR questions, one repeat: the same keys")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for every phase and the peak probe")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")
    preset = {k: v for k, v in (yaml.safe_load(args.preset.read_text()) or {}).items() if k not in ("methods", "seeds")}
    preset["precision"] = "auto"  # measured in what this machine would train in
    config = recursive.RecursiveConfig.from_dict(preset)
    torch.set_num_threads(args.threads)
    facts = precision.probe()
    used = precision.resolve("auto")
    probe_seconds = 0.3 if args.quick else 1.0
    out = dict(preset=str(args.preset), quick=args.quick, threads=args.threads, torch=torch.__version__,
               cpu_capability=facts["cpu_capability"], precision=used, native_bf16=facts["native_bf16"],
               peak_gflops_fp32=peak_gflops(torch.float32, probe_seconds),
               peak_gflops_bf16=peak_gflops(torch.bfloat16, probe_seconds))
    data = recursive.make_splits(corpus.load_paragraphs(config.dataset, min_words=config.min_paragraph_words),
                                 config.stages, config.split_paragraphs, config.heldout_paragraphs, seed=0,
                                 pretrain_paragraphs=config.pretrain_paragraphs)
    model, tokenizer = load(config, data["rest"])
    steps = 2 if args.quick else 5
    out["training"] = training(model, tokenizer, data["splits"][0] * 4, config, used, steps)
    if used != "fp32":  # what a machine without native bf16 trains at: the estimate for it
        out["training"]["fp32_tokens_per_s"] = training(model, tokenizer, data["splits"][0] * 4, config, "fp32",
                                                        steps)["tokens_per_s"]
    splits = data["splits"][:2] if args.quick else data["splits"]
    if args.quick:
        splits = [s[:max(2, len(s) // 3)] for s in splits]
    data = dict(splits=splits, heldout=data["heldout"][:len(splits[0])] if args.quick else data["heldout"],
                kr_items=[[q.to_dict() for q in krtest.generate_questions(s, per_paragraph=config.kr_per_paragraph,
                                                                          seed=k)] for k, s in enumerate(splits)])
    repeats = 1 if args.quick else 2
    out["regeneration"] = regeneration_phase(model, tokenizer, data["splits"][0], config, repeats,
                                             out["peak_gflops_fp32"])
    generated, _ = regeneration.regenerate(model, tokenizer, data["splits"][0],
                                           dataclasses.replace(config, regeneration_context="paragraph"), False)
    out["evaluation"] = evaluation_phase(model, tokenizer, data, generated, config, repeats)
    out["rest"] = rest_phase(model, tokenizer)
    regen, evaluation = out["regeneration"], out["evaluation"]
    print(f"{facts['cpu_capability']}, training in {used}; peak {out['peak_gflops_fp32']:.0f} GFLOP/s fp32, "
          f"{out['peak_gflops_bf16']:.0f} bf16; {args.threads} thread(s)")
    print(f"training      {out['training']['tokens_per_s']:8.0f} tokens/s  {out['training']['gflops']:6.1f} GFLOP/s")
    print(f"regeneration  {regen['reference_tokens_per_s']:8.1f} -> {regen['tokens_per_s']:.1f} tokens/s "
          f"({regen['speedup']:.2f}x), {regen['identical_windows']:.1%} of {regen['windows']} windows identical, "
          f"{regen['gflops']:.0f} GFLOP/s = {regen['flop_share']:.0%} of the fp32 peak")
    print(f"evaluation    {evaluation['reference_seconds']:8.1f} -> {evaluation['seconds']:.1f} s "
          f"({evaluation['speedup']:.2f}x), {evaluation['kr_questions']} KR questions, largest difference "
          f"{max(evaluation['max_abs_difference'].values()):.1e}")
    print(f"the rest      {out['rest']['save_model_seconds']:8.1f} s to write the model")
    if args.json:
        write_json(args.json, out)
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
