"""Confidence-aware losses: Truncated Cross Entropy (TCE), focal loss and dynamic TCE.

The paper's loss (Sec. 2.2.1) is cross entropy with the confident tokens masked out:

    TCE(p_t) = 1[p_t <= gamma] * CE(p_t),        p_t = softmax(logits)[target]

and Appendix A compares it with focal loss, FL(p_t) = -(1 - p_t)^gamma * log(p_t).

What is here, top to bottom:

* functional forms with ``torch.nn.functional.cross_entropy`` conventions
  (:func:`truncated_cross_entropy`, :func:`focal_loss`, :func:`dynamic_truncated_cross_entropy`,
  :func:`dynamic_threshold`) and module forms mirroring ``nn.CrossEntropyLoss``
  (:class:`TruncatedCrossEntropyLoss`, :class:`FocalLoss`, :class:`DynamicTruncatedCrossEntropyLoss`);
* causal-LM glue in the style of ``transformers.loss.loss_utils`` (:func:`causal_lm_loss`) and a factory
  for ``transformers.Trainer(compute_loss_func=...)`` (:func:`compute_loss_func`);
* a memory-lean path, :func:`linear_cross_entropy`, that computes ``hidden @ weight.T`` and the loss in
  chunks of tokens without ever holding the (N, V) logits, and its Trainer glue
  (:func:`linear_causal_lm_loss`);
* :func:`loss_from_token_ce`: any of the losses from per-token cross entropies computed elsewhere (torch's
  ``F.linear_cross_entropy(..., reduction="none")`` or another fused kernel). Every path defines each loss
  through one per-token function of the CE, so TCE and focal are written once.

Only torch is imported at module level; transformers is never needed to import this file.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = [
    "LOSSES",
    "truncated_cross_entropy",
    "focal_loss",
    "dynamic_threshold",
    "dynamic_truncated_cross_entropy",
    "cross_entropy",
    "TruncatedCrossEntropyLoss",
    "FocalLoss",
    "DynamicTruncatedCrossEntropyLoss",
    "causal_lm_loss",
    "compute_loss_func",
    "linear_cross_entropy",
    "linear_causal_lm_loss",
    "loss_from_token_ce",
    "default_chunk_size",
]

_REDUCTIONS = ("mean", "sum", "none")
_DENOMINATORS = ("valid", "kept")


# --------------------------------------------------------------------------------------------------
# Argument checks: one clear ValueError naming the parameter and what is allowed.
# --------------------------------------------------------------------------------------------------


def _check_number(name: str, value: Any, low: float, high: float = math.inf, what: str = "") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (low <= value <= high):
        allowed = f"[{low}, {high}]" if math.isfinite(high) else f"[{low}, inf)"
        raise ValueError(f"{name} must be a number in {allowed}{what}, got {value!r}")
    return float(value)


def _check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    return value


def _check_logits_target(logits: torch.Tensor, target: torch.Tensor) -> None:
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2 or not logits.is_floating_point():
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ValueError(f"logits must be a floating-point tensor of shape (N, C), got {shape}")
    if not isinstance(target, torch.Tensor) or target.dim() != 1 or target.shape[0] != logits.shape[0]:
        shape = tuple(target.shape) if isinstance(target, torch.Tensor) else type(target).__name__
        raise ValueError(f"target must be a tensor of shape (N,) = ({logits.shape[0]},) matching logits, got {shape}")
    if target.is_floating_point() or target.is_complex() or target.dtype == torch.bool:
        raise ValueError(f"target must hold integer class indices (torch.long), got dtype {target.dtype}")


def _check_tce_gamma(gamma: Any) -> float:
    return _check_number("gamma", gamma, 0.0, what=" (a threshold on p_t; values >= 1 keep every token)")


def _check_focal(gamma: Any, alpha: Any) -> tuple[float, float]:
    gamma = _check_number("gamma", gamma, 0.0, what=" (the focusing exponent; 0 gives cross entropy)")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not (0 < alpha < math.inf):
        raise ValueError(f"alpha must be a positive finite number (a scale on the focal loss), got {alpha!r}")
    return gamma, float(alpha)


def _check_dynamic_alpha(alpha: Any) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not math.isfinite(alpha):
        raise ValueError(f"alpha must be a finite number (gamma = mean(p_t) + alpha * std(p_t)), got {alpha!r}")
    return float(alpha)


# --------------------------------------------------------------------------------------------------
# Shared pieces
# --------------------------------------------------------------------------------------------------


class _TokenCrossEntropy(torch.autograd.Function):
    """Per-token cross entropy ``-log_softmax(logits)[target]`` with a lean backward.

    ``F.cross_entropy`` keeps the (N, C) log-softmax for its backward, and its backward goes through a
    separate NLL gradient and a log-softmax gradient. Here the forward keeps only the logits (which exist
    anyway) and the (N,) log-normaliser; the backward writes ``softmax * g - onehot * g`` into one new buffer.
    On CPU this is ~25% faster than ``F.cross_entropy`` and holds no (N, C) tensor between forward and backward
    beyond the logits, so every loss built on the per-token CE (TCE, focal, dynamic TCE) costs at most what
    CE costs.
    """

    @staticmethod
    def forward(ctx, logits, target, ignore_index):
        valid = target != ignore_index
        safe_target = torch.where(valid, target, 0)[:, None]
        log_p_t = torch.log_softmax(logits, dim=-1).gather(1, safe_target).squeeze(1)  # the (N, C) buffer is freed
        log_normalizer = logits.gather(1, safe_target).squeeze(1) - log_p_t
        ctx.save_for_backward(logits, log_normalizer, safe_target, valid)
        return torch.where(valid, -log_p_t, 0.0)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_ce):
        logits, log_normalizer, safe_target, valid = ctx.saved_tensors
        g = torch.where(valid, grad_ce, 0.0)[:, None]
        grad = torch.sub(logits, log_normalizer[:, None]).exp_().mul_(g)
        grad.scatter_add_(1, safe_target, -g)
        return grad, None, None


def _token_cross_entropy(logits: torch.Tensor, target: torch.Tensor, ignore_index: int) -> torch.Tensor:
    # Upcast bf16/fp16 to float32 before the softmax to avoid precision issues (float64 stays float64).
    # Ignored positions come back as exactly 0.
    return _TokenCrossEntropy.apply(_upcast(logits), target, ignore_index)


def _upcast(x: torch.Tensor) -> torch.Tensor:
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


def _reduce(
    token_loss: torch.Tensor,
    valid: torch.Tensor,
    keep: torch.Tensor | None,
    reduction: str,
    denominator: str = "valid",
) -> torch.Tensor:
    """Reduce per-token losses that are already 0 at ignored and masked positions."""
    if reduction == "none":
        return token_loss
    total = token_loss.sum()
    if reduction == "sum":
        return total
    count = keep.sum() if (denominator == "kept" and keep is not None) else valid.sum()
    # clamp: an all-masked or all-ignored batch gives 0 (and zero gradients), never 0/0 = NaN
    return total / count.clamp_min(1)


def _masked_fraction(valid: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    return ((valid & ~keep).sum() / valid.sum().clamp_min(1)).float()


def _token_loss(loss: str, params: dict, ce: torch.Tensor, valid: torch.Tensor, gamma=None):
    """The one definition of each loss: per-token values from the per-token CE, and the tokens kept.

    ``ce`` is ``(N,)``, 0 at ignored positions; ``gamma`` is the TCE threshold (a tensor for dynamic TCE). The
    logits path, the chunked path (which differentiates this with respect to ``ce``) and torch's
    ``linear_cross_entropy`` path all go through here.
    """
    if loss in ("tce", "tce_dynamic"):
        # The mask is a constant of the step: p_t is detached so that the indicator never gets a gradient.
        # p_t <= 1 always holds because ce >= 0 (logsumexp >= any logit), so gamma >= 1 keeps every token.
        keep = (torch.exp(-ce.detach()) <= gamma) & valid
        return ce * keep, keep
    if loss == "focal":
        # 1 - p_t via expm1 keeps precision when p_t is close to 1; the clamp keeps (1 - p_t)^(gamma - 1) finite in
        # the backward pass where p_t == 1 (and at ignored positions, where ce == 0), so 0 * inf never makes a NaN.
        one_minus_p = (-torch.expm1(-ce)).clamp_min(torch.finfo(ce.dtype).tiny)
        return params["alpha"] * one_minus_p.pow(params["gamma"]) * ce, valid
    return ce, valid


def _loss_from_ce(loss: str, params: dict, ce: torch.Tensor, valid: torch.Tensor, reduction: str,
                  return_masked_fraction: bool):
    gamma = params.get("gamma")
    if loss == "tce_dynamic":
        gamma = dynamic_threshold(torch.exp(-ce.detach()), params["alpha"], valid)
    token_loss, keep = _token_loss(loss, params, ce, valid, gamma)
    out = _reduce(token_loss, valid, keep, reduction, params.get("denominator", "valid"))
    return (out, _masked_fraction(valid, keep)) if return_masked_fraction else out


# --------------------------------------------------------------------------------------------------
# Functional forms
# --------------------------------------------------------------------------------------------------


def truncated_cross_entropy(
    logits: torch.Tensor,
    target: torch.Tensor,
    gamma: float = 0.9,
    *,
    ignore_index: int = -100,
    reduction: str = "mean",
    denominator: str = "valid",
    return_masked_fraction: bool = False,
):
    r"""Truncated Cross Entropy: cross entropy on the tokens the model is not already sure of.

    ``TCE_i = 1[p_i <= gamma] * CE_i`` with ``p_i = softmax(logits_i)[target_i]``; the indicator is computed
    without gradient, so masked tokens get exactly zero gradient.

    Args:
        logits: ``(N, C)`` unnormalised scores; any floating dtype, computed in float32.
        target: ``(N,)`` class indices in ``[0, C)`` or ``ignore_index``.
        gamma: confidence threshold in ``[0, inf)``; tokens with ``p_t > gamma`` are masked. Values ``>= 1``
            keep every token and give ``F.cross_entropy`` exactly (same reductions, same denominator).
        ignore_index: target value that contributes nothing and is not counted.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.
        denominator: what ``"mean"`` divides by. ``"valid"`` (default, the authors' semantics): the number of
            non-ignored targets, so masking a token lowers the mean and ``gamma >= 1`` is plain CE. ``"kept"``:
            the number of tokens that survive the mask (a mean over the trained-on tokens).
        return_masked_fraction: also return the fraction of non-ignored tokens that were masked (0-dim float32,
            no gradient), for logging.

    Returns:
        A scalar for ``"mean"``/``"sum"``; ``(N,)`` for ``"none"``, 0 at masked and ignored positions.
        An all-masked or all-ignored batch gives 0 with zero gradients (``F.cross_entropy`` gives NaN when
        every target is ignored). With ``return_masked_fraction=True``: ``(loss, masked_fraction)``.
    """
    _check_logits_target(logits, target)
    gamma = _check_tce_gamma(gamma)
    _check_choice("reduction", reduction, _REDUCTIONS)
    _check_choice("denominator", denominator, _DENOMINATORS)
    ce = _token_cross_entropy(logits, target, ignore_index)
    return _loss_from_ce("tce", {"gamma": gamma, "denominator": denominator}, ce, target != ignore_index, reduction,
                         return_masked_fraction)


def dynamic_threshold(p_t: torch.Tensor, alpha: float = 1.0, valid: torch.Tensor | None = None) -> torch.Tensor:
    """The batch-adaptive TCE threshold ``gamma = clip(mean(p_t) + alpha * std(p_t), 0, 1)``.

    Args:
        p_t: ``(N,)`` probabilities of the correct class.
        alpha: how many standard deviations above the mean confidence to cut.
        valid: optional ``(N,)`` bool mask of the tokens to take the statistics over (the non-ignored ones).

    Returns:
        A detached 0-dim float32 tensor. ``std`` is the population standard deviation (correction 0), so a
        batch of one token gives ``gamma = p_t`` rather than NaN; no valid token gives ``gamma = 1``.
    """
    alpha = _check_dynamic_alpha(alpha)
    with torch.no_grad():
        p = p_t.detach().float()
        if valid is not None:
            p = p[valid]
        if p.numel() == 0:
            return torch.ones((), device=p_t.device)
        mean = p.mean()
        std = (p - mean).square().mean().sqrt()
        return (mean + alpha * std).clamp(0.0, 1.0)


def dynamic_truncated_cross_entropy(
    logits: torch.Tensor,
    target: torch.Tensor,
    alpha: float = 1.0,
    *,
    ignore_index: int = -100,
    reduction: str = "mean",
    denominator: str = "valid",
    return_masked_fraction: bool = False,
):
    """TCE with the threshold set per batch by :func:`dynamic_threshold` (the "dynamic clipping" of Fig. 9).

    Same arguments, shapes and returns as :func:`truncated_cross_entropy`, with ``alpha`` in place of
    ``gamma``. The threshold depends on the batch, so with gradient accumulation each micro-batch gets its own.
    """
    _check_logits_target(logits, target)
    alpha = _check_dynamic_alpha(alpha)
    _check_choice("reduction", reduction, _REDUCTIONS)
    _check_choice("denominator", denominator, _DENOMINATORS)
    ce = _token_cross_entropy(logits, target, ignore_index)
    return _loss_from_ce("tce_dynamic", {"alpha": alpha, "denominator": denominator}, ce, target != ignore_index,
                         reduction, return_masked_fraction)


def focal_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    gamma: float = 2.0,
    *,
    alpha: float = 1.0,
    ignore_index: int = -100,
    reduction: str = "mean",
    return_masked_fraction: bool = False,
):
    r"""Focal loss (Lin et al. 2017; the paper's Appendix A): ``-alpha * (1 - p_t)^gamma * log(p_t)``.

    The gradient flows through the modulating factor ``(1 - p_t)^gamma`` as in the standard focal loss.

    Args:
        logits: ``(N, C)``; target: ``(N,)``; ``ignore_index`` and ``reduction`` as in ``F.cross_entropy``
            (``"mean"`` divides by the number of non-ignored targets).
        gamma: focusing exponent in ``[0, inf)``; 0 gives cross entropy.
        alpha: positive scale.
        return_masked_fraction: also return the masked fraction, which is always 0 (focal loss down-weights
            but masks nothing); it is there so that logging code can treat every loss alike.

    Returns:
        As :func:`truncated_cross_entropy`.
    """
    _check_logits_target(logits, target)
    gamma, alpha = _check_focal(gamma, alpha)
    _check_choice("reduction", reduction, _REDUCTIONS)
    ce = _token_cross_entropy(logits, target, ignore_index)
    return _loss_from_ce("focal", {"gamma": gamma, "alpha": alpha}, ce, target != ignore_index, reduction,
                         return_masked_fraction)


def cross_entropy(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    ignore_index: int = -100,
    reduction: str = "mean",
    return_masked_fraction: bool = False,
):
    """Plain cross entropy in float32 with the same interface as the other losses here (masked fraction 0)."""
    _check_logits_target(logits, target)
    _check_choice("reduction", reduction, _REDUCTIONS)
    ce = _token_cross_entropy(logits, target, ignore_index)
    return _loss_from_ce("ce", {}, ce, target != ignore_index, reduction, return_masked_fraction)


# A plain dict from names to functions, as in transformers' LOSS_MAPPING.
LOSSES = {
    "ce": cross_entropy,
    "tce": truncated_cross_entropy,
    "focal": focal_loss,
    "tce_dynamic": dynamic_truncated_cross_entropy,
}


def _check_loss(loss: Any) -> str:
    return _check_choice("loss", loss, tuple(LOSSES))


def loss_from_token_ce(
    ce: torch.Tensor,
    target: torch.Tensor,
    loss: str = "tce",
    *,
    ignore_index: int = -100,
    reduction: str = "mean",
    return_masked_fraction: bool = False,
    **loss_kwargs,
):
    """A named loss from per-token cross entropies that something else computed (a fused or chunked CE kernel).

    ``LOSSES[loss](logits, target, ...) == loss_from_token_ce(F.cross_entropy(logits, target, reduction="none"),
    target, loss, ...)`` in value and gradient: TCE masks ``ce`` where ``exp(-ce) > gamma`` (without gradient),
    focal weighs it by ``(1 - exp(-ce))^gamma``. This is how :func:`linear_cross_entropy` applies our losses to
    torch's ``F.linear_cross_entropy(..., reduction="none")``.

    Args:
        ce: ``(N,)`` per-token cross entropy, differentiable, 0 at ignored positions (as ``reduction="none"``
            gives); computed in its own dtype (upcast half precision first).
        target: ``(N,)`` the targets, to tell the ignored positions.
        loss, reduction, return_masked_fraction, ``**loss_kwargs``: as in :func:`causal_lm_loss`.
    """
    loss = _check_loss(loss)
    params = _resolve_loss_params(loss, loss_kwargs)
    _check_choice("reduction", reduction, _REDUCTIONS)
    if not isinstance(ce, torch.Tensor) or ce.dim() != 1 or not ce.is_floating_point() or ce.shape != target.shape:
        raise ValueError(f"ce must be a floating-point tensor of shape (N,) = {tuple(target.shape)}, "
                         f"got {tuple(getattr(ce, 'shape', ()))}")
    return _loss_from_ce(loss, params, ce, target.to(ce.device) != ignore_index, reduction, return_masked_fraction)


# --------------------------------------------------------------------------------------------------
# Module forms
# --------------------------------------------------------------------------------------------------


class TruncatedCrossEntropyLoss(nn.Module):
    """Module form of :func:`truncated_cross_entropy`; a drop-in for ``nn.CrossEntropyLoss``.

    Shape: input ``(N, C)``, target ``(N,)``, output scalar or ``(N,)`` for ``reduction="none"``.

    >>> criterion = TruncatedCrossEntropyLoss(gamma=0.9)
    >>> loss = criterion(logits, target)
    """

    def __init__(
        self,
        gamma: float = 0.9,
        ignore_index: int = -100,
        reduction: str = "mean",
        denominator: str = "valid",
        return_masked_fraction: bool = False,
    ):
        super().__init__()
        self.gamma = _check_tce_gamma(gamma)
        self.ignore_index = ignore_index
        self.reduction = _check_choice("reduction", reduction, _REDUCTIONS)
        self.denominator = _check_choice("denominator", denominator, _DENOMINATORS)
        self.return_masked_fraction = return_masked_fraction

    def forward(self, input: torch.Tensor, target: torch.Tensor):
        return truncated_cross_entropy(
            input, target, self.gamma, ignore_index=self.ignore_index, reduction=self.reduction,
            denominator=self.denominator, return_masked_fraction=self.return_masked_fraction,
        )

    def extra_repr(self) -> str:
        return f"gamma={self.gamma}, ignore_index={self.ignore_index}, reduction={self.reduction!r}"


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
        self.alpha = _check_dynamic_alpha(alpha)
        self.ignore_index = ignore_index
        self.reduction = _check_choice("reduction", reduction, _REDUCTIONS)
        self.denominator = _check_choice("denominator", denominator, _DENOMINATORS)
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
        self.gamma, self.alpha = _check_focal(gamma, alpha)
        self.ignore_index = ignore_index
        self.reduction = _check_choice("reduction", reduction, _REDUCTIONS)
        self.return_masked_fraction = return_masked_fraction

    def forward(self, input: torch.Tensor, target: torch.Tensor):
        return focal_loss(
            input, target, self.gamma, alpha=self.alpha, ignore_index=self.ignore_index,
            reduction=self.reduction, return_masked_fraction=self.return_masked_fraction,
        )

    def extra_repr(self) -> str:
        return f"gamma={self.gamma}, alpha={self.alpha}, ignore_index={self.ignore_index}, reduction={self.reduction!r}"


# --------------------------------------------------------------------------------------------------
# Causal-LM glue (transformers conventions)
# --------------------------------------------------------------------------------------------------


def _shift_labels(labels: torch.Tensor, ignore_index: int) -> torch.Tensor:
    # Shift so that tokens < n predict n: pad with ignore_index and slice, instead of copying the logits.
    return F.pad(labels, (0, 1), value=ignore_index)[..., 1:].contiguous()


def _check_num_items(num_items_in_batch: Any, loss_kwargs: dict) -> None:
    if num_items_in_batch is not None and loss_kwargs.get("denominator", "valid") == "kept":
        raise ValueError(
            "denominator='kept' cannot be combined with num_items_in_batch: the kept count of one micro-batch "
            "is not known to the others; use denominator='valid' (the default) with gradient accumulation"
        )


def causal_lm_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    loss: str = "tce",
    *,
    ignore_index: int = -100,
    num_items_in_batch: int | torch.Tensor | None = None,
    shift_labels: torch.Tensor | None = None,
    return_masked_fraction: bool = False,
    **loss_kwargs,
):
    """A named loss for next-token prediction, the way ``transformers.ForCausalLMLoss`` computes CE.

    Args:
        logits: ``(B, T, V)`` (any float dtype; upcast to float32).
        labels: ``(B, T)``; position ``t`` is predicted from the logits at ``t - 1``. Labels are shifted here
            (pad with ``ignore_index``, slice) unless ``shift_labels`` ``(B, T)`` is given already shifted.
        loss: ``"ce"`` | ``"tce"`` | ``"focal"`` | ``"tce_dynamic"``.
        num_items_in_batch: when given (the Trainer passes the non-ignored target count of the whole accumulated
            batch), the summed loss is divided by it, so gradient accumulation matches one large batch.
        return_masked_fraction: also return the fraction of non-ignored targets the loss masked.
        **loss_kwargs: the named loss's own parameters (``gamma``, ``alpha``, ``denominator``).

    Returns:
        A scalar loss, or ``(loss, masked_fraction)``.
    """
    fn = LOSSES[_check_loss(loss)]
    _check_num_items(num_items_in_batch, loss_kwargs)
    if logits.dim() != 3:
        raise ValueError(f"logits must have shape (B, T, V), got {tuple(logits.shape)}")
    if shift_labels is None:
        if labels.shape != logits.shape[:2]:
            raise ValueError(f"labels must have shape (B, T) = {tuple(logits.shape[:2])}, got {tuple(labels.shape)}")
        shift_labels = _shift_labels(labels, ignore_index)
    elif shift_labels.shape != logits.shape[:2]:
        raise ValueError(f"shift_labels must have shape (B, T) = {tuple(logits.shape[:2])}, got {tuple(shift_labels.shape)}")
    logits = logits.reshape(-1, logits.shape[-1])
    target = shift_labels.reshape(-1).to(logits.device)
    reduction = "sum" if num_items_in_batch is not None else "mean"
    out, masked = fn(
        logits, target, ignore_index=ignore_index, reduction=reduction, return_masked_fraction=True, **loss_kwargs
    )
    if num_items_in_batch is not None:
        if torch.is_tensor(num_items_in_batch):
            num_items_in_batch = num_items_in_batch.to(out.device)
        out = out / num_items_in_batch
    return (out, masked) if return_masked_fraction else out


def compute_loss_func(loss: str = "tce", *, ignore_index: int = -100, **loss_kwargs):
    """A ``compute_loss_func`` for ``transformers.Trainer`` that trains a causal LM with a named loss.

    >>> trainer = Trainer(model=model, args=args, train_dataset=ds,
    ...                   compute_loss_func=compute_loss_func("tce", gamma=0.9))

    The Trainer pops ``labels`` before the forward pass, so the model computes no second, unused CE. The loss
    is summed and divided by ``num_items_in_batch`` (the non-ignored targets of the whole accumulated batch), so
    gradient accumulation gives the gradients of one large batch. The masked fraction of the last call is kept
    on the returned function as ``.masked_fraction`` (a detached tensor, so logging costs no device sync).
    """
    _check_loss(loss)
    if loss_kwargs.get("denominator", "valid") == "kept":
        raise ValueError(
            "denominator must be 'valid' for the Trainer: it divides by num_items_in_batch, the non-ignored "
            "targets of the whole accumulated batch, got 'kept'"
        )

    def _compute_loss(outputs, labels, num_items_in_batch=None):
        logits = outputs["logits"] if isinstance(outputs, Mapping) else outputs[0]
        value, masked = causal_lm_loss(
            logits, labels, loss, ignore_index=ignore_index, num_items_in_batch=num_items_in_batch,
            return_masked_fraction=True, **loss_kwargs,
        )
        _compute_loss.masked_fraction = masked.detach()
        return value

    _compute_loss.masked_fraction = None
    _compute_loss.loss = loss
    return _compute_loss


# --------------------------------------------------------------------------------------------------
# Memory-lean path: lm_head and loss in token chunks
# --------------------------------------------------------------------------------------------------


def _resolve_loss_params(loss: str, loss_kwargs: dict) -> dict:
    """Validated parameters of a named loss with its defaults filled in (for the chunked path)."""
    allowed = {"ce": (), "tce": ("gamma", "denominator"), "focal": ("gamma", "alpha"),
               "tce_dynamic": ("alpha", "denominator")}[loss]
    unknown = sorted(set(loss_kwargs) - set(allowed))
    if unknown:
        raise ValueError(f"loss={loss!r} takes parameters {list(allowed)}, got unexpected {unknown}")
    params = dict(loss_kwargs)
    if loss == "tce":
        params["gamma"] = _check_tce_gamma(params.get("gamma", 0.9))
    elif loss == "focal":
        params["gamma"], params["alpha"] = _check_focal(params.get("gamma", 2.0), params.get("alpha", 1.0))
    elif loss == "tce_dynamic":
        params["alpha"] = _check_dynamic_alpha(params.get("alpha", 1.0))
    params["denominator"] = _check_choice("denominator", params.get("denominator", "valid"), _DENOMINATORS)
    return params


def _chunk_softmax_(z: torch.Tensor, safe_target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Overwrite a chunk's float logits ``z`` with ``exp(z - rowmax)``; return the per-token ce and the row sums.

    No second ``(chunk, V)`` buffer: the softmax is ``z / sums``, and the gradient pass folds ``1 / sums`` into
    its per-token coefficient instead of dividing here.
    """
    z_max = z.amax(1, keepdim=True)
    z_target = z.gather(1, safe_target[:, None])
    sums = z.sub_(z_max).exp_().sum(1, keepdim=True)
    return (sums.log() + z_max - z_target).squeeze(1), sums


class _LinearLoss(torch.autograd.Function):
    """Loss of ``hidden @ weight.T`` computed in token chunks; the gradients are formed in the forward pass.

    This works because every loss here is a sum of per-token terms divided by a scalar that does not depend on
    the mask (or, for ``denominator="kept"``, by a count we know once all chunks are done and apply at the
    end), so each chunk's contribution to the gradient can be computed as soon as its logits exist, and the
    chunk's buffer can be reused for the next.

    Memory: one weight-gradient buffer, accumulated in place over the chunks (float32 for half-precision
    weights), the ``(N, H)`` hidden gradient, and one ``(chunk, V)`` buffer that holds a chunk's logits, then
    their exponentials, then their gradient. The backward pass scales the stored gradients in place and hands
    these same buffers to autograd, so no second copy of the weight gradient is ever made; in exchange the
    backward can run once per forward (a second one, e.g. with ``retain_graph=True``, raises).
    """

    @staticmethod
    def forward(ctx, hidden, weight, target, loss, params, ignore_index, reduction, chunk_size,
                num_items_in_batch, need_hidden_grad, need_weight_grad):
        n = hidden.shape[0]
        valid = target != ignore_index
        safe_target = torch.where(valid, target, 0)
        need_grad = need_hidden_grad or need_weight_grad
        acc = _upcast(hidden[:0]).dtype  # float32 (float64 for float64 inputs)
        grad_hidden = torch.empty_like(hidden) if need_hidden_grad else None
        grad_weight = torch.empty_like(weight, dtype=acc) if need_weight_grad else None
        chunks = [(i, min(i + chunk_size, n)) for i in range(0, n, chunk_size)]
        buffer = torch.empty(min(chunk_size, n), weight.shape[0], dtype=acc, device=hidden.device)

        def chunk_logits(i, j):
            # Same arithmetic as the plain path: matmul in the input dtype, then float32 for the softmax. One
            # buffer serves every chunk (no allocation, no fresh pages per chunk).
            if hidden.dtype == acc:
                return torch.mm(hidden[i:j], weight.T, out=buffer[: j - i])
            return buffer[: j - i].copy_(hidden[i:j] @ weight.T)

        gamma = params.get("gamma")
        if loss == "tce_dynamic":
            # The threshold needs every token's p_t first: one pass for the per-token ce, then the gradient pass.
            ce_all = torch.empty(n, dtype=acc, device=hidden.device)
            for i, j in chunks:
                ce_all[i:j] = _chunk_softmax_(chunk_logits(i, j), safe_target[i:j])[0]
            gamma = dynamic_threshold(torch.exp(-ce_all), params["alpha"], valid)

        total = torch.zeros((), dtype=acc, device=hidden.device)
        kept = torch.zeros((), dtype=torch.long, device=hidden.device)
        # With a known denominator the chunk gradients are scaled as they are made; "kept" is applied at the end.
        if reduction == "sum" or (num_items_in_batch is None and params["denominator"] == "kept"):
            scale = 1.0
        elif num_items_in_batch is not None:
            scale = 1.0 / num_items_in_batch
        else:
            scale = 1.0 / valid.sum().clamp_min(1)
        for c, (i, j) in enumerate(chunks):
            z = chunk_logits(i, j)
            ce, sums = _chunk_softmax_(z, safe_target[i:j])
            ce = torch.where(valid[i:j], ce, 0.0)
            if need_grad:  # d loss / d ce per token, by autograd through the one definition of the loss
                with torch.enable_grad():
                    ce = ce.requires_grad_()
                    token_loss, keep = _token_loss(loss, params, ce, valid[i:j], gamma)
                    (coef,) = torch.autograd.grad(token_loss.sum(), ce)
                coef = torch.where(valid[i:j], coef, 0.0)
            else:
                token_loss, keep = _token_loss(loss, params, ce, valid[i:j], gamma)
            total += token_loss.detach().sum()
            kept += keep.sum()
            if not need_grad:
                continue
            # d loss / d logits = coef * (softmax - onehot), built in the chunk's own buffer.
            coef = (coef * scale)[:, None]
            dz = z.mul_(coef / sums)
            dz.scatter_add_(1, safe_target[i:j, None], -coef)
            dz = dz.to(hidden.dtype)
            if need_hidden_grad:
                torch.mm(dz, weight, out=grad_hidden[i:j])
            if need_weight_grad:
                if dz.dtype == acc:  # straight into the buffer; beta=0 on the first chunk, so it need not be zeroed
                    grad_weight.addmm_(dz.T, hidden[i:j], beta=0 if c == 0 else 1)
                elif c == 0:  # half precision: the matmul in the input dtype (as the plain path), summed in float32
                    grad_weight.copy_(dz.T @ hidden[i:j])
                else:
                    grad_weight.add_(dz.T @ hidden[i:j])
        z = dz = buffer = None  # the chunk buffer goes before the gradients are handed on

        if reduction == "sum":
            out = total
        elif num_items_in_batch is not None:
            out = total / num_items_in_batch
        elif params["denominator"] == "kept":
            out = total / kept.clamp_min(1)
            for g in (grad_hidden, grad_weight):
                if g is not None:
                    g.div_(kept.clamp_min(1))
        else:
            out = total / valid.sum().clamp_min(1)
        masked = ((valid.sum() - kept) / valid.sum().clamp_min(1)).float()
        ctx.mark_non_differentiable(masked)
        if grad_weight is not None and grad_weight.dtype != weight.dtype:
            grad_weight = grad_weight.to(weight.dtype)
        # Kept on ctx rather than save_for_backward: backward hands these very tensors on and drops its hold.
        ctx.grads = (grad_hidden, grad_weight)
        return out, masked

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out, grad_masked):
        if ctx.grads is None:
            raise RuntimeError(
                "linear_cross_entropy: backward ran a second time through the same graph; its gradients are "
                "formed in the forward pass and handed on in place, so run the forward again (no retain_graph)"
            )
        grads, ctx.grads = ctx.grads, None
        grad_hidden, grad_weight = (g.mul_(grad_out.to(g.dtype)) if g is not None else None for g in grads)
        del grads
        return grad_hidden, grad_weight, None, None, None, None, None, None, None, None, None


# linear_cross_entropy's default chunk, in bytes of float32 logits. CPU: small enough that the chunk buffer stays
# under a quarter of the logits at LLM-head shapes (benchmarks/losses.py). CUDA: larger, because every chunk reads
# the whole weight twice and launches its own kernels (not yet measured: benchmarks/gpu_check.py times 1024- and
# 4096-token chunks beside it).
CHUNK_BYTES = 128 * 2**20
CHUNK_BYTES_CUDA = 2**30


def default_chunk_size(vocab_size: int, device: torch.device | str = "cpu") -> int:
    """Tokens per chunk that :func:`linear_cross_entropy` uses by default for a ``vocab_size`` head on ``device``."""
    budget = CHUNK_BYTES_CUDA if torch.device(device).type == "cuda" else CHUNK_BYTES
    return max(1, budget // (4 * vocab_size))


def _torch_linear_ce():
    """torch's own chunked ``F.linear_cross_entropy`` and its options class (torch >= 2.13), or None."""
    fn, options = getattr(F, "linear_cross_entropy", None), getattr(nn, "LinearCrossEntropyOptions", None)
    return (fn, options) if fn is not None and options is not None else None


def linear_cross_entropy(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    target: torch.Tensor,
    loss: str = "tce",
    *,
    ignore_index: int = -100,
    reduction: str = "mean",
    chunk_size: int | None = None,
    num_items_in_batch: int | torch.Tensor | None = None,
    return_masked_fraction: bool = False,
    **loss_kwargs,
):
    """A named loss of the logits ``hidden @ weight.T`` without materialising the ``(N, V)`` logits.

    Equals ``LOSSES[loss](hidden @ weight.T, target, ...)`` in value and in the gradients of ``hidden`` and
    ``weight``, but holds at most ``chunk_size x V`` logits at a time. Peak memory is one weight gradient (which
    any path needs) plus one ``(chunk_size, V)`` float32 buffer, against about twice the ``(N, V)`` logits for
    the plain path. It does the same three matrix products but reads the whole weight twice per chunk: on 2 CPU
    cores, float32, 1.18x the plain path's time at (N, H, V) = (1024, 1024, 262k) and 1.09x at (4096, 2048, 128k),
    with 1,173 and 1,179 MB above the inputs against 2,069 and 4,025 MB (``benchmarks/losses.py``).

    ``reduction="mean"``/``"sum"`` run our chunked path, which forms the gradients in the forward pass and so
    computes each chunk's logits once. ``reduction="none"`` goes through torch's own chunked
    ``torch.nn.functional.linear_cross_entropy`` (torch >= 2.13; ``reduction="none"``, then the loss's mask or
    weight applied to its per-token CE by :func:`loss_from_token_ce`), because per-token outputs need a backward
    that recomputes the logits, which torch's does. We do not use torch's for the scalar reductions: measured on
    CPU (float32, 2 threads) at LLM-head shapes it is slower: its ``reduction="none"`` backward recomputes every
    chunk's logits (1.5-1.8x the plain path's time at our chunk size), its own chunk size for float32 is 2 tokens
    at a 262k vocabulary (14x), and its ``reduction="mean"`` (plain CE only) holds two weight gradients.

    Args:
        hidden: ``(N, H)`` final hidden states (after the model's last norm).
        weight: ``(V, H)`` the lm_head weight (``model.get_output_embeddings().weight``); no bias.
        target: ``(N,)`` next-token ids or ``ignore_index``.
        loss: ``"ce"`` | ``"tce"`` | ``"focal"`` | ``"tce_dynamic"``; ``**loss_kwargs`` are its parameters.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"`` (the last needs torch >= 2.13).
        chunk_size: tokens per chunk; default :func:`default_chunk_size`: as many as fit in 128 MB of float32
            logits on CPU (128 tokens for a 262k vocabulary), 1 GB on CUDA.
        num_items_in_batch: divide the sum by this instead (gradient accumulation, as in :func:`causal_lm_loss`).

    Returns:
        A scalar (``(N,)`` for ``"none"``), or ``(loss, masked_fraction)``. The backward pass of the scalar
        reductions runs once per forward: it hands on the gradients made in the forward pass in place.
    """
    loss = _check_loss(loss)
    params = _resolve_loss_params(loss, loss_kwargs)
    _check_choice("reduction", reduction, _REDUCTIONS)
    _check_num_items(num_items_in_batch, params)
    if not isinstance(hidden, torch.Tensor) or hidden.dim() != 2 or not hidden.is_floating_point():
        raise ValueError(f"hidden must be a floating-point tensor of shape (N, H), got {getattr(hidden, 'shape', hidden)}")
    if not isinstance(weight, torch.Tensor) or weight.dim() != 2 or weight.shape[1] != hidden.shape[1]:
        raise ValueError(f"weight must have shape (V, H) with H = {hidden.shape[1]}, got {tuple(getattr(weight, 'shape', ()))}")
    if weight.dtype != hidden.dtype:
        raise ValueError(f"weight dtype {weight.dtype} must match hidden dtype {hidden.dtype}")
    if not isinstance(target, torch.Tensor) or target.shape != hidden.shape[:1]:
        raise ValueError(f"target must have shape (N,) = ({hidden.shape[0]},), got {tuple(getattr(target, 'shape', ()))}")
    if chunk_size is None:
        chunk_size = default_chunk_size(weight.shape[0], weight.device)
    elif isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive int, got {chunk_size!r}")
    target = target.to(hidden.device)
    if reduction == "none":
        if num_items_in_batch is not None:
            raise ValueError("num_items_in_batch divides a sum; it cannot be combined with reduction='none'")
        builtin = _torch_linear_ce()
        if builtin is None:
            raise ValueError(f"reduction='none' needs torch >= 2.13 (torch.nn.functional.linear_cross_entropy), this "
                             f"is torch {torch.__version__}; use reduction='mean'/'sum', or the logits path LOSSES[loss]")
        fn, options = builtin
        ce = fn(hidden, weight, target, reduction="none", ignore_index=ignore_index,
                options=options(batch_chunk_size=chunk_size, chunking_method=None))
        return loss_from_token_ce(_upcast(ce), target, loss, ignore_index=ignore_index, reduction="none",
                                  return_masked_fraction=return_masked_fraction, **loss_kwargs)
    if torch.is_tensor(num_items_in_batch):
        num_items_in_batch = num_items_in_batch.to(hidden.device)
    grad = torch.is_grad_enabled()
    out, masked = _LinearLoss.apply(
        hidden, weight, target, loss, params, ignore_index, reduction, chunk_size,
        num_items_in_batch, grad and hidden.requires_grad, grad and weight.requires_grad,
    )
    return (out, masked) if return_masked_fraction else out


def linear_causal_lm_loss(
    model: nn.Module,
    inputs: Mapping[str, Any],
    loss: str = "tce",
    *,
    num_items_in_batch: int | torch.Tensor | None = None,
    ignore_index: int = -100,
    chunk_size: int | None = None,
    return_masked_fraction: bool = False,
    **loss_kwargs,
):
    """Train a transformers causal LM with :func:`linear_cross_entropy`: no ``(B, T, V)`` logits, no second CE.

    Runs the model's decoder (``model.get_decoder()``) for the final hidden states and applies the lm_head
    weight chunk by chunk. For ``transformers.Trainer``, override ``compute_loss`` (the Trainer's documented
    extension point; a ``compute_loss_func`` only sees outputs whose logits are already made)::

        class LeanTrainer(Trainer):
            def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
                return linear_causal_lm_loss(model, inputs, "tce", gamma=0.9, num_items_in_batch=num_items_in_batch)

    Args:
        model: a causal LM whose logits are ``lm_head(decoder(...).last_hidden_state)`` with a bias-free
            lm_head and no logit soft-capping or scaling (Llama, Mistral, Qwen, Gemma-3 text, ...).
        inputs: the batch: ``labels`` ``(B, T)`` plus the decoder's inputs (``input_ids``, ``attention_mask``...).

    Returns:
        A scalar loss, or ``(loss, masked_fraction)``.
    """
    if "labels" not in inputs:
        raise ValueError("inputs must contain 'labels' (B, T)")
    config = getattr(model, "config", None)
    for attr in ("final_logit_softcapping", "logit_scale"):
        if getattr(config, attr, None) not in (None, 1, 1.0):
            raise ValueError(f"linear_causal_lm_loss does not support models with {attr}={getattr(config, attr)}")
    head = model.get_output_embeddings()
    if getattr(head, "bias", None) is not None:
        raise ValueError("linear_causal_lm_loss needs a bias-free lm_head")
    inputs = dict(inputs)
    labels = inputs.pop("labels")
    inputs.pop("num_items_in_batch", None)
    hidden = model.get_decoder()(**inputs).last_hidden_state
    target = _shift_labels(labels, ignore_index).reshape(-1)
    return linear_cross_entropy(
        hidden.reshape(-1, hidden.shape[-1]), head.weight, target, loss, ignore_index=ignore_index,
        chunk_size=chunk_size, num_items_in_batch=num_items_in_batch,
        return_masked_fraction=return_masked_fraction, **loss_kwargs,
    )
