"""The GMM chapter's figures (Fig. 8): mixtures as 2-sigma ellipses over the generations, the collapse metrics per
generation, and generations to failure over the (lambda, gamma) grid."""

from __future__ import annotations

import numpy as np

from .gmm import FAILURE_DISTANCE, ChainResult, Mixture, critical_gamma, theory_generations_to_failure


def _ellipses(ax, mixture: Mixture, color="k"):
    from matplotlib.patches import Ellipse

    for m, c in zip(mixture.means, mixture.covariances):
        vals, vecs = np.linalg.eigh(c)
        angle = np.degrees(np.arctan2(vecs[1, 1], vecs[0, 1]))
        w, h = 2 * 2 * np.sqrt(vals[::-1])  # 2-sigma ellipse
        ax.add_patch(Ellipse(m, w, h, angle=angle, fill=False, ls="--", lw=0.8, color=color))


def plot_snapshots(chains: dict[str, ChainResult], original: Mixture, generations: list[int], lim: float = 6.0):
    """Fig. 8: one row per method (baseline above, truncated below), one column per generation."""
    import matplotlib.pyplot as plt

    labels = list(chains)
    fig, axes = plt.subplots(len(labels), len(generations), figsize=(2.2 * len(generations), 2.3 * len(labels)),
                             sharex=True, sharey=True, squeeze=False)
    colors = {"baseline": "tab:red"}
    for i, label in enumerate(labels):
        for j, t in enumerate(generations):
            ax = axes[i, j]
            x = chains[label].snapshots[t]
            ax.scatter(x[:, 0], x[:, 1], s=2, alpha=0.5, color=colors.get(label, "tab:blue"), rasterized=True)
            _ellipses(ax, original)
            ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal")
            ax.set_xticks([]), ax.set_yticks([])
            if i == 0:
                ax.set_title(f"generation {t}", fontsize=9)
            if j == 0:
                ax.set_ylabel(label)
    fig.suptitle("Data of each generation (dashed: 2-sigma ellipses of the original classes)", fontsize=10)
    fig.tight_layout()
    return fig


def plot_metrics(summaries: dict[str, dict], threshold: float = FAILURE_DISTANCE):
    """Median and 10-90% band over seeds of the three collapse metrics, per method."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    titles = {
        "variance_ratio": "total variance / original",
        "distance": "normalized L2 distance to original",
        "min_weight": "smaller component weight",
    }
    for label, summ in summaries.items():
        color = "tab:red" if label == "baseline" else None
        for ax, name in zip(axes, titles):
            med = summ[name]["median"]
            t = np.arange(med.size)
            line, = ax.plot(t, med, label=label, color=color)
            ax.fill_between(t, summ[name]["q10"], summ[name]["q90"], color=line.get_color(), alpha=0.2)
    for ax, (name, title) in zip(axes, titles.items()):
        ax.set(title=title, xlabel="generation")
    axes[0].set_yscale("log")
    axes[1].axhline(threshold, color="k", ls=":", lw=1, label=f"failure ({threshold:.2f})")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_sweep(result: dict, generations: int):
    """Heatmap of median generations to failure over gamma x sampling_bias, with the theory's critical curve."""
    import matplotlib.pyplot as plt

    gammas = [1.0 if g is None else g for g in result["gammas"]]
    lams = result["sampling_biases"]
    med = np.where(np.isfinite(result["median_generations_to_failure"]), result["median_generations_to_failure"],
                   generations + 1)
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 3.8), gridspec_kw={"width_ratios": [1.3, 1]})
    im = ax.imshow(med, origin="lower", aspect="auto", cmap="viridis", vmin=0, vmax=generations + 1)
    for i in range(len(lams)):
        for j in range(len(gammas)):
            v = result["median_generations_to_failure"][i, j]
            grew = result["median_final_variance_ratio"][i, j] > 1
            txt = f">{generations}" if not np.isfinite(v) else f"{int(v)}{'↑' if grew else '↓'}"
            ax.text(j, i, txt, ha="center", va="center", fontsize=8, color="w" if med[i, j] < generations / 2 else "k")
    ax.set_xticks(range(len(gammas)), [f"{g:g}" for g in gammas])
    ax.set_yticks(range(len(lams)), [f"{lam:g}" for lam in lams])
    # critical gamma per lambda, drawn in index coordinates by interpolation along the gamma axis
    crit = [np.interp(critical_gamma(lam), gammas, np.arange(len(gammas))) if critical_gamma(lam) >= gammas[0] else np.nan
            for lam in lams]
    ax.plot(crit, range(len(lams)), "w--", lw=1.5, label="theory: λ²(1 - ln γ) = 1")
    ax.set(xlabel="gamma (1.0 = baseline)", ylabel="sampling bias λ",
           title="median generations to failure (↑ spread, ↓ shrank)")
    ax.legend(fontsize=8, loc="upper left")
    fig.colorbar(im, ax=ax)
    for i, lam in enumerate(lams):
        line, = ax2.plot(gammas, np.minimum(med[i], generations + 1), "o-", label=f"λ={lam:g}")
        theory = [min(theory_generations_to_failure(g, lam), generations + 1) for g in gammas]
        ax2.plot(gammas, theory, ":", color=line.get_color())
    ax2.set(xlabel="gamma", ylabel="generations to failure", title="simulation (o) and single-Gaussian theory (dotted)",
            ylim=(0, generations + 3))
    ax2.legend(fontsize=8)
    fig.tight_layout()
    return fig
