"""The count-matched random mask (loss rmask): TCE's count of masked targets, drawn without regard to confidence."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import stats

from fortifai.losses import (RandomMaskCrossEntropyLoss, causal_lm_loss, compute_loss_func, linear_cross_entropy,
                             random_mask_cross_entropy, truncated_cross_entropy)
from fortifai.losses.spec import Method


def batch(seed, n=200, classes=12, ignored=0.1):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, classes, generator=g) * 3
    target = torch.randint(classes, (n,), generator=g)
    target[torch.rand(n, generator=g) < ignored] = -100
    return logits, target


@pytest.mark.parametrize("gamma", [0.3, 0.5, 0.9])
def test_the_count_masked_is_tce_s_on_every_batch(gamma):
    for seed in range(20):
        logits, target = batch(seed)
        _, tce = truncated_cross_entropy(logits, target, gamma, return_masked_fraction=True)
        _, ours = random_mask_cross_entropy(logits, target, gamma, return_masked_fraction=True)
        assert float(ours) == float(tce)
        token = random_mask_cross_entropy(logits, target, gamma, reduction="none")
        assert (token[target == -100] == 0).all()  # an ignored target is never counted or drawn


def test_which_tokens_are_masked_does_not_depend_on_confidence():
    """Over many batches the masked tokens' p_t is distributed as every valid token's (rank test), where TCE's are
    all above gamma."""
    masked_p, all_p = [], []
    for seed in range(60):
        logits, target = batch(seed)
        valid = target != -100
        p = torch.softmax(logits, -1).gather(1, target.clamp_min(0)[:, None])[:, 0]
        token = random_mask_cross_entropy(logits, target, 0.5, reduction="none",
                                          generator=torch.Generator().manual_seed(1000 + seed))
        masked = valid & (token == 0)
        masked_p.append(p[masked])
        all_p.append(p[valid])
    masked_p, all_p = torch.cat(masked_p).numpy(), torch.cat(all_p).numpy()
    assert len(masked_p) > 500
    assert stats.mannwhitneyu(masked_p, all_p).pvalue > 0.01
    assert np.mean(masked_p > 0.5) < 0.6  # TCE 0.5 would mask only tokens above 0.5


@pytest.mark.parametrize("gamma", [1.0, 3.0])
def test_gamma_one_or_more_is_cross_entropy(gamma):
    logits, target = batch(3)
    a = logits.clone().requires_grad_()
    b = logits.clone().requires_grad_()
    ours = random_mask_cross_entropy(a, target, gamma)
    reference = F.cross_entropy(b, target, ignore_index=-100)
    ours.backward()
    reference.backward()
    assert torch.allclose(ours, reference, atol=1e-6) and torch.allclose(a.grad, b.grad, atol=1e-7)


def test_a_seed_reproduces_the_mask_and_masked_tokens_get_no_gradient():
    logits, target = batch(5)
    runs = []
    for _ in range(2):
        torch.manual_seed(7)  # the run's seed: torch's global generator, as transformers.set_seed sets it
        x = logits.clone().requires_grad_()
        random_mask_cross_entropy(x, target, 0.5).backward()
        runs.append(x.grad)
    assert torch.equal(runs[0], runs[1])
    token = random_mask_cross_entropy(logits, target, 0.5, reduction="none", generator=torch.Generator().manual_seed(3))
    x = logits.clone().requires_grad_()
    random_mask_cross_entropy(x, target, 0.5, generator=torch.Generator().manual_seed(3)).backward()
    assert (x.grad[(token == 0) & (target != -100)] == 0).all()


def test_every_form_of_the_loss():
    logits, target = batch(9)
    module = RandomMaskCrossEntropyLoss(0.5, generator=torch.Generator().manual_seed(1))
    functional = random_mask_cross_entropy(logits, target, 0.5, generator=torch.Generator().manual_seed(1))
    assert torch.equal(module(logits, target), functional)
    assert str(Method.parse("rmask-0.9")) == "rmask-0.9" and Method.parse("rmask-0.9").label == "random mask γ=0.9"
    lm_logits, labels = torch.randn(2, 9, 12), torch.randint(12, (2, 9))
    value = compute_loss_func("rmask", gamma=0.5)({"logits": lm_logits}, labels, num_items_in_batch=16)
    assert torch.isfinite(value)
    _, masked = causal_lm_loss(lm_logits, labels, "rmask", gamma=0.5, return_masked_fraction=True)
    _, tce = causal_lm_loss(lm_logits, labels, "tce", gamma=0.5, return_masked_fraction=True)
    assert float(masked) == float(tce)
    with pytest.raises(ValueError, match="loss='rmask' draws its mask over the whole batch"):
        linear_cross_entropy(torch.randn(4, 3), torch.randn(12, 3), torch.randint(12, (4,)), "rmask")
    with pytest.raises(ValueError, match="gamma for loss='rmask' must be a number in"):
        random_mask_cross_entropy(logits, target, -0.5)
