"""The v2 plan (fortifai.claims.decisive_v2), fixed before its runs: the primary from the pilot, the share's verdict,
the mechanism contrasts and the sample size, on runs whose numbers are set by hand."""

import math

import numpy as np
import pytest
from scipy import stats

from fortifai.claims import decisive, decisive_v2 as v2, decisive_v2_report
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
    assert "seed_t_low" not in contrast  # six seeds: the bootstrap alone; three: the per-seed t beside it
    three = v2.mechanism_contrast({m: runs[:3] for m, runs in per.items()}, "rmask-0.9", "kr_split0")
    t = stats.t.ppf(0.975, 2) * np.std((rm - tce)[:3] / ce[:3], ddof=1) / np.sqrt(3)
    assert three["seed_t_high"] - three["seed_t_low"] == pytest.approx(2 * t)
    assert "; per-seed t [" in v2.contrast_text(three) and v2.contrast_text(three).endswith("] over 3 seeds")


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


def _arm(tmp_path, drops, nll_rise=0.0, seeds=None):
    """{method: runs of its seeds (``seeds[method]``, default 3)}, each method's split-0 accuracy falling by its
    drop (plus 0.01 per seed mod 3)."""
    return {m: [run(tmp_path, m, seed, drop + 0.01 * (seed % 3), nll_rise) for seed in range((seeds or {}).get(m, 3))]
            for m, drop in drops.items()}


PLANNED = {"ce": 8, "tce-0.9": 8, "rmask-0.9": 6, "focal-2.0": 6}  # the plan's minimum counts


def test_the_v2_setting_is_found_by_its_preset_s_values():
    preset = dict(model="smollm2-135m", dataset="cf", stages=6, split_paragraphs=48, epochs=2, learning_rate=1e-4)
    ours, other = tuple(sorted({**preset, "regenerate": True}.items())), tuple(sorted({**preset, "epochs": 4}.items()))
    control = tuple(sorted({**preset, "regenerate": False}.items()))
    groups = {(ours, "ce"): ["a"], (other, "ce"): ["b"], (control, "ce"): ["c"], (ours, "tce-0.9"): ["d"]}
    assert v2.v2_arms(groups, preset) == ({"ce": ["a"], "tce-0.9": ["d"]}, {"ce": ["c"]})
    assert v2.v2_arms(groups, None) == ({}, {})


def test_before_the_pilot_s_verdict_the_v2_claim_is_not_computed(tmp_path):
    result = v2.v2_test({}, {}, dict(verdict=None))
    claims = v2.v2_claims(result)
    assert [c.word for c in claims] == ["not computed"] and claims[0].claim.startswith("Decisive test v2, primary")
    assert "waits: the regime pilot has no verdict yet" in decisive_v2_report.v2_answer_markdown(result, False)


def test_v2_on_runs_gives_the_primary_the_contrasts_and_their_claims(tmp_path):
    recursive = _arm(tmp_path / "r", {"ce": 0.20, "tce-0.9": 0.10, "rmask-0.9": 0.20, "focal-2.0": 0.10}, seeds=PLANNED)
    control = _arm(tmp_path / "c", {"ce": 0.05, "tce-0.9": 0.05})
    result = v2.v2_test(recursive, control, dict(verdict="go", rungs=[dict(go_by="accuracy")]))
    primary = result["endpoints"]["kr_split0"]
    assert result["primary"] == "kr_split0" and result["planned"] == dict(pairs=8, pairs_set=True, mechanism_seeds=6,
                                                                                   control_seeds=4)
    ce, tce = (np.mean([d + 0.01 * (s % 3) for s in range(8)]) for d in (0.20, 0.10))
    assert primary["estimate"] == pytest.approx(1 - tce / ce, abs=0.02)  # rounding to whole questions
    assert primary["verdict"] == "reproduced" and "interim" not in primary
    assert result["finished"]["focal-2.0"] == list(range(6))
    by = {(c["other"], c["endpoint"]): c for c in result["contrasts"]}
    assert set(by) == {(o, e) for o in ("rmask-0.9", "focal-2.0") for e in ("kr_split0", "real_nll_heldout")}
    assert by["rmask-0.9", "kr_split0"]["verdict"] == "reproduced"  # TCE avoids ~half, the random mask none
    assert by["focal-2.0", "kr_split0"]["verdict"] == "not reproduced"  # the same share: no difference detected
    assert by["rmask-0.9", "real_nll_heldout"]["verdict"] == "inconclusive"  # CE's held-out NLL never rose
    assert result["interaction"]["kr_split0"]["difference"] > 0 and result["interaction"]["kr_split0"]["seeds"] == [0, 1, 2]
    claims = v2.v2_claims(result)
    assert [c.claim.split(":")[0] for c in claims] == ["Decisive test v2, primary"] + ["Decisive test v2, mechanism"] * 4
    assert claims[0].word == "reproduced" and "95% paired bootstrap [" in claims[0].ours and claims[0].ours.endswith(
        "over 8 seeds")
    text = decisive_v2_report.v2_answer_markdown(result, True)
    assert text.startswith("**The answer, from the decisive test v2** (8 seed pairs") and "| Mechanism: TCE 0.9 against rmask-0.9" in text
    assert "ce 8 of 8, tce-0.9 8 of 8, rmask-0.9 6 of 6, focal-2.0 6 of 6; control arm: ce 3 of 4" in text
    assert "What would decide it" not in text  # a verdict that decides


def test_before_the_planned_counts_a_v2_row_is_interim_with_no_verdict_word(tmp_path):
    """Two or more seeds but fewer than the plan's counts: the estimate and interval are shown, the rule's verdict
    is not (a percentile bootstrap over three seeds has ten distinct resamples)."""
    recursive = _arm(tmp_path, {"ce": 0.20, "tce-0.9": 0.10, "rmask-0.9": 0.20, "focal-2.0": 0.10})
    result = v2.v2_test(recursive, {}, dict(verdict="go", rungs=[dict(go_by="accuracy")]))
    assert result["endpoints"]["kr_split0"]["interim"] == "interim: 3 of the plan's 8 seed pairs have finished M5"
    claims = v2.v2_claims(result)
    assert {c.word for c in claims} == {"not computed"} and "interim: 3 of the plan's 8" in claims[0].verdict
    assert "interim: 3 of the plan's 6 seeds with all three losses" in claims[1].verdict
    assert "95% paired bootstrap [" in claims[0].ours  # the interim estimate beside it
    text = decisive_v2_report.v2_answer_markdown(result, True)
    assert text.startswith("**An interim look at the decisive test v2** (3 of the plan's 8 seed pairs")
    assert "**reproduced**" not in text and "No verdict yet: the plan reads it at 8 pairs" in text
    assert "So far, at the spread of these 3 pairs" in text
    assert "the plan's sample size, 8 pairs, was set by the pilot's seeds 0, 1, 2 and stays fixed" in text


def test_before_the_pilot_sets_the_pairs_an_interim_row_says_at_least_and_where_no_share_exists(tmp_path):
    """Two seeds of the pilot's three: the plan's pairs are "at least" its minimum; an endpoint on which CE has lost
    nothing (split 0's real NLL here) says so beside its interim count, since no share of it can be avoided."""
    recursive = _arm(tmp_path, {"ce": 0.20, "tce-0.9": 0.10}, seeds={"ce": 2, "tce-0.9": 2})
    result = v2.v2_test(recursive, {}, dict(verdict="go", rungs=[dict(go_by="accuracy")]))
    assert result["planned"]["pairs_set"] is False
    assert result["endpoints"]["kr_split0"]["interim"] == "interim: 2 of the plan's at least 8 seed pairs have finished M5"
    assert result["endpoints"]["real_nll_split0"]["interim"].startswith(
        "interim: 2 of the plan's at least 8 seed pairs have finished M5; so far CE's own loss")
    text = decisive_v2_report.v2_answer_markdown(result, True)
    assert "the plan reads it at the pairs its pilot sets (seeds 0, 1, 2 of CE and TCE 0.9; at least 8)" in text
    assert "the plan's sample size comes from the pilot's seeds 0, 1, 2" in text
    # each loss in its endpoint's unit: CE lost 20 and 21 points of accuracy, TCE 10 and 11
    assert "| Primary: KR accuracy on split 0 | +20.5 pts | +10.5 pts |" in text and "| +0 nats | +0 nats |" in text


def test_an_underpowered_v2_primary_says_how_many_pairs_would_decide_it(tmp_path):
    """At the planned count, an interval that holds both no effect and the paper's share: the chapter gives the
    pairs the finished pairs' spread asks for; a CE that lost nothing: a setting where CE degrades."""
    tce = [0.15, 0.16, 0.14, 0.40, 0.0, 0.35, -0.05, 0.30]  # a steady pilot (seeds 0-2: 8 pairs), then wide
    per = {"ce": [run(tmp_path, "ce", s, 0.20) for s in range(8)],
           "tce-0.9": [run(tmp_path, "tce-0.9", s, d) for s, d in enumerate(tce)]}
    result = v2.v2_test(per, {}, dict(verdict="go", rungs=[dict(go_by="accuracy")]))
    assert result["endpoints"]["kr_split0"]["verdict"] == "underpowered"
    pairs = decisive.seeds_for_power(tce, [0.20] * 8, paper=result["paper"])["pairs"]
    assert pairs > 8 and f"takes **{pairs}** seed pairs" in decisive_v2_report.v2_answer_markdown(result, True)
    sd = np.std(0.20 - np.array(tce), ddof=1)
    detectable = (stats.t.ppf(0.975, 7) + stats.t.ppf(0.8, 7)) * sd / math.sqrt(8) / 0.20
    assert f"the smallest share detected with that power: {detectable:.0%} at the plan's minimum of 8 pairs (the" in (
        decisive_v2_report.v2_answer_markdown(result, True))
    wide = [0.15, 0.40, 0.0]  # an interim look whose pilot set more pairs than the minimum: both counts' power
    per = {"ce": [run(tmp_path / "wide", "ce", s, 0.20) for s in range(3)],
           "tce-0.9": [run(tmp_path / "wide", "tce-0.9", s, d) for s, d in enumerate(wide)]}
    result = v2.v2_test(per, {}, dict(verdict="go", rungs=[dict(go_by="accuracy")]))
    planned, sd = result["planned"]["pairs"], np.std(0.20 - np.array(wide), ddof=1)
    at = {n: (stats.t.ppf(0.975, n - 1) + stats.t.ppf(0.8, n - 1)) * sd / math.sqrt(n) / 0.20 for n in (8, planned)}
    assert planned > 8 and (f"that power: {at[8]:.0%} at the plan's minimum of 8 pairs, {at[planned]:.0%} at its "
                            f"{planned} pairs (the paper's: 17%)") in decisive_v2_report.v2_answer_markdown(result, True)
    flat = {m: [run(tmp_path / "flat", m, s, 0.0) for s in range(8)] for m in ("ce", "tce-0.9")}
    result = v2.v2_test(flat, {}, dict(verdict="go", rungs=[dict(go_by="accuracy")]))
    assert result["endpoints"]["kr_split0"]["verdict"] == "inconclusive"
    assert "a setting in which CE's own loss" in decisive_v2_report.v2_answer_markdown(result, True)


def test_changes_to_the_v2_plan_are_listed_with_their_date_and_effect(monkeypatch):
    monkeypatch.setattr(v2, "CHANGES", [])
    assert decisive_v2_report.v2_changes_markdown().endswith("none.")
    monkeypatch.setattr(v2, "CHANGES", [dict(date="2026-12-08", change="A change.", effect="none.")])
    assert "- 2026-12-08: A change. Effect on the verdicts: none." in decisive_v2_report.v2_changes_markdown()


def test_the_progress_names_the_runs_going_and_every_replay(tmp_path):
    """A run still going is named with its finished stages; a run resumed by replay is named with the stages
    replayed and whether their losses equalled the recorded ones."""
    done, going = run(tmp_path, "ce", 0, 0.2), run(tmp_path, "tce-0.9", 0, 0.1)
    going.stages = going.stages[:3]
    for i, identical in ((0, True), (1, False)):
        write_json(done.folder / f"stage_{i}" / "replay.json", {"identical": identical})
    progress = v2.progress({"ce": [done], "tce-0.9": [going]}, {})
    assert progress["going"] == ["tce-0.9 seed 0 (finished M0-M2 of M0-M5)"]
    assert progress["replayed"] == [dict(run="ce seed 0", stages=[0, 1], identical=False)]
    text = decisive_v2_report.v2_progress_markdown(progress)
    assert "tce-0.9 seed 0 (finished M0-M2 of M0-M5)" in text and "equal the recorded ones in 0 of them" in text
    assert "ce seed 0 (M0-M1 replayed, NOT identical" in text
    assert decisive_v2_report.v2_progress_markdown(v2.progress({"ce": [done]}, {}) | {"replayed": []}) == ""


def test_a_run_made_twice_is_compared_stage_by_stage(tmp_path):
    """A v2 run with a twin (the same folder name) made earlier: its stages compared, measures and regenerated text."""
    def folder(root, accuracy_at_2):
        r = run(tmp_path, "ce", 0, 0.2)
        for stage in r.stages:
            if stage["stage"] == 2:
                stage["kr"]["0"]["accuracy"] = accuracy_at_2
            write_json(root / "ce-seed0-abcd" / f"stage_{stage['stage']}" / "metrics.json", stage)
            write_json(root / "ce-seed0-abcd" / f"stage_{stage['stage']}" / "generated.json", {"0": ["text"]})
        r.folder = root / "ce-seed0-abcd"
        return r

    v2run = folder(tmp_path / "v2", 0.5)
    for accuracy, same in ((0.5, 6), (0.6, 2)):
        folder(tmp_path / "pilot", accuracy)
        twins = v2.progress({"ce": [v2run]}, {}, twins=tmp_path / "pilot")["twins"]
        assert [(t["same"], t["both"]) for t in twins] == [(same, 6)]
    assert "identical at M0-M1 only, of M0-M5" in decisive_v2_report.v2_progress_markdown(
        v2.progress({"ce": [v2run]}, {}, twins=tmp_path / "pilot"))
    assert v2.progress({"ce": [v2run]}, {}, twins=tmp_path / "elsewhere")["twins"] == []


def test_the_sweep_seeds_follow_the_sample_size_of_the_pilot_runs_there_are(tmp_path):
    """No run yet: the plan's minimums; the three pilot pairs finished: CE and TCE 0.9 run the sample size's pairs
    on the primary the regime pilot names (none while it has no verdict: the minimum)."""
    preset = dict(model="smollm2-135m", stages=6, split_paragraphs=48, epochs=2)
    pilot = dict(verdict="go", rungs=[dict(go_by="accuracy")])
    empty = v2.sweep_seeds(preset, pilot, tmp_path / "none")
    assert empty == {"ce": list(range(8)), "tce-0.9": list(range(8)), "rmask-0.9": list(range(6)),
                     "focal-2.0": list(range(6)), "control": list(range(4))}
    runs = tmp_path / "runs"
    per = {"ce": [run(tmp_path, "ce", s, d) for s, d in enumerate([0.2, 0.1, 0.3])],
           "tce-0.9": [run(tmp_path, "tce-0.9", s, d) for s, d in enumerate([0.19, 0.05, 0.32])]}
    for method, members in per.items():
        for r in members:
            params = {**preset, **r.params, "dataset": "wikipedia-offline-counterfactual"}
            write_json(runs / f"{method}-seed{r.seed}" / "metrics.json", {"params": params, "stages": r.stages})
            write_json(runs / f"{method}-seed{r.seed}" / "manifest.json", {"params": params})
            write_json(runs / f"{method}-seed{r.seed}" / "data.json", {"kr_items": [[{"q": r.seed}]]})
    pairs = v2.sample_size(per, "kr_split0")["pairs"]
    assert pairs > 8  # a small, noisy effect: more than the minimum
    assert v2.sweep_seeds(preset, pilot, runs)["ce"] == list(range(pairs)) == v2.sweep_seeds(preset, pilot, runs)["tce-0.9"]
    assert v2.sweep_seeds(preset, dict(verdict=None), runs)["ce"] == list(range(8))


def test_the_v2_runs_table_shows_every_finished_run_stage_by_stage(tmp_path):
    ce, tce = run(tmp_path, "ce", 0, 0.2, nll_rise=0.5), run(tmp_path, "tce-0.9", 0, 0.1)
    going = run(tmp_path, "ce", 1, 0.2)
    going.stages = going.stages[:4]
    text = decisive_v2_report.v2_runs_markdown({"ce": [ce, going], "tce-0.9": [tce]}, {}, "kr_split0")
    rows = [line for line in text.splitlines() if line.startswith("| recursive")]
    assert len(rows) == 2 and rows[0].startswith("| recursive | CE | 0 |")  # the run going is left out
    assert "90.0% → 86.0% → 82.0% → 78.0% → 74.0% → 70.0% (+20.0 pts)" in rows[0]
    assert "3.000 → 3.100 → 3.200 → 3.300 → 3.400 → 3.500 (+0.500) | ? |" in rows[0]  # no precision recorded
    for stage in ce.stages:
        stage["train"]["precision"] = "bf16"
    assert decisive_v2_report.v2_runs_markdown({"ce": [ce]}, {}, "kr_split0").splitlines()[2].endswith("| bf16 |")
    assert decisive_v2_report.v2_runs_markdown({}, {}, None) == ""


def test_the_v2_figure_draws_the_loss_since_m0_with_the_paper_s_rows_beside(tmp_path):
    """Every arm's loss since M0 (seeds thin, the mean bold), and on the KR-split 0 panel the paper's Table D2 rows
    of the same losses as the change from their M0 (the footing of the paper's share); none before any run."""
    import matplotlib

    matplotlib.use("Agg")
    from fortifai.recursive.runs import paper_tables

    recursive = _arm(tmp_path / "r", {"ce": 0.20, "tce-0.9": 0.10, "rmask-0.9": 0.15}, seeds={"ce": 2, "tce-0.9": 2,
                                                                                               "rmask-0.9": 2})
    control = _arm(tmp_path / "c", {"ce": 0.05}, seeds={"ce": 2})
    fig = decisive_v2_report.v2_figure(recursive, control, "kr_split0")
    ax = fig.axes[0]
    assert len(fig.axes) == len(v2.ENDPOINTS) and ax.get_title().startswith("KR accuracy, split 0")
    ours = [line for line in ax.lines if line.get_linestyle() == "-" and line.get_linewidth() > 2]
    assert list(ours[0].get_ydata()) == pytest.approx([0.0, 0.041, 0.082, 0.123, 0.164, 0.205], abs=0.006)
    paper = [line for line in ax.lines if "the paper" in str(line.get_label())]
    d2 = paper_tables()["D2"]["values"]
    assert len(paper) == 3  # CE, TCE 0.9 and focal 2.0: Table D2 has no random mask
    assert list(paper[0].get_ydata()) == pytest.approx([d2["ce"]["kr_split0"][0] - v for v in d2["ce"]["kr_split0"]])
    assert decisive_v2_report.v2_figure({}, {}, "kr_split0") is None


def test_what_is_still_to_run_follows_the_plan_s_counts_and_the_recorded_run_times(tmp_path):
    recursive = _arm(tmp_path, {"ce": 0.2, "tce-0.9": 0.1, "rmask-0.9": 0.2}, seeds={"ce": 3, "tce-0.9": 2, "rmask-0.9": 1})
    runs = [r for per in recursive.values() for r in per]
    for r in runs:
        for stage in r.stages:
            stage["train"]["train_seconds"], stage["finish_seconds"] = 300.0, 500.0  # 80 min a run
    result = v2.v2_test(recursive, {}, dict(verdict="go", rungs=[dict(go_by="accuracy")]))
    left = v2.still_to_run(result, runs)
    assert left["left"] == {"ce": 5, "tce-0.9": 6, "rmask-0.9": 5, "focal-2.0": 6, "control ce": 4, "control tce-0.9": 4}
    assert left["runs"] == 30 and left["run_minutes"] == pytest.approx(80) and left["hours"] == pytest.approx(20)
    text = decisive_v2_report.v2_progress_markdown(dict(going=[], replayed=[], twins=[]), left)
    assert text.startswith("**Still to run for the plan's verdicts:** at least 30 runs (ce 5, tce-0.9 6,")  # no pilot
    assert "about 20 hours" in text


def test_the_v2_sweep_runs_the_bounded_counts_before_the_primary_s_pairs(tmp_path):
    """scripts/v2_sweep.sh in order: the pilot, every arm to the mechanism seeds, the control arm, CE/TCE 0.9 to the
    sample size's pairs (each step's seeds from sweep_seeds, here a stand-in); its arguments reach every sweep."""
    import subprocess
    from pathlib import Path

    fake = tmp_path / "python"  # prints the seeds for `-c` (sweep_seeds) and the command line for a sweep
    fake.write_text('#!/bin/bash\nif [ "$1" = -c ]; then case "$2" in *control*) echo 0 1;; *"[\'ce\']"*) '
                    'echo 0 1 2 3;; *) echo 0 1 2;; esac; else echo "$*"; fi\n')
    fake.chmod(0o755)
    script = Path(__file__).resolve().parent.parent / "scripts" / "v2_sweep.sh"

    def out(*args):
        return subprocess.run(["bash", str(script), *args], env=dict(PY=str(fake), PATH="/usr/bin:/bin"),
                              capture_output=True, text=True, check=True).stdout.splitlines()

    preset = "-m fortifai sweep -f presets/llm_recursive/decisive-v2.yaml"
    assert out() == [f"{preset} --jobs 2", f"{preset} --seeds 0 1 2 --jobs 2",
                     f"{preset} -p regenerate false --methods ce tce-0.9 --seeds 0 1 --jobs 2",
                     f"{preset} --methods ce tce-0.9 --seeds 0 1 2 3 --jobs 2"]
    assert all(line.endswith("--launcher slurm --partition gpu") for line in out("--launcher", "slurm", "--partition",
                                                                                  "gpu"))


def test_the_primary_is_also_shown_without_the_seeds_whose_ce_runs_chose_the_setting(tmp_path):
    """The regime pilot's CE runs (seeds 0 and 1) are this test's, and their loss chose the setting: outside the
    plan, the share over the other seeds, from two of them on."""
    recursive = _arm(tmp_path, {"ce": 0.20, "tce-0.9": 0.10}, seeds={"ce": 4, "tce-0.9": 4})
    pilot = dict(verdict="go", rungs=[dict(go_by="accuracy")], seeds=[0, 1])
    fresh = v2.v2_test(recursive, {}, pilot)["without_chosen_seeds"]
    tce, ce = [0.12, 0.10], [0.22, 0.20]  # seeds 2 and 3: each drop plus 0.01 per seed mod 3
    assert fresh["excluded"] == [0, 1] and fresh["seeds"] == [2, 3]
    assert fresh["estimate"] == pytest.approx(1 - np.mean(tce) / np.mean(ce))
    text = decisive_v2_report.chosen_seeds_markdown(v2.v2_test(recursive, {}, pilot))
    assert "without seeds 0, 1: " in text and "over 2 seeds." in text
    ce_chosen = np.mean([0.20, 0.21])  # seeds 0 and 1, in points
    assert fresh["ce_loss_chosen"] == pytest.approx(ce_chosen) and fresh["ce_loss_fresh"] == pytest.approx(np.mean(ce))
    assert (f"On the primary CE lost {100 * ce_chosen:.3g} pts on them and {100 * np.mean(ce):.3g} pts on the other 2 "
            "seeds (means).") in text
    three = {m: runs[:3] for m, runs in recursive.items()}
    assert "from two such pairs on (1 so far)" in decisive_v2_report.chosen_seeds_markdown(v2.v2_test(three, {}, pilot))
    assert decisive_v2_report.chosen_seeds_markdown(v2.v2_test(three, {}, dict(pilot, seeds=[]))) == ""


def test_the_spread_is_split_into_question_sampling_and_the_rest(tmp_path):
    """Each seed's CE-minus-TCE difference is a mean over its questions: its squared standard error over them is
    question sampling's variance, set against the variance of the differences over seeds."""
    recursive = _arm(tmp_path, {"ce": 0.20, "tce-0.9": 0.10}, seeds={"ce": 3, "tce-0.9": 3})
    sources = v2.spread_sources(recursive, "kr_split0")
    per_seed = []
    for seed in range(3):  # run(): n right answers first, the rest wrong; CE drops 0.20 + 0.01 seed, TCE 0.10 + 0.01 seed
        lost = [np.r_[np.zeros(90 - round(100 * d)), np.ones(round(100 * d)), np.zeros(10)]
                for d in (0.20 + 0.01 * seed, 0.10 + 0.01 * seed)]
        per_seed.append(lost[0] - lost[1])
    questions = np.mean([q.var(ddof=1) / q.size for q in per_seed])
    assert sources["question_variance"] == pytest.approx(questions) and sources["questions"] == 100
    # the same difference on every seed: no spread over seeds beyond what question sampling alone would give
    assert sources["variance"] == pytest.approx(0.0, abs=1e-12) and sources["question_share"] == 1.0
    wider = _arm(tmp_path / "w", {"ce": 0.20}, seeds={"ce": 3})
    wider["tce-0.9"] = [run(tmp_path / "w", "tce-0.9", s, d) for s, d in enumerate([0.05, 0.15, 0.10])]
    shares = v2.spread_sources(wider, "kr_split0")
    assert 0 < shares["question_share"] < 1 and v2.spread_sources(wider, "real_nll_heldout") is None


def test_the_v2_runs_generic_rows_wait_for_the_plan_s_counts(tmp_path):
    """The folded per-setting rows of the v2 setting's runs take no verdict word before the plan's rows do; other
    settings' rows are left as they are; at the planned counts every row keeps its own verdict."""
    from fortifai.claims.claim import Claim

    own, other = Claim("ttf", "1.15x [1.00, 1.50]", "not reproduced: x"), Claim("kr", "+1", "underpowered: y")
    groups = [("v2 setting", [own], v2.OWN_SETTING), ("an older setting", [other], "superseded")]
    go = dict(verdict="go", rungs=[dict(go_by="accuracy")])
    early = v2.v2_test(_arm(tmp_path, {"ce": 0.2, "tce-0.9": 0.1}, seeds={"ce": 2, "tce-0.9": 2}), {}, go)
    held = v2.hold_own_setting(groups, early)
    (_, [row], why), (_, kept, _) = held
    assert row.word == "not computed" and row.ours == own.ours and "at least 8 CE/TCE 0.9 pairs" in row.verdict
    assert why == v2.OWN_SETTING and kept == [other] and kept[0] is other
    done = v2.v2_test(_arm(tmp_path / "d", {"ce": 0.20, "tce-0.9": 0.10, "rmask-0.9": 0.20, "focal-2.0": 0.10},
                           seeds=PLANNED), {}, go)
    assert v2.plan_complete(done) and not v2.plan_complete(early)
    assert v2.hold_own_setting(groups, done) == groups


def test_the_secondaries_power_so_far_is_shown_outside_the_plan(tmp_path):
    """Before the plan's counts, the pairs each secondary's spread asks for, on the primary's footing (the paper's
    KR-split 0 share of CE's mean loss); none once the plan is complete."""
    ce_rise, tce_rise = [0.40, 0.50, 0.45], [0.30, 0.45, 0.35]
    per = {"ce": [run(tmp_path, "ce", s, 0.20, r) for s, r in enumerate(ce_rise)],
           "tce-0.9": [run(tmp_path, "tce-0.9", s, 0.10, r) for s, r in enumerate(tce_rise)]}
    result = v2.v2_test(per, {}, dict(verdict="go", rungs=[dict(go_by="accuracy")]))
    text = decisive_v2_report.other_endpoints_power(result)
    pairs = decisive.seeds_for_power(tce_rise, ce_rise, paper=result["paper"])["pairs"]
    assert text.startswith("**The secondaries' power so far** (outside the plan")
    assert f"{v2.ENDPOINTS['real_nll_heldout']}, {pairs} pairs" in text
    assert f"{v2.ENDPOINTS['real_nll_split0']}, none: CE lost nothing" in text  # its split-0 NLL never moves
    assert v2.ENDPOINTS["kr_split0"] not in text  # the primary's own pairs are the answer's
    done = v2.v2_test(_arm(tmp_path / "d", {"ce": 0.20, "tce-0.9": 0.10, "rmask-0.9": 0.20, "focal-2.0": 0.10},
                           seeds=PLANNED), {}, dict(verdict="go", rungs=[dict(go_by="accuracy")]))
    assert v2.plan_complete(done) and decisive_v2_report.other_endpoints_power(done) == ""
