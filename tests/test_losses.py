"""Facts about fortifai.losses, each checked against an independent reference.

References: ``torch.nn.functional.cross_entropy``, transformers' ``ForCausalLMLoss``, closed forms on logits
built to have known p_t, float64 finite differences, the plain (logits) path for the chunked path, and one
large batch for gradient accumulation.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from fortifai.losses import (
    LOSSES,
    DynamicTruncatedCrossEntropyLoss,
    FocalLoss,
    TruncatedCrossEntropyLoss,
    causal_lm_loss,
    compute_loss_func,
    dynamic_threshold,
    dynamic_truncated_cross_entropy,
    focal_loss,
    linear_causal_lm_loss,
    linear_cross_entropy,
    loss_from_token_ce,
    truncated_cross_entropy,
)

REDUCTIONS = ["mean", "sum", "none"]


def batch(n=23, c=11, seed=0, scale=3.0, dtype=torch.float32):
    """Random logits and targets with every fourth target ignored."""
    g = torch.Generator().manual_seed(seed)
    logits = (scale * torch.randn(n, c, generator=g)).to(dtype).requires_grad_()
    target = torch.randint(0, c, (n,), generator=g)
    target[::4] = -100
    return logits, target


def logits_with_p(p_t, c=5):
    """Logits of shape (len(p_t), c) whose softmax puts exactly p_t on class 0 (the target)."""
    p = torch.tensor(p_t, dtype=torch.float64)
    rest = ((1 - p) / (c - 1)).unsqueeze(1).expand(-1, c - 1)
    return torch.cat([p.unsqueeze(1), rest], 1).log(), torch.zeros(len(p_t), dtype=torch.long)


def value_and_grad(fn, logits, *args, **kwargs):
    logits = logits.detach().requires_grad_()
    out = fn(logits, *args, **kwargs)
    (grad,) = torch.autograd.grad(out.sum(), logits)
    return out.detach(), grad


# ---------------------------------------------------------------------------------------------- CE limits


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("gamma", [1.0, 1.5])
def test_tce_with_gamma_at_least_one_is_cross_entropy(reduction, gamma):
    logits, target = batch()
    ref = value_and_grad(F.cross_entropy, logits, target, reduction=reduction)
    got = value_and_grad(truncated_cross_entropy, logits, target, gamma, reduction=reduction)
    torch.testing.assert_close(got[0], ref[0], rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(got[1], ref[1], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_focal_with_gamma_zero_is_cross_entropy(reduction):
    logits, target = batch(seed=1)
    ref = value_and_grad(F.cross_entropy, logits, target, reduction=reduction)
    got = value_and_grad(focal_loss, logits, target, 0.0, reduction=reduction)
    torch.testing.assert_close(got[0], ref[0], rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(got[1], ref[1], rtol=1e-6, atol=1e-7)


def test_modules_match_nn_cross_entropy_loss_at_the_ce_limit():
    logits, target = batch(seed=2)
    ref = torch.nn.CrossEntropyLoss(reduction="sum")(logits, target)
    for module in (TruncatedCrossEntropyLoss(1.0, reduction="sum"), FocalLoss(0.0, reduction="sum"),
                   DynamicTruncatedCrossEntropyLoss(alpha=100.0, reduction="sum")):
        torch.testing.assert_close(module(logits, target), ref, rtol=1e-6, atol=0)


# ---------------------------------------------------------------------------------------- TCE on known p_t


def test_masked_fraction_and_value_on_known_p_t():
    p_t = [0.95, 0.5, 0.99, 0.2, 0.91, 0.89, 0.7, 0.999]
    logits, target = logits_with_p(p_t)
    target[7] = -100  # an ignored token is neither kept nor masked
    loss, masked = truncated_cross_entropy(logits, target, 0.9, return_masked_fraction=True)
    # kept: 0.5, 0.2, 0.89, 0.7; masked: 0.95, 0.99, 0.91 out of 7 valid tokens
    assert masked.item() == pytest.approx(3 / 7)
    expected = -(math.log(0.5) + math.log(0.2) + math.log(0.89) + math.log(0.7)) / 7
    assert loss.item() == pytest.approx(expected, rel=1e-12)
    kept_mean = truncated_cross_entropy(logits, target, 0.9, denominator="kept")
    assert kept_mean.item() == pytest.approx(expected * 7 / 4, rel=1e-12)


def test_masked_tokens_get_exactly_zero_gradient_and_kept_tokens_get_the_ce_gradient():
    logits, target = logits_with_p([0.95, 0.5, 0.99, 0.2, 0.91, 0.3])
    logits.requires_grad_()
    truncated_cross_entropy(logits, target, 0.9, reduction="sum").backward()
    masked = torch.tensor([True, False, True, False, True, False])
    assert torch.all(logits.grad[masked] == 0)
    # a kept token's gradient is softmax - onehot, exactly the CE gradient
    ref = torch.softmax(logits.detach(), -1) - F.one_hot(target, 5)
    torch.testing.assert_close(logits.grad[~masked], ref[~masked])


def test_reduction_none_is_zero_at_masked_and_ignored_positions():
    logits, target = logits_with_p([0.95, 0.5, 0.3])
    target[2] = -100
    out = truncated_cross_entropy(logits, target, 0.9, reduction="none")
    assert out.shape == (3,)
    assert out[0].item() == 0 and out[2].item() == 0
    assert out[1].item() == pytest.approx(math.log(2))


@pytest.mark.parametrize("denominator", ["valid", "kept"])
def test_all_masked_or_all_ignored_gives_zero_and_zero_gradient(denominator):
    logits, target = batch(seed=3)
    for gamma, tgt in ((0.0, target), (0.9, torch.full_like(target, -100))):
        x = logits.detach().requires_grad_()
        loss, masked = truncated_cross_entropy(x, tgt, gamma, denominator=denominator, return_masked_fraction=True)
        loss.backward()
        assert loss.item() == 0.0 and not torch.isnan(loss)
        assert torch.all(x.grad == 0)
    assert masked.item() == 0.0  # all ignored: nothing to mask


# ------------------------------------------------------------------------------------------------- focal


@pytest.mark.parametrize("gamma", [0.5, 2.0])
def test_focal_value_and_gradient_match_the_closed_form(gamma):
    p_t = [0.05, 0.5, 0.9, 0.999]
    logits, target = logits_with_p(p_t)
    out = focal_loss(logits, target, gamma, alpha=0.25, reduction="none")
    expected = [-0.25 * (1 - p) ** gamma * math.log(p) for p in p_t]
    torch.testing.assert_close(out, torch.tensor(expected, dtype=torch.float64), rtol=1e-10, atol=1e-14)
    # gradient through the modulating factor, checked by finite differences in float64
    assert torch.autograd.gradcheck(lambda z: focal_loss(z, target, gamma, alpha=0.25), logits.clone().requires_grad_())


def test_focal_gradient_is_finite_at_p_t_one_and_at_ignored_tokens():
    logits = torch.tensor([[60.0, 0.0, 0.0], [0.0, 1.0, 2.0]], requires_grad=True)  # p_t == 1.0 in float32
    target = torch.tensor([0, -100])
    focal_loss(logits, target, 0.5).backward()
    assert torch.isfinite(logits.grad).all()
    assert torch.all(logits.grad[1] == 0)


# ----------------------------------------------------------------------------------------------- dynamic


def test_dynamic_threshold_on_a_known_batch():
    p_t = [0.2, 0.4, 0.6, 0.8]
    gamma = 0.5 + math.sqrt(0.05)  # mean + 1 * population std
    assert dynamic_threshold(torch.tensor(p_t), alpha=1.0).item() == pytest.approx(gamma, rel=1e-6)
    assert dynamic_threshold(torch.tensor(p_t), alpha=10.0).item() == 1.0  # clipped to [0, 1]
    assert dynamic_threshold(torch.tensor(p_t), alpha=-10.0).item() == 0.0
    logits, target = logits_with_p(p_t + [0.99])
    target[4] = -100  # the ignored token must not enter the statistics
    loss, masked = dynamic_truncated_cross_entropy(logits, target, 1.0, return_masked_fraction=True)
    assert masked.item() == pytest.approx(1 / 4)  # only 0.8 > 0.7236
    torch.testing.assert_close(loss, truncated_cross_entropy(logits, target, gamma))


def test_dynamic_threshold_is_detached():
    logits, target = batch(seed=4)
    p = torch.softmax(logits, -1).gather(1, target.clamp_min(0)[:, None]).squeeze(1)
    assert not dynamic_threshold(p, 0.5).requires_grad


# --------------------------------------------------------------------------------------- low precision


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("name", ["tce", "focal"])
def test_half_precision_inputs_are_computed_in_float32(dtype, name):
    logits16, target = batch(seed=5, dtype=dtype)
    logits32 = logits16.detach().float().requires_grad_()
    fn = LOSSES[name]
    out16 = fn(logits16, target)
    out32 = fn(logits32, target)
    assert out16.dtype == torch.float32
    torch.testing.assert_close(out16, out32)  # identical inputs, identical float32 arithmetic
    out16.backward()
    out32.backward()
    assert logits16.grad.dtype == dtype
    torch.testing.assert_close(logits16.grad, logits32.grad.to(dtype))


# ------------------------------------------------------------------------------------------ chunked path

LINEAR_CASES = [
    ("ce", {}),
    ("tce", {"gamma": 0.5}),
    ("tce", {"gamma": 0.5, "denominator": "kept"}),
    ("focal", {"gamma": 2.0, "alpha": 0.5}),
    ("tce_dynamic", {"alpha": 0.0}),
]


@pytest.mark.parametrize("loss,kwargs", LINEAR_CASES)
@pytest.mark.parametrize("chunk_size", [1, 7, 32, 1000])
def test_linear_cross_entropy_equals_the_plain_path(loss, kwargs, chunk_size):
    g = torch.Generator().manual_seed(6)
    n, h, v = 45, 16, 97  # 45 is not a multiple of 7 or 32
    hidden = torch.randn(n, h, generator=g, requires_grad=True)
    weight = (torch.randn(v, h, generator=g) * 0.7).requires_grad_()
    target = torch.randint(0, v, (n,), generator=g)
    target[::6] = -100
    target[1] = hidden.detach()[1].matmul(weight.detach().T).argmax()  # some confident tokens to mask
    ref, ref_masked = LOSSES[loss](hidden @ weight.T, target, return_masked_fraction=True, **kwargs)
    ref_grads = torch.autograd.grad(ref, (hidden, weight))
    got, got_masked = linear_cross_entropy(hidden, weight, target, loss, chunk_size=chunk_size,
                                           return_masked_fraction=True, **kwargs)
    got_grads = torch.autograd.grad(got, (hidden, weight))
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got_masked, ref_masked)
    for a, b in zip(got_grads, ref_grads):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    if loss == "tce_dynamic":
        assert 0 < got_masked.item() < 1  # the case exercises the mask


def test_linear_cross_entropy_sum_num_items_and_no_grad():
    hidden, weight = torch.randn(10, 8, requires_grad=True), torch.randn(30, 8, requires_grad=True)
    target = torch.randint(0, 30, (10,))
    ref = truncated_cross_entropy(hidden @ weight.T, target, 0.3, reduction="sum")
    got = linear_cross_entropy(hidden, weight, target, "tce", gamma=0.3, reduction="sum", chunk_size=3)
    torch.testing.assert_close(got, ref)
    got = linear_cross_entropy(hidden, weight, target, "tce", gamma=0.3, num_items_in_batch=40, chunk_size=3)
    torch.testing.assert_close(got, ref / 40)
    with torch.no_grad():
        torch.testing.assert_close(linear_cross_entropy(hidden, weight, target, "tce", gamma=0.3, reduction="sum"), ref)


def linear_batch(n=45, h=16, v=97, seed=6, dtype=torch.float32):
    """hidden, weight, target with every sixth target ignored and one confident token (so that TCE masks)."""
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(n, h, generator=g).to(dtype).requires_grad_()
    weight = (torch.randn(v, h, generator=g) * 0.7).to(dtype).requires_grad_()
    target = torch.randint(0, v, (n,), generator=g)
    target[::6] = -100
    target[1] = hidden.detach()[1].float().matmul(weight.detach().float().T).argmax()
    return hidden, weight, target


@pytest.mark.parametrize("loss,kwargs", LINEAR_CASES)
def test_linear_cross_entropy_in_bfloat16_matches_the_plain_bfloat16_path(loss, kwargs):
    hidden, weight, target = linear_batch(dtype=torch.bfloat16)
    ref = LOSSES[loss](hidden @ weight.T, target, **kwargs)
    ref_grads = torch.autograd.grad(ref, (hidden, weight))
    got = linear_cross_entropy(hidden, weight, target, loss, chunk_size=7, **kwargs)
    got_grads = torch.autograd.grad(got, (hidden, weight))
    assert got.dtype == torch.float32 and [g.dtype for g in got_grads] == [torch.bfloat16] * 2
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)  # same bf16 logits, then float32 on both paths
    for a, b in zip(got_grads, ref_grads):  # bf16 products summed in another order: a few bf16 ulps apart
        torch.testing.assert_close(a, b, rtol=2e-2, atol=2e-3)


def test_linear_cross_entropy_makes_one_weight_sized_buffer_and_hands_it_to_autograd():
    # Every tensor an aten op writes during forward and backward, by storage: the only one as large as the
    # weight must be the gradient made in the forward pass, and it must end up as weight.grad (no copy).
    from torch.utils._python_dispatch import TorchDispatchMode

    hidden, weight, target = linear_batch(n=40, h=64, v=300)

    class LargeOutputs(TorchDispatchMode):
        storages = set()

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            for t in out if isinstance(out, (tuple, list)) else [out]:
                if isinstance(t, torch.Tensor) and t.numel() >= weight.numel():
                    self.storages.add(t.untyped_storage().data_ptr())
            return out

    with LargeOutputs() as mode:  # chunks of 8 x 300 logits: far smaller than the 300 x 64 weight
        linear_cross_entropy(hidden, weight, target, "tce", gamma=0.5, chunk_size=8).backward()
    mode.storages.discard(weight.untyped_storage().data_ptr())  # views of the weight (weight.T)
    assert mode.storages == {weight.grad.untyped_storage().data_ptr()}


def test_linear_cross_entropy_gradients_accumulate_and_a_second_backward_raises():
    hidden, weight, target = linear_batch()
    (ref,) = torch.autograd.grad(truncated_cross_entropy(hidden @ weight.T, target, 0.5), weight)
    for _ in range(2):
        linear_cross_entropy(hidden, weight, target, "tce", gamma=0.5, chunk_size=7).backward()
    torch.testing.assert_close(weight.grad, 2 * ref, rtol=1e-5, atol=1e-5)
    out = linear_cross_entropy(hidden, weight, target, "tce", gamma=0.5, chunk_size=7)
    out.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="second time"):
        out.backward()


@pytest.mark.parametrize("loss,kwargs", LINEAR_CASES)
def test_loss_from_token_ce_equals_the_logits_path(loss, kwargs):
    logits, target = batch(seed=9)
    ref, ref_masked = LOSSES[loss](logits, target, return_masked_fraction=True, **kwargs)
    (ref_grad,) = torch.autograd.grad(ref, logits)
    ce = F.cross_entropy(logits, target, reduction="none")
    got, got_masked = loss_from_token_ce(ce, target, loss, return_masked_fraction=True, **kwargs)
    (got_grad,) = torch.autograd.grad(got, logits)
    torch.testing.assert_close(got, ref, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(got_masked, ref_masked)
    torch.testing.assert_close(got_grad, ref_grad, rtol=1e-5, atol=1e-7)


TORCH_HAS_LINEAR_CE = hasattr(F, "linear_cross_entropy") and hasattr(torch.nn, "LinearCrossEntropyOptions")


@pytest.mark.skipif(not TORCH_HAS_LINEAR_CE, reason="torch < 2.13 has no F.linear_cross_entropy")
@pytest.mark.parametrize("loss,kwargs", [c for c in LINEAR_CASES if c[1].get("denominator") != "kept"])
@pytest.mark.parametrize("chunk_size", [1, 7, 1000])
def test_linear_cross_entropy_reduction_none_through_torch_equals_the_plain_path(loss, kwargs, chunk_size):
    hidden, weight, target = linear_batch()
    ref = LOSSES[loss](hidden @ weight.T, target, reduction="none", **kwargs)
    upstream = torch.rand(len(target), generator=torch.Generator().manual_seed(1))  # a gradient per token
    ref_grads = torch.autograd.grad(ref @ upstream, (hidden, weight))
    got = linear_cross_entropy(hidden, weight, target, loss, reduction="none", chunk_size=chunk_size, **kwargs)
    got_grads = torch.autograd.grad(got @ upstream, (hidden, weight))
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)
    assert (got[target == -100] == 0).all()
    for a, b in zip(got_grads, ref_grads):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------------------------------ causal glue


def test_causal_lm_loss_matches_transformers_for_ce_and_shifts_labels_for_tce():
    from transformers.loss.loss_utils import ForCausalLMLoss

    g = torch.Generator().manual_seed(7)
    logits = torch.randn(3, 9, 13, generator=g)
    labels = torch.randint(0, 13, (3, 9), generator=g)
    labels[0, :4] = -100
    ref = ForCausalLMLoss(logits, labels, vocab_size=13)
    torch.testing.assert_close(causal_lm_loss(logits, labels, "ce"), ref)
    torch.testing.assert_close(causal_lm_loss(logits, labels, "tce", gamma=1.0), ref)
    torch.testing.assert_close(causal_lm_loss(logits, labels, "ce", num_items_in_batch=50),
                               ForCausalLMLoss(logits, labels, vocab_size=13, num_items_in_batch=50))
    shifted = truncated_cross_entropy(logits[:, :-1].reshape(-1, 13), labels[:, 1:].reshape(-1), 0.2)
    torch.testing.assert_close(causal_lm_loss(logits, labels, "tce", gamma=0.2), shifted)


def tiny_llama(vocab=64):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    return LlamaForCausalLM(config)


def llama_batch(n=8, t=12, vocab=64):
    g = torch.Generator().manual_seed(8)
    ids = torch.randint(0, vocab, (n, t), generator=g)
    labels = ids.clone()
    for i in range(n):  # a different number of ignored labels per row: micro-batch means differ from the global one
        labels[i, : i + 1] = -100
    return ids, labels


def test_linear_causal_lm_loss_equals_the_logits_path_on_a_llama():
    model = tiny_llama()
    ids, labels = llama_batch()
    ref = causal_lm_loss(model(input_ids=ids).logits, labels, "focal", gamma=1.0)
    ref_grads = torch.autograd.grad(ref, list(model.parameters()))
    got = linear_causal_lm_loss(model, {"input_ids": ids, "labels": labels}, "focal", gamma=1.0, chunk_size=10)
    got_grads = torch.autograd.grad(got, list(model.parameters()))
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-6)
    for a, b in zip(got_grads, ref_grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def trainer_step_update(tmp_path, per_device, accumulation, loss="tce", **loss_kwargs):
    """Parameters moved by one SGD step (lr 1) of transformers.Trainer with our compute_loss_func."""
    from transformers import Trainer, TrainingArguments

    model = tiny_llama()
    before = [p.detach().clone() for p in model.parameters()]
    ids, labels = llama_batch()
    data = [{"input_ids": ids[i], "labels": labels[i]} for i in range(len(ids))]
    args = TrainingArguments(
        output_dir=str(tmp_path / f"run{per_device}"), per_device_train_batch_size=per_device,
        gradient_accumulation_steps=accumulation, max_steps=1, learning_rate=1.0, optim="sgd",
        lr_scheduler_type="constant", weight_decay=0.0, max_grad_norm=0.0, use_cpu=True, report_to="none",
        save_strategy="no", logging_strategy="no", disable_tqdm=True, seed=0, dataloader_num_workers=0,
    )
    fn = compute_loss_func(loss, **loss_kwargs)
    Trainer(model=model, args=args, train_dataset=data, compute_loss_func=fn).train()
    return [b - p.detach() for b, p in zip(before, model.parameters())], fn


def test_trainer_gradient_accumulation_4x2_equals_batch_8(tmp_path):
    # the reference: the gradient of TCE over the whole batch of 8, with gamma at the median p_t so that
    # about half of the tokens are masked
    model = tiny_llama()
    ids, labels = llama_batch()
    logits, target = model(input_ids=ids).logits[:, :-1].reshape(-1, 64), labels[:, 1:].reshape(-1)
    p_t = torch.softmax(logits.detach(), -1)[target >= 0].gather(1, target[target >= 0, None])
    gamma = p_t.median().item()
    loss = truncated_cross_entropy(logits, target, gamma)
    ref = torch.autograd.grad(loss, list(model.parameters()))

    big, fn = trainer_step_update(tmp_path, per_device=8, accumulation=1, gamma=gamma)
    small, _ = trainer_step_update(tmp_path, per_device=2, accumulation=4, gamma=gamma)
    assert 0.3 < fn.masked_fraction.item() < 0.7  # the mask is active, so the test covers truncation
    for a, b, g in zip(small, big, ref):
        torch.testing.assert_close(b, g, rtol=1e-4, atol=1e-7)  # lr 1 SGD: the update is the gradient
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-7)


# ------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda x, t: truncated_cross_entropy(x, t, -0.1), "gamma"),
        (lambda x, t: truncated_cross_entropy(x, t, float("nan")), "gamma"),
        (lambda x, t: truncated_cross_entropy(x, t, "0.9"), "gamma"),
        (lambda x, t: focal_loss(x, t, -1.0), "gamma"),
        (lambda x, t: focal_loss(x, t, 2.0, alpha=0.0), "alpha"),
        (lambda x, t: dynamic_truncated_cross_entropy(x, t, float("inf")), "alpha"),
        (lambda x, t: truncated_cross_entropy(x, t, reduction="avg"), "reduction"),
        (lambda x, t: truncated_cross_entropy(x, t, denominator="all"), "denominator"),
        (lambda x, t: truncated_cross_entropy(x[None], t), r"logits .*\(N, C\)"),
        (lambda x, t: truncated_cross_entropy(x, t[:-1]), r"target .*\(N,\)"),
        (lambda x, t: truncated_cross_entropy(x, t.float()), "target .*integer"),
        (lambda x, t: causal_lm_loss(x[None], t[None], "tcee"), "loss must be one of 'ce', 'tce', 'focal', 'tce_dynamic'"),
        (lambda x, t: causal_lm_loss(x, t, "tce"), r"logits .*\(B, T, V\)"),
        (lambda x, t: causal_lm_loss(x[None], t[None, :-1], "tce"), r"labels .*\(B, T\)"),
        (lambda x, t: causal_lm_loss(x[None], t[None], denominator="kept", num_items_in_batch=3), "denominator"),
        (lambda x, t: compute_loss_func("focal_loss"), "loss must be one of"),
        (lambda x, t: linear_cross_entropy(x, torch.randn(9, 5), t, reduction="avg"), "reduction"),
        (lambda x, t: linear_cross_entropy(x, torch.randn(9, 5), t, reduction="none", num_items_in_batch=3),
         "num_items_in_batch"),
        (lambda x, t: loss_from_token_ce(x, t), r"ce .*\(N,\)"),
        (lambda x, t: linear_cross_entropy(x, torch.randn(9, 4), t, "tce"), r"weight .*\(V, H\)"),
        (lambda x, t: linear_cross_entropy(x, torch.randn(9, 5), t, "focal", denominator="kept"), "unexpected"),
        (lambda x, t: linear_cross_entropy(x, torch.randn(9, 5), t, chunk_size=0), "chunk_size"),
    ],
)
def test_bad_input_raises_a_value_error_naming_the_parameter(call, match):
    x, t = torch.randn(6, 5), torch.randint(0, 5, (6,))
    with pytest.raises(ValueError, match=match):
        call(x, t)
