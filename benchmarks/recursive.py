"""Throughput of the recursive engine's two costs, training and regeneration, per model on this machine.

Prints, per model, training tokens/s (forward + TCE loss + backward + AdamW step at the tier's block and
batch size) and regeneration tokens/s at the tier's decoding, twice: through ``model.generate`` (each prompt
copied once per beam before its first forward pass) and through :func:`fortifai.lm.decoding.beam_search` (each
prompt run once, its KV cache repeated over the beams; the same tokens), interleaved, the median of repeated
runs, and the ratios measured in the same run. Then the same two costs (training, and regeneration through
``beam_search``) in fp32 and under bfloat16 autocast (``precision: bf16`` of a recursive run), interleaved, and
their ratio: a tier adopts bf16 (``precision: bf16``, training only) where it wins by at least 1.3x.

    python benchmarks/recursive.py --models smollm2-135m --preset presets/llm_recursive/smollm2.yaml
    python benchmarks/recursive.py --models scratch-llama-small --preset presets/llm_recursive/cpu.yaml

Scratch models are pretrained (and cached) on first use; hub or GGUF models load as in the engine.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
import yaml

from fortifai import recursive
from fortifai.lm import corpus, models, pretrain
from fortifai.lm.decoding import beam_search
from fortifai.losses import causal_lm_loss


def load(name: str, texts: list[str]):
    if name in pretrain.SCRATCH_MODELS:
        return pretrain.load_scratch(pretrain.pretrain(name, texts, progress=False))
    return models.load_model(name)


def training_rate(model, tokenizer, texts, block_size: int, batch_size: int, repeats: int,
                  bf16: bool = False) -> float:
    from fortifai.lm.lmdata import block_dataset

    blocks = block_dataset(tokenizer, texts, block_size).blocks[:batch_size]
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    model.train()
    times = []
    for _ in range(repeats + 1):  # the first step warms up allocators and kernels
        started = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(input_ids=blocks).logits
        causal_lm_loss(logits, blocks, "tce", gamma=0.9).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - started)
    return blocks.numel() / statistics.median(times[1:])


def window_batch(tokenizer, texts, config, windows: int):
    """The first ``windows`` windows of a split's token stream, as regenerate() batches them."""
    stream = tokenizer("\n\n".join(texts), add_special_tokens=False)["input_ids"]
    starts = list(range(config.context_tokens, len(stream), config.new_tokens))[:windows]
    rows = [stream[max(0, s - config.context_tokens):s] for s in starts]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    width = max(len(r) for r in rows)
    ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows])
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
    return ids, mask, pad


def generation_rates(model, tokenizer, texts, config, windows: int, repeats: int) -> tuple[float, float]:
    ids, mask, pad = window_batch(tokenizer, texts, config, windows)
    eos = model.generation_config.eos_token_id
    eos = [e for e in (eos if isinstance(eos, list) else [eos]) if e is not None]
    model.eval()
    per_path = {"generate": [], "beam_search": []}
    for _ in range(repeats):  # interleaved, so that load falls on both alike
        with torch.no_grad():
            started = time.perf_counter()
            model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=config.new_tokens,
                           min_new_tokens=config.new_tokens, num_beams=config.num_beams, do_sample=False,
                           repetition_penalty=config.repetition_penalty, pad_token_id=pad)
            per_path["generate"].append(time.perf_counter() - started)
            started = time.perf_counter()
            beam_search(model, ids, mask, config.num_beams, config.new_tokens, config.repetition_penalty, eos)
            per_path["beam_search"].append(time.perf_counter() - started)
    tokens = ids.shape[0] * config.new_tokens
    return tuple(tokens / statistics.median(per_path[k]) for k in ("generate", "beam_search"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["smollm2-135m"])
    parser.add_argument("--preset", type=Path, default=Path("presets/llm_recursive/smollm2.yaml"),
                        help="the tier whose shapes are measured (block, batch, context, new tokens, beams)")
    parser.add_argument("--windows", type=int, default=8, help="regeneration windows per batch")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    preset = {k: v for k, v in (yaml.safe_load(args.preset.read_text()) or {}).items() if k not in ("methods", "seeds")}
    config = recursive.RecursiveConfig.from_dict(preset)
    data = recursive.make_splits(corpus.load_paragraphs(config.dataset, min_words=config.min_paragraph_words),
                                 config.stages, config.split_paragraphs, config.heldout_paragraphs, seed=0,
                                 pretrain_paragraphs=config.pretrain_paragraphs)
    pretrain_texts, sample = data["rest"], data["heldout"]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {args.preset.name}: block {config.block_size}, "
          f"batch {config.batch_size}, context {config.context_tokens}, {config.new_tokens} new tokens, "
          f"{config.num_beams} beams, {args.windows} windows per batch")
    print(f"{'model':<22}{'params M':>9}{'train tok/s':>13}{'generate() tok/s':>18}{'beam_search tok/s':>19}"
          f"{'speed-up':>10}{'train/regen':>13}")
    for name in args.models:
        model, tokenizer = load(name, pretrain_texts)
        params = sum(p.numel() for p in model.parameters()) / 1e6
        train = training_rate(model, tokenizer, sample * 4, config.block_size, config.batch_size, args.repeats)
        hf, ours = generation_rates(model, tokenizer, sample * 4, config, args.windows, args.repeats)
        print(f"{name:<22}{params:>9.2f}{train:>13.0f}{hf:>18.1f}{ours:>19.1f}{ours / hf:>9.2f}x{train / ours:>12.0f}x")
        precision_table(model, tokenizer, sample * 4, config, args.windows, args.repeats)


def precision_table(model, tokenizer, texts, config, windows: int, repeats: int) -> None:
    """Training and regeneration tokens/s in fp32 and under bf16 autocast, interleaved, and their ratios."""
    ids, mask, _ = window_batch(tokenizer, texts, config, windows)
    eos = model.generation_config.eos_token_id
    eos = [e for e in (eos if isinstance(eos, list) else [eos]) if e is not None]
    train = {"fp32": [], "bf16": []}
    regen = {"fp32": [], "bf16": []}
    model.eval()
    for _ in range(repeats):
        for name in ("fp32", "bf16"):
            train[name].append(training_rate(model, tokenizer, texts, config.block_size, config.batch_size, 1,
                                             bf16=name == "bf16"))
            model.eval()
            with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=name == "bf16"):
                started = time.perf_counter()
                beam_search(model, ids, mask, config.num_beams, config.new_tokens, config.repetition_penalty, eos)
                regen[name].append(ids.shape[0] * config.new_tokens / (time.perf_counter() - started))
    print(f"{'precision':<12}{'train tok/s':>13}{'regenerate tok/s':>18}")
    for name in ("fp32", "bf16"):
        print(f"{name:<12}{statistics.median(train[name]):>13.0f}{statistics.median(regen[name]):>18.1f}")
    print(f"{'bf16/fp32':<12}{statistics.median(train['bf16']) / statistics.median(train['fp32']):>12.2f}x"
          f"{statistics.median(regen['bf16']) / statistics.median(regen['fp32']):>17.2f}x")


if __name__ == "__main__":
    main()
