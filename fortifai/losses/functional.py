"""The losses in functional form, with ``torch.nn.functional.cross_entropy`` conventions; every path defines each
loss through one per-token function of the cross entropy (:func:`loss_from_token_ce`)."""

from __future__ import annotations

from typing import Any

import torch

from .spec import DENOMINATORS, LOSS_SPECS, RECURSIVE_LOSSES, check_choice

__all__ = ["LOSSES", "truncated_cross_entropy", "focal_loss", "dynamic_threshold", "dynamic_truncated_cross_entropy",
           "random_mask_cross_entropy", "cross_entropy", "loss_from_token_ce"]

REDUCTIONS = ("mean", "sum", "none")


# --------------------------------------------------------------------------------------------------
# Argument checks: one clear ValueError naming the parameter and what is allowed.
# --------------------------------------------------------------------------------------------------


def _check_logits_target(logits: torch.Tensor, target: torch.Tensor) -> None:
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2 or not logits.is_floating_point():
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ValueError(f"logits must be a floating-point tensor of shape (N, C), got {shape}")
    if not isinstance(target, torch.Tensor) or target.dim() != 1 or target.shape[0] != logits.shape[0]:
        shape = tuple(target.shape) if isinstance(target, torch.Tensor) else type(target).__name__
        raise ValueError(f"target must be a tensor of shape (N,) = ({logits.shape[0]},) matching logits, got {shape}")
    if target.is_floating_point() or target.is_complex() or target.dtype == torch.bool:
        raise ValueError(f"target must hold integer class indices (torch.long), got dtype {target.dtype}")


# The parameters' ranges and defaults are those of fortifai.losses.spec.LOSS_SPECS, the one place they are written.
def check_focal(gamma: Any, alpha: Any) -> tuple[float, float]:
    gamma_spec, alpha_spec = LOSS_SPECS["focal"].params
    return gamma_spec.check(gamma, "focal"), alpha_spec.check(alpha, "focal")


def check_dynamic_alpha(alpha: Any) -> float:
    return LOSS_SPECS["tce_dynamic"].params[0].check(alpha, "tce_dynamic")


def check_loss(loss: Any) -> str:
    return check_choice("loss", loss, RECURSIVE_LOSSES)


def resolve_loss_params(loss: str, loss_kwargs: dict) -> dict:
    """Validated parameters of a named loss with its defaults filled in."""
    params = LOSS_SPECS[check_loss(loss)].resolve(loss_kwargs)
    params.setdefault("denominator", "valid")  # the losses without one divide by the valid tokens
    return params


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
    return _TokenCrossEntropy.apply(upcast(logits), target, ignore_index)


def upcast(x: torch.Tensor) -> torch.Tensor:
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


def per_token_loss(loss: str, params: dict, ce: torch.Tensor, valid: torch.Tensor, gamma=None):
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
    if loss == "rmask":
        # exactly as many valid targets as TCE at gamma would mask, drawn uniformly among the valid ones (the run's
        # generator, or torch's global one that set_seed seeds): their confidence plays no part in which
        count = int(((torch.exp(-ce.detach()) > gamma) & valid).sum())
        keep = valid.clone()
        if count:
            draw = torch.rand(ce.shape, device=ce.device, generator=params.get("generator"))
            keep[torch.topk(draw.masked_fill(~valid, 2.0), count, largest=False).indices] = False
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
    token_loss, keep = per_token_loss(loss, params, ce, valid, gamma)
    out = _reduce(token_loss, valid, keep, reduction, params.get("denominator", "valid"))
    return (out, _masked_fraction(valid, keep)) if return_masked_fraction else out


# --------------------------------------------------------------------------------------------------
# Functional forms
# --------------------------------------------------------------------------------------------------


def _gamma_masked(loss: str, logits, target, gamma, ignore_index, reduction, denominator, return_masked_fraction,
                  **extra):
    """The checks and the computation TCE and the count-matched random mask share: cross entropy with targets masked
    by ``loss``'s rule at threshold ``gamma`` (``extra``: the rule's other inputs, e.g. the random mask's generator)."""
    _check_logits_target(logits, target)
    gamma = LOSS_SPECS[loss].params[0].check(gamma, loss)
    check_choice("reduction", reduction, REDUCTIONS)
    check_choice("denominator", denominator, DENOMINATORS)
    ce = _token_cross_entropy(logits, target, ignore_index)
    return _loss_from_ce(loss, {"gamma": gamma, "denominator": denominator, **extra}, ce, target != ignore_index,
                         reduction, return_masked_fraction)


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
    return _gamma_masked("tce", logits, target, gamma, ignore_index, reduction, denominator, return_masked_fraction)


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
    alpha = check_dynamic_alpha(alpha)
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
    alpha = check_dynamic_alpha(alpha)
    check_choice("reduction", reduction, REDUCTIONS)
    check_choice("denominator", denominator, DENOMINATORS)
    ce = _token_cross_entropy(logits, target, ignore_index)
    return _loss_from_ce("tce_dynamic", {"alpha": alpha, "denominator": denominator}, ce, target != ignore_index,
                         reduction, return_masked_fraction)


def random_mask_cross_entropy(
    logits: torch.Tensor,
    target: torch.Tensor,
    gamma: float = 0.9,
    *,
    ignore_index: int = -100,
    reduction: str = "mean",
    denominator: str = "valid",
    return_masked_fraction: bool = False,
    generator: torch.Generator | None = None,
):
    """The count-matched random mask: cross entropy with as many targets masked as :func:`truncated_cross_entropy`
    at ``gamma`` masks in this batch, chosen uniformly at random among the valid targets, whatever their
    confidence. The control that tells TCE's mechanism (ignoring the *confident* tokens) from masking as many.

    Same arguments, shapes and returns as :func:`truncated_cross_entropy` (its denominator; ``gamma >= 1`` masks
    nothing and gives ``F.cross_entropy``), and ``generator``: the ``torch.Generator`` of the draw (default torch's
    global one, which ``transformers.set_seed`` seeds, so that a run's seed reproduces its masks). The draw is
    over the whole batch, so the chunked path (:func:`linear_cross_entropy`) does not take this loss.
    """
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    return _gamma_masked("rmask", logits, target, gamma, ignore_index, reduction, denominator, return_masked_fraction,
                         generator=generator)


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
    gamma, alpha = check_focal(gamma, alpha)
    check_choice("reduction", reduction, REDUCTIONS)
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
    check_choice("reduction", reduction, REDUCTIONS)
    ce = _token_cross_entropy(logits, target, ignore_index)
    return _loss_from_ce("ce", {}, ce, target != ignore_index, reduction, return_masked_fraction)


# A plain dict from names to functions, as in transformers' LOSS_MAPPING.
LOSSES = {
    "ce": cross_entropy,
    "tce": truncated_cross_entropy,
    "focal": focal_loss,
    "tce_dynamic": dynamic_truncated_cross_entropy,
    "rmask": random_mask_cross_entropy,
}


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
    loss = check_loss(loss)
    params = resolve_loss_params(loss, loss_kwargs)
    check_choice("reduction", reduction, REDUCTIONS)
    if not isinstance(ce, torch.Tensor) or ce.dim() != 1 or not ce.is_floating_point() or ce.shape != target.shape:
        raise ValueError(f"ce must be a floating-point tensor of shape (N,) = {tuple(target.shape)}, "
                         f"got {tuple(getattr(ce, 'shape', ()))}")
    return _loss_from_ce(loss, params, ce, target.to(ce.device) != ignore_index, reduction, return_masked_fraction)
