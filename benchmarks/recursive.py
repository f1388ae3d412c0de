"""Throughput of the recursive engine's two costs, training and regeneration, per model on this machine.

Prints, per model, training tokens/s (forward + TCE loss + backward + AdamW step at the tier's block and
batch size) and regeneration tokens/s (fortifai.recursive.regenerate with the tier's decoding), the median
of repeated runs, and the ratio of the two measured in the same run (how many training tokens one
regenerated token costs).

    python benchmarks/recursive.py [--models scratch-llama-tiny scratch-llama-small] [--repeats 3]

Scratch models are pretrained (and cached) on first use; hub or GGUF models load as in the engine.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from fortifai import corpus, models, pretrain, recursive
from fortifai.losses import causal_lm_loss


def load(name: str, texts: list[str]):
    if name in pretrain.SCRATCH_MODELS:
        return pretrain.load_scratch(pretrain.pretrain(name, texts, progress=False))
    return models.load_model(name)


def training_rate(model, tokenizer, texts, block_size: int, batch_size: int, repeats: int) -> float:
    from fortifai.lmdata import block_dataset

    blocks = block_dataset(tokenizer, texts, block_size).blocks[:batch_size]
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    model.train()
    times = []
    for _ in range(repeats + 1):  # the first step warms up allocators and kernels
        started = time.perf_counter()
        logits = model(input_ids=blocks).logits
        causal_lm_loss(logits, blocks, "tce", gamma=0.9).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - started)
    return blocks.numel() / statistics.median(times[1:])


def generation_rate(model, tokenizer, texts, config, repeats: int) -> float:
    rates = []
    for _ in range(repeats):
        _, stats = recursive.regenerate(model, tokenizer, texts, config, progress=False)
        rates.append(stats["tokens_per_second"])
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["scratch-llama-tiny", "scratch-llama-small"])
    parser.add_argument("--dataset", default="wikipedia-offline")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    # the cpu tier's split of the corpus, so that its cached scratch model is reused
    data = recursive.make_splits(corpus.load_paragraphs(args.dataset, min_words=60), 6, 24, 24, seed=0)
    pretrain_texts, sample = data["rest"][:4000], data["heldout"][:8]
    config = recursive.RecursiveConfig(context_tokens=128, new_tokens=32, num_beams=5, generation_batch_size=64)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; cpu-tier shapes: block 128, batch 16, "
          f"context {config.context_tokens}, {config.new_tokens} new tokens, {config.num_beams} beams")
    print(f"{'model':<24}{'params M':>9}{'train tok/s':>13}{'generate tok/s':>16}{'train/generate':>16}")
    for name in args.models:
        model, tokenizer = load(name, pretrain_texts)
        params = sum(p.numel() for p in model.parameters()) / 1e6
        train = training_rate(model, tokenizer, sample * 4, 128, 16, args.repeats)
        model.eval()
        generate = generation_rate(model, tokenizer, sample[:4], config, args.repeats)
        print(f"{name:<24}{params:>9.2f}{train:>13.0f}{generate:>16.1f}{train / generate:>15.0f}x")


if __name__ == "__main__":
    main()
