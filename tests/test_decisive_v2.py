"""The v2 plan (fortifai.claims.decisive_v2), fixed before its runs: the primary from the pilot, the share's verdict,
the mechanism contrasts and the sample size, on runs whose numbers are set by hand."""

import math

import numpy as np
import pytest

from fortifai.claims import decisive_v2 as v2
from fortifai.recursive.runs import Run
from fortifai.results import write_json


def run(tmp_path, method, seed, accuracy_drop, nll_rise=0.0):
    folder = tmp_path / f"{method}-{seed}"
    write_json(folder / "data.json", {"kr_items": [[{"q": seed}]]})
    loss, gamma = (method, None) if method == "ce" else (method.split("-")[0], float(method.split("-")[1]))
    stages = []
    for i in range(6):
        n_right = round(100 * (0.9 - accuracy_drop * i / 5))
        correct = [True] * n_right + [False] * (100 - n_right)
        stages.append({"stage": i, "kr": {"0": {"correct": correct, "accuracy": n_right / 100, "n": 100,
                                                "margin": [0.5 - accuracy_drop * i / 5] * 100}},
                       "real_nll": {"model": {"heldout": [3.0 + nll_rise * i / 5], "split0": [2.0]}},
                       "train": {"train_loss": 1.0}})
    return Run(folder, dict(stages=6, loss=loss, gamma=gamma, seed=seed), stages)


@pytest.mark.parametrize("pilot, endpoint", [
    (dict(verdict="go", rungs=[dict(go_by="accuracy")]), "kr_split0"),
    (dict(verdict="go", rungs=[dict(go_by="margin")]), "kr_margin_split0"),
    (dict(verdict="no-go", rungs=[dict(go_by=None)] * 3), "real_nll_heldout"),
])
def test_the_primary_follows_the_pilot(pilot, endpoint):
    assert v2.primary_endpoint(pilot) == endpoint


def test_no_primary_before_the_pilot_has_a_verdict():
    with pytest.raises(ValueError, match="the v2 plan waits for it"):
        v2.primary_endpoint(dict(verdict=None))


def test_the_primary_share_is_judged_against_table_d2_at_m5(tmp_path):
    per = {"ce": [run(tmp_path, "ce", s, d) for s, d in enumerate([0.20, 0.22, 0.18, 0.20])],
           "tce-0.9": [run(tmp_path, "tce-0.9", s, d) for s, d in enumerate([0.10, 0.12, 0.08, 0.11])]}
    test = v2.primary_test(per, "kr_split0")
    assert test["seeds"] == [0, 1, 2, 3] and test["paper"] == pytest.approx(1 - 13.3 / 16.0)
    assert test["estimate"] == pytest.approx(1 - 0.1025 / 0.20, abs=0.01)
    assert test["verdict"] == "reproduced"  # above 0, and the interval reaches the paper's 17%


def test_the_mechanism_contrast_is_the_paired_difference_of_shares(tmp_path):
    per = {"ce": [run(tmp_path, "ce", s, d) for s, d in enumerate([0.20, 0.22, 0.18, 0.20, 0.21, 0.19])],
           "tce-0.9": [run(tmp_path, "tce-0.9", s, d) for s, d in enumerate([0.10, 0.12, 0.08, 0.11, 0.10, 0.09])],
           "rmask-0.9": [run(tmp_path, "rmask-0.9", s, d) for s, d in enumerate([0.19, 0.21, 0.18, 0.2, 0.2, 0.18])]}
    contrast = v2.mechanism_contrast(per, "rmask-0.9", "kr_split0")
    ce, tce, rm = (np.array(x) for x in ([0.20, 0.22, 0.18, 0.20, 0.21, 0.19], [0.10, 0.12, 0.08, 0.11, 0.10, 0.09],
                                          [0.19, 0.21, 0.18, 0.2, 0.2, 0.18]))
    assert contrast["difference"] == pytest.approx((rm.mean() - tce.mean()) / ce.mean(), abs=0.01)
    assert contrast["verdict"] == "reproduced" and contrast["ci_low"] > 0
    same = v2.mechanism_contrast({**per, "rmask-0.9": per["tce-0.9"]}, "rmask-0.9", "kr_split0")
    assert same["difference"] == 0 and same["verdict"] == "not reproduced"
    assert same["why"].startswith("no difference detected")


def test_a_contrast_without_a_ce_loss_is_inconclusive(tmp_path):
    per = {m: [run(tmp_path, m, s, 0.0) for s in range(3)] for m in ("ce", "tce-0.9", "focal-2.0")}
    assert v2.mechanism_contrast(per, "focal-2.0", "kr_split0")["verdict"] == "inconclusive"


def test_the_sample_size_from_the_pilot(tmp_path):
    per = {"ce": [run(tmp_path, "ce", s, d) for s, d in enumerate([0.20, 0.30, 0.10])],
           "tce-0.9": [run(tmp_path, "tce-0.9", s, d) for s, d in enumerate([0.15, 0.32, 0.05])]}
    size = v2.sample_size(per, "kr_split0")
    assert size["pairs"] >= v2.MINIMUM["pairs"] and size["power"]["pilot_pairs"] == 3
    flat = {m: [run(tmp_path / "flat", m, s, 0.0) for s in range(3)] for m in ("ce", "tce-0.9")}
    assert v2.sample_size(flat, "kr_split0")["pairs"] == v2.MINIMUM["pairs"]
    assert v2.sample_size({"ce": per["ce"][:2], "tce-0.9": per["tce-0.9"][:2]}, "kr_split0")["pairs"] is None
