"""The losses chapter's computations: the losses and their gradients as functions of p_t, what the TCE mask
removes from real text under a word-level bigram model, the identities the closing table rests on, a few
Trainer steps, and the committed benchmark tables.

    p, curves = loss_curves(0.9, [1.0, 2.0])               # {label: (loss, grad)} on a grid of p_t
    text = bigram_mask(words, vocab_size=5000, prior=1.0, train_fraction=0.8, gamma=0.9, alpha=1.0)
    checks = identity_checks(seed=0)                       # TCE(gamma=1) and FL(gamma=0) against F.cross_entropy
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..losses.functional import dynamic_threshold, focal_loss, truncated_cross_entropy
from ..losses.spec import Method

HEAD_SHAPES_YAML = Path(__file__).resolve().parent.parent / "data" / "losses_head_shapes.yaml"
FOCAL_WEIGHT_GAMMA = 2.0  # the focal weight (1 - p_t)^gamma reported per frequency bucket


def loss_curves(tce_gamma: float, focal_gammas, points: int = 2000) -> tuple[np.ndarray, dict[str, tuple]]:
    """CE, TCE(``tce_gamma``) and focal loss per ``focal_gammas`` on two-class logits ``(log p, log(1-p))`` over a
    grid of ``p`` in float64: per loss label ``(loss, d loss / d z_t)``, the gradient by autograd."""
    p = torch.linspace(1e-3, 1 - 1e-4, points, dtype=torch.float64)
    target = torch.zeros(len(p), dtype=torch.long)

    def curve(fn, **kwargs):
        logits = torch.stack([p.log(), (1 - p).log()], 1).requires_grad_()
        loss = fn(logits, target, reduction="none", **kwargs)
        (grad,) = torch.autograd.grad(loss.sum(), logits)
        return loss.detach().numpy(), grad[:, 0].numpy()

    curves = {Method("ce").label: curve(F.cross_entropy),
              Method("tce", tce_gamma).label: curve(truncated_cross_entropy, gamma=tce_gamma)}
    for g in focal_gammas:
        curves[Method("focal", g).label] = curve(focal_loss, gamma=g)
    return p.numpy(), curves


def curve_facts(p: np.ndarray, curves: dict[str, tuple], tce_gamma: float, focal_gammas) -> dict[str, float]:
    """What the curves must show, as numbers: TCE equals CE below gamma and has no gradient above it, CE's gradient
    is -(1 - p), and focal over CE at p = 0.1 and 0.9."""
    ce_loss, ce_grad = curves[Method("ce").label]
    tce_loss, tce_grad = curves[Method("tce", tce_gamma).label]
    above = p > tce_gamma
    facts = {
        "tce_equals_ce_below_gamma_max_abs_diff": float(np.abs(tce_loss[~above] - ce_loss[~above]).max()),
        "tce_max_abs_grad_above_gamma": float(np.abs(tce_grad[above]).max()),
        "ce_grad_equals_minus_one_minus_p_max_abs_diff": float(np.abs(ce_grad + (1 - p)).max()),
    }
    i_low, i_high = np.searchsorted(p, [0.1, 0.9])
    for g in focal_gammas:
        fl, _ = curves[Method("focal", g).label]
        facts[f"focal_{g:g}_over_ce_at_p0.1"] = float(fl[i_low] / ce_loss[i_low])
        facts[f"focal_{g:g}_over_ce_at_p0.9"] = float(fl[i_high] / ce_loss[i_high])
    return facts


def plot_curves(p: np.ndarray, curves: dict[str, tuple], tce_gamma: float):
    """The losses (left) and their gradient with respect to the target's logit (right), gamma dotted."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for name, (loss, grad) in curves.items():
        axes[0].plot(p, loss, label=name)
        axes[1].plot(p, grad, label=name)
    axes[0].set(xlabel="$p_t$", ylabel="loss", ylim=(0, 4), title="loss")
    axes[1].set(xlabel="$p_t$", ylabel=r"$\partial L / \partial z_t$", title="gradient w.r.t. the target logit")
    for ax in axes:
        ax.axvline(tce_gamma, color="grey", lw=0.8, ls=":")
    axes[0].legend()
    fig.tight_layout()
    return fig


def tokenize_words(text: str) -> list[str]:
    """Words and punctuation marks, in order (the bigram model's tokens)."""
    return re.findall(r"\w+|[^\w\s]", text)


class BigramModel:
    """A word-level bigram model ``P(w_t | w_{t-1})`` counted on ``train_ids``, with a Dirichlet prior of mass
    ``prior`` towards the unigram distribution; ``log_p[prev]`` are next-token logits (softmax normalises them)."""

    def __init__(self, train_ids: np.ndarray, vocab_size: int, prior: float):
        V = vocab_size
        pairs = np.bincount(train_ids[:-1] * V + train_ids[1:], minlength=V * V).reshape(V, V).astype(np.float32)
        unigram = np.bincount(train_ids, minlength=V).astype(np.float32)
        unigram /= unigram.sum()
        self.log_p = torch.from_numpy(np.log(pairs + prior * unigram[None, :]))


def encode(words: list[str], vocab_size: int, train_fraction: float) -> dict[str, Any]:
    """Ids of ``words`` by frequency rank in the first ``train_fraction`` of them (the ``vocab_size`` most frequent
    words; ``<unk>``, the last id, for the rest): ``{"ids", "split", "V"}``."""
    split = int(train_fraction * len(words))
    uniq, counts = np.unique(np.array(words[:split]), return_counts=True)
    order = np.argsort(-counts, kind="stable")[:vocab_size]
    vocab = {w: i for i, w in enumerate(uniq[order])}
    unk = len(vocab)
    return {"ids": np.array([vocab.get(w, unk) for w in words], dtype=np.int64), "split": split, "V": unk + 1}


def bigram_mask(words: list[str], vocab_size: int, prior: float, train_fraction: float, gamma: float, alpha: float,
                chunk: int = 4096) -> tuple[dict[str, Any], dict[str, Any]]:
    """What TCE(``gamma``) masks on the held-out rest of ``words`` under a bigram model counted on the first
    ``train_fraction``: the masked fraction by the library (``return_masked_fraction``) and by an independent
    ``p_t > gamma`` from ``F.cross_entropy``, the share of the CE removed, the dynamic threshold (``alpha``) and its
    mask, and per frequency bucket of the target word the same shares and the mean focal weight. Returns that dict
    and the encoding (ids, split, vocabulary size) for reuse."""
    enc = encode(words, vocab_size, train_fraction)
    ids, split, V = enc["ids"], enc["split"], enc["V"]
    log_p = BigramModel(ids[:split], V, prior).log_p
    test_ids = ids[split:]
    prev, nxt = torch.from_numpy(test_ids[:-1]), torch.from_numpy(test_ids[1:])
    p_t, masked_fracs, n_tokens = [], [], []
    for i in range(0, len(prev), chunk):
        logits, tgt = log_p[prev[i: i + chunk]], nxt[i: i + chunk]
        _, frac = truncated_cross_entropy(logits, tgt, gamma, return_masked_fraction=True)
        masked_fracs.append(frac.item())
        n_tokens.append(len(tgt))
        p_t.append(torch.exp(-F.cross_entropy(logits, tgt, reduction="none")))  # independent check of the mask
    p_t = torch.cat(p_t)
    ce = -p_t.log()
    masked = p_t > gamma
    gamma_dyn = dynamic_threshold(p_t, alpha).item()
    return {
        "tokens_train": int(split), "tokens_heldout": int(len(nxt)), "vocab": int(V),
        "masked_fraction_library": float(np.average(masked_fracs, weights=n_tokens)),
        "masked_fraction_check": masked.float().mean().item(),
        "share_of_ce_removed": (ce[masked].sum() / ce.sum()).item(),
        "dynamic_gamma": gamma_dyn,
        "dynamic_masked_fraction": (p_t > gamma_dyn).float().mean().item(),
        "buckets": frequency_buckets(nxt.numpy(), p_t, gamma, vocab_size, V),
    }, enc


def bucket_labels(vocab_size: int) -> tuple[list[int], list[str]]:
    """Rank edges and labels of the frequency buckets: 1-10, 11-100, 101-1k, 1k-``vocab_size``, ``<unk>``."""
    return [0, 10, 100, 1000, vocab_size], ["1-10", "11-100", "101-1k", f"1k-{vocab_size // 1000}k", "<unk>"]


def frequency_buckets(rank: np.ndarray, p_t: torch.Tensor, gamma: float, vocab_size: int, V: int) -> list[dict]:
    """Per frequency bucket of the target's rank (ids are ranks, ``<unk>`` last): its share of the tokens, the
    share masked (``p_t > gamma``), the share of its CE removed, and the mean focal weight ``(1 - p_t)^2``."""
    edges, labels = bucket_labels(vocab_size)
    bucket = np.digitize(rank, edges[1:], right=False)
    ce, masked = -p_t.log(), p_t > gamma
    rows = []
    for b, label in enumerate(labels):
        sel = torch.from_numpy(bucket == b)
        rows.append({
            "bucket": label,
            "share_of_tokens": sel.float().mean().item(),
            "masked_fraction": masked[sel].float().mean().item(),
            "share_of_ce_removed": (ce[sel & masked].sum() / ce[sel].sum()).item(),
            "mean_focal_weight_gamma2": ((1 - p_t[sel]) ** FOCAL_WEIGHT_GAMMA).mean().item(),
        })
    return rows


def plot_buckets(rows: list[dict], gamma: float):
    """Per frequency bucket: the share of tokens masked and the share of its CE removed."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.4))
    x = np.arange(len(rows))
    ax.bar(x - 0.2, [r["masked_fraction"] for r in rows], 0.4, label=f"tokens masked (p_t > {gamma})")
    ax.bar(x + 0.2, [r["share_of_ce_removed"] for r in rows], 0.4, label="share of the bucket's CE removed")
    ax.set(xticks=x, xticklabels=[r["bucket"] for r in rows], xlabel="frequency rank of the target word",
           ylabel="fraction", title="TCE mask on held-out Wikipedia text (bigram model)")
    ax.legend()
    fig.tight_layout()
    return fig


def identity_checks(seed: int = 0, n: int = 256, classes: int = 50, gamma: float = 0.2) -> dict[str, float]:
    """The identities the closing table states, in float64 on random logits with ignored targets: TCE with gamma
    = 1 and focal loss with gamma = 0 against ``F.cross_entropy`` (max abs difference of value and gradient), and
    the largest gradient at the tokens TCE(``gamma``) masks (by ``softmax > gamma``, computed apart)."""
    g = torch.Generator().manual_seed(seed)
    logits = (3 * torch.randn(n, classes, generator=g, dtype=torch.float64)).requires_grad_()
    tgt = torch.randint(0, classes, (n,), generator=g)
    tgt[::5] = -100

    def diff(fn_a, fn_b):
        a, b = fn_a(logits), fn_b(logits)
        ga, gb = torch.autograd.grad(a, logits)[0], torch.autograd.grad(b, logits)[0]
        return max((a - b).abs().item(), (ga - gb).abs().max().item())

    def ref(z):
        return F.cross_entropy(z, tgt)

    probs = torch.softmax(logits.detach(), -1).gather(1, tgt.clamp_min(0)[:, None]).squeeze(1)
    masked_rows = (probs > gamma) & (tgt >= 0)
    grad = torch.autograd.grad(truncated_cross_entropy(logits, tgt, gamma), logits)[0]
    return {
        "tce_gamma1_vs_F_cross_entropy": diff(lambda z: truncated_cross_entropy(z, tgt, 1.0), ref),
        "focal_gamma0_vs_F_cross_entropy": diff(lambda z: focal_loss(z, tgt, 0.0), ref),
        "max_abs_grad_at_masked_tokens": grad[masked_rows].abs().max().item(),
        "n_masked_tokens": int(masked_rows.sum()),
    }


def trainer_demo(train_ids: np.ndarray, vocab_size: int, gamma: float, steps: int, output_dir: str | Path,
                 seed: int = 0) -> dict[str, float]:
    """``steps`` steps of ``transformers.Trainer`` with ``compute_loss_func("tce", gamma=gamma)`` on a tiny random
    Llama over 16 sequences of 32 ids of ``train_ids`` (batch 4, two accumulation steps): the training loss and the
    masked fraction of the last micro-batch."""
    from transformers import LlamaConfig, LlamaForCausalLM, Trainer, TrainingArguments

    from ..losses.causal_lm import compute_loss_func

    config = LlamaConfig(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    model = LlamaForCausalLM(config)
    seq = torch.from_numpy(train_ids[: 16 * 32].reshape(16, 32))
    args = TrainingArguments(output_dir=str(Path(output_dir) / "scratch"), per_device_train_batch_size=4,
                             gradient_accumulation_steps=2, max_steps=steps, learning_rate=1e-3, use_cpu=True,
                             report_to="none", save_strategy="no", logging_steps=1, disable_tqdm=True, seed=seed)
    loss_fn = compute_loss_func("tce", gamma=gamma)
    result = Trainer(model=model, args=args, train_dataset=[{"input_ids": r, "labels": r} for r in seq],
                     compute_loss_func=loss_fn).train()
    return {"steps": steps, "training_loss": result.training_loss,
            "last_masked_fraction": loss_fn.masked_fraction.item()}


CASE_LABELS = {"ce": "`F.cross_entropy`", "ce_fortifai": "ce (ours)", "authors_tce": "authors' TCE",
               "linear+tce": "linear + tce", "chunked_tce": "chunked tce",
               "llama_authors": "Llama step, authors' pattern",
               "llama_ours": "Llama step, our Trainer glue", "llama_lean": "Llama step, lean (chunked) glue"}
REMEASURED = {"linear+tce", "chunked_tce", "llama_authors", "llama_ours", "llama_lean"}  # † rows: measured again after the chunked path kept one weight gradient


def full_size_markdown(benchmark: dict[str, Any]) -> str:
    """The committed full-size run of ``benchmarks/losses.py`` (``claims.losses.load_benchmark()``) as a table:
    time and peak memory with their ratios to each row's baseline; † marks the rows measured again after the chunked path kept one weight gradient."""
    lines = ["| V | case | time ms | × base | peak MB | × base | base |", "|---|---|---:|---:|---:|---:|---|"]
    for r in benchmark["rows"]:
        label = CASE_LABELS.get(r["case"], r["case"]) + (" †" if r["case"] in REMEASURED else "")
        lines.append(f"| {r['V'] // 1000}k | {label} | {r['time_ms']:.0f} | {r['time_ratio']:.2f} | "
                     f"{r['peak_mb']:.0f} | {r['mem_ratio']:.2f} | {r['baseline']} |")
    return "\n".join(lines)


def head_shapes_markdown(path: str | Path = HEAD_SHAPES_YAML) -> str:
    """The committed LM-head measurements at real shapes (``fortifai/data/losses_head_shapes.yaml``) as a table;
    ‡ marks single runs or runs under heavier load."""
    import yaml

    rows = yaml.safe_load(Path(path).read_text())["rows"]
    lines = ["| N, H, V | case | time s | × plain | peak MB | × plain | limit MB |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        n, h, v = (int(x) for x in r["shape"].split(","))
        label = r["label"] + (" ‡" if r.get("marked") else "")
        lines.append(f"| {n}, {h}, {v // 1000}k | {label} | {r['time_s']:.1f} | "
                     f"{r['time_ratio']:.2f} | {r['peak_mb']:.0f} | {r['mem_ratio']:.2f} | {r['limit_mb']:.0f} |")
    return "\n".join(lines)


def quick_markdown(rows: list[dict]) -> str:
    """The chapter's quick benchmark rows (``benchmark.quick_benchmark``) as a table."""
    lines = ["| case | time ms | × base | base | peak MB | × base |", "|---|---:|---:|---|---:|---:|"]
    for r in rows:
        mem = (f"{r['peak_mb']:.1f} | {r['mem_vs_base']:.2f}" if r["peak_mb"] is not None else " | ")
        lines.append(f"| {r['case']} | {r['time_ms']:.1f} | {r['time_vs_base']:.2f} | {r['base']} | {mem} |")
    return "\n".join(lines)
