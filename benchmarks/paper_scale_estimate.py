"""GPU hours of the paper-scale runs (scripts/paper_scale.sh), estimated from a count of the work and stated
assumptions about a GPU's speed: an estimate, not a measurement (we had no GPU to measure on).

    python benchmarks/paper_scale_estimate.py [--mfu 0.35] [--decode-step-ms 30] [--peak-tflops 989]

Work per run, from the preset: six stages; stage i trains on i+1 splits for `epochs` epochs (21 split-epochs
per epoch setting in all), and regenerates the i+1 splits it trained on (21 split regenerations), each split in
windows of `new_tokens` new tokens after `context_tokens` of context, `num_beams` beams. Tokens per paragraph
are measured on the WikiText-2 test text with the SmolLM2 tokenizer (a stand-in for LLaMA-3's and Gemma-3's,
which give somewhat fewer tokens per word). Time: training and prefill FLOPs (6N and 2N per token) at
`--mfu` of `--peak-tflops` (H100 SXM bf16 dense: 989); beam-search decoding is bound by the per-step overhead
of `generate`, `--decode-step-ms` per step for a batch of `generation_batch_size` windows; the benchmarks after
each stage (BLiMP, HellaSwag, GSM8K through lm-eval) are added as `--benchmarks-minutes` per stage.
"""

from __future__ import annotations

import argparse
import math
import statistics
from pathlib import Path

import yaml

from fortifai.lm.corpus import load_paragraphs
from fortifai.lm.models import load_tokenizer

REPO = Path(__file__).resolve().parent.parent
PARAMETERS = {"meta-llama/Llama-3.2-1B": 1.24e9, "google/gemma-3-1b-pt": 1.0e9}  # from the model cards


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--peak-tflops", type=float, default=989.0)
    parser.add_argument("--mfu", type=float, default=0.35)
    parser.add_argument("--decode-step-ms", type=float, default=30.0)
    parser.add_argument("--benchmarks-minutes", type=float, default=15.0)
    args = parser.parse_args()
    tokenizer = load_tokenizer("smollm2-135m")
    flops_per_s = args.peak_tflops * 1e12 * args.mfu
    print(f"assumed: {args.peak_tflops:.0f} TFLOP/s peak at {args.mfu:.0%} utilisation, {args.decode_step_ms:.0f} ms "
          f"per beam-search step, {args.benchmarks_minutes:.0f} min of benchmarks per stage")
    print("| preset | model | tokens per split | training | regeneration | benchmarks | GPU hours per loss | "
          "4 losses |")
    print("|---|---|---|---|---|---|---|---|")
    total = 0.0
    for preset in sorted((REPO / "presets" / "llm_recursive").glob("paper-*.yaml")):
        p = yaml.safe_load(preset.read_text())
        paragraphs = load_paragraphs("wikitext-2-test", min_words=p["min_paragraph_words"])
        per_paragraph = statistics.mean(len(ids) for ids in tokenizer(paragraphs)["input_ids"])
        split_tokens = p["split_paragraphs"] * per_paragraph
        n = PARAMETERS[p["model"]]
        stages = p["stages"]
        split_epochs = sum(i + 1 for i in range(stages))  # stage i trains on i + 1 splits
        train_s = 6 * n * split_tokens * split_epochs * p["epochs"] / flops_per_s
        windows = split_tokens / p["new_tokens"] * split_epochs
        prefill_s = 2 * n * windows * p["context_tokens"] * p["num_beams"] / flops_per_s
        decode_s = math.ceil(windows / p["generation_batch_size"]) * p["new_tokens"] * args.decode_step_ms / 1000
        bench_s = stages * args.benchmarks_minutes * 60
        hours = (train_s + prefill_s + decode_s + bench_s) / 3600
        total += 4 * hours
        print(f"| {preset.stem} | {p['model']} | {split_tokens / 1e3:.0f}k | {train_s / 3600:.1f} h | "
              f"{(prefill_s + decode_s) / 3600:.1f} h | {bench_s / 3600:.1f} h | {hours:.1f} | {4 * hours:.1f} |")
    print(f"all four settings, four losses, one seed: about {total:.0f} GPU hours")


if __name__ == "__main__":
    main()
