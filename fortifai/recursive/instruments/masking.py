"""How much a confidence-aware loss acts over training: the masked fraction of every batch, per epoch.

TCE can only change what a model learns on the tokens it masks (``p_t > gamma``). If it masks almost none of
them before a run fails, TCE *is* CE there and the run cannot test the paper's claim. A
:class:`MaskingMonitor` records, over every training batch (not only the last one):

- ``masked_fraction_by_epoch``: the fraction of non-ignored targets the loss masked (TCE, dynamic TCE); for
  focal loss the mean weight ``(1 - p_t)^gamma`` it gives a token; 0 for CE (nothing is masked);
- ``confident_fraction_by_epoch``: for every loss, the fraction of targets with ``p_t`` above 0.9 and 0.99, i.e.
  what TCE at those gammas *would* mask under this model (for CE too, which is how a CE run shows where TCE
  would have acted).

Means are over tokens (each batch weighted by its non-ignored targets). The per-epoch lists survive a resumed
stage: they are written to ``path`` at every epoch end and cut back to the checkpoint's epoch on resume.

    monitor = MaskingMonitor("tce", {"gamma": 0.9}, work_dir / "masking.json")
    trainer = Trainer(..., compute_loss_func=..., callbacks=[monitor.callback()])   # loss calls monitor.record
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from ...losses.spec import LOSS_SPECS, RECURSIVE_LOSSES, check_choice

CONFIDENCE_LEVELS = (0.9, 0.99)
_ROWS = 512  # tokens per chunk when p_t is recomputed (a full (B*T, V) float32 copy would double the logits' memory)


def target_probabilities(logits: torch.Tensor, labels: torch.Tensor, ignore_index: int = -100) -> torch.Tensor:
    """``p_t`` of every non-ignored next-token target of a causal LM batch (labels unshifted, as the Trainer passes)."""
    with torch.no_grad():
        logits = logits[..., :-1, :].reshape(-1, logits.shape[-1])
        target = labels[..., 1:].reshape(-1).to(logits.device)
        keep = target != ignore_index
        logits, target = logits[keep], target[keep]
        out = torch.empty(target.shape[0], dtype=torch.float32, device=logits.device)
        for start in range(0, target.shape[0], _ROWS):
            chunk = logits[start:start + _ROWS].float()
            picked = chunk.gather(1, target[start:start + _ROWS, None]).squeeze(1)
            out[start:start + _ROWS] = torch.exp(picked - torch.logsumexp(chunk, dim=-1))
    return out


class MaskingMonitor:
    """Accumulates the masked fraction and the confident fractions of the training batches, per epoch."""

    def __init__(self, loss: str, loss_kwargs: dict[str, Any], path: str | Path | None = None):
        spec = LOSS_SPECS[check_choice("loss", loss, RECURSIVE_LOSSES)]
        self.loss, self.loss_kwargs = loss, spec.resolve(loss_kwargs)
        self.path = Path(path) if path is not None else None
        self.epochs: list[dict[str, float]] = []
        self._reset()

    def _reset(self) -> None:
        self._tokens, self._masked = 0, 0.0
        self._confident = dict.fromkeys(CONFIDENCE_LEVELS, 0)

    def record(self, logits: torch.Tensor, labels: torch.Tensor, loss_masked_fraction: torch.Tensor | None = None,
               ignore_index: int = -100) -> None:
        """Add one training batch; ``loss_masked_fraction``: what the loss itself reported for it (TCE)."""
        p = target_probabilities(logits, labels, ignore_index)
        n = int(p.numel())
        if n == 0:
            return
        if self.loss == "focal":
            masked = float(((1 - p).clamp_min(0) ** self.loss_kwargs["gamma"]).sum())
        elif self.loss == "ce":
            masked = 0.0
        elif loss_masked_fraction is not None:
            masked = float(loss_masked_fraction) * n
        elif self.loss == "tce":  # without the loss's own count
            masked = float((p > self.loss_kwargs["gamma"]).sum())
        else:
            raise ValueError(f"loss={self.loss!r} has a per-batch threshold: pass the loss's loss_masked_fraction")
        self._tokens += n
        self._masked += masked
        for level in CONFIDENCE_LEVELS:
            self._confident[level] += int((p > level).sum())

    def end_epoch(self, epoch: float) -> None:
        """Close the epoch's running sums into one entry (and save the list when a path was given)."""
        if self._tokens:
            entry = {"epoch": round(float(epoch), 6), "tokens": self._tokens,
                     "masked_fraction": self._masked / self._tokens}
            entry.update({f"confident_{level}": self._confident[level] / self._tokens for level in CONFIDENCE_LEVELS})
            self.epochs.append(entry)
        self._reset()
        if self.path is not None:
            from ...results import write_json

            write_json(self.path, self.epochs)

    def restore(self, epochs_done: float) -> None:
        """On a resumed stage: the saved entries up to the checkpoint's epoch."""
        if self.path is not None and self.path.is_file():
            from ...results import read_json

            self.epochs = [e for e in read_json(self.path) if e["epoch"] <= epochs_done + 1e-6]
        self._reset()

    def summary(self) -> dict[str, Any]:
        """What the stage's metrics keep: the per-epoch lists and their token-weighted means."""
        tokens = sum(e["tokens"] for e in self.epochs)

        def mean(key: str) -> float | None:
            return sum(e[key] * e["tokens"] for e in self.epochs) / tokens if tokens else None

        return dict(
            masked_fraction_by_epoch=[e["masked_fraction"] for e in self.epochs],
            masked_fraction_mean=mean("masked_fraction"),
            confident_fraction_by_epoch={str(level): [e[f"confident_{level}"] for e in self.epochs]
                                         for level in CONFIDENCE_LEVELS},
            masked_quantity="mean weight (1 - p)^gamma" if self.loss == "focal" else "fraction of targets masked",
        )

    def callback(self):
        """A ``transformers.TrainerCallback`` that closes an epoch when the Trainer does."""
        from transformers import TrainerCallback

        monitor = self

        class _EpochEnd(TrainerCallback):
            def on_epoch_end(self, args, state, control, **kwargs):
                monitor.end_epoch(state.epoch if state.epoch is not None else math.nan)

        return _EpochEnd()
