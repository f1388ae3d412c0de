"""fortifai.llm_results: reading runs back, aggregating seeds, the paper's tables, the time-to-failure ratio."""

import json
import math

import numpy as np
import pytest

from fortifai import llm_results as lr


def fake_run(folder, loss="ce", gamma=None, seed=0, kr_split0=(1.0, 0.8, 0.6), kr_other=(0.5, 0.5, 0.5),
             blimp=None, dataset="wikipedia-offline"):
    """A run folder as the engine writes it: metrics.json with params and per-stage KR correctness."""
    stages = []
    for i, (a, b) in enumerate(zip(kr_split0, kr_other)):
        kr = {str(k): {"correct": [True] * round(v * 10) + [False] * (10 - round(v * 10))}
              for k, v in ((0, a), (1, b))}
        stage = {"stage": i, "kr": kr, "train": {"heldout_perplexity": 10.0 + i}}
        if blimp is not None:
            stage["benchmarks"] = {"blimp": {"status": "ok", "value": blimp[i]},
                                   "hellaswag": {"status": "not run: hub unreachable"}}
        stages.append(stage)
    params = {"model": "scratch-llama-small", "dataset": dataset, "loss": loss, "gamma": gamma, "seed": seed,
              "benchmarks": ["blimp", "hellaswag"] if blimp is not None else []}
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({"params": params, "stages": stages}))
    return folder


def test_runs_group_by_setting_and_method_and_aggregate_seeds(tmp_path):
    fake_run(tmp_path / "ce-0", seed=0, kr_split0=(1.0, 0.8, 0.6))
    fake_run(tmp_path / "ce-1", seed=1, kr_split0=(1.0, 0.6, 0.4))
    fake_run(tmp_path / "tce-0", loss="tce", gamma=0.9, seed=0)
    fake_run(tmp_path / "other-data", dataset="wikitext-2-test")
    (tmp_path / "unfinished").mkdir()  # no metrics.json: not a finished run
    groups = lr.group_runs(lr.load_runs(tmp_path))
    assert sorted(m for _, m in groups) == ["ce", "ce", "tce-0.9"]  # two settings; CE in both
    setting = next(s for s, m in groups if m == "tce-0.9")
    per = lr.by_method(groups, setting)
    assert list(per) == ["ce", "tce-0.9"] and [r.seed for r in per["ce"]] == [0, 1]
    values = lr.metric_matrix(per["ce"], "kr_split0")
    assert values.tolist() == [[1.0, 0.8, 0.6], [1.0, 0.6, 0.4]]
    mean, sem = lr.mean_and_sem(values)
    assert np.allclose(mean, [1.0, 0.7, 0.5]) and np.allclose(sem, [0.0, 0.1, 0.1])
    assert lr.metric_matrix(per["ce"], "kr_total")[0].tolist() == [0.75, 0.65, 0.55]
    assert np.isnan(lr.metric_matrix(per["ce"], "blimp")).all()


def test_a_repeated_seed_is_refused(tmp_path):
    fake_run(tmp_path / "a", seed=3)
    fake_run(tmp_path / "b", seed=3)
    with pytest.raises(ValueError, match="same seed"):
        lr.group_runs(lr.load_runs(tmp_path))


def test_time_to_failure_ratio_and_its_interval():
    same = lr.failure_ratio([1.5, 1.5, 1.5], [1.5, 1.5, 1.5], n_stages=6)
    assert same["ratio"] == 1.0 and same["ci_low"] == same["ci_high"] == 1.0
    double = lr.failure_ratio([2.0, 4.0], [1.0, 2.0], n_stages=6)
    assert double["ratio"] == 2.0 and double["ci_low"] == pytest.approx(1.0) and double["ci_high"] == pytest.approx(4.0)
    censored = lr.failure_ratio([math.inf, 3.0], [1.5, 1.5], n_stages=6)  # never failing counts as 6 stages
    assert censored["ratio"] == pytest.approx(3.0) and censored["censored"] == 1


def test_paper_tables_and_their_time_to_failure():
    tables = lr.paper_tables()
    assert sorted(tables) == ["D2", "D3", "D4", "D5"]
    d2 = tables["D2"]
    assert d2["model"] == "LLaMA-3.2-1B" and d2["values"]["ce"]["kr_total"][0] == pytest.approx(0.640)
    assert all(len(v) == 6 for m in d2["values"].values() for v in m.values())
    # Table 1 and 2 are rows of D2: LLaMA TCE 0.9 BLiMP 76.8% at M0, CE KR-test 69.2% at M5
    assert d2["values"]["tce-0.9"]["blimp"][0] == pytest.approx(0.768)
    assert d2["values"]["ce"]["kr_total"][5] == pytest.approx(0.692)
    # CE's KR-split 0 crosses 75% between M1 (77.9%) and M2 (73.7%)
    assert lr.paper_time_to_failure("D2", "ce") == pytest.approx(1 + 2.9 / 4.2)


def test_stage_table_shows_ours_beside_the_paper_and_says_what_was_not_run(tmp_path):
    fake_run(tmp_path / "ce", blimp=[0.6, 0.55, 0.5])
    fake_run(tmp_path / "tce", loss="tce", gamma=0.9, blimp=[0.62, 0.6, 0.58])
    groups = lr.group_runs(lr.load_runs(tmp_path))
    per = lr.by_method(groups, next(iter(groups))[0])
    table = lr.stage_table_markdown(per, paper=lr.paper_tables()["D2"], stages=[0])
    lines = table.splitlines()
    assert lines[0].startswith("| stage | method | seeds | BLiMP ours | BLiMP paper |")
    assert "| M0 | CE | 1 | 60.0 | 75.1 |" in lines[2]
    assert "HellaSwag: not run: hub unreachable" in table and "GSM8K: not run: not among this run's benchmarks" in table


def test_difference_interval_is_welchs():
    from scipy import stats

    a, b = [0.61, 0.55, 0.64], [0.54, 0.53, 0.56]
    got = lr.difference_interval(a, b)
    expected = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert got["difference"] == pytest.approx(np.mean(a) - np.mean(b))
    assert (got["low"], got["high"]) == pytest.approx((expected.low, expected.high))
    assert math.isnan(lr.difference_interval([0.5], [0.4])["low"])  # one seed: no interval


def test_paired_answers_pool_the_same_questions_over_seeds(tmp_path):
    for name, loss, seed, split0 in (("ce0", "ce", 0, (1.0, 0.4)), ("ce1", "ce", 1, (1.0, 0.5)),
                                     ("tce0", "tce", 0, (1.0, 0.6)), ("tce1", "tce", 1, (1.0, 0.7))):
        folder = fake_run(tmp_path / name, loss=loss, gamma=0.9 if loss == "tce" else None, seed=seed,
                          kr_split0=split0, kr_other=(0.5, 0.5))
        (folder / "data.json").write_text(json.dumps({"kr_items": [f"questions of seed {seed}"]}))
    groups = lr.group_runs(lr.load_runs(tmp_path))
    per = lr.by_method(groups, next(iter(groups))[0])
    tce, ce = lr.paired_answers(per["tce-0.9"], per["ce"], splits=[0])
    assert tce.shape == ce.shape == (20,) and tce.sum() == 13 and ce.sum() == 9
    assert lr.paired_answers(per["tce-0.9"], per["ce"])[0].shape == (40,)  # all splits
    (tmp_path / "tce1" / "data.json").write_text(json.dumps({"kr_items": ["other questions"]}))
    with pytest.raises(ValueError, match="same seed but other KR questions"):
        lr.paired_answers(per["tce-0.9"], per["ce"])


def test_interval_verdicts():
    from fortifai.report import interval_verdict

    assert interval_verdict(1.2, 2.0, 1.0) == "reproduced"
    assert interval_verdict(1.2, 2.0, 1.0, paper_effect=2.3, effect=1.5).startswith("partly")
    assert interval_verdict(0.7, 1.2, 1.0) == "not reproduced (no difference beyond the noise)"
    assert interval_verdict(0.5, 0.9, 1.0) == "not reproduced (the opposite, beyond the noise)"
    assert interval_verdict(1.2, 2.0, 1.0, seeds=1).startswith("undecided")
