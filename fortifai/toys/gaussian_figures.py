"""The Gaussian chapter's tables and figures: Eq. 3's amplification, Fig. 2 against Eq. 4, the (gamma, lambda)
sweep and Appendix C's Fig. C4, each from what :mod:`fortifai.toys.gaussian` computes."""

from __future__ import annotations

import numpy as np

from . import gaussian


def eta_rows(gammas, sampling_bias: float) -> dict[str, dict[str, float]]:
    """Per method: the truncation point ``a``, Eq. 3's ``eta(a)`` and ``lambda^2 eta(a)`` (``variance_factor``)."""
    return {gaussian.method_label(g): dict(a=gaussian.tail_threshold(g), eta=gaussian.eta(gaussian.tail_threshold(g)),
                                           variance_factor=gaussian.variance_factor(g, sampling_bias)) for g in gammas}


def eta_markdown(gammas, sampling_bias: float) -> str:
    """Eq. 3 per threshold: ``a``, ``eta(a)``, ``lambda^2 eta(a)`` and the critical sampling bias."""
    rows = ["| method | a | eta(a) | lambda^2 eta(a) | critical lambda |", "|---|---|---|---|---|"]
    for gamma in gammas:
        a = gaussian.tail_threshold(gamma)
        rows.append(f"| {gaussian.method_label(gamma)} | {a:.4f} | {gaussian.eta(a):.4f} | "
                    f"{gaussian.variance_factor(gamma, sampling_bias):.4f} | "
                    f"{gaussian.critical_sampling_bias(gamma):.4f} |")
    return "\n".join(rows)


def plot_variance(runs: dict, sampling_bias: float, collapse_fraction: float, n_samples: int):
    """Fig. 2: median and 10-90% band of the variance over generations per method, Eq. 4 dashed."""
    import matplotlib.pyplot as plt

    from ..book.plotting import band

    generations = next(iter(runs.values())).variance.shape[1] - 1
    t = np.arange(generations + 1)
    fig, ax = plt.subplots()
    for i, (gamma, run) in enumerate(runs.items()):
        color = f"C{i}"
        band(ax, t, run.variance, color, gaussian.method_label(gamma))
        ax.plot(t, gaussian.theory_variance(gamma, sampling_bias, generations), "--", color=color, lw=1)
    ax.plot([], [], "--", color="grey", lw=1, label="Eq. 4 (theory)")
    ax.axhline(collapse_fraction, color="grey", lw=0.8, ls=":")
    ax.set(yscale="log", xlabel="generation", ylabel="estimated variance $\\sigma_t^2$",
           title=f"1-D Gaussian, {n_samples:,} samples/generation, sampling bias $\\lambda$={sampling_bias}")
    ax.legend()
    return fig


def theory_error_markdown(curves: list[dict], generations: int) -> str:
    """The relative error of the simulated median variance against Eq. 4 at a few generations."""
    checkpoints = [g for g in (1, 5, 10, 20, 50, 100) if g <= generations]
    rows = ["| method | " + " | ".join(f"t={g}" for g in checkpoints) + " |", "|---" * (len(checkpoints) + 1) + "|"]
    for c in curves:
        error = c["median_variance"] / c["theory_variance"] - 1
        rows.append(f"| {c['label']} | " + " | ".join(f"{error[g]:+.1%}" for g in checkpoints) + " |")
    return "\n".join(rows)


def plot_sweep(gammas, sampling_biases, median, direction, generations: int, collapse_fraction: float,
               blowup_factor: float):
    """The (gamma, lambda) grid: generations until the variance leaves the band (text), coloured by speed and
    direction (deep blue: fast collapse, deep red: fast blow-up), with the theory's critical curve."""
    import matplotlib.pyplot as plt

    lam = np.asarray(sampling_biases, dtype=float)
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    shown = np.where(np.isinf(median), generations, median)
    signed = direction * (1 - np.log(shown) / np.log(generations + 1))
    mesh = ax.pcolormesh(np.arange(len(gammas) + 1), np.arange(len(lam) + 1), signed, cmap="RdBu_r",
                         vmin=-1, vmax=1, shading="flat")
    for (i, j), value in np.ndenumerate(median):
        ax.text(j + 0.5, i + 0.5, "-" if np.isinf(value) else f"{value:.0f}", ha="center", va="center", fontsize=7)
    gamma_fine = np.linspace(min(gammas), max(gammas), 200)
    lam_crit = np.array([gaussian.critical_sampling_bias(g) for g in gamma_fine])
    # map the continuous (gamma, lambda) curve onto the cell grid by linear interpolation of the tick values
    to_x = np.interp(gamma_fine, gammas, np.arange(len(gammas)) + 0.5)
    to_y = np.interp(lam_crit, lam, np.arange(len(lam)) + 0.5, left=np.nan, right=np.nan)
    ax.plot(to_x, to_y, color="black", lw=1.5)
    ax.set_xticks(np.arange(len(gammas)) + 0.5, [f"{g:g}" for g in gammas])
    ax.set_yticks(np.arange(len(lam)) + 0.5, [f"{v:g}" for v in lam])
    ax.set(xlabel="TCE threshold $\\gamma$ (1 = CE)", ylabel="sampling bias $\\lambda$",
           title=f"generations until the variance leaves [{collapse_fraction:g}, {blowup_factor:g}]x its start\n"
                 "(black: the theory's critical curve $\\lambda^2\\eta(a(\\gamma)) = 1$; '-': never left)")
    ax.grid(False)
    fig.colorbar(mesh, ax=ax, ticks=[-1, 0, 1], label="collapse (-) / blow-up (+), faster = deeper")
    return fig


def plot_estimator_histograms(estimators: dict, snapshots):
    """Fig. C4a: the samples of a few generations, perfect and noisy estimator side by side."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    for ax, (name, (_, kept)) in zip(axes, estimators.items()):
        bins = np.linspace(-4, 4, 81)
        for k, g in enumerate(snapshots):
            ax.hist(kept[g], bins=bins, density=True, histtype="step",
                    color=plt.cm.viridis(k / max(len(snapshots) - 1, 1)), label=f"generation {g}")
        ax.set(title=f"{name} estimator", xlabel="x")
    axes[0].set_ylabel("density")
    axes[1].legend(fontsize=8)
    return fig


def plot_estimators(estimators: dict):
    """Fig. C4b: the estimated mean and standard deviation over generations, median and 10-90% band."""
    import matplotlib.pyplot as plt

    from ..book.plotting import band

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    colors = {"perfect": "#9467bd", "noisy": "#2ca02c"}
    for name, (run, _) in estimators.items():
        tt = np.arange(run.mean.shape[1])
        band(axes[0], tt, run.mean, colors[name], name)
        band(axes[1], tt, np.sqrt(run.variance), colors[name], name)
    axes[0].set(xlabel="generation", ylabel="estimated mean $\\mu_t$", title="mean")
    axes[1].set(xlabel="generation", ylabel="estimated std $\\sigma_t$", title="standard deviation", yscale="log")
    axes[1].legend()
    return fig
