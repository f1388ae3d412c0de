"""A VAE retrained on its own samples, with the clipped ELBO of Section 4.8 (Fig. 9).

The decoder gives a Bernoulli probability per pixel; the likelihood of pixel ``i`` of image ``x`` is
``p_i = exp(-BCE(logit_i, x_i))`` (``pi`` for a white pixel, ``1 - pi`` for a black one, and the
continuous extension for grey values). The clipped ELBO drops the reconstruction term of every pixel with
``p_i > gamma`` (the mask is computed without gradient); the KL term is unchanged:

    loss = mean over images of [ sum_i 1[p_i <= gamma] * BCE_i  +  KL(q(z|x) || N(0, I)) ]

``gamma >= 1`` masks nothing and is the plain (negative) ELBO. The *dynamic* threshold sets, per batch,
``gamma = clip(mean(p) + alpha * std(p), 0, 1)`` over all pixels of the batch, detached: TCE's
:func:`fortifai.losses.dynamic_threshold` (population standard deviation) applied to pixels.

The recursive loop of the prior work: train a VAE on real digits, sample a data set of the same size from
the prior (the decoder's pixel probabilities), train the next VAE on it, and so on. Collapse is measured
with a small digit classifier trained once on real data (confidence, entropy of the predicted class mix,
Frechet distance in its feature space) and with the first VAE's encoder means on the generated data.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..losses import dynamic_threshold
from ..losses.spec import LOSS_SPECS, truncation_label

# --- the clipped ELBO ------------------------------------------------------------------------------


def check_threshold(gamma: float | None = None, alpha: float | None = None) -> None:
    """One clear error for a bad ``gamma`` (fixed threshold) or ``alpha`` (dynamic threshold)."""
    if gamma is not None and alpha is not None:
        raise ValueError("give either gamma (fixed threshold) or alpha (dynamic threshold), not both")
    LOSS_SPECS["tce"].main.check_optional(gamma, "no fixed threshold")
    LOSS_SPECS["tce_dynamic"].main.check_optional(alpha, "no dynamic threshold")


def clipped_elbo_loss(
    logits: torch.Tensor,
    x: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    *,
    gamma: float | None = None,
    alpha: float | None = None,
    reduction: str = "mean",
) -> tuple[torch.Tensor, dict[str, float]]:
    """Negative clipped ELBO of a batch, and ``{"masked_fraction", "threshold"}``.

    Shapes: ``logits, x (B, D)`` (``x`` in [0, 1]), ``mu, logvar (B, L)``. ``gamma=None, alpha=None``
    (or ``gamma >= 1``) gives the plain negative ELBO. ``reduction``: ``"mean"`` over images, ``"sum"``,
    or ``"none"`` (one value per image).
    """
    check_threshold(gamma, alpha)
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    bce = F.binary_cross_entropy_with_logits(logits.float(), x.float(), reduction="none")
    if gamma is None and alpha is None:
        mask, threshold = None, 1.0
    else:
        p = torch.exp(-bce.detach())
        threshold = dynamic_threshold(p.flatten(), alpha) if alpha is not None else torch.tensor(float(gamma))
        mask = (p <= threshold).to(bce.dtype)
        bce = bce * mask
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=1)
    per_image = bce.sum(1) + kl
    loss = {"mean": per_image.mean, "sum": per_image.sum, "none": lambda: per_image}[reduction]()
    info = {
        "masked_fraction": 0.0 if mask is None else float(1 - mask.mean()),
        "threshold": float(threshold),
    }
    return loss, info


@contextlib.contextmanager
def fast_cpu(threads: int = 1):
    """Small-model CPU training settings: denormals flushed to zero and ``threads`` intra-op threads.

    MNIST's all-zero background drives many weights' gradients and Adam moments into the denormal range,
    which x86 processes ~6x slower; flushing them changes no result that matters. And these matrices are
    small: on a busy machine, more than one thread spends its time waiting for the others (10x slower
    measured on 2 shared cores). Both settings are restored on exit; nesting is allowed.
    """
    global _depth
    previous_threads = torch.get_num_threads()
    torch.set_flush_denormal(True)
    torch.set_num_threads(threads)
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        torch.set_num_threads(previous_threads)
        if _depth == 0:  # torch has no getter for this one: count nesting so an inner block leaves it on
            torch.set_flush_denormal(False)


_depth = 0


# --- the model -------------------------------------------------------------------------------------


class VAE(nn.Module):
    """MLP VAE: ``D -> hidden -> (mu, logvar) in R^latent -> hidden -> D`` Bernoulli logits."""

    def __init__(self, n_pixels: int = 784, hidden: int = 256, latent: int = 16):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(n_pixels, hidden), nn.ReLU())
        self.to_mu = nn.Linear(hidden, latent)
        self.to_logvar = nn.Linear(hidden, latent)
        self.decoder = nn.Sequential(nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, n_pixels))
        self.latent = latent

    def encode(self, x):
        h = self.encoder(x)
        return self.to_mu(h), self.to_logvar(h)

    def forward(self, x):
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.decoder(z), mu, logvar

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, mode: str = "mean") -> torch.Tensor:
        """``n`` images from the prior: decoder probabilities (``"mean"``) or Bernoulli draws (``"bernoulli"``)."""
        z = torch.randn(n, self.latent, generator=generator)
        probs = torch.sigmoid(self.decoder(z))
        if mode == "mean":
            return probs
        if mode == "bernoulli":
            return torch.bernoulli(probs, generator=generator)
        raise ValueError(f"sample mode must be 'mean' or 'bernoulli', got {mode!r}")


def train_vae(
    x: torch.Tensor,
    *,
    gamma: float | None = None,
    alpha: float | None = None,
    epochs: int = 5,
    batch_size: int = 128,
    lr: float = 1e-3,
    hidden: int = 256,
    latent: int = 16,
    seed: int = 0,
) -> tuple[VAE, dict[str, float]]:
    """Train a fresh VAE on ``x (N, D)``; returns it and the last epoch's mean loss and masked fraction."""
    check_threshold(gamma, alpha)
    torch.manual_seed(seed)
    model = VAE(x.shape[1], hidden, latent)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    n = x.shape[0]
    with fast_cpu():
        return _train_vae(model, opt, gen, x, n, gamma, alpha, epochs, batch_size)


def _train_vae(model, opt, gen, x, n, gamma, alpha, epochs, batch_size):
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen)
        total, masked, batches = 0.0, 0.0, 0
        for i in range(0, n, batch_size):
            xb = x[perm[i:i + batch_size]]
            logits, mu, logvar = model(xb)
            loss, info = clipped_elbo_loss(logits, xb, mu, logvar, gamma=gamma, alpha=alpha)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach())
            masked += info["masked_fraction"]
            batches += 1
    model.eval()
    return model, {"loss": total / batches, "masked_fraction": masked / batches}


# --- the digit classifier that measures collapse --------------------------------------------------


class DigitClassifier(nn.Module):
    """MLP ``D -> 256 -> 128 -> 10``; ``features`` is the 128-d penultimate layer (for the Frechet distance)."""

    def __init__(self, n_pixels: int = 784, hidden: int = 256, features: int = 128):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(n_pixels, hidden), nn.ReLU(), nn.Linear(hidden, features), nn.ReLU())
        self.head = nn.Linear(features, 10)

    def features(self, x):
        return self.body(x)

    def forward(self, x):
        return self.head(self.body(x))


def train_classifier(x: torch.Tensor, y: torch.Tensor, *, epochs: int = 5, batch_size: int = 128, lr: float = 1e-3,
                     seed: int = 0) -> DigitClassifier:
    torch.manual_seed(seed)
    model = DigitClassifier(x.shape[1])
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    with fast_cpu():
        for _ in range(epochs):
            perm = torch.randperm(len(x), generator=gen)
            for i in range(0, len(x), batch_size):
                idx = perm[i:i + batch_size]
                loss = F.cross_entropy(model(x[idx]), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
    model.eval()
    return model


@torch.no_grad()
def accuracy(model: DigitClassifier, x: torch.Tensor, y: torch.Tensor) -> float:
    return float((model(x).argmax(1) == y).float().mean())


# --- metrics ---------------------------------------------------------------------------------------


def frechet_distance(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray) -> float:
    """``|mu1 - mu2|^2 + tr(C1 + C2 - 2 (C1 C2)^(1/2))``, the Frechet distance between two Gaussians."""
    # tr((C1 C2)^(1/2)) = tr((S C2 S)^(1/2)) with S = C1^(1/2): a symmetric PSD problem, exact and warning-free
    # even when ReLU features leave the covariances singular (dead units), unlike sqrtm of C1 C2.
    w, v = np.linalg.eigh(cov1)
    s = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    tr_sqrt = np.sum(np.sqrt(np.clip(np.linalg.eigvalsh(s @ cov2 @ s), 0, None)))
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(cov1) + np.trace(cov2) - 2 * tr_sqrt)


def feature_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    f = np.asarray(features, dtype=np.float64)
    return f.mean(0), np.cov(f, rowvar=False)


@dataclass
class Reference:
    """What generated samples are compared with: the classifier, real-data feature statistics, first encoder."""

    classifier: DigitClassifier
    real_mu: np.ndarray
    real_cov: np.ndarray
    encoder: VAE | None = None


@torch.no_grad()
def make_reference(classifier: DigitClassifier, x_real: torch.Tensor) -> Reference:
    """The classifier with the feature mean and covariance of the real images ``x_real``."""
    return Reference(classifier, *feature_stats(classifier.features(x_real).numpy()))


@torch.no_grad()
def sample_metrics(x: torch.Tensor, ref: Reference) -> dict[str, float]:
    """Confidence, class entropy and class mix (classifier), Frechet distance, first-encoder latent statistics."""
    logits = ref.classifier(x)
    probs = logits.softmax(1)
    mix = probs.mean(0)
    feats = ref.classifier.features(x).numpy()
    out = {
        "confidence": float(probs.max(1).values.mean()),
        "class_entropy": float(-(mix * mix.clamp_min(1e-12).log()).sum()),
        "frechet": frechet_distance(*feature_stats(feats), ref.real_mu, ref.real_cov),
        "class_mix": mix.numpy(),
    }
    if ref.encoder is not None:
        mu, _ = ref.encoder.encode(x)
        out["latent_mean_norm"] = float(mu.mean(0).norm())
        out["latent_std"] = float(mu.std(0).mean())
    return out


METRICS = ("confidence", "class_entropy", "frechet", "latent_mean_norm", "latent_std", "masked_fraction")


# --- the recursive loop ----------------------------------------------------------------------------


def method_label(gamma: float | None = None, alpha: float | None = None) -> str:
    """``ELBO``, ``TCE γ=0.9`` (fixed threshold; gamma >= 1 masks nothing: the ELBO) or ``dynamic TCE α=1``."""
    return truncation_label(None if gamma is not None and gamma >= 1 else gamma, alpha, baseline="ELBO")


def run_recursive(
    x_real: torch.Tensor,
    ref: Reference,
    methods: dict[str, dict],
    *,
    generations: int = 10,
    seeds: int = 3,
    seed: int = 0,
    sample_mode: str = "mean",
    n_show: int = 10,
    progress: bool = False,
    **train_kwargs,
) -> dict:
    """The recursive loop for every method and seed.

    ``methods`` maps a label to the loss arguments (``{}``, ``{"gamma": 0.9}``, ``{"alpha": 1.0}``).
    Returns ``{"per_seed": {label: {metric: array (seeds, generations)}}, "images": {label: array
    (generations, n_show, D)} (seed 0), "class_mix": {label: (seeds, generations, 10)}, "real": {metric:
    (seeds,)}}``, the last being the same measures on the real training images. Generation 0 is the VAE trained on real data. The
    first method's generation-0 VAE of each seed is the reference encoder for that seed's latent metrics.
    """
    if not isinstance(generations, int) or generations < 1:
        raise ValueError(f"generations must be a positive int, got {generations!r}")
    if not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"seeds must be a positive int, got {seeds!r}")
    if sample_mode not in ("mean", "bernoulli"):
        raise ValueError(f"sample_mode must be 'mean' or 'bernoulli', got {sample_mode!r}")
    for kw in methods.values():
        check_threshold(**kw)
    per_seed = {label: {m: np.full((seeds, generations), np.nan) for m in METRICS} for label in methods}
    class_mix = {label: np.full((seeds, generations, 10), np.nan) for label in methods}
    images = {label: np.zeros((generations, n_show, x_real.shape[1]), dtype=np.float32) for label in methods}
    jobs = [(s, label) for s in range(seeds) for label in methods]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(jobs) * generations, desc="VAE generations")
    real = {m: np.full(seeds, np.nan) for m in METRICS if m != "masked_fraction"}
    with fast_cpu():
        _loop(jobs, x_real, ref, methods, generations, seed, sample_mode, n_show, train_kwargs, per_seed, class_mix,
              images, real, bar)
    if bar is not None:
        bar.close()
    return {"per_seed": per_seed, "class_mix": class_mix, "images": images, "real": real}


def _loop(jobs, x_real, ref, methods, generations, seed, sample_mode, n_show, train_kwargs, per_seed, class_mix,
          images, real, bar):
    n = x_real.shape[0]
    for s, label in jobs:
        run_seed = seed + 1000 * s
        x = x_real
        for t in range(generations):
            model, stats = train_vae(x, seed=run_seed + t, **methods[label], **train_kwargs)
            if t == 0 and label == next(iter(methods)):
                ref.encoder = model
                real_metrics = sample_metrics(x_real, ref)  # the same measures on the real training images
                for m in real:
                    real[m][s] = real_metrics[m]
            gen = torch.Generator().manual_seed(run_seed + 10_000 + t)
            x = model.sample(n, generator=gen, mode=sample_mode)
            metrics = sample_metrics(x, ref)
            for m in METRICS:
                per_seed[label][m][s, t] = stats["masked_fraction"] if m == "masked_fraction" else metrics[m]
            class_mix[label][s, t] = metrics["class_mix"]
            if s == 0:
                images[label][t] = x[:n_show].numpy()
            if bar is not None:
                bar.update(1)


def summarize(per_seed: dict[str, dict[str, np.ndarray]]) -> dict:
    """Median, min and max over seeds of every metric per generation, with the per-seed values."""
    return {
        label: {
            m: {"median": np.median(v, 0), "min": v.min(0), "max": v.max(0), "per_seed": v}
            for m, v in metrics.items()
        }
        for label, metrics in per_seed.items()
    }


# --- figures ---------------------------------------------------------------------------------------


def plot_samples(images: dict[str, np.ndarray], image_shape: tuple[int, int], generations: list[int] | None = None):
    """Fig. 9: for each method a block of rows (generations) of samples."""
    import matplotlib.pyplot as plt

    labels = list(images)
    n_gen, n_show = next(iter(images.values())).shape[:2]
    gens = generations if generations is not None else list(range(n_gen))
    h, w = image_shape
    fig, axes = plt.subplots(1, len(labels), figsize=(3.2 * len(labels), 0.36 * len(gens) + 0.8), squeeze=False)
    for ax, label in zip(axes[0], labels):
        grid = np.ones((len(gens) * (h + 1), n_show * (w + 1)))
        for r, t in enumerate(gens):
            for c in range(n_show):
                grid[r * (h + 1):r * (h + 1) + h, c * (w + 1):c * (w + 1) + w] = images[label][t, c].reshape(h, w)
        ax.imshow(grid, cmap="gray_r", vmin=0, vmax=1)
        ax.set_title(label, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([r * (h + 1) + h / 2 for r in range(len(gens))], [str(t) for t in gens], fontsize=7)
    axes[0, 0].set_ylabel("generation")
    fig.tight_layout()
    return fig


def plot_metrics(summary: dict, real: dict[str, float] | None = None):
    import matplotlib.pyplot as plt

    names = {
        "confidence": "classifier confidence",
        "class_entropy": "entropy of class mix (log 10 = all digits)",
        "frechet": "Frechet distance to real (classifier features)",
        "latent_std": "std of first encoder's means",
        "latent_mean_norm": "|mean| of first encoder's means",
        "masked_fraction": "pixels masked in training",
    }
    fig, axes = plt.subplots(2, 3, figsize=(13, 6.4))
    for label, metrics in summary.items():
        color = "tab:red" if label == "ELBO" else None
        for ax, name in zip(axes.ravel(), names):
            med = metrics[name]["median"]
            t = np.arange(med.size)
            line, = ax.plot(t, med, "o-", ms=3, label=label, color=color)
            ax.fill_between(t, metrics[name]["min"], metrics[name]["max"], color=line.get_color(), alpha=0.2)
    for ax, (name, title) in zip(axes.ravel(), names.items()):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("generation")
        if real is not None and name in real:
            ax.axhline(real[name], color="k", ls=":", lw=1, label="real data")
    axes[0, 1].axhline(np.log(10), color="gray", ls="--", lw=0.8)
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    return fig
