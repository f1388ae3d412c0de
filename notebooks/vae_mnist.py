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
# # A VAE retrained on its own samples: plain ELBO against the clipped ELBO
#
# ```{glue:md} verdicts
# :format: myst
# ```
#
# (Computed by this run: the verdicts of the closing table at the end of the chapter.)
#
# **Reproduces:** Section 4.8 and Fig. 9 of the paper: the clipped ELBO
# E_q[χ_γ(p(x|z)) log p(x|z)] − KL(q(z|x) ‖ p(z)) with χ_γ = 1[p ≤ γ], and the claim that recursive
# training with the plain ELBO degrades by the 10th generation while (dynamic) clipping "preserves the
# distinct structure of each digit". The paper shows a picture; we add measurements with spreads over seeds.
#
# **Setting.** The recursive loop of the prior work: generation 0 is an MLP VAE (784 → `hidden` →
# `latent` Gaussian latents → `hidden` → 784 Bernoulli logits) trained on `n_train` real MNIST images;
# each next generation is a fresh VAE trained on `n_train` images sampled from the previous one's prior
# (decoder pixel probabilities, `sample_mode = "mean"`), for `generations` generations and `seeds` seeds.
# Three objectives: the plain **ELBO**; the **clipped** ELBO with a fixed threshold `gamma`, masking the
# reconstruction term of every pixel whose likelihood p(x_i|z) = exp(−BCE_i) exceeds γ; and the
# **dynamic** clipping, γ = clip(mean(p) + `alpha`·std(p), 0, 1) over the pixels of each batch. The KL term
# is never masked.
#
# **Measured collapse.** A small MLP digit classifier, trained once on real MNIST (its test accuracy is
# recorded), scores each generation's samples by its mean confidence, by the entropy of the predicted class
# mix (log 10 ≈ 2.30 when all digits are equally present), and by the Fréchet distance between real and
# generated samples in its 128-d feature space. The first (plain-ELBO, generation 0) VAE of each seed
# encodes every generation's samples: the spread of its encoder means is the prior work's measure.
#
# **Why these defaults.** The book executes this page on two shared CPU cores, so the default run is small:
# 5,000 training images, 6 epochs per generation, a 128-unit VAE with 8 latents, 3 seeds, 10 generations,
# three objectives (90 VAEs, a few minutes). The paper gives none of these. A fuller run, e.g.
# `fortifai run notebooks/vae_mnist.py -p n_train 50000 -p epochs 20 -p hidden 400 -p latent 20 -p seeds 5`,
# takes hours on a laptop CPU.

# %% tags=["parameters"]
source = "auto"  # allowed: auto | package | hub | torchvision | digits
n_train = 5000  # allowed: >= 1
generations = 10  # allowed: >= 1
epochs = 6  # allowed: >= 1
batch_size = 64  # allowed: >= 1
lr = 0.002  # allowed: > 0
hidden = 128  # allowed: >= 1
latent = 8  # allowed: >= 1
gamma = 0.9  # allowed: None or >= 0
alpha = 0.5
sample_mode = "mean"  # allowed: mean | bernoulli
classifier_train = 50000  # allowed: >= 1
classifier_epochs = 5  # allowed: >= 1
seeds = 3  # allowed: >= 1
seed = 0  # allowed: >= 0
output_dir: str | None = None

# %% tags=["hide-input"]
import time

import numpy as np
import torch

from fortifai.book.plotting import FigureLog, use_style
from fortifai.book.report import close_chapter
from fortifai.book.runner import chapter_parameters
from fortifai.claims import vae as vae_claims
from fortifai.results import RunRecord, resolve_output_dir
from fortifai.toys import mnist, vae

use_style()

# %% tags=["hide-input"]
output_dir = resolve_output_dir(output_dir, "vae_mnist")
record = RunRecord(output_dir, params=chapter_parameters("vae_mnist", globals()), seed=seed)
# fail on a bad parameter before any training
vae.check_threshold(gamma=gamma)
vae.check_threshold(alpha=alpha)
methods = {"ELBO": {}, vae.method_label(gamma=gamma): {"gamma": gamma}, vae.method_label(alpha=alpha): {"alpha": alpha}}
timings = {}
figures = FigureLog(output_dir)

# %% [markdown]
# ## Data and the digit classifier

# %%
data = mnist.load_mnist(source)
x_real = torch.from_numpy(data.x_train[:n_train])
t0 = time.perf_counter()
with vae.fast_cpu():
    classifier = vae.train_classifier(torch.from_numpy(data.x_train[:classifier_train]),
                                      torch.from_numpy(data.y_train[:classifier_train]),
                                      epochs=classifier_epochs, seed=seed)
    test_accuracy = vae.accuracy(classifier, torch.from_numpy(data.x_test), torch.from_numpy(data.y_test))
    ref = vae.make_reference(classifier, torch.from_numpy(data.x_test))
timings["classifier_s"] = time.perf_counter() - t0
print(f"classifier accuracy on the {len(data.x_test)} test images: {test_accuracy:.4f}")

# %% [markdown]
# ## The recursive loop
# Seed *s* of every objective starts from the same real images; the Fréchet distance compares with the
# real test images.

# %%
t0 = time.perf_counter()
result = vae.run_recursive(x_real, ref, methods, generations=generations, seeds=seeds, seed=seed,
                           sample_mode=sample_mode, progress=True, epochs=epochs, batch_size=batch_size, lr=lr,
                           hidden=hidden, latent=latent)
summary = vae.summarize(result["per_seed"])
real = {m: float(np.median(v)) for m, v in result["real"].items()}
timings["recursive_s"] = time.perf_counter() - t0

# %% [markdown]
# ## Fig. 9: samples of every generation (rows), seed 0

# %%
fig = vae.plot_samples(result["images"], data.image_shape)
figures.publish(fig, "fig9_samples")

# %% [markdown]
# ## Collapse, measured: median and min–max band over seeds
# Dotted lines: the same measures on real training images.

# %%
fig = vae.plot_metrics(summary, real)
figures.publish(fig, "collapse_metrics")

# %% [markdown]
# A fixed threshold meets a limit of its own here: a grey target pixel x can never be reconstructed with a
# likelihood above exp(−H(x)) (H the binary entropy), so on the grey decoder means that later generations
# train on, γ masks fewer and fewer pixels and the clipped ELBO turns back into the plain ELBO (see
# "pixels masked in training"). The dynamic threshold adapts to the batch and keeps masking.

# %% tags=["hide-input"]
metrics = {
    "setting": {"source": data.source, "image_shape": data.image_shape, "n_train": n_train,
                "generations": generations, "seeds": seeds, "methods": methods},
    "classifier_test_accuracy": test_accuracy,
    "real_data": {m: {"median": real[m], "per_seed": v} for m, v in result["real"].items()},
    "methods": summary,
    "class_mix_median": {label: np.median(v, 0) for label, v in result["class_mix"].items()},
}

# %% [markdown]
# What the default run shows (measured on two shared CPU cores; the table below is recomputed on every run):
# all three objectives degrade, generation after generation, towards grey, similar shapes. The fixed γ
# behaves like the ELBO once it stops masking. The dynamic threshold keeps masking about half of the
# pixels, mostly the confidently white background; those pixels then get no gradient, the background
# drifts grey, and the next generation inherits the grey. At this scale dynamic clipping loses digit
# diversity *faster* than the ELBO (class entropy and the spread of the first encoder's means fall
# further) even where its Fréchet distance is similar or lower. The paper does not give its VAE, its α,
# its data size or its training length, so a larger run may behave differently; we report what we measure.
#
# ## Verdict
# Computed from `metrics.json` by {mod}`fortifai.claims.vae`: each objective's last generation against the plain
# ELBO's, seed by seed (reproduced: better in every seed and by more than the ELBO's seed-to-seed range; partly:
# better in most seeds; not reproduced otherwise). "Better" means a smaller Fréchet distance to real digits and,
# for the "distinct digits" claim, a class mix closer to uniform (higher entropy).

# %% tags=["hide-input"]
close_chapter("vae_mnist", record, metrics, vae_claims.claims(metrics), ours=vae_claims.OURS, timings=timings)
