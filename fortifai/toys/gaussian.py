"""The one-dimensional Gaussian self-consuming loop of Sec. 2.3 (Eqs. 1-4, Fig. 2) and Appendix C (Fig. C4).

Generation t fits (mu_t, sigma_t) by maximum likelihood to its training samples. Generation t+1 draws
``n_samples`` from N(mu_t, (lambda * sigma_t)^2): ``lambda`` is the paper's *sampling bias*, read as in
Eq. 1, E[sigma_t | sigma_{t-1}] = lambda * sigma_{t-1}.

The TCE analogue with threshold gamma drops, before fitting, the (1 - gamma) fraction of the samples
that are most likely under the model that generated them (the rule of Algorithm 2, Appendix F). For a
Gaussian the most likely samples are the ones closest to the mean, so what is kept are the tails
|x - mu| >= a * sigma with P(|Z| >= a) = gamma, i.e. a = Phi^-1(1 - gamma / 2). Eqs. 2-4 then predict

    E[sigma_t^2] = (lambda^2 * eta(a))^t * sigma_0^2,     eta(a) = 1 + a phi(a) / (1 - Phi(a)).

Everything is vectorised over a batch of independent chains (seeds x settings): one generation of
20 chains x 10,000 samples is a handful of numpy calls.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from ..losses.spec import LOSS_SPECS, truncation_label

__all__ = [
    "tail_threshold",
    "eta",
    "variance_factor",
    "critical_sampling_bias",
    "theory_variance",
    "truncate_most_likely",
    "simulate",
    "simulate_estimators",
    "generations_to_threshold",
    "GaussianRun",
]


def _check_gamma(gamma: float | None) -> None:
    LOSS_SPECS["tce_percentile"].main.check_optional(gamma, "plain CE / MLE")


def _check_sampling_bias(sampling_bias) -> None:
    lam = np.asarray(sampling_bias, dtype=float)
    if not np.all(lam > 0):
        raise ValueError(f"sampling_bias (lambda) must be > 0, got {sampling_bias!r}")


def tail_threshold(gamma: float | None) -> float:
    """a such that P(|Z| >= a) = gamma for Z ~ N(0, 1); 0 for gamma None or 1 (nothing dropped)."""
    _check_gamma(gamma)
    if gamma is None or gamma >= 1.0:
        return 0.0
    return float(stats.norm.ppf(1.0 - gamma / 2.0))


def eta(a: float | np.ndarray) -> float | np.ndarray:
    """Eq. 3: the variance amplification Var(Z | |Z| >= a) = 1 + a phi(a) / (1 - Phi(a))."""
    a = np.asarray(a, dtype=float)
    # norm.sf is 1 - Phi computed without cancellation, so large a stays accurate
    out = 1.0 + a * stats.norm.pdf(a) / stats.norm.sf(a)
    return float(out) if out.ndim == 0 else out


def variance_factor(gamma: float | None, sampling_bias: float | np.ndarray) -> float | np.ndarray:
    """The expected per-generation multiplier of the variance, lambda^2 * eta(a(gamma)) (Eq. 4)."""
    return np.asarray(sampling_bias, dtype=float) ** 2 * eta(tail_threshold(gamma))


def critical_sampling_bias(gamma: float | None) -> float:
    """The lambda at which lambda^2 * eta(a) = 1: below it the variance collapses, above it it grows."""
    return float(1.0 / np.sqrt(eta(tail_threshold(gamma))))


def theory_variance(gamma: float | None, sampling_bias: float, generations: int, start: float = 1.0) -> np.ndarray:
    """E[sigma_t^2] for t = 0..generations from Eqs. 2-4."""
    return start * variance_factor(gamma, sampling_bias) ** np.arange(generations + 1)


def truncate_most_likely(x: np.ndarray, mu: np.ndarray, gamma: float | None) -> np.ndarray:
    """Boolean mask of the samples to keep: each row drops its (1 - gamma) fraction closest to ``mu``.

    x: (B, n) samples, mu: (B,) the means of the Gaussians that generated each row. Closest to the
    mean is most likely under a Gaussian, whatever its variance. Exactly ``n - round((1-gamma) n)``
    samples are kept per row; ties (probability zero for continuous samples) are kept.
    """
    _check_gamma(gamma)
    x = np.asarray(x)
    if gamma is None or gamma >= 1.0:
        return np.ones(x.shape, dtype=bool)
    n = x.shape[-1]
    n_drop = int(round((1.0 - gamma) * n))
    if n_drop == 0:
        return np.ones(x.shape, dtype=bool)
    if n_drop >= n:
        raise ValueError(f"gamma={gamma} keeps no sample out of n_samples={n}; use a larger gamma or more samples")
    distance = np.abs(x - np.asarray(mu)[..., None])
    # the n_drop-th smallest distance is the boundary of the dropped core; partition is O(n)
    boundary = np.partition(distance, n_drop - 1, axis=-1)[..., n_drop - 1 : n_drop]
    return distance > boundary


def _fit(x: np.ndarray, keep: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Maximum-likelihood mean and standard deviation (1/n) of the kept samples of each row."""
    if keep is None:
        mu = x.mean(axis=-1)
        return mu, x.std(axis=-1, mean=mu[..., None])
    mu = x.mean(axis=-1, where=keep)
    return mu, x.std(axis=-1, where=keep, mean=mu[..., None])


@dataclass
class GaussianRun:
    """Per-chain trajectories: arrays of shape (B, generations + 1); index 0 is the start."""

    mean: np.ndarray
    variance: np.ndarray

    def quantiles(self, qs=(0.1, 0.5, 0.9)) -> np.ndarray:
        """Quantiles over chains, shape (len(qs), generations + 1)."""
        return np.quantile(self.variance, qs, axis=0)


def simulate(
    gamma: float | None,
    sampling_bias: float | np.ndarray = 0.9,
    n_samples: int = 10_000,
    generations: int = 100,
    seeds: int = 20,
    seed: int = 0,
    mu0: float = 0.0,
    sigma0: float = 1.0,
    stop_outside: tuple[float, float] | None = None,
) -> GaussianRun:
    """Run the self-consuming loop for ``seeds`` independent chains per sampling bias.

    ``sampling_bias`` may be an array of L values: chains are laid out as (L x seeds) rows, setting-major.
    The variance at index 0 is sigma0^2 (the real distribution, generation 0); index t is the variance
    fitted by generation t to samples of N(mu_{t-1}, (lambda sigma_{t-1})^2), so every step, the first
    included, carries the same expected factor lambda^2 eta(a) as Eq. 4.

    ``stop_outside=(low, high)``: stop early once every chain's variance left [low, high]
    (used by the sweep; the remaining generations are filled with the last value).
    """
    _check_gamma(gamma)
    _check_sampling_bias(sampling_bias)
    if n_samples < 2:
        raise ValueError(f"n_samples must be >= 2, got {n_samples!r}")
    if generations < 0:
        raise ValueError(f"generations must be >= 0, got {generations!r}")
    if seeds < 1:
        raise ValueError(f"seeds must be >= 1, got {seeds!r}")
    lam = np.repeat(np.atleast_1d(np.asarray(sampling_bias, dtype=float)), seeds)
    rows = lam.size
    rng = np.random.default_rng(seed)
    mean = np.empty((rows, generations + 1))
    var = np.empty((rows, generations + 1))
    mu = np.full(rows, mu0, dtype=float)
    sigma = np.full(rows, sigma0, dtype=float)
    mean[:, 0], var[:, 0] = mu, sigma**2
    last = generations
    truncate = gamma is not None and gamma < 1.0
    origin = np.zeros(rows)
    for t in range(1, generations + 1):
        # x = mu + lambda sigma z: the fit and the likelihood order of x follow from those of z alone,
        # so the loop works on standard normals and never materialises x
        z = rng.standard_normal((rows, n_samples))
        z_mean, z_std = _fit(z, truncate_most_likely(z, origin, gamma) if truncate else None)
        scale = lam * sigma
        mu, sigma = mu + scale * z_mean, scale * z_std
        mean[:, t], var[:, t] = mu, sigma**2
        if stop_outside is not None:
            low, high = stop_outside
            if np.all((var[:, t] < low) | (var[:, t] > high)):
                last = t
                break
    if last < generations:
        mean[:, last + 1 :] = mean[:, last : last + 1]
        var[:, last + 1 :] = var[:, last : last + 1]
    return GaussianRun(mean=mean, variance=var)


def simulate_estimators(
    noise: float = 0.0,
    n_samples: int = 10_000,
    generations: int = 1000,
    seeds: int = 20,
    seed: int = 0,
    keep_samples_at: tuple[int, ...] = (),
) -> tuple[GaussianRun, dict[int, np.ndarray]]:
    """Appendix C: the loop with a perfect (noise 0) or noisy maximum-likelihood estimator, no bias.

    The noisy estimator adds w ~ N(0, 1) to each estimate, as the appendix says, *in units of the
    estimate's own scale* (our reading: mu + noise * sigma * w1, sigma * |1 + noise * w2|), so that
    ``noise`` is a relative error and sigma stays positive. Returns the run and, for each generation
    in ``keep_samples_at``, the samples of the first chain (for the histograms of Fig. C4a).
    """
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise!r}")
    rng = np.random.default_rng(seed)
    mean = np.empty((seeds, generations + 1))
    var = np.empty((seeds, generations + 1))
    mu, sigma = np.zeros(seeds), np.ones(seeds)
    mean[:, 0], var[:, 0] = mu, sigma**2
    kept: dict[int, np.ndarray] = {}
    for t in range(1, generations + 1):
        x = mu[:, None] + sigma[:, None] * rng.standard_normal((seeds, n_samples))
        if t - 1 in keep_samples_at:
            kept[t - 1] = x[0].copy()
        mu, sigma = _fit(x, None)
        if noise > 0:
            w = rng.standard_normal((2, seeds))
            mu, sigma = mu + noise * sigma * w[0], sigma * np.abs(1.0 + noise * w[1])
        mean[:, t], var[:, t] = mu, sigma**2
    if generations in keep_samples_at:
        kept[generations] = mu[0] + sigma[0] * rng.standard_normal(n_samples)
    return GaussianRun(mean=mean, variance=var), kept


def generations_to_threshold(
    variance: np.ndarray, low: float = 0.1, high: float = 10.0, start: float = 1.0
) -> np.ndarray:
    """First generation at which the variance leaves [low * start, high * start]; inf if it never does.

    variance: (..., generations + 1). Returns float array of shape variance.shape[:-1].
    """
    outside = (variance < low * start) | (variance > high * start)
    first = np.argmax(outside, axis=-1).astype(float)
    first[~outside.any(axis=-1)] = np.inf
    return first


def theory_generations_to_threshold(
    gamma: float | None, sampling_bias: float | np.ndarray, low: float = 0.1, high: float = 10.0
) -> np.ndarray:
    """Generations until (lambda^2 eta)^t leaves [low, high], continuous t; inf when the factor is 1."""
    factor = np.asarray(variance_factor(gamma, sampling_bias), dtype=float)
    with np.errstate(divide="ignore"):
        log_factor = np.log(factor)
        target = np.where(log_factor < 0, np.log(low), np.log(high))
        return np.where(log_factor == 0, np.inf, target / log_factor)


# --- what the chapter reports ------------------------------------------------------------------


def method_label(gamma: float | None) -> str:
    return truncation_label(gamma, baseline="CE")


def summarize(
    run: GaussianRun, gamma: float | None, sampling_bias: float, collapse_fraction: float = 0.1, blowup_factor: float = 10.0
) -> dict:
    """One curve of Fig. 2 as ``metrics.json`` stores it: quantiles over seeds, theory, per-seed values."""
    q10, median, q90 = run.quantiles()
    generations = run.variance.shape[1] - 1
    return dict(
        label=method_label(gamma), gamma=gamma, median_variance=median, q10=q10, q90=q90,
        theory_variance=theory_variance(gamma, sampling_bias, generations), per_seed_variance=run.variance,
        generations_to_collapse=generations_to_threshold(run.variance, collapse_fraction, np.inf),
        generations_to_blowup=generations_to_threshold(run.variance, 0.0, blowup_factor),
    )


def sweep(
    gammas, sampling_biases, n_samples: int, generations: int, seeds: int, seed: int,
    collapse_fraction: float = 0.1, blowup_factor: float = 10.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Median generations until the variance leaves [collapse_fraction, blowup_factor], per (lambda, gamma).

    Returns (median generations, direction) of shape (len(sampling_biases), len(gammas)); direction is
    -1 for collapse, +1 for blow-up and 0 where the median chain stayed inside for all generations (inf).
    """
    lam = np.asarray(sampling_biases, dtype=float)
    median = np.empty((lam.size, len(gammas)))
    direction = np.zeros_like(median)
    for j, gamma in enumerate(gammas):
        run = simulate(gamma, lam, n_samples=n_samples, generations=generations, seeds=seeds, seed=seed + j,
                       stop_outside=(collapse_fraction, blowup_factor))
        var = run.variance.reshape(lam.size, seeds, -1)
        median[:, j] = np.median(generations_to_threshold(var, collapse_fraction, blowup_factor), axis=1)
        final = np.median(var[:, :, -1], axis=1)
        direction[:, j] = np.where(np.isinf(median[:, j]), 0, np.where(final < 1, -1, 1))
    return median, direction
