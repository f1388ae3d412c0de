"""fortifai.recursive.runs: reading runs back, aggregating seeds, the paper's tables, the time-to-failure ratio."""

import json
from pathlib import Path

import numpy as np
import pytest

from fortifai.recursive import runs as llm_runs


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
    groups = llm_runs.group_runs(llm_runs.load_runs(tmp_path))
    assert sorted(m for _, m in groups) == ["ce", "ce", "tce-0.9"]  # two settings; CE in both
    setting = next(s for s, m in groups if m == "tce-0.9")
    per = llm_runs.by_method(groups, setting)
    assert list(per) == ["ce", "tce-0.9"] and [r.seed for r in per["ce"]] == [0, 1]
    values = llm_runs.metric_matrix(per["ce"], "kr_split0")
    assert values.tolist() == [[1.0, 0.8, 0.6], [1.0, 0.6, 0.4]]
    mean, sem = llm_runs.mean_and_sem(values)
    assert np.allclose(mean, [1.0, 0.7, 0.5]) and np.allclose(sem, [0.0, 0.1, 0.1])
    assert llm_runs.metric_matrix(per["ce"], "kr_total")[0].tolist() == [0.75, 0.65, 0.55]
    assert np.isnan(llm_runs.metric_matrix(per["ce"], "blimp")).all()


def test_a_repeated_seed_is_refused(tmp_path):
    fake_run(tmp_path / "a", seed=3)
    fake_run(tmp_path / "b", seed=3)
    with pytest.raises(ValueError, match="same seed"):
        llm_runs.group_runs(llm_runs.load_runs(tmp_path))


def test_paper_tables_and_their_time_to_failure():
    tables = llm_runs.paper_tables()
    assert sorted(tables) == ["D2", "D3", "D4", "D5"]
    d2 = tables["D2"]
    assert d2["model"] == "LLaMA-3.2-1B" and d2["values"]["ce"]["kr_total"][0] == pytest.approx(0.640)
    assert all(len(v) == 6 for m in d2["values"].values() for v in m.values())
    # Table 1 and 2 are rows of D2: LLaMA TCE 0.9 BLiMP 76.8% at M0, CE KR-test 69.2% at M5
    assert d2["values"]["tce-0.9"]["blimp"][0] == pytest.approx(0.768)
    assert d2["values"]["ce"]["kr_total"][5] == pytest.approx(0.692)
    # CE's KR-split 0 crosses 75% between M1 (77.9%) and M2 (73.7%)
    assert llm_runs.paper_time_to_failure("D2", "ce") == pytest.approx(1 + 2.9 / 4.2)


def test_stage_table_shows_ours_beside_the_paper_and_says_what_was_not_run(tmp_path):
    fake_run(tmp_path / "ce", blimp=[0.6, 0.55, 0.5])
    fake_run(tmp_path / "tce", loss="tce", gamma=0.9, blimp=[0.62, 0.6, 0.58])
    groups = llm_runs.group_runs(llm_runs.load_runs(tmp_path))
    per = llm_runs.by_method(groups, next(iter(groups))[0])
    table = llm_runs.stage_table_markdown(per, paper=llm_runs.paper_tables()["D2"], stages=[0])
    lines = table.splitlines()
    assert lines[0].startswith("| stage | method | seeds | BLiMP ours | BLiMP paper |")
    assert "| M0 | CE | 1 | 60.0 | 75.1 |" in lines[2]
    assert "HellaSwag: not run: hub unreachable" in table and "GSM8K: not run: not among this run's benchmarks" in table


def claim_run(folder, loss="ce", gamma=None, seed=0, split0=(0.9, 0.8, 0.6), masked=None, fidelity=0.7, items=None,
              blimp=None, original=None):
    """A run as the engine writes it now: data in _data/, stage 0 with KR answers on an unseen split 1; ``blimp``:
    its BLiMP accuracy per stage; ``original``: split 0's 4-gram precision against its real text per stage."""
    stages = []
    for i, v in enumerate(split0):
        kr = {"0": {"correct": [True] * round(v * 10) + [False] * (10 - round(v * 10))},
              "1": {"correct": [True] * 6 + [False] * 4}}
        train = {"heldout_perplexity": 10.0}
        if masked is not None:
            train.update(masked_fraction_mean=masked, masked_fraction_by_epoch=[masked])
        stages.append({"stage": i, "kr": kr, "train": train,
                       "regeneration_fidelity": {"0": {"ngram4_precision": fidelity}}})
        if blimp is not None:
            stages[-1]["benchmarks"] = {"blimp": {"status": "ok", "value": blimp[i]}}
        if original is not None:
            stages[-1]["regeneration_fidelity"]["0"]["ngram4_precision_original"] = original[i]
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

    (run,) = llm_runs.load_runs(claim_run(tmp_path / "a").parent)
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
    groups = llm_runs.group_runs(llm_runs.load_runs(tmp_path))
    per = llm_runs.by_method(groups, next(iter(groups))[0])
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
    groups = llm_runs.group_runs(llm_runs.load_runs(tmp_path))
    claims, _ = lc.setting_claims(llm_runs.by_method(groups, next(iter(groups))[0]), "toy", n_boot=200)
    assert all(c.verdict.startswith("inconclusive") for c in claims)


def test_fig5_blimp_claim_is_paired_and_gated_on_chance(tmp_path):
    """Fig. 5 on BLiMP: TCE 0.9 minus CE at the last stage (paired t over seeds) against Table D2's difference at
    that stage; a CE whose M0 is not above chance (50%) beyond the noise has nothing to lose: inconclusive."""
    from scipy import stats as sps

    from fortifai.claims import llm as lc

    ce_last, tce_last = [0.70, 0.66, 0.72], [0.78, 0.75, 0.79]
    for seed in range(3):
        claim_run(tmp_path / "a" / f"ce{seed}", seed=seed, masked=None, blimp=(0.80 + 0.01 * seed, 0.75, ce_last[seed]))
        claim_run(tmp_path / "a" / f"tce{seed}", "tce", 0.9, seed, masked=0.25, blimp=(0.80, 0.78, tce_last[seed]))
    groups = llm_runs.group_runs(llm_runs.load_runs(tmp_path / "a"))
    claims, details = lc.setting_claims(llm_runs.by_method(groups, next(iter(groups))[0]), "toy", n_boot=200)
    (blimp,) = [c for c in claims if "BLiMP" in c.claim]
    diff = np.array(tce_last) - np.array(ce_last)
    half = sps.t.ppf(0.975, 2) * diff.std(ddof=1) / np.sqrt(3)
    found = details["comparisons"]["tce-0.9 blimp"]
    assert found["difference"] == pytest.approx(diff.mean()) and found["ci_low"] == pytest.approx(diff.mean() - half)
    d2 = llm_runs.paper_tables()["D2"]["values"]
    assert found["paper"] == pytest.approx(d2["tce-0.9"]["blimp"][2] - d2["ce"]["blimp"][2])  # our last stage, M2
    assert blimp.paper == "Fig. 5; Table D2" and blimp.ours.startswith(f"{diff.mean() * 100:+.1f} points, paired t")
    assert blimp.word == "reproduced"  # every seed above CE, beyond the noise, reaching the paper's difference
    for seed in range(3):  # the same differences, from a model that guesses: nothing to lose on BLiMP
        claim_run(tmp_path / "b" / f"ce{seed}", seed=seed, blimp=(0.50 + 0.01 * (seed - 1), 0.5, ce_last[seed] - 0.2))
        claim_run(tmp_path / "b" / f"tce{seed}", "tce", 0.9, seed, masked=0.25, blimp=(0.5, 0.5, tce_last[seed] - 0.2))
    groups = llm_runs.group_runs(llm_runs.load_runs(tmp_path / "b"))
    claims, _ = lc.setting_claims(llm_runs.by_method(groups, next(iter(groups))[0]), "toy", n_boot=200)
    (blimp,) = [c for c in claims if "BLiMP" in c.claim]
    assert blimp.word == "inconclusive" and "not above chance (50%): the model has nothing to lose" in blimp.verdict


def test_table_e6_drift_is_ce_s_fall_in_4gram_precision_against_the_real_text(tmp_path):
    """Table E6 on CE's runs: split 0's word 4-gram precision against its real text at M0 minus at the last stage,
    t interval over seeds; judged against a quarter of M0's precision where the drift is not beyond the noise."""
    from scipy import stats as sps

    from fortifai.claims import llm as lc

    last = [0.40, 0.45, 0.38]
    for seed in range(3):
        claim_run(tmp_path / "a" / f"ce{seed}", seed=seed, original=(0.60, 0.50, last[seed]))
    groups = llm_runs.group_runs(llm_runs.load_runs(tmp_path / "a"))
    claims, details = lc.setting_claims(llm_runs.by_method(groups, next(iter(groups))[0]), "toy", n_boot=200)
    (drift,) = [c for c in claims if c.paper == "Table E6"]
    fall = 0.60 - np.array(last)
    half = sps.t.ppf(0.975, 2) * fall.std(ddof=1) / np.sqrt(3)
    found = details["comparisons"]["ce drift"]
    assert found["difference"] == pytest.approx(fall.mean()) and found["ci_low"] == pytest.approx(fall.mean() - half)
    assert drift.word == "reproduced" and "60.0% at M0, 41.0% at M2: a fall of +19.0 points" in drift.ours
    for seed, end in enumerate((0.61, 0.60, 0.59)):  # no drift beyond the noise, well short of a quarter of 60%
        claim_run(tmp_path / "b" / f"ce{seed}", seed=seed, original=(0.60, 0.60, end))
    groups = llm_runs.group_runs(llm_runs.load_runs(tmp_path / "b"))
    claims, _ = lc.setting_claims(llm_runs.by_method(groups, next(iter(groups))[0]), "toy", n_boot=200)
    (drift,) = [c for c in claims if c.paper == "Table E6"]
    assert drift.word == "not reproduced" and "no difference detected" in drift.verdict
    for seed in range(2):  # a first regeneration that keeps 10% of the real text's 4-grams: its content is gone
        claim_run(tmp_path / "c" / f"ce{seed}", seed=seed, original=(0.10, 0.05, 0.02))
    groups = llm_runs.group_runs(llm_runs.load_runs(tmp_path / "c"))
    claims, _ = lc.setting_claims(llm_runs.by_method(groups, next(iter(groups))[0]), "toy", n_boot=200)
    assert [c.word for c in claims if c.paper == "Table E6"] == ["inconclusive"]


def test_the_gate_names_only_what_the_runs_measured(tmp_path):
    from fortifai.claims import llm as lc

    for seed in range(2):  # focal masks nothing: its gate has no masked share, and no stray comma before the rest
        claim_run(tmp_path / f"ce{seed}", seed=seed)
        claim_run(tmp_path / f"focal{seed}", "focal", 2.0, seed, masked=0.8)
        claim_run(tmp_path / f"tce{seed}", "tce", 0.9, seed, masked=0.25)
    groups = llm_runs.group_runs(llm_runs.load_runs(tmp_path))
    claims, _ = lc.setting_claims(llm_runs.by_method(groups, next(iter(groups))[0]), "toy", n_boot=200)
    focal, tce = ([c.ours for c in claims if "delays failure" in c.claim and name in c.claim] for name in ("focal", "TCE"))
    assert "gate: M0 regeneration keeps 70% of 4-grams, M0 answers" in focal[0]
    assert "gate: masks 25.0% at M0, M0 regeneration keeps 70% of 4-grams, M0 answers" in tce[0]


def test_runs_of_one_seed_with_other_questions_are_not_paired(tmp_path):
    from fortifai.claims import llm as lc

    claim_run(tmp_path / "ce", seed=0)
    claim_run(tmp_path / "tce", "tce", 0.9, 0, masked=0.2, items=[[{"kind": "number"}] * 10, [{"kind": "year"}] * 10])
    groups = llm_runs.group_runs(llm_runs.load_runs(tmp_path))
    per = llm_runs.by_method(groups, next(iter(groups))[0])
    with pytest.raises(ValueError, match="same seed but other KR questions"):
        lc.paired(per["tce-0.9"], per["ce"])


def test_time_to_failure_is_inconclusive_when_no_ce_run_fails(tmp_path):
    from fortifai.claims import llm as lc

    for seed in range(3):  # KR split 0 never falls below 75% (paper rule) nor halfway to chance (measured rule)
        claim_run(tmp_path / f"ce{seed}", seed=seed, split0=(1.0, 0.9, 0.9))
        claim_run(tmp_path / f"tce{seed}", "tce", 0.9, seed, (1.0, 1.0, 0.9), masked=0.3)
    groups = llm_runs.group_runs(llm_runs.load_runs(tmp_path))
    claims, details = lc.setting_claims(llm_runs.by_method(groups, next(iter(groups))[0]), "toy", n_boot=200)
    failure = details["comparisons"]["tce-0.9 time to failure"]["measured"]
    assert failure["baseline_censored"] == 3 and failure["stages"] == 3
    (delay,) = [c for c in claims if "delays failure" in c.claim]
    assert delay.verdict == "inconclusive: no CE run fell below the threshold within its 3 stages: there is no failure to delay"
    assert not any(c.word == "inconclusive" for c in claims if c is not delay)  # the KR comparisons still judge


# ------------------------------------------------------------------ the chapter's tables and figures (fortifai.chapters.llm_results)

from fortifai.chapters import llm_results as llm_chapter  # noqa: E402
from fortifai.recursive import KR_FAILURE_THRESHOLD  # noqa: E402

SETTING_PARAMS = dict(learning_rate=0.001, epochs=2, checkpoint_selection="last", split_paragraphs=4, batch_size=8,
                      context_tokens=128, new_tokens=16, num_beams=1, benchmarks=[])


def chapter_run(root, name, loss="ce", gamma=None, seed=0, split0=(0.9, 0.8, 0.6), model="smollm2-135m",
                dataset="wikipedia-offline", finished=None, unseen=(6, 10), kinds=None, stage_extra=None,
                train_extra=None, real="the bridge was built in 1901", generated=None):
    """A run folder of ``len(split0)`` stages as the engine writes it; ``finished`` stages done (default all: a
    finished run with metrics.json; fewer: a run still going, manifest and stage metrics only). KR split 0 has
    10 questions, split 1 (never trained on at M0) ``unseen`` = (right, questions) of ``kinds``."""
    folder = root / name
    right, n = unseen
    stages = []
    for i, v in enumerate(split0):
        kr = {"0": {"correct": [True] * round(v * 10) + [False] * (10 - round(v * 10))},
              "1": {"correct": [True] * right + [False] * (n - right)}}
        stage = {"stage": i, "kr": kr, "train": {"heldout_perplexity": 10.0, **((train_extra or [{}] * 9)[i])},
                 **((stage_extra or [{}] * 9)[i])}
        stages.append(stage)
    params = dict(SETTING_PARAMS, model=model, dataset=dataset, loss=loss, gamma=gamma, seed=seed, stages=len(split0))
    finished = len(split0) if finished is None else finished
    folder.mkdir(parents=True)
    if finished == len(split0):
        (folder / "metrics.json").write_text(json.dumps({"params": params, "stages": stages}))
    else:
        (folder / "manifest.json").write_text(json.dumps({"params": params}))
    items = [[{"kind": "year"}] * 10, [{"kind": k} for k in (kinds or ["year"] * n)]]
    (folder / "data.json").write_text(json.dumps({"kr_items": items, "splits": [[real], ["the river floods"]]}))
    for i in range(finished):
        (folder / f"stage_{i}").mkdir()
        (folder / f"stage_{i}" / "metrics.json").write_text(json.dumps(stages[i]))
        text = (generated or ["the bridge was built again"] * 9)[i]
        (folder / f"stage_{i}" / "generated.json").write_text(json.dumps({"0": [text]}))
    return folder


def paper_yaml():
    import yaml

    return yaml.safe_load((Path(llm_runs.__file__).parents[1] / "data" / "paper_llm_tables.yaml").read_text())


def rows_of(table: str, start: str) -> list[list[str]]:
    """The cells of the Markdown rows that start with ``| start``."""
    return [[c.strip() for c in line.strip("|").split("|")] for line in table.splitlines()
            if line.startswith(f"| {start}")]


def test_chapter_runs_keep_started_runs_for_the_gate_and_put_pretrained_models_first(tmp_path):
    chapter_run(tmp_path, "s-ce0")
    chapter_run(tmp_path, "s-ce1", seed=1)
    chapter_run(tmp_path, "s-tce0", "tce", 0.9)
    chapter_run(tmp_path, "s-tce1", "tce", 0.9, seed=1, finished=1)  # still going: M0 only
    chapter_run(tmp_path, "a-ce0", model="scratch-llama-small")  # sorts first by name, shown last
    chapter_run(tmp_path, "a-tce0", "tce", 0.9, model="scratch-llama-small")
    chapter_run(tmp_path, "b-tce0", "tce", 0.9, dataset="wikitext-2-test")  # no CE: gate only, no comparison
    chapter = llm_chapter.ChapterRuns.load(tmp_path)
    names = [llm_runs.setting_name(s) for s in chapter.gate_settings]
    assert names == ["smollm2-135m on wikipedia-offline", "smollm2-135m on wikitext-2-test",
                     "scratch-llama-small on wikipedia-offline"]
    assert [llm_runs.setting_name(s) for s in chapter.settings] == [names[0], names[2]]
    first = chapter.gate_settings[0]
    assert [r.folder.name for r in chapter.per(first)["tce-0.9"]] == ["s-tce0"]
    assert [r.folder.name for r in chapter.per(first, started=True)["tce-0.9"]] == ["s-tce0", "s-tce1"]
    assert rows_of(llm_chapter.runs_table(chapter), "smollm2-135m on wikipedia-offline")[0][1] == \
        "CE (2 / 2), TCE γ=0.9 (1 / 2)"
    # two seeds asked for: TCE 0.9 of the first setting has one finished, so only CE is compared there
    strict = llm_chapter.ChapterRuns.load(tmp_path, min_seeds=2)
    assert list(strict.per(first)) == ["ce"] and len(strict.settings) == 1
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(RuntimeError, match="has finished M0"):
        llm_chapter.ChapterRuns.load(empty)


def test_setting_table_shows_each_settings_parameters_beside_the_papers(tmp_path):
    chapter_run(tmp_path, "ce0")
    table = llm_chapter.setting_table(llm_chapter.ChapterRuns.load(tmp_path))
    paper = paper_yaml()["setting"]
    assert llm_runs.paper_setting() == {k: str(v) for k, v in paper.items()} and len(paper) == 7
    assert rows_of(table, "learning rate")[0] == ["learning rate", "0.001", paper["learning rate"]]
    assert rows_of(table, "checkpoint")[0][1] == "last epoch"
    assert rows_of(table, "context / new tokens / beams")[0][1] == "128 / 16 / 1"
    assert rows_of(table, "stages")[0] == ["stages", "3", paper["stages"]]


def test_gate_table_means_each_gate_over_seeds(tmp_path):
    from scipy.stats import binomtest

    fidelity = [{"0": {"ngram4_precision": p, "type_token_ratio": t, "type_token_ratio_original": o}}
                for p, t, o in ((0.6, 0.5, 0.8), (0.8, 0.7, None))]
    for seed in (0, 1):
        chapter_run(tmp_path, f"ce{seed}", seed=seed, split0=((0.9, 1.0)[seed], 0.8, 0.6), unseen=((6, 8)[seed], 10),
                    stage_extra=[{"regeneration_fidelity": fidelity[seed]}, {}, {}])
    chapter = llm_chapter.ChapterRuns.load(tmp_path)
    gates = llm_chapter.run_gates(chapter)
    assert sorted(gates) == ["ce0", "ce1"]
    (row,) = rows_of(llm_chapter.gate_table(chapter, gates), "smollm2")
    low = np.mean([binomtest(k, 10).proportion_ci(method="wilson").low for k in (6, 8)])
    high = np.mean([binomtest(k, 10).proportion_ci(method="wilson").high for k in (6, 8)])
    # chance 0.6 and 0.8; M0 on split 0: 0.9 and 1.0; measured thresholds halfway: 0.75 and 0.9
    assert row == ["smollm2-135m on wikipedia-offline", "CE", "2", "0.0%", "70.0%", "0.60 (0.80)", "–",
                   f"70.0% [{low:.1%}, {high:.1%}]", "95.0%", f"{KR_FAILURE_THRESHOLD:.0%} / 82.5%"]
    assert llm_chapter.mean_text([None, None]) == "–" and llm_chapter.mean_text([0.1, None, 0.3]) == "20.0%"


def test_chance_by_kind_pools_the_ce_runs_questions(tmp_path):
    # seed 0: 5 year questions right, 5 entity questions wrong; seed 1: 6 of 10 year questions right
    chapter_run(tmp_path, "ce0", unseen=(5, 10), kinds=["year"] * 5 + ["entity"] * 5)
    chapter_run(tmp_path, "ce1", seed=1, unseen=(6, 10))
    chapter_run(tmp_path, "tce0", "tce", 0.9, unseen=(0, 10), kinds=["number"] * 10)  # not CE: not pooled
    chapter = llm_chapter.ChapterRuns.load(tmp_path)
    pooled = llm_chapter.chance_by_kind(chapter.per(chapter.gate_settings[0])["ce"])
    assert pooled == {"entity": (0.0, 5), "year": (pytest.approx(11.0), 15)}
    (row,) = rows_of(llm_chapter.chance_by_kind_table(chapter), "smollm2")
    assert row[1] == f"entity 0% (n=5), year {11 / 15:.0%} (n=15)"


def test_kr_prior_table_reads_the_prior_file_or_says_it_is_missing(tmp_path):
    assert llm_chapter.kr_prior_table(tmp_path / "none.json").startswith("Not measured here")
    prior = {"model": "m", "paragraphs": 12, "seed": 3, "sources": {"real": {
        "accuracy": 0.8125, "interval": [0.7, 0.9], "n": 16, "by_kind": {"year": {"accuracy": 0.5, "n": 4}}}}}
    (tmp_path / "prior.json").write_text(json.dumps(prior))
    table = llm_chapter.kr_prior_table(tmp_path / "prior.json")
    assert table.startswith("m, 12 paragraphs (seed 3):")
    assert rows_of(table, "real")[0] == ["real", "81.2% [70.0%, 90.0%]", "16", "year 50% (n=4)"]


def test_fidelity_and_masked_fraction_pad_runs_still_going(tmp_path):
    assert np.array_equal(llm_runs.padded([[1, None], [2]]), [[1, np.nan], [2, np.nan]], equal_nan=True)
    fid = [{"regeneration_fidelity": {"0": {"ngram4_precision": p}}} for p in (0.5, 0.4, 0.0)]
    masked = [{"masked_fraction_by_epoch": e} for e in ([0.2, 0.3], [0.4], [0.5])]
    chapter_run(tmp_path, "tce0", "tce", 0.9, stage_extra=fid, train_extra=masked)
    chapter_run(tmp_path, "tce1", "tce", 0.9, seed=1, finished=2, stage_extra=fid,
                train_extra=[{"masked_fraction_by_epoch": [0.1, 0.1]}, {"masked_fraction_by_epoch": [0.2]}, {}])
    chapter_run(tmp_path, "ce0", train_extra=[{"confident_fraction_by_epoch": {"0.9": [0.6]}}, {}, {}])
    chapter = llm_chapter.ChapterRuns.load(tmp_path)
    per = chapter.per(chapter.gate_settings[0], started=True)
    values = llm_chapter.fidelity_values(per["tce-0.9"])
    assert np.array_equal(values, [[0.5, 0.4, 0.0], [0.5, 0.4, np.nan]], equal_nan=True)  # 0.0 is a value
    assert np.allclose(llm_chapter.masked_by_epoch(per["tce-0.9"], "tce-0.9"), [0.15, 0.2, 0.3, 0.5])
    assert llm_chapter.masked_by_epoch(per["ce"], "ce") is None  # CE recorded its share at M0 only
    published = []
    llm_chapter.fidelity_figures(chapter, lambda fig, name: published.append((fig, name)))
    (fig, name), = published
    lines = {line.get_label(): line.get_ydata() for line in fig.axes[0].lines}
    assert name == "gate_0" and np.allclose(lines["TCE γ=0.9"], [50.0, 40.0, 0.0])


def test_failure_table_pairs_seeds_and_shows_the_papers_time_to_failure(tmp_path):
    ce = ((0.9, 0.8, 0.6), (0.9, 0.7, 0.6), (1.0, 0.8, 0.7))
    tce = ((0.9, 0.9, 0.8), (0.9, 0.8, 0.7), (1.0, 0.9, 0.7))
    for seed in range(3):
        chapter_run(tmp_path, f"ce{seed}", seed=seed, split0=ce[seed])
        chapter_run(tmp_path, f"tce{seed}", "tce", 0.9, seed, tce[seed],
                    train_extra=[{"masked_fraction_mean": 0.3}] * 3)
    chapter = llm_chapter.ChapterRuns.load(tmp_path)
    table, failure = llm_chapter.failure_table(chapter, "D2", n_boot=200)
    paper = failure["smollm2-135m on wikipedia-offline | tce-0.9 | paper"]
    # by hand at 75%, linear between the stages around the crossing: CE 1 + 0.05/0.2, 0 + 0.15/0.2, 1 + 0.05/0.1;
    # TCE never (the run's length, 3), 1 + 0.05/0.1, 1 + 0.15/0.2
    expect_ce, expect_tce = [1.25, 0.75, 1.5], [3.0, 1.5, 1.75]
    assert paper["baseline"] == pytest.approx(expect_ce) and paper["method"] == pytest.approx(expect_tce)
    assert paper["ratio"] == pytest.approx(np.mean(expect_tce) / np.mean(expect_ce))
    assert sorted(failure) == [f"smollm2-135m on wikipedia-offline | tce-0.9 | {r}" for r in ("measured", "paper")]
    # Table D2's KR-split 0: CE 77.9 -> 73.7 between M1 and M2, TCE 0.9 76.6 -> 74.8 between M2 and M3
    t_ce, t_tce = 1 + (77.9 - 75) / (77.9 - 73.7), 2 + (76.6 - 75) / (76.6 - 74.8)
    (row,) = [r for r in rows_of(table, "smollm2") if r[2] == "paper"]
    assert row[3] == ", ".join(f"{m:.2f} vs {b:.2f}" for m, b in zip(expect_tce, expect_ce))
    assert row[4].startswith(f"≥ {paper['ratio']:.2f}x")  # one TCE seed never fails: a lower bound
    assert row[-1] == f"{t_tce:.2f} ({t_tce / t_ce:.2f}x)"
    (measured,) = [r for r in rows_of(table, "smollm2") if r[2] == "measured"]
    assert measured[-1] == "–"  # the paper has no measured threshold


def test_gamma_sweep_orders_thresholds_with_ce_as_gamma_one(tmp_path):
    runs = {"ce": (0.9, 0.8, 0.6), "tce-0.5": (0.9, 0.6, 0.5), "tce-0.9": (0.9, 0.9, 0.8)}
    for method, split0 in runs.items():
        loss, gamma = ("ce", None) if method == "ce" else ("tce", float(method[4:]))
        chapter_run(tmp_path, method, loss, gamma, split0=split0)
        chapter_run(tmp_path, method + "-other", loss, gamma, split0=split0, dataset="wikitext-2-test")
    (tmp_path / "tce-0.5-other").rename(tmp_path.parent / "moved")  # the second setting keeps one TCE threshold
    chapter = llm_chapter.ChapterRuns.load(tmp_path)
    first, second = chapter.settings
    sweep = llm_chapter.gamma_sweep(chapter.per(first), KR_FAILURE_THRESHOLD)
    assert list(sweep["ttf"]) == ["tce-0.5", "tce-0.9", "ce"]
    assert sweep["ttf"]["tce-0.5"] == pytest.approx([(0.9 - 0.75) / (0.9 - 0.6)])  # below 75% between M0 and M1
    assert sweep["ttf"]["tce-0.9"] == [3.0]  # never below: counted as the run's length
    assert sweep["kr_split0"]["ce"] == pytest.approx([60.0])
    assert sweep["kr_total"]["ce"] == pytest.approx([(6 + 6) / 20 * 100])
    assert llm_chapter.gamma_sweep(chapter.per(second)) == {}
    published = []
    values = llm_chapter.gamma_sweep_figures(chapter, KR_FAILURE_THRESHOLD, lambda f, n: published.append((f, n)))
    assert [n for _, n in published] == ["gamma_sweep_0"]
    assert values["smollm2-135m on wikipedia-offline | tce-0.9 | kr_split0"] == pytest.approx([80.0])
    x, y = published[0][0].axes[1].lines[0].get_data()
    assert list(x) == [0.5, 0.9, 1.0] and np.allclose(y, [50.0, 80.0, 60.0])


def test_kl_values_are_the_unigram_kl_of_each_stages_regeneration(tmp_path):
    chapter_run(tmp_path, "ce0", split0=(0.9, 0.8), real="a a b", generated=["a b", "b b"])
    chapter = llm_chapter.ChapterRuns.load(tmp_path)
    (setting,) = chapter.settings
    values = llm_chapter.kl_values(chapter.per(setting)["ce"])

    def smoothed(generated, real, vocabulary=("a", "b", "the", "river", "floods")):  # every word of the run's texts
        p = np.array([generated.split().count(w) + 0.5 for w in vocabulary])
        q = np.array([real.split().count(w) + 0.5 for w in vocabulary])
        p, q = p / p.sum(), q / q.sum()
        return float(np.sum(p * np.log(p / q)))

    assert values["smoothed"].shape == (1, 2)
    assert values["smoothed"][0] == pytest.approx([smoothed("a b", "a a b"), smoothed("b b", "a a b")])
    published = []
    kl = llm_chapter.kl_figures(chapter, lambda f, n: published.append(n))
    assert published == ["kl_0"] and kl["smollm2-135m on wikipedia-offline | ce | smoothed"][0] == \
        pytest.approx(values["smoothed"][0].tolist())


def test_passage_table_shows_split_0_through_the_stages(tmp_path):
    long = "x" * 400
    real = "a | b " + long
    chapter_run(tmp_path, "ce0", split0=(0.9, 0.8), real=real, generated=["m0 | one\ntwo", "m1 " + long])
    chapter_run(tmp_path, "tce0", "tce", 0.9, split0=(0.9, 0.8), real=real, generated=["t0", "t1"])
    chapter_run(tmp_path, "tce1", "tce", 0.9, seed=1, split0=(0.9, 0.8), real="other")  # not a first seed
    chapter_run(tmp_path, "b-ce0", dataset="wikitext-2-test", split0=(0.9, 0.8), real="one")
    chapter_run(tmp_path, "b-tce0", "tce", 0.9, dataset="wikitext-2-test", split0=(0.9, 0.8), real="another")
    first, second = llm_chapter.passage_table(llm_chapter.ChapterRuns.load(tmp_path)).split("\n\n**")
    assert first.startswith("**smollm2-135m on wikipedia-offline**, seed 0")
    assert rows_of(first, "stage")[0] == ["stage", "CE", "TCE γ=0.9"]
    assert rows_of(first, "real")[0] == ["real"] + ["a / b " + long[:llm_chapter.PASSAGE_CHARS - 6]] * 2
    assert rows_of(first, "M0")[0] == ["M0", "m0 / one two", "t0"]
    assert rows_of(first, "M1")[0][1] == ("m1 " + long)[:llm_chapter.PASSAGE_CHARS]
    assert "drew different splits" not in first  # the first seeds (0) share their split
    assert second.startswith("smollm2-135m on wikitext-2-test**") and second.endswith(
        "(The methods' first seeds drew different splits: the passages differ.)")


def test_stage_tables_restrict_methods_and_stages_and_metrics_keep_every_matrix(tmp_path):
    for method, split0 in {"ce": (0.9, 0.8, 0.6), "tce-0.9": (0.9, 0.9, 0.8), "tce-0.5": (0.9, 0.6, 0.5)}.items():
        loss, gamma = ("ce", None) if method == "ce" else ("tce", float(method[4:]))
        chapter_run(tmp_path, method, loss, gamma, split0=split0)
    chapter = llm_chapter.ChapterRuns.load(tmp_path)
    paper = llm_chapter.paper_for("D2")
    table = llm_chapter.stage_tables(chapter, paper, methods=("ce", "tce-0.9"), stages=[0, 5])
    assert [r[:2] for r in rows_of(table, "M")] == [["M0", "CE"], ["M0", "TCE γ=0.9"], ["M5", "CE"], ["M5", "TCE γ=0.9"]]
    assert rows_of(table, "M5")[0][3:5] == ["–", "64.3"]  # ours has three stages; D2's CE KR-split 0 at M5
    with pytest.raises(ValueError, match="paper_table must be one of"):
        llm_chapter.paper_for("D9")
    metrics = llm_chapter.chapter_metrics(chapter, tmp_path, "D2", KR_FAILURE_THRESHOLD, gates={}, failure={},
                                         comparisons={}, kl={}, sweep={}, figures=["a"])
    ours = metrics["settings"]["smollm2-135m on wikipedia-offline"]
    assert list(ours) == ["ce", "tce-0.9", "tce-0.5"] and ours["tce-0.5"]["kr_split0"] == [[0.9, 0.6, 0.5]]
    assert ours["ce"]["folders"] == ["ce"] and ours["ce"]["seeds"] == [0]
    # Table D2's CE: 77.9% at M1, 73.7% at M2, so 75% is crossed 2.9 / 4.2 of the way from M1
    assert metrics["paper_time_to_failure"]["D2"]["ce"] == pytest.approx(1 + 2.9 / 4.2)
    assert metrics["kr_failure_threshold"] == KR_FAILURE_THRESHOLD and metrics["figures"] == ["a"]


def test_decisive_summary_prints_the_papers_shares_and_the_rule():
    text = llm_chapter.decisive_summary({"paper_share": 0.171, "paper_share_same_length": 0.26, "headline": 0.57,
                                        "rule": "reproduced if lo > 0"})
    abstract = paper_yaml()["headline"]["abstract"]
    assert text.startswith("The paper's share of CE's loss avoided (Table D2, KR-split 0): **17%** from M0 to M5, 26%")
    assert f"the abstract's {abstract}x under a linear decline: 57%." in text and text.endswith(
        "**Rule**: reproduced if lo > 0.")


def test_settings_that_differ_in_packing_or_arm_never_share_a_name():
    from fortifai.recursive.runs import setting_name

    base = dict(model="smollm2-135m", dataset="wikipedia-offline-counterfactual")
    names = {setting_name(tuple(sorted({**base, **extra}.items()))) for extra in (
        {}, {"paragraph_separator": "eos"}, {"paragraph_separator": "blank_line"},
        {"paragraph_separator": "blank_line", "regenerate": False},
        {"paragraph_separator": "blank_line", "regeneration_context": "paragraph"},
        {"paragraph_separator": "blank_line", "regeneration_context": "stream"})}
    assert names == {"smollm2-135m on wikipedia-offline-counterfactual",
                     "smollm2-135m on wikipedia-offline-counterfactual (paragraphs kept)",
                     "smollm2-135m on wikipedia-offline-counterfactual (paragraphs kept, control arm: real text only)",
                     "smollm2-135m on wikipedia-offline-counterfactual (paragraphs kept, each regenerated from its own "
                     "text)"}


def test_a_control_arm_makes_no_claims_of_its_own(monkeypatch):
    from types import SimpleNamespace

    from fortifai.claims import llm as claims_llm

    base = dict(model="smollm2-135m", dataset="wikipedia-offline-counterfactual", paragraph_separator="blank_line")
    recursive_arm, control_arm = (tuple(sorted({**base, "regenerate": arm}.items())) for arm in (True, False))
    asked = []
    monkeypatch.setattr(claims_llm, "setting_claims", lambda per, name, n_boot: (asked.append(name) or ([], {})))
    chapter = SimpleNamespace(settings=[recursive_arm, control_arm], per=lambda setting: {})
    details, groups = llm_chapter.chapter_claims(chapter)
    assert asked == [llm_runs.setting_name(recursive_arm)] and list(details) == asked
    assert [title for title, _, _ in groups] == asked
