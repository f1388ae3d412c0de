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
# # A Gaussian that eats its own samples
#
# ```{glue:md} verdicts
# :format: myst
# ```
#
# (Computed by this run: the verdicts of the closing table at the end of the chapter.)
#
# This chapter reproduces the paper's **mathematical intuition** (Sec. 2.3): **Fig. 2** and
# **Eqs. 1-4**, and the toy example of **Appendix C (Fig. C4)**.
#
# **Setting.** A one-dimensional Gaussian is refitted, generation after generation, to samples of its
# predecessor. Generation $t$ fits $\mu_t, \sigma_t$ by maximum likelihood to its training samples;
# generation $t+1$ is trained on `n_samples` draws from $\mathcal N(\mu_t, (\lambda\sigma_t)^2)$, where
# $\lambda$ is the paper's *sampling bias* (0.9 in Fig. 2). We read $\lambda$ as Eq. 1 states it,
# $\mathbb E[\sigma_t \mid \sigma_{t-1}] = \lambda\,\sigma_{t-1}$: each round of sampling loses a fraction
# $1-\lambda$ of the spread, the way greedy or low-temperature decoding loses the tails of a language model.
#
# **The TCE analogue.** With threshold $\gamma$, generation $t+1$ drops, before fitting, the $(1-\gamma)$
# fraction of its samples that are *most likely* under the model that generated them, which is the rule
# of the paper's Algorithm 2 (Appendix F). For a Gaussian the most likely samples are those closest to
# the mean, so what is kept is the tails $|x-\mu| \ge a\sigma$ with $P(|Z| \ge a) = \gamma$, that is
# $a = \Phi^{-1}(1-\gamma/2)$. Eqs. 2-4 then predict
#
# $$\mathbb E[\sigma_t^2] = \left(\lambda^2\,\eta(a)\right)^t \sigma_0^2,\qquad \eta(a) = 1 + \frac{a\,\phi(a)}{1-\Phi(a)}.$$
#
# "CE" is plain maximum likelihood on all samples ($\gamma$ = `None`).
#
# ```{note}
# The paper does not say how $\gamma$ maps to the truncation point $a$, nor how the sampling bias enters
# the simulation; Fig. 2 labels the sampling bias $\gamma = 0.9$ too. The reading above (drop the
# $1-\gamma$ most likely fraction; $\lambda$ multiplies the sampling standard deviation) is **ours**.
# It is the one under which the paper's Eq. 4 is exact, so the theory lines below are a real test of
# the simulation, not a fit to it. Eq. 4 as printed has $\lambda$ where the squared quantity needs
# $\lambda^2$; we use $\lambda^2$, consistent with Eq. 1.
# ```

# %% tags=["parameters"]
generations = 100  # generations of the self-consuming loop (Fig. 2); allowed: >= 1
n_samples = 10000  # samples drawn per generation; allowed: >= 2
sampling_bias = 0.9  # lambda of Eq. 1; allowed: > 0
gammas = [None, 0.85, 0.8]  # TCE thresholds; None is plain maximum likelihood (CE); allowed: each None or (0, 1]
seeds = 20  # independent chains per setting; allowed: >= 1
seed = 0  # allowed: >= 0
collapse_fraction = 0.1  # "collapsed": variance below this fraction of its start; allowed: (0, 1)
blowup_factor = 10.0  # "diverged": variance above this multiple of its start; allowed: > 1
sweep_gammas = [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0]  # allowed: each (0, 1]
sweep_sampling_biases = [0.8, 0.825, 0.85, 0.875, 0.9, 0.925, 0.95, 0.975, 1.0]  # allowed: each > 0
sweep_generations = 200  # allowed: >= 1
sweep_seeds = 5  # allowed: >= 1
sweep_n_samples = 2000  # allowed: >= 2
estimator_generations = 1000  # Appendix C, Fig. C4; allowed: >= 1
estimator_noise = 0.1  # relative noise of the noisy estimator (see Appendix C below); allowed: >= 0
output_dir: str | None = None

# %% tags=["hide-input"]
import time

import numpy as np
from IPython.display import Markdown, display

from fortifai.book.plotting import FigureLog, use_style
from fortifai.book.report import close_chapter
from fortifai.book.runner import chapter_parameters
from fortifai.claims import gaussian as gaussian_claims
from fortifai.results import RunRecord, resolve_output_dir
from fortifai.toys import gaussian, gaussian_figures

use_style()
output_dir = resolve_output_dir(output_dir, "gaussian_variance")
record = RunRecord(output_dir, params=chapter_parameters("gaussian_variance", globals()), seed=seed)
timings = {}
figures = FigureLog(output_dir)

# %% [markdown]
# ## Eq. 3: how much the truncation amplifies the variance
#
# Each threshold $\gamma$ fixes a truncation point $a$ and an amplification $\eta(a) > 1$. The product
# with the contraction $\lambda^2$ decides the fate of the loop: below 1 the variance still collapses
# (more slowly), above 1 it grows without bound.

# %%
display(Markdown(gaussian_figures.eta_markdown(gammas, sampling_bias)))

# %% [markdown]
# ## Fig. 2: the variance over generations
#
# Median (line) and 10-90% band over the seeds of the simulated variance, with Eq. 4's prediction
# dashed. The variance at generation 0 is that of the real distribution, 1.

# %%
started = time.perf_counter()
runs = {gamma: gaussian.simulate(gamma, sampling_bias, n_samples=n_samples, generations=generations, seeds=seeds,
                                 seed=seed + i) for i, gamma in enumerate(gammas)}
timings["fig2_simulation"] = time.perf_counter() - started
figures.publish(gaussian_figures.plot_variance(runs, sampling_bias, collapse_fraction, n_samples), "fig2_variance")

# %% [markdown]
# How far is the simulation from Eq. 4? The relative error of the median at a few generations:

# %%
curves = [gaussian.summarize(runs[g], g, sampling_bias, collapse_fraction, blowup_factor) for g in gammas]
display(Markdown(gaussian_figures.theory_error_markdown(curves, generations)))

# %% [markdown]
# ## When does the loop collapse, and when does it blow up?
#
# For a grid of thresholds $\gamma$ and sampling biases $\lambda$: the median number of generations until
# the variance leaves $[0.1, 10]$ times its start, with `sweep_seeds` chains of `sweep_n_samples`
# samples each (smaller than Fig. 2 to keep the grid cheap; the dynamics depend on $n$ only through the
# estimation noise). Blue cells collapsed, red cells blew up, white cells stayed within the band for
# all `sweep_generations`. The black line is the theory's critical curve $\lambda^2\eta(a(\gamma)) = 1$.
# $\gamma = 1$ keeps every sample: it is plain CE.

# %%
started = time.perf_counter()
sweep_generations_median, sweep_direction = gaussian.sweep(
    sweep_gammas, np.asarray(sweep_sampling_biases, dtype=float), sweep_n_samples, sweep_generations, sweep_seeds,
    seed + 1000, collapse_fraction, blowup_factor,
)
timings["sweep_simulation"] = time.perf_counter() - started
figures.publish(gaussian_figures.plot_sweep(sweep_gammas, sweep_sampling_biases, sweep_generations_median,
                                            sweep_direction, sweep_generations, collapse_fraction, blowup_factor),
                "sweep_gamma_lambda")

# %% [markdown]
# The simulated boundary between collapse and blow-up follows the theory's critical curve: the loop is
# only stable on that curve, and every threshold either collapses (slower than CE) or blows up. No
# fixed $\gamma$ *prevents* collapse for every $\lambda$; a good $\gamma$ for a known $\lambda$ only delays it.

# %% [markdown]
# ## Appendix C, Fig. C4: a perfect and a noisy estimator
#
# Without sampling bias ($\lambda = 1$) and with the exact maximum-likelihood estimator, the loop still
# drifts, because each generation sees only a finite sample: $\mathbb E[\hat\sigma^2] = \frac{n-1}{n}\sigma^2$
# and the estimation noise compounds. The appendix adds noise $w \sim \mathcal N(0, 1)$ "to the estimators".
# Added as is to $\sigma \approx 1$ that noise would make $\sigma$ negative one time in six, so we read it
# as a relative error: $\hat\mu + \epsilon\hat\sigma w_1$ and $\hat\sigma\,|1 + \epsilon w_2|$ with
# $\epsilon$ = `estimator_noise`. Because $\mathbb E \log|1 + \epsilon w| < 0$, this estimator collapses
# almost surely even though it is unbiased for $\sigma$ (the mechanism of Eq. 1).

# %%
started = time.perf_counter()
snapshots = sorted({0, estimator_generations // 10, estimator_generations // 2, estimator_generations})
estimators = {name: gaussian.simulate_estimators(noise, n_samples=n_samples, generations=estimator_generations,
                                                 seeds=seeds, seed=seed + 2000, keep_samples_at=tuple(snapshots))
              for name, noise in (("perfect", 0.0), ("noisy", estimator_noise))}
timings["appendix_c_simulation"] = time.perf_counter() - started
figures.publish(gaussian_figures.plot_estimator_histograms(estimators, snapshots), "figC4a_histograms")
figures.publish(gaussian_figures.plot_estimators(estimators), "figC4b_estimators")

# %% [markdown]
# ## What reproduces
#
# "Time to collapse" is the first generation at which the variance falls below `collapse_fraction`
# of its start; "never" means not within the simulated generations.

# %% tags=["hide-input"]
final_sigma = {name: np.sqrt(run.variance[:, -1]) for name, (run, _) in estimators.items()}
claims = gaussian_claims.claims(curves, sampling_bias, collapse_fraction, blowup_factor, final_sigma,
                                estimator_generations)
metrics = dict(
    sampling_bias=sampling_bias, n_samples=n_samples, generations=generations, seeds=seeds, seed=seed,
    collapse_fraction=collapse_fraction, blowup_factor=blowup_factor,
    curves=curves,
    eta=gaussian_figures.eta_rows(gammas, sampling_bias),
    sweep=dict(gammas=sweep_gammas, sampling_biases=sweep_sampling_biases, generations=sweep_generations,
               seeds=sweep_seeds, n_samples=sweep_n_samples, median_generations_to_leave_band=sweep_generations_median,
               direction=sweep_direction),
    estimators={name: dict(noise=(0.0 if name == "perfect" else estimator_noise), generations=estimator_generations,
                           median_mean=np.median(run.mean, axis=0), median_std=np.median(np.sqrt(run.variance), axis=0))
                for name, (run, _) in estimators.items()},
)
close_chapter("gaussian_variance", record, metrics, claims, timings=timings)
print(f"wrote {output_dir}")
