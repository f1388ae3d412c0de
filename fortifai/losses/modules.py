"""Module forms of the losses, drop-ins for ``nn.CrossEntropyLoss``."""

from __future__ import annotations

import torch
import torch.nn as nn

from .functional import (
    REDUCTIONS,
    check_dynamic_alpha,
    check_focal,
    dynamic_truncated_cross_entropy,
    focal_loss,
    random_mask_cross_entropy,
    truncated_cross_entropy,
)
from .spec import DENOMINATORS, LOSS_SPECS, check_choice


def _check_ignore_index(value) -> int:
    # checked when the module is built, as nn.CrossEntropyLoss would fail only at the first forward
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"ignore_index must be an int, got {value!r}")
    return value


class _GammaMaskLoss(nn.Module):
    """What the module forms of TCE and of the count-matched random mask share: a threshold ``gamma`` checked
    against ``loss``'s spec when built, ``nn.CrossEntropyLoss``'s ``ignore_index`` and ``reduction``, TCE's
    ``denominator``, and calling ``fn`` with them."""

    loss = "tce"

    def __init__(self, gamma: float = 0.9, ignore_index: int = -100, reduction: str = "mean",
                 denominator: str = "valid", return_masked_fraction: bool = False, **extra):
        super().__init__()
        self.gamma = LOSS_SPECS[self.loss].params[0].check(gamma, self.loss)
        self.ignore_index = _check_ignore_index(ignore_index)
        self.reduction = check_choice("reduction", reduction, REDUCTIONS)
        self.denominator = check_choice("denominator", denominator, DENOMINATORS)
        self.return_masked_fraction = return_masked_fraction
        self.extra = extra

    def forward(self, input: torch.Tensor, target: torch.Tensor):
        return type(self).fn(input, target, self.gamma, ignore_index=self.ignore_index, reduction=self.reduction,
                             denominator=self.denominator, return_masked_fraction=self.return_masked_fraction,
                             **self.extra)

    def extra_repr(self) -> str:
        return f"gamma={self.gamma}, ignore_index={self.ignore_index}, reduction={self.reduction!r}"


class TruncatedCrossEntropyLoss(_GammaMaskLoss):
    """Module form of :func:`truncated_cross_entropy`; a drop-in for ``nn.CrossEntropyLoss``.

    Shape: input ``(N, C)``, target ``(N,)``, output scalar or ``(N,)`` for ``reduction="none"``.

    >>> criterion = TruncatedCrossEntropyLoss(gamma=0.9)
    >>> loss = criterion(logits, target)
    """

    loss, fn = "tce", staticmethod(truncated_cross_entropy)

    def __init__(self, gamma: float = 0.9, ignore_index: int = -100, reduction: str = "mean",
                 denominator: str = "valid", return_masked_fraction: bool = False):
        super().__init__(gamma, ignore_index, reduction, denominator, return_masked_fraction)


class DynamicTruncatedCrossEntropyLoss(nn.Module):
    """Module form of :func:`dynamic_truncated_cross_entropy`."""

    def __init__(
        self,
        alpha: float = 1.0,
        ignore_index: int = -100,
        reduction: str = "mean",
        denominator: str = "valid",
        return_masked_fraction: bool = False,
    ):
        super().__init__()
        self.alpha = check_dynamic_alpha(alpha)
        self.ignore_index = _check_ignore_index(ignore_index)
        self.reduction = check_choice("reduction", reduction, REDUCTIONS)
        self.denominator = check_choice("denominator", denominator, DENOMINATORS)
        self.return_masked_fraction = return_masked_fraction

    def forward(self, input: torch.Tensor, target: torch.Tensor):
        return dynamic_truncated_cross_entropy(
            input, target, self.alpha, ignore_index=self.ignore_index, reduction=self.reduction,
            denominator=self.denominator, return_masked_fraction=self.return_masked_fraction,
        )

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, ignore_index={self.ignore_index}, reduction={self.reduction!r}"


class FocalLoss(nn.Module):
    """Module form of :func:`focal_loss`. Shapes as ``nn.CrossEntropyLoss``."""

    def __init__(
        self,
        gamma: float = 2.0,
        alpha: float = 1.0,
        ignore_index: int = -100,
        reduction: str = "mean",
        return_masked_fraction: bool = False,
    ):
        super().__init__()
        self.gamma, self.alpha = check_focal(gamma, alpha)
        self.ignore_index = _check_ignore_index(ignore_index)
        self.reduction = check_choice("reduction", reduction, REDUCTIONS)
        self.return_masked_fraction = return_masked_fraction

    def forward(self, input: torch.Tensor, target: torch.Tensor):
        return focal_loss(
            input, target, self.gamma, alpha=self.alpha, ignore_index=self.ignore_index,
            reduction=self.reduction, return_masked_fraction=self.return_masked_fraction,
        )

    def extra_repr(self) -> str:
        return f"gamma={self.gamma}, alpha={self.alpha}, ignore_index={self.ignore_index}, reduction={self.reduction!r}"


class RandomMaskCrossEntropyLoss(_GammaMaskLoss):
    """Module form of :func:`random_mask_cross_entropy` (as many targets masked as TCE at ``gamma``, at random);
    a drop-in for ``nn.CrossEntropyLoss``. ``generator``: the draw's ``torch.Generator`` (default torch's global
    one)."""

    loss, fn = "rmask", staticmethod(random_mask_cross_entropy)

    def __init__(self, gamma: float = 0.9, ignore_index: int = -100, reduction: str = "mean",
                 denominator: str = "valid", return_masked_fraction: bool = False,
                 generator: torch.Generator | None = None):
        super().__init__(gamma, ignore_index, reduction, denominator, return_masked_fraction, generator=generator)
