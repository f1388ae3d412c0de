"""Model collapse of a Gaussian mixture refit on its own samples (Section 4.7, Fig. 8, Algorithm 2).

Each generation fits a ``GaussianMixture`` to its data, draws ``n_samples`` points from the fit (with
every covariance scaled by ``sampling_bias**2``, the lambda of the Gaussian chapter; 1.0 means none),
and hands them to the next generation. The truncated variant scores the samples under the fit and keeps
only those whose log-likelihood is at most the ``gamma``-th percentile (Algorithm 2 with gamma = 0.8:
the 20% most likely points are dropped). ``gamma=None`` is the baseline that keeps every sample.

Collapse is measured on the fitted mixtures against the original (true) mixture:
total variance ratio, the analytic L2 distance between mixtures (normalized to [0, 1]) and the smaller
component weight. A chain *fails* at the first generation whose normalized L2 distance exceeds
:data:`FAILURE_DISTANCE`, the distance at which a single Gaussian has lost 90% of its variance (or
grown 10x): the same 10% rule as the Gaussian chapter.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.stats import chi2

from ..losses.spec import LOSS_SPECS, truncation_label


def _failure_distance(variance_ratio: float = 0.1) -> float:
    # For N(0, a I) against N(0, s a I) in any dimension d the normalized L2 distance is
    # 1 - (4s / (1+s)^2)^(d/2); in 2-D it is ((1-s)/(1+s))^2, symmetric under s -> 1/s.
    s = variance_ratio
    return ((1 - s) / (1 + s)) ** 2


FAILURE_DISTANCE = _failure_distance(0.1)  # ~0.669 in 2-D


@dataclass
class Mixture:
    """A Gaussian mixture: ``weights (K,)``, ``means (K, d)``, ``covariances (K, d, d)``."""

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray

    def __post_init__(self):
        self.weights = np.asarray(self.weights, dtype=float)
        self.means = np.atleast_2d(np.asarray(self.means, dtype=float))
        self.covariances = np.asarray(self.covariances, dtype=float)

    @classmethod
    def from_sklearn(cls, gmm) -> "Mixture":
        return cls(gmm.weights_.copy(), gmm.means_.copy(), gmm.covariances_.copy())

    def sample(self, n: int, rng: np.random.Generator, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """``n`` points and their component labels; covariances multiplied by ``scale**2``."""
        counts = rng.multinomial(n, self.weights / self.weights.sum())
        xs, labels = [], []
        for k, c in enumerate(counts):
            xs.append(rng.multivariate_normal(self.means[k], scale**2 * self.covariances[k], size=c, method="cholesky"))
            labels.append(np.full(c, k))
        return np.concatenate(xs), np.concatenate(labels)

    def log_density(self, x: np.ndarray) -> np.ndarray:
        x = np.atleast_2d(x)
        comps = np.stack(
            [np.log(w) + _log_normal(x, m, c) for w, m, c in zip(self.weights, self.means, self.covariances)]
        )
        return np.logaddexp.reduce(comps, axis=0)

    def total_variance(self) -> float:
        """Trace of the mixture's covariance: within-component plus between-component spread."""
        w = self.weights / self.weights.sum()
        mean = w @ self.means
        second = np.einsum("k,kij->ij", w, self.covariances) + np.einsum("k,ki,kj->ij", w, self.means, self.means)
        return float(np.trace(second - np.outer(mean, mean)))


def _log_normal(x: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    d = mean.shape[0]
    chol = np.linalg.cholesky(cov)
    z = np.linalg.solve(chol, (x - mean).T)
    return -0.5 * (z**2).sum(0) - np.log(np.diag(chol)).sum() - 0.5 * d * np.log(2 * np.pi)


def two_class_mixture(minority_weight: float = 0.3, separation: float = 4.0) -> Mixture:
    """The original data: two unit-covariance 2-D Gaussian classes ``separation`` apart on the x axis."""
    if not 0.0 < minority_weight <= 0.5:
        raise ValueError(f"minority_weight must be in (0, 0.5], got {minority_weight!r}")
    half = separation / 2
    return Mixture(
        weights=[1 - minority_weight, minority_weight],
        means=[[-half, 0.0], [half, 0.0]],
        covariances=np.stack([np.eye(2), np.eye(2)]),
    )


# --- the percentile filter of Algorithm 2 ---------------------------------------------------------


def check_gamma(gamma: float | None) -> None:
    LOSS_SPECS["tce_percentile"].main.check_optional(gamma, "baseline: keep all samples")


def percentile_filter(scores: np.ndarray, gamma: float | None) -> np.ndarray:
    """Boolean mask keeping the ``round(gamma * n)`` points with the *lowest* scores.

    This is line 5 of Algorithm 2, ``P_i(x) <= Percentile_gamma(P_i)``, done by rank so that the kept
    fraction is exact: the ``1 - gamma`` most likely points are the ones dropped. ``gamma`` None or 1
    keeps everything.
    """
    check_gamma(gamma)
    scores = np.asarray(scores)
    n = scores.shape[0]
    if gamma is None or gamma >= 1.0:
        return np.ones(n, dtype=bool)
    n_keep = int(round(gamma * n))
    keep = np.zeros(n, dtype=bool)
    keep[np.argsort(scores, kind="stable")[:n_keep]] = True
    return keep


def truncation_variance_factor(gamma: float, dim: int = 2) -> float:
    """Per-dimension variance of N(0, I_d) after dropping its ``1 - gamma`` most likely points.

    The kept points are those with ``r^2 >= q``, ``q`` the ``1 - gamma`` quantile of chi^2_d, so the
    factor is E[r^2 | r^2 >= q] / d. In 2-D, r^2 ~ Exp(mean 2) is memoryless and the factor is
    ``1 - ln(gamma)``.
    """
    check_gamma(gamma)
    q = chi2.ppf(1 - gamma, dim)
    # E[r^2 1{r^2 >= q}] = d * P(chi2_{d+2} >= q)
    return float(chi2.sf(q, dim + 2) / chi2.sf(q, dim))


def critical_gamma(sampling_bias: float, dim: int = 2) -> float:
    """The gamma at which lambda^2 * factor(gamma) = 1: below it a single Gaussian spreads, above it shrinks."""
    if dim == 2:
        return float(np.exp(1.0 - 1.0 / sampling_bias**2))
    from scipy.optimize import brentq

    return float(brentq(lambda g: sampling_bias**2 * truncation_variance_factor(g, dim) - 1, 1e-9, 1 - 1e-12))


def theory_generations_to_failure(gamma: float | None, sampling_bias: float, variance_ratio: float = 0.1) -> float:
    """Generations until a single Gaussian's variance leaves [ratio, 1/ratio] under the mean dynamics."""
    factor = sampling_bias**2 * (1.0 if gamma is None or gamma >= 1 else truncation_variance_factor(gamma))
    if np.isclose(factor, 1.0):
        return np.inf
    return float(abs(np.log(variance_ratio)) / abs(np.log(factor)))


# --- distances between mixtures --------------------------------------------------------------------


def _cross_term(p: Mixture, q: Mixture) -> float:
    """Integral of p(x) q(x) dx = sum_ij w_i v_j N(mu_i; nu_j, Sigma_i + Lambda_j)."""
    total = 0.0
    for wi, mi, ci in zip(p.weights, p.means, p.covariances):
        for vj, nj, cj in zip(q.weights, q.means, q.covariances):
            total += wi * vj * np.exp(_log_normal(mi[None], nj, ci + cj)[0])
    return float(total)


def l2_distance_sq(p: Mixture, q: Mixture) -> float:
    """The squared L2 distance between two mixture densities, integral of (p - q)^2, in closed form."""
    return max(_cross_term(p, p) + _cross_term(q, q) - 2 * _cross_term(p, q), 0.0)


def normalized_l2(p: Mixture, q: Mixture) -> float:
    """``L2(p, q)^2 / (|p|^2 + |q|^2)`` in [0, 1]: 0 for equal densities, 1 for disjoint ones; scale-free."""
    pp, qq, pq = _cross_term(p, p), _cross_term(q, q), _cross_term(p, q)
    return float(max(pp + qq - 2 * pq, 0.0) / (pp + qq))


# --- Algorithm 2 -----------------------------------------------------------------------------------


@dataclass
class ChainResult:
    """Per-generation collapse metrics of one chain; index 0 is the fit on the real data."""

    gamma: float | None
    variance_ratio: np.ndarray
    distance: np.ndarray
    min_weight: np.ndarray
    kept_fraction: np.ndarray
    snapshots: dict[int, np.ndarray] = field(default_factory=dict)

    @property
    def generations_to_failure(self) -> int | None:
        return generations_to_failure(self.distance)


def generations_to_failure(distance: np.ndarray, threshold: float = FAILURE_DISTANCE) -> int | None:
    """First generation whose distance exceeds ``threshold``; None when the chain never fails."""
    over = np.flatnonzero(np.asarray(distance) > threshold)
    return int(over[0]) if over.size else None


def _fit(x: np.ndarray, n_components: int, previous, seed: int):
    from sklearn.mixture import GaussianMixture

    if previous is None or previous.n_components != n_components:
        gmm = GaussianMixture(n_components, covariance_type="full", random_state=seed)
    else:
        # Warm start from the previous generation: same local optimum EM would find, 5x faster, and
        # component identities are kept from one generation to the next.
        gmm = GaussianMixture(
            n_components,
            covariance_type="full",
            random_state=seed,
            weights_init=previous.weights_,
            means_init=previous.means_,
            precisions_init=previous.precisions_,
        )
    return gmm.fit(x)


def run_chain(
    original: Mixture,
    *,
    n_components: int = 2,
    n_samples: int = 1000,
    generations: int = 50,
    gamma: float | None = None,
    sampling_bias: float = 1.0,
    seed: int = 0,
    snapshot_at: tuple[int, ...] = (),
) -> ChainResult:
    """Algorithm 2 for ``generations`` generations (``generations + 1`` fits, the first on real data)."""
    check_gamma(gamma)
    if isinstance(sampling_bias, bool) or not isinstance(sampling_bias, (int, float)) or not 0 < sampling_bias < np.inf:
        raise ValueError(f"sampling_bias must be a positive number (1.0 = no bias), got {sampling_bias!r}")
    for name, value, low in (("n_samples", n_samples, 2 * n_components), ("generations", generations, 0),
                             ("n_components", n_components, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    from threadpoolctl import threadpool_limits

    # The matrices are 2x2: a multi-threaded BLAS only adds thread wake-ups (10x slower on 2 busy cores).
    with threadpool_limits(1):
        return _run_chain(original, n_components, n_samples, generations, gamma, sampling_bias, seed, snapshot_at)


def _run_chain(original, n_components, n_samples, generations, gamma, sampling_bias, seed, snapshot_at):
    rng = np.random.default_rng(seed)
    x, _ = original.sample(n_samples, rng)
    ref_var = original.total_variance()
    var, dist, wmin, kept = [], [], [], []
    snaps: dict[int, np.ndarray] = {}
    gmm = None
    for t in range(generations + 1):
        if t in snapshot_at:
            snaps[t] = x.copy()
        gmm = _fit(x, n_components, gmm, seed + t)
        fit = Mixture.from_sklearn(gmm)
        var.append(fit.total_variance() / ref_var)
        dist.append(normalized_l2(fit, original))
        wmin.append(float(fit.weights.min()))
        if t == generations:
            break
        sample, _ = fit.sample(n_samples, rng, scale=sampling_bias)
        keep = percentile_filter(gmm.score_samples(sample), gamma)
        kept.append(keep.mean())
        x = sample[keep]
    return ChainResult(gamma, np.array(var), np.array(dist), np.array(wmin), np.array(kept), snaps)


def run_methods(
    original: Mixture,
    gammas: list[float | None],
    *,
    seeds: int = 10,
    seed: int = 0,
    progress: bool = False,
    **chain_kwargs,
) -> dict[str, list[ChainResult]]:
    """``run_chain`` for each gamma and each of ``seeds`` seeds (seed, seed+1, ...); keyed by label."""
    for g in gammas:
        check_gamma(g)
    if not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"seeds must be a positive int, got {seeds!r}")
    jobs = [(g, s) for g in gammas for s in range(seeds)]
    if progress:
        from tqdm.auto import tqdm

        jobs = tqdm(jobs, desc="chains")
    out: dict[str, list[ChainResult]] = {method_label(g): [] for g in gammas}
    for g, s in jobs:
        # Seed s of every method starts from the same real data (same rng stream up to the first fit).
        out[method_label(g)].append(run_chain(original, gamma=g, seed=seed + 1000 * s, **chain_kwargs))
    return out


def method_label(gamma: float | None) -> str:
    return truncation_label(gamma, baseline="baseline")


def summarize(chains: list[ChainResult]) -> dict:
    """Median, 10th and 90th percentile and per-seed values of every metric, and generations to failure."""
    out = {}
    for name in ("variance_ratio", "distance", "min_weight"):
        values = np.stack([getattr(c, name) for c in chains])
        out[name] = {
            "median": np.median(values, 0),
            "q10": np.quantile(values, 0.1, axis=0),
            "q90": np.quantile(values, 0.9, axis=0),
            "per_seed": values,
        }
    gtf = [c.generations_to_failure for c in chains]
    out["generations_to_failure"] = {"per_seed": gtf, **censored_summary(gtf)}
    final = [c.variance_ratio[-1] for c in chains]
    out["diverged_fraction"] = float(np.mean([v > 1.0 for v in final]))
    return out


def censored_summary(values: list[int | None]) -> dict:
    """Median and 10-90% range of generations to failure, with None (never failed) counted as infinity."""
    arr = np.sort(np.array([np.inf if v is None else v for v in values], dtype=float))
    n = arr.size
    # Order statistics, not interpolation: an interpolated quantile between a finite value and
    # infinity is meaningless. The median of an even count is the upper middle value (conservative).
    return {
        "median": float(arr[n // 2]),
        "q10": float(arr[int(np.floor(0.1 * (n - 1)))]),
        "q90": float(arr[int(np.ceil(0.9 * (n - 1)))]),
        "never_failed": int(np.sum(~np.isfinite(arr))),
    }


def sweep(
    original: Mixture,
    gammas: list[float | None],
    sampling_biases: list[float],
    *,
    seeds: int = 5,
    seed: int = 0,
    progress: bool = False,
    **chain_kwargs,
) -> dict:
    """Generations to failure over a grid of gamma x sampling_bias; arrays of shape (len(biases), len(gammas))."""
    median = np.full((len(sampling_biases), len(gammas)), np.inf)
    never = np.zeros_like(median, dtype=int)
    final_var = np.full_like(median, np.nan)
    jobs = [(i, j) for i in range(len(sampling_biases)) for j in range(len(gammas))]
    if progress:
        from tqdm.auto import tqdm

        jobs = tqdm(jobs, desc="sweep")
    per_seed = {}
    for i, j in jobs:
        lam, g = sampling_biases[i], gammas[j]
        chains = [run_chain(original, gamma=g, sampling_bias=lam, seed=seed + 1000 * s, **chain_kwargs) for s in range(seeds)]
        gtf = [c.generations_to_failure for c in chains]
        per_seed[f"lambda={lam:g},{method_label(g)}"] = gtf
        s = censored_summary(gtf)
        median[i, j], never[i, j] = s["median"], s["never_failed"]
        final_var[i, j] = np.median([c.variance_ratio[-1] for c in chains])
    return {
        "gammas": gammas,
        "sampling_biases": sampling_biases,
        "median_generations_to_failure": median,
        "never_failed": never,
        "median_final_variance_ratio": final_var,
        "per_seed": per_seed,
    }
