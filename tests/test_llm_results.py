"""fortifai.llm_results: reading runs back, aggregating seeds, the paper's tables, the time-to-failure ratio."""

import json

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


def claim_run(folder, loss="ce", gamma=None, seed=0, split0=(0.9, 0.8, 0.6), masked=None, fidelity=0.7, items=None):
    """A run as the engine writes it now: data in _data/, stage 0 with KR answers on an unseen split 1."""
    stages = []
    for i, v in enumerate(split0):
        kr = {"0": {"correct": [True] * round(v * 10) + [False] * (10 - round(v * 10))},
              "1": {"correct": [True] * 6 + [False] * 4}}
        train = {"heldout_perplexity": 10.0}
        if masked is not None:
            train.update(masked_fraction_mean=masked, masked_fraction_by_epoch=[masked])
        stages.append({"stage": i, "kr": kr, "train": train,
                       "regeneration_fidelity": {"0": {"ngram4_precision": fidelity}}})
    params = {"model": "smollm2-135m", "dataset": "wikipedia-offline", "loss": loss, "gamma": gamma, "seed": seed}
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({"params": params, "stages": stages}))
    kinds = items or [[{"kind": "year"}] * 10, [{"kind": "year"}] * 5 + [{"kind": "entity"}] * 5]
    splits = [["the bridge was built in 1901 by the city"], ["the river floods every spring"]]
    (folder / "data.json").write_text(json.dumps({"kr_items": kinds, "splits": splits}))
    for i in range(len(split0)):  # the regenerated split 0, drifting from the real one stage by stage
        (folder / f"stage_{i}").mkdir()
        text = " ".join(["the bridge was built"] + ["again"] * (i + seed + (2 if loss == "ce" else 0)))
        (folder / f"stage_{i}" / "generated.json").write_text(json.dumps({"0": [text]}))
    return folder


def test_gate_measures_chance_and_the_threshold_from_the_runs_answers(tmp_path):
    from fortifai.claims import llm as lc

    (run,) = lr.load_runs(claim_run(tmp_path / "a").parent)
    gate = lc.run_gate(run)
    assert gate["kr_chance"] == 0.6 and gate["kr_chance_by_kind"] == {"entity": 0.2, "year": 1.0}
    assert gate["kr_split0_m0"] == 0.9 and gate["threshold_measured"] == pytest.approx(0.75)
    assert gate["masked_fraction_m0"] == 0.0 and gate["ngram4_precision_m0"] == 0.7  # CE masks nothing
    # KR split 0: 0.9, 0.8, 0.6 -> below 0.75 a quarter of the way from M1 to M2; below 0.85 at half of M0-M1
    assert lc.failure_time(run, "paper") == pytest.approx(1.25)
    with pytest.raises(ValueError, match="rule must be one of"):
        lc.failure_time(run, "median")


def test_setting_claims_pair_seeds_and_apply_the_gates(tmp_path):
    from fortifai.claims import llm as lc

    for seed, (ce, tce) in enumerate((((0.9, 0.8, 0.6), (0.9, 0.9, 0.8)), ((0.9, 0.7, 0.6), (0.9, 0.8, 0.7)),
                                      ((1.0, 0.8, 0.6), (1.0, 0.9, 0.7)))):
        claim_run(tmp_path / f"ce{seed}", seed=seed, split0=ce)
        claim_run(tmp_path / f"tce{seed}", "tce", 0.9, seed, tce, masked=0.25)
    groups = lr.group_runs(lr.load_runs(tmp_path))
    per = lr.by_method(groups, next(iter(groups))[0])
    claims, details = lc.setting_claims(per, "toy", n_boot=2000)
    assert details["n_comparisons"] == len(claims) == 5
    kl = details["comparisons"]["tce-0.9 kl"]
    assert all(b > m for b, m in zip(kl["baseline"], kl["method"]))  # CE's regenerations drift further here
    failure = details["comparisons"]["tce-0.9 time to failure"]["paper"]
    assert failure["seeds"] == [0, 1, 2] and failure["sign_test"]["positive"] == 3
    assert failure["ci_low"] > 1.0  # every seed fails later with TCE
    drop = details["comparisons"]["tce-0.9 kr_drop"]
    assert drop["method"] == pytest.approx([0.1, 0.2, 0.3]) and drop["baseline"] == pytest.approx([0.3, 0.3, 0.4])
    assert all(c.verdict.split(":")[0] in ("reproduced", "partly", "not reproduced", "underpowered") for c in claims)
    # the same runs with TCE masking 1% of the tokens: the setting cannot test the claim
    for seed in range(3):
        metrics = json.loads((tmp_path / f"tce{seed}" / "metrics.json").read_text())
        for stage in metrics["stages"]:
            stage["train"]["masked_fraction_mean"] = 0.01
        (tmp_path / f"tce{seed}" / "metrics.json").write_text(json.dumps(metrics))
    groups = lr.group_runs(lr.load_runs(tmp_path))
    claims, _ = lc.setting_claims(lr.by_method(groups, next(iter(groups))[0]), "toy", n_boot=200)
    assert all(c.verdict.startswith("inconclusive") for c in claims)


def test_runs_of_one_seed_with_other_questions_are_not_paired(tmp_path):
    from fortifai.claims import llm as lc

    claim_run(tmp_path / "ce", seed=0)
    claim_run(tmp_path / "tce", "tce", 0.9, 0, masked=0.2, items=[[{"kind": "number"}] * 10, [{"kind": "year"}] * 10])
    groups = lr.group_runs(lr.load_runs(tmp_path))
    per = lr.by_method(groups, next(iter(groups))[0])
    with pytest.raises(ValueError, match="same seed but other KR questions"):
        lc.paired(per["tce-0.9"], per["ce"])


def test_time_to_failure_is_inconclusive_when_no_ce_run_fails(tmp_path):
    from fortifai.claims import llm as lc

    for seed in range(3):  # KR split 0 never falls below 75% (paper rule) nor halfway to chance (measured rule)
        claim_run(tmp_path / f"ce{seed}", seed=seed, split0=(1.0, 0.9, 0.9))
        claim_run(tmp_path / f"tce{seed}", "tce", 0.9, seed, (1.0, 1.0, 0.9), masked=0.3)
    groups = lr.group_runs(lr.load_runs(tmp_path))
    claims, details = lc.setting_claims(lr.by_method(groups, next(iter(groups))[0]), "toy", n_boot=200)
    failure = details["comparisons"]["tce-0.9 time to failure"]["measured"]
    assert failure["baseline_censored"] == 3 and failure["stages"] == 3
    (delay,) = [c for c in claims if "delays failure" in c.claim]
    assert delay.verdict == "inconclusive: no CE run fell below the threshold within its 3 stages: there is no failure to delay"
    assert not any(c.word == "inconclusive" for c in claims if c is not delay)  # the KR comparisons still judge
