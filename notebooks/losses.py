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
# ```{glue:md} verdicts
# :format: myst
# ```
#
# (Computed by this run: the verdicts of the closing table at the end of the chapter.)
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
text = "wikipedia-offline"  # a fortifai.lm.corpus source or a text file ("wikitext-2-test": a copy or the hub); allowed: text source
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

# %% tags=["hide-input"]
import time

import torch
from IPython.display import Markdown, display

from fortifai.book.plotting import FigureLog, use_style
from fortifai.book.report import close_chapter
from fortifai.book.runner import chapter_parameters
from fortifai.claims import losses as loss_claims
from fortifai.lm.corpus import load_paragraphs
from fortifai.losses import benchmark
from fortifai.chapters import losses as loss_chapter
from fortifai.results import RunRecord, resolve_output_dir

use_style()

# %% tags=["hide-input"]
output_dir = resolve_output_dir(output_dir, "losses")
record = RunRecord(output_dir, params=chapter_parameters("losses", globals()), seed=seed)
torch.manual_seed(seed)
timings, metrics, figures = {}, {}, FigureLog(output_dir)

# %% [markdown]
# ## 1. The losses and their gradients as functions of $p_t$
#
# We evaluate the library functions themselves on two-class logits $(\log p_t, \log(1-p_t))$ and take the
# gradient with autograd, so the curves are what training sees. The gradient shown is with respect to the
# target's logit $z_t$; for CE it is $-(1-p_t)$. TCE is CE up to $\gamma$ and exactly zero above it (loss and
# gradient); focal loss bends smoothly towards zero as $p_t \to 1$, with its gradient through $(1-p_t)^\gamma$.

# %%
t0 = time.perf_counter()
p, curves = loss_chapter.loss_curves(tce_gamma, focal_gammas)
figures.publish(loss_chapter.plot_curves(p, curves, tce_gamma), "loss_curves")
metrics["curves"] = loss_chapter.curve_facts(p, curves, tce_gamma, focal_gammas)  # what the curves must show
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
words = loss_chapter.tokenize_words("\n".join(load_paragraphs(text)))
metrics["text"], encoded = loss_chapter.bigram_mask(words, bigram_vocab, bigram_prior, train_fraction, tce_gamma,
                                                    dynamic_alpha)
figures.publish(loss_chapter.plot_buckets(metrics["text"]["buckets"], tce_gamma), "masked_fraction_by_frequency")
timings["text_s"] = time.perf_counter() - t0
{k: v for k, v in metrics["text"].items() if k != "buckets"}, metrics["text"]["buckets"]

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
# Below, a quick run of the cases `benchmarks/losses.py` measures (`fortifai.losses.benchmark.quick_benchmark`) at
# $N$ = `bench_tokens`, $V$ = `bench_vocab` (time: median of
# `bench_repeats` interleaved runs; memory: rise of peak RSS in a fresh process). Ratios are to `F.cross_entropy`
# for the loss rows and to the plain `linear + tce` path for the chunked row.

# %%
t0 = time.perf_counter()
cases = ["ce", "tce", "focal", "authors_tce", "linear+tce", "chunked_tce"]
# memory only for ce and tce: at this size the chunked path runs as a single chunk, so its memory says nothing
quick = benchmark.quick_benchmark(cases, bench_tokens, bench_vocab, bench_hidden, bench_repeats, seed=seed)
metrics["benchmark_quick"] = {"tokens": bench_tokens, "vocab": bench_vocab, "hidden": bench_hidden, "rows": quick}
timings["benchmark_s"] = time.perf_counter() - t0
display(Markdown(loss_chapter.quick_markdown(quick)))

# %% [markdown]
# **Full size** (`python benchmarks/losses.py --repeats 3`: $N = 4096$ tokens, float32, $H = 256$ for the
# linear rows, 2 shared CPU cores, torch 2.13 CPU; measured by us and stated here, not re-run by the book).
# Time in ms (median of 3) and peak memory added by the step in MB, each with its ratio to the baseline. The rows
# marked † were measured again after the chunked path changed (it now holds one weight gradient and one chunk
# buffer; memory is measured with the inputs made in place), under a load average of 5 to 9 on the two cores from
# other jobs, so their absolute times are slower than the other rows'; each ratio is to a baseline of its own run.
# The rows are read from the committed run, `results/benchmarks/losses.json`, never typed here.

# %%
metrics["benchmark_full_size"] = loss_claims.load_benchmark()  # results/benchmarks/losses.json, with its provenance
display(Markdown(loss_chapter.full_size_markdown(metrics["benchmark_full_size"])))

# %% [markdown]
# The 32k rows are medians of 3; the 262k rows are single timed runs (a 262k CE step takes ~30 s on two idle
# cores, so we ran fewer repeats and skipped 128k). The Llama step is a 2-layer, width-256 Llama on 8 × 512
# tokens. At 262k `F.cross_entropy` holds three $(N, V)$ float32 buffers (12 GB), ours one (4 GB); the chunked
# path adds 0.4 GB instead of 8 GB. With one chunk buffer and no second weight gradient the lean Llama step is
# now both the leanest and the fastest.
#
# **At real LM-head shapes** (`python benchmarks/losses.py --vocab --no-llama --head-shapes N,H,V`;
# float32, TCE γ = 0.9, ratios to the plain path of the same run; same load as above). At $H = 256$ the weight
# gradient is negligible; at a real head it is as large as the logits, and every path must hold it once. The
# target: peak ≤ weight gradient + 0.25 × logits, time ≤ 1.3 × the plain path. The rows are read from
# `fortifai/data/losses_head_shapes.yaml`, where their provenance is.

# %%
display(Markdown(loss_chapter.head_shapes_markdown()))  # fortifai/data/losses_head_shapes.yaml, with its provenance

# %% [markdown]
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
metrics["trainer"] = loss_chapter.trainer_demo(encoded["ids"][: encoded["split"]], encoded["V"], tce_gamma,
                                               trainer_steps, output_dir, seed=seed)
timings["trainer_s"] = time.perf_counter() - t0
print(f"train loss {metrics['trainer']['training_loss']:.3f}, masked fraction on the last micro-batch "
      f"{metrics['trainer']['last_masked_fraction']:.3f}")

# %% [markdown]
# (A randomly initialised model puts $p_t \approx 1/V$ on every token, so it masks nothing yet: TCE starts as
# CE and truncates only once the model becomes confident.)
#
# ## Checks against independent references
#
# The identities the closing table states, in float64 on random logits with ignored targets
# (`fortifai.chapters.losses.identity_checks`): TCE with $\gamma = 1$ and focal loss with $\gamma = 0$ against
# `F.cross_entropy`, and the gradient at the tokens TCE masks. The losses' other properties are tested in
# `tests/test_losses.py`.

# %%
metrics["checks"] = loss_chapter.identity_checks(seed)
metrics["checks"]

# %% [markdown]
# ## Summary
#
# The paper's claims about the losses, the cost targets of our implementation, and what we measured, from
# {mod}`fortifai.claims.losses`. The full-size numbers are read from the committed run of `benchmarks/losses.py`
# (`results/benchmarks/losses.json`, with its provenance); the rest are computed above, in this run.

# %% tags=["hide-input"]
print("full size:", metrics["benchmark_full_size"]["provenance"])
close_chapter("losses", record, metrics, loss_claims.claims(metrics), ours=loss_claims.OURS, timings=timings)
