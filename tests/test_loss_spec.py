"""One specification per loss (fortifai.losses.spec): every place that names, checks or labels a loss agrees with it."""

import inspect
import math
import re

import pytest
import torch

from fortifai.losses import (LOSS_SPECS, LOSSES, DynamicTruncatedCrossEntropyLoss, FocalLoss, Method,
                             TruncatedCrossEntropyLoss, compute_loss_func, linear_cross_entropy, truncation_label)
from fortifai.recursive import RecursiveConfig, parse_method
from fortifai.toys import gaussian, gmm, vae

MODULES = {"tce": TruncatedCrossEntropyLoss, "focal": FocalLoss, "tce_dynamic": DynamicTruncatedCrossEntropyLoss}


@pytest.mark.parametrize("name", ["tce", "focal", "tce_dynamic"])
def test_the_functions_and_modules_take_their_defaults_from_the_spec(name):
    for param in LOSS_SPECS[name].params:
        for fn in (LOSSES[name], MODULES[name].__init__):
            assert inspect.signature(fn).parameters[param.name].default == param.default, (fn, param.name)


@pytest.mark.parametrize("method, bad", [("tce", -0.1), ("tce", math.inf), ("focal", -1.0), ("tce_dynamic", math.nan)])
def test_every_path_refuses_what_the_spec_refuses_with_the_same_words(method, bad):
    name = LOSS_SPECS[method].main.name
    logits, target = torch.randn(4, 5), torch.randint(5, (4,))
    calls = [lambda: LOSSES[method](logits, target, **{name: bad}),
             lambda: MODULES[method](**{name: bad}),
             lambda: compute_loss_func(method, **{name: bad})({"logits": logits[None]}, target[None]),
             lambda: linear_cross_entropy(torch.randn(4, 3), torch.randn(5, 3), target, method, **{name: bad}),
             lambda: RecursiveConfig(loss=method, **{name: bad}).validate(),
             lambda: Method(method, bad)]
    for call in calls:
        with pytest.raises(ValueError, match=rf"{name}( for loss='{method}')? must be a number in "
                                             rf"{re.escape(LOSS_SPECS[method].main.allowed())}"):
            call()


def test_method_strings_round_trip_and_name_run_folders_as_before():
    for text in ("ce", "tce-0.9", "tce-0.99", "focal-2.0", "tce_dynamic-1.0"):
        assert str(Method.parse(text)) == text
        assert RecursiveConfig(**parse_method(text)).method() == text
    assert str(Method.parse("tce")) == "tce-0.9" and Method.parse("focal").kwargs == {"gamma": 2.0}
    assert RecursiveConfig(loss="tce").method() == "tce-0.9"  # gamma None: the spec's default
    with pytest.raises(ValueError, match="method must be one of"):
        Method.parse("mse-1")
    with pytest.raises(ValueError, match="the part after '-' must be a number"):
        Method.parse("tce-high")
    with pytest.raises(ValueError, match="takes no parameter"):
        Method.parse("ce-0.5")


def test_one_label_format_in_every_experiment():
    assert [Method.parse(m).label for m in ("ce", "tce-0.9", "focal-2.0", "tce_dynamic-1.0")] == [
        "CE", "TCE γ=0.9", "focal γ=2", "dynamic TCE α=1"]
    assert RecursiveConfig(loss="tce", gamma=0.99).label() == "TCE γ=0.99"
    assert gaussian.method_label(0.85) == gmm.method_label(0.85) == vae.method_label(gamma=0.85) == "TCE γ=0.85"
    assert (gaussian.method_label(None), gmm.method_label(None), vae.method_label()) == ("CE", "baseline", "ELBO")
    assert vae.method_label(alpha=0.5) == truncation_label(alpha=0.5) == "dynamic TCE α=0.5"


def test_the_density_experiments_keep_a_fraction_in_0_1():
    for check in (gaussian.tail_threshold, lambda g: gmm.percentile_filter([1.0, 2.0], g)):
        with pytest.raises(ValueError, match=r"gamma must be None \(.*\) or a number in \(0, 1\]"):
            check(1.5)
