"""fortifai.stats (paired over seeds) against hand-computed cases and scipy."""

import math

import numpy as np
import pytest
from scipy import stats as sps

from fortifai import stats


def test_paired_bootstrap_keeps_the_pairs():
    # every seed has method = 2 x baseline: any joint resample gives exactly 2; resampling each side on its own
    # would mix seed 0's method with seed 1's baseline (2/2 = 1, 4/1 = 4)
    out = stats.paired_bootstrap([2.0, 4.0], [1.0, 2.0], "ratio", n_boot=2000)
    assert out["estimate"] == 2.0 and out["ci_low"] == 2.0 and out["ci_high"] == 2.0


def test_paired_bootstrap_difference_by_hand():
    # differences 1 and 3: resamples (1,1), (3,3), (1,3), (3,1) give means 1, 3, 2, 2 -> 2.5% quantile 1, 97.5% 3
    out = stats.paired_bootstrap([1.0, 3.0], [0.0, 0.0], "difference", n_boot=20_000, seed=1)
    assert out["estimate"] == 2.0 and (out["ci_low"], out["ci_high"]) == (1.0, 3.0)
    assert out["distinct_resamples"] == 3  # C(3, 2)


def test_paired_bootstrap_refuses_bad_input():
    with pytest.raises(ValueError, match="same length"):
        stats.paired_bootstrap([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="statistic must be one of"):
        stats.paired_bootstrap([1.0], [1.0], "median")


def test_sign_test_matches_scipy_and_drops_ties():
    a, b = [3.0, 2.0, 5.0, 1.0, 4.0, 2.0], [1.0, 1.0, 1.0, 2.0, 1.0, 2.0]
    out = stats.sign_test(a, b)
    assert (out["positive"], out["negative"], out["ties"], out["n"]) == (4, 1, 1, 5)
    assert out["p_value"] == pytest.approx(sps.binomtest(4, 5, 0.5).pvalue)
    assert stats.sign_test([1.0, 2.0, 3.0], [0.0, 0.0, 0.0])["p_value"] == pytest.approx(0.25)  # the floor at 3 seeds


def test_paired_t_matches_scipy():
    rng = np.random.default_rng(0)
    a = rng.normal(1.0, 1.0, 8)
    b = a - rng.normal(0.5, 0.3, 8)
    out = stats.paired_t(a, b)
    ref = sps.ttest_rel(a, b)
    assert out["p_value"] == pytest.approx(ref.pvalue)
    ci = ref.confidence_interval(0.95)
    assert (out["ci_low"], out["ci_high"]) == pytest.approx((ci.low, ci.high))


def test_detectable_difference_shrinks_with_seeds_and_grows_with_spread():
    three, ten = stats.detectable_difference(3, 1.0), stats.detectable_difference(10, 1.0)
    assert ten < three and stats.detectable_difference(10, 2.0) == pytest.approx(2 * ten)
    # power check by simulation: a true difference of the MDD is detected about 80% of the time
    rng = np.random.default_rng(1)
    diffs = rng.normal(ten, 1.0, (4000, 10))
    p = sps.ttest_1samp(diffs, 0.0, axis=1).pvalue
    assert 0.75 < np.mean(p < 0.05) < 0.85
    assert math.isinf(stats.detectable_difference(1, 1.0))
