"""One plotting style for the whole book (QuantEcon-like: plain axes, one palette, labelled units)."""

from __future__ import annotations

import matplotlib as mpl
import numpy as np

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf"]


def use_style() -> None:
    """Apply the book's matplotlib style (call once per notebook)."""
    mpl.rcParams.update(
        {
            "figure.figsize": (7.0, 4.0),
            "figure.dpi": 100,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.prop_cycle": mpl.cycler(color=PALETTE),
            "legend.frameon": False,
            "font.size": 10,
            "svg.hashsalt": "fortifai",  # stable SVG ids, so re-runs give identical files
        }
    )


def band(ax, x, values: np.ndarray, color, label: str, low: float = 0.1, high: float = 0.9, **line_kw):
    """Median line and a shaded [low, high] quantile band over the first axis of ``values`` (seeds)."""
    q_low, median, q_high = np.quantile(values, [low, 0.5, high], axis=0)
    ax.fill_between(x, q_low, q_high, color=color, alpha=0.2, linewidth=0)
    return ax.plot(x, median, color=color, label=label, **line_kw)


class FigureLog:
    """Saves a chapter's figures (PNG and SVG), shows them, and remembers their names for ``metrics.json``.

    >>> figures = FigureLog(output_dir)
    >>> figures.publish(fig, "kr_stages_0")       # save, list, show
    >>> metrics["figures"] = figures.names
    """

    def __init__(self, output_dir):
        self.output_dir, self.names = output_dir, []

    def publish(self, fig, name: str) -> None:
        import matplotlib.pyplot as plt

        from ..results import save_figure

        save_figure(fig, self.output_dir, name)
        self.names.append(name)
        plt.show()
