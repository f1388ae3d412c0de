"""The decisive test's plan (fortifai.claims.decisive): paper values computed from the tables, the share, the rule."""

import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from fortifai import stats
from fortifai.claims import decisive, decisive_report, llm

TABLES = yaml.safe_load((Path(__file__).resolve().parent.parent / "fortifai/data/paper_llm_tables.yaml").read_text())


def _row(table, method, metric):
    j = TABLES["methods"].index(method)
    return [stage[metric][j] for stage in TABLES["tables"][table]["stages"]]


def test_the_paper_share_is_computed_from_table_d2():
    ce, tce = _row("D2", "ce", "kr_split0"), _row("D2", "tce-0.9", "kr_split0")
    assert (ce[0], ce[5], tce[0], tce[5]) == (80.3, 64.3, 81.5, 68.2)  # the transcription the verdict rests on
    assert decisive.paper_share() == pytest.approx(1 - 13.3 / 16.0)
    assert decisive.paper_share(3) == pytest.approx(1 - 6.7 / 9.0)
    assert decisive.headline_share(2.3) == pytest.approx(1.3 / 2.3)


def test_every_judged_paper_effect_is_tied_to_the_table():
    effects = llm.paper_effects("tce-0.9")
    assert effects["kr_drop"] == pytest.approx(-0.027)  # TCE loses 13.3 points, CE 16.0 (not 69.2 -> 64.3)
    assert effects["kr_split0"] == pytest.approx(0.039)
    assert effects["kr_total"] == pytest.approx((71.4 - 69.2) / 100)
    assert effects["kr_total_range"] == pytest.approx((0.016, 0.025))  # Tables D2-D5 at M5, not +0.6
    # CE crosses 75% between M1 (77.9) and M2 (73.7), TCE between M2 (76.6) and M3 (74.8): 1.71x, not 2.3x
    assert effects["ratio"] == pytest.approx((2 + 1.6 / 1.8) / (1 + 2.9 / 4.2))
    assert llm.paper_effects("focal-2.0")["ratio"] == pytest.approx((2 + 3.8 / 4.2) / (1 + 2.9 / 4.2))


def test_share_avoided_is_one_minus_the_ratio_of_mean_losses_with_a_paired_interval():
    ce = [1.0, 2.0, 3.0, 2.0]
    tce = [0.5, 1.5, 2.5, 1.5]
    share = decisive.share_avoided(tce, ce)
    assert share["estimate"] == pytest.approx(1 - 6.0 / 8.0)
    assert share["ci_low"] <= share["estimate"] <= share["ci_high"]
    # a constant per-seed ratio leaves no room for the interval
    same = decisive.share_avoided([0.5, 1.0, 1.5], [1.0, 2.0, 3.0])
    assert same["ci_low"] == pytest.approx(0.5) and same["ci_high"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="method_loss and baseline_loss"):
        decisive.share_avoided([1.0], [1.0, 2.0])


@pytest.mark.parametrize("low, high, verdict", [
    (0.05, 0.40, "reproduced"), (0.02, 0.10, "partly"), (-0.10, 0.10, "not reproduced"),
    (-0.10, 0.50, "underpowered"), (-0.50, -0.10, "not reproduced")])
def test_the_verdict_rule(low, high, verdict):
    assert decisive.plan_verdict([1.0, 1.2, 0.9, 1.1], low, high, paper=0.17)[0] == verdict


def test_nothing_to_delay_is_inconclusive_whatever_the_interval():
    assert decisive.plan_verdict([0.3, -0.2, 0.1, -0.1], 0.5, 0.9, paper=0.17)[0] == "inconclusive"
    # one seed: no interval on CE's loss or the share (decisive_test says so before the rule applies)
    assert decisive.plan_verdict([1.0], 0.5, 0.9, paper=0.17)[0] == "underpowered"


def test_pairs_for_power_inverts_the_detectable_difference():
    n = stats.pairs_for_power(0.5, 1.0)
    assert stats.detectable_difference(n, 1.0) <= 0.5 * 1.01 and stats.detectable_difference(n - 1, 1.0) > 0.5 * 0.99
    assert stats.pairs_for_power(0.0, 1.0) is None
    # the plan's version: the paper's share of CE's mean loss as the effect, the pilot's spread of the differences
    power = decisive.seeds_for_power([0.8, 0.9, 0.7], [1.0, 1.1, 0.9], paper=0.17)
    assert power["effect"] == pytest.approx(0.17) and power["sd"] == pytest.approx(0.0)
    assert power["pairs"] == 2
    power = decisive.seeds_for_power([0.8, 1.3, 0.4], [1.0, 1.1, 0.9], paper=0.17)
    assert power["pairs"] == stats.pairs_for_power(0.17, float(np.std([0.2, -0.2, 0.5], ddof=1)))


def _run(tmp_path, method, seed, margins, nll, regenerate=True):
    from fortifai.recursive.runs import Run
    from fortifai.results import write_json

    folder = tmp_path / f"{method}-{seed}-{regenerate}"
    write_json(folder / "data.json", {"kr_items": [[{"q": seed}]]})
    loss, gamma = (method, None) if method == "ce" else (method.split("-")[0], float(method.split("-")[1]))
    params = dict(model="smollm2-135m", dataset="wikipedia-offline-counterfactual", stages=4, loss=loss, gamma=gamma,
                  seed=seed, paragraph_separator="blank_line", regenerate=regenerate)
    stages = [{"stage": i, "kr": {"0": {"margin": [m, m + 0.2], "correct": [m > 0, m + 0.2 > 0], "n": 2,
                                        "accuracy": ((m > 0) + (m + 0.2 > 0)) / 2}},
               "real_nll": {"model": {"split0": [v, v]}}, "train": {"train_loss": 1.0}}
              for i, (m, v) in enumerate(zip(margins, nll))]
    return Run(folder, params, stages)


def test_the_decisive_test_reads_both_arms_and_applies_the_plan(tmp_path):
    from fortifai.recursive.runs import group_runs

    runs = []
    for seed, drop in enumerate([1.0, 1.2, 0.8]):
        runs.append(_run(tmp_path, "ce", seed, [2.0, 2.0 - drop / 3, 2.0 - 2 * drop / 3, 2.0 - drop], [1, 1, 1, 1.5]))
        runs.append(_run(tmp_path, "tce-0.9", seed, [2.0, 2.0, 2.0, 2.0 - drop / 2], [1, 1, 1, 1.25]))
        runs.append(_run(tmp_path, "ce", seed, [2.0, 2.0, 2.0, 1.9], [1, 1, 1, 1.1], regenerate=False))
        runs.append(_run(tmp_path, "tce-0.9", seed, [2.0, 2.0, 2.0, 1.9], [1, 1, 1, 1.1], regenerate=False))
    recursive_arm, control_arm = decisive.decisive_settings(group_runs(runs))
    assert set(recursive_arm) == set(control_arm) == {"ce", "tce-0.9"}
    result = decisive.decisive_test(recursive_arm, control_arm)
    primary = result["endpoints"]["kr_margin_split0"]
    assert primary["seeds"] == [0, 1, 2]
    assert primary["estimate"] == pytest.approx(0.5) and primary["verdict"] == "reproduced"
    assert result["endpoints"]["real_nll_split0"]["estimate"] == pytest.approx(0.5)
    # TCE's advantage under self-consumption (half of CE's loss) beyond its advantage on real text (none)
    assert primary["interaction"]["difference"] == pytest.approx(0.5)
    assert "beyond TCE's advantage on real text alone" in primary["why"]
    # exploratory: CE lost 1.0 on average under self-consumption and 0.1 on real text alone
    assert primary["self_consumption"]["difference"] == pytest.approx(0.9)
    assert "+0.9 [" in decisive_report.decisive_markdown(result)
    assert "|" in decisive_report.decisive_markdown(result)


def test_the_answer_leads_with_the_primary_verdict_and_the_paper_value(tmp_path):
    from fortifai.recursive.runs import group_runs

    assert "waits" in decisive_report.answer_markdown(decisive.decisive_test({}, {}))
    runs = []
    for seed, drop in enumerate([1.0, 1.2, 0.8]):
        runs.append(_run(tmp_path, "ce", seed, [2.0, 2.0, 2.0, 2.0 - drop], [1, 1, 1, 1.5]))
        runs.append(_run(tmp_path, "tce-0.9", seed, [2.0, 2.0, 2.0, 2.0 - drop / 2], [1, 1, 1, 1.25]))
    arms = decisive.decisive_settings(group_runs(runs))
    assert "control arm not yet on two of these seeds" in decisive_report.answer_markdown(decisive.decisive_test(*arms))
    runs += [_run(tmp_path, m, seed, [2.0, 2.0, 2.0, 1.9], [1, 1, 1, 1.1], regenerate=False)
             for m in ("ce", "tce-0.9") for seed in (0, 1)]
    arms = decisive.decisive_settings(group_runs(runs))
    text = decisive_report.answer_markdown(decisive.decisive_test(*arms))
    assert "3 seed pairs" in text and "the control arm beside them on seeds 0, 1)" in text
    assert "**reproduced**" in text and "+50% 95% paired bootstrap [" in text
    assert f"{decisive.paper_share():.0%} by M5" in text
    assert text.count("| Secondary") == 2 and text.count("| Primary") == 1
    assert text.split("\n\n")[0].count(".") >= 1 and "\n| endpoint |" in text  # one sentence, then the table


def test_per_seed_table_gives_m0_and_m3_of_each_arm(tmp_path):
    from fortifai.recursive.runs import group_runs

    runs = [_run(tmp_path, "ce", 0, [2.0, 1.5, 1.2, 1.0], [1.0, 1.1, 1.2, 1.3]),
            _run(tmp_path, "tce-0.9", 0, [2.0, 1.8, 1.6, 1.5], [1.0, 1.05, 1.1, 1.15]),
            _run(tmp_path, "ce", 0, [2.0, 2.0, 2.0, 2.0], [1.0, 0.9, 0.8, 0.7], regenerate=False)]
    text = decisive_report.per_seed_markdown(*decisive.decisive_settings(group_runs(runs)))
    lines = text.splitlines()
    assert len(lines) == 3  # the recursive pair; the control arm's TCE run is missing, so no control row
    assert "| recursive | 0 (2) | 2.100 → 1.100 | 2.100 → 1.600 |" in lines[2]  # margins of the two questions
    assert "1.000 → 1.300 | 1.000 → 1.150 |" in lines[2]
    assert decisive_report.per_seed_markdown({}, {}) == ""


def test_m0_agreement_compares_the_arms_at_the_model_they_share(tmp_path):
    from fortifai.recursive.runs import group_runs

    runs = [_run(tmp_path, m, seed, [2.0, 1.5, 1.2, 1.0], [1.0 + 0.01 * seed, 1.1, 1.2, 1.3])
            for m in ("ce", "tce-0.9") for seed in (0, 1)]
    runs += [_run(tmp_path, m, seed, [2.0, 2.0, 2.0, 2.0], [1.0, 0.9, 0.8, 0.7], regenerate=False)
             for m in ("ce", "tce-0.9") for seed in (0, 1)]
    rows = decisive.m0_agreement(*decisive.decisive_settings(group_runs(runs)))
    assert [(r["method"], r["seed"]) for r in rows] == [("ce", 0), ("ce", 1), ("tce-0.9", 0), ("tce-0.9", 1)]
    assert all(r["margin_difference"] == 0 and r["train_loss_difference"] == 0 for r in rows)
    assert [r["nll_difference"] for r in rows] == pytest.approx([0.0, 0.01, 0.0, 0.01])
    assert "0.0100 nats (CE, seed 1)" in decisive_report.m0_agreement_markdown(rows)
    # the arms asked other questions at M0: no agreement to measure, said as infinite
    control_ce = [r for r in runs if not r.params["regenerate"] and r.method == "ce" and r.seed == 0][0]
    control_ce.stages[0]["kr"]["0"]["margin"].append(1.0)
    assert decisive.m0_agreement(*decisive.decisive_settings(group_runs(runs)))[0]["margin_difference"] == math.inf
    assert decisive_report.m0_agreement_markdown([]) == ""


def test_the_other_losses_get_shares_without_a_verdict(tmp_path):
    from fortifai.recursive.runs import group_runs

    runs = []
    for seed, drop in enumerate([1.0, 1.2, 0.8]):
        runs.append(_run(tmp_path, "ce", seed, [2.0, 2.0, 2.0, 2.0 - drop], [1, 1, 1, 1.5]))
        runs.append(_run(tmp_path, "tce-0.9", seed, [2.0, 2.0, 2.0, 2.0 - drop / 2], [1, 1, 1, 1.25]))
        runs.append(_run(tmp_path, "focal-2.0", seed, [2.0, 2.0, 2.0, 2.0 - drop / 4], [1, 1, 1, 1.5]))
    runs.append(_run(tmp_path, "tce-0.99", 0, [2.0, 2.0, 2.0, 1.0], [1, 1, 1, 1.5]))  # one seed: no interval
    recursive_arm, _ = decisive.decisive_settings(group_runs(runs))
    other = decisive.other_methods(recursive_arm)
    assert set(other) == {"focal-2.0", "tce-0.99"}  # the plan's TCE 0.9 is the decisive test's, not here
    focal = other["focal-2.0"]
    assert focal["kr_margin_split0"]["seeds"] == [0, 1, 2]
    assert focal["kr_margin_split0"]["estimate"] == pytest.approx(0.75)
    assert focal["real_nll_split0"]["estimate"] == pytest.approx(0.0)
    assert math.isnan(other["tce-0.99"]["kr_margin_split0"]["ci_low"])
    # TCE 0.9 beside them on the same seeds: half of CE's margin loss avoided on every seed; seed 0 alone for 0.99
    assert focal["kr_margin_split0"]["plan_method"]["estimate"] == pytest.approx(0.5)
    assert math.isnan(other["tce-0.99"]["kr_margin_split0"]["plan_method"]["ci_low"])
    text = decisive_report.other_methods_markdown(other)
    assert "+75% [" in text and "+50% [" in text and "no interval" in text
    from fortifai.claims.judge import VERDICTS

    assert not any(f"**{word}**" in text for word in VERDICTS)  # exploratory rows: no verdict on any of them
    assert "same seeds" in text
    assert decisive_report.other_methods_markdown(decisive.other_methods({})) == ""


def test_the_other_losses_say_so_where_tce_lacks_one_of_their_seeds(tmp_path):
    from fortifai.recursive.runs import group_runs

    runs = [_run(tmp_path, "ce", seed, [2.0, 2.0, 2.0, 1.0], [1, 1, 1, 1.5]) for seed in (0, 1)]
    runs += [_run(tmp_path, "focal-2.0", seed, [2.0, 2.0, 2.0, 1.5], [1, 1, 1, 1.5]) for seed in (0, 1)]
    runs.append(_run(tmp_path, "tce-0.9", 0, [2.0, 2.0, 2.0, 1.5], [1, 1, 1, 1.5]))  # seed 1 missing
    other = decisive.other_methods(decisive.decisive_settings(group_runs(runs))[0])
    assert other["focal-2.0"]["kr_margin_split0"]["plan_method"] is None
    assert "not run on these seeds" in decisive_report.other_methods_markdown(other)


def test_the_decisive_figure_draws_every_seed_and_the_mean_of_each_arm(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from fortifai.recursive.runs import group_runs

    runs = [_run(tmp_path, m, seed, [2.0, 1.8, 1.5, 1.2], [1, 1.1, 1.2, 1.3], regenerate=arm)
            for m in ("ce", "tce-0.9") for seed in (0, 1) for arm in (True, False)]
    fig = decisive_report.decisive_figure(*decisive.decisive_settings(group_runs(runs)))
    ax = fig.axes[0]
    assert len(ax.lines) == 2 * 2 * (2 + 1)  # two losses x two arms x (two seeds + the mean)
    assert list(ax.lines[2].get_ydata()) == pytest.approx([2.1, 1.9, 1.6, 1.3])  # mean margin, identical seeds


def test_the_decisive_claims_lead_with_the_primary_endpoint(tmp_path):
    from fortifai.recursive.runs import group_runs

    runs = []
    for seed, drop in enumerate([1.0, 1.2, 0.8]):
        runs.append(_run(tmp_path, "ce", seed, [2.0, 2.0, 2.0, 2.0 - drop], [1, 1, 1, 1.5]))
        runs.append(_run(tmp_path, "tce-0.9", seed, [2.0, 2.0, 2.0, 2.0 - drop / 2], [1, 1, 1, 1.25]))
    claims = decisive.decisive_claims(decisive.decisive_test(*decisive.decisive_settings(group_runs(runs))))
    assert claims[0].claim.startswith("Primary endpoint") and claims[0].word == "reproduced"
    assert "+50%" in claims[0].ours and "17%" in claims[0].claim
    assert "the control arm cannot yet tell it" in claims[0].verdict  # no control arm: the share alone
    assert decisive.decisive_claims(decisive.decisive_test({}, {})) == []  # before the runs: no row


def test_other_settings_say_why_they_cannot_test_the_claim(tmp_path, monkeypatch):
    from fortifai.claims import llm as claims_llm
    from fortifai.recursive.runs import group_runs

    runs = [_run(tmp_path, m, 0, [2.0, 2.0, 2.0, 2.0], [1, 1, 1, 1]) for m in ("ce", "tce-0.9")]
    other = _run(tmp_path / "other", "tce-0.9", 0, [2.0] * 4, [1] * 4)
    other.params["dataset"] = "wikipedia-offline"
    gates = {id(other): dict(kr_chance=0.8, masked_fraction_m0=0.01)}
    monkeypatch.setattr(claims_llm, "run_gate", lambda run: gates.get(id(run), dict(kr_chance=0.55,
                                                                                    masked_fraction_m0=0.4)))
    entries = decisive.other_settings(group_runs(runs + [other]))
    # the decisive runs left out
    assert [e["setting"] for e in entries] == ["smollm2-135m on wikipedia-offline (paragraphs kept)"]
    assert "80%" in entries[0]["cannot_test"] and "1.0%" in entries[0]["cannot_test"]
    assert "CE cannot fail" in decisive_report.other_settings_markdown(entries)


def test_one_seed_gives_no_power_number():
    assert decisive.power_text(decisive.seeds_for_power([0.5], [1.0])) == "needs 2 seeds for a spread"
    assert decisive.power_text(decisive.seeds_for_power([0.8, 1.3, 0.4], [1.0, 1.1, 0.9])).isdigit()
    assert decisive.power_text(decisive.seeds_for_power([0.1, -0.2], [0.1, -0.3])).startswith("none: CE lost nothing")



def test_one_seed_is_underpowered_with_no_interval(tmp_path):
    from fortifai.recursive.runs import group_runs

    runs = [_run(tmp_path, "ce", 0, [2.0, 2.0, 2.0, 1.0], [1, 1, 1, 1.5]),
            _run(tmp_path, "tce-0.9", 0, [2.0, 2.0, 2.0, 1.5], [1, 1, 1, 1.25])]
    primary = decisive.decisive_test(*decisive.decisive_settings(group_runs(runs)))["endpoints"]["kr_margin_split0"]
    assert primary["estimate"] == pytest.approx(0.5) and primary["verdict"] == "underpowered"
    assert math.isnan(primary["ci_low"]) and math.isnan(primary["ci_high"])


def _timed(run, train_seconds, generation_seconds):
    for stage in run.stages:
        stage["train"] = {"train_seconds": train_seconds}
        stage["generation"] = {"0": {"seconds": generation_seconds}}
    return run


def test_the_sweep_size_comes_from_the_pilot_seeds_alone(tmp_path):
    from fortifai.recursive.runs import group_runs

    runs = []
    # pilot drops: CE 1.0, 1.2, 0.8 (mean 1.0); TCE 0.8, 1.3, 0.4: paired differences 0.2, -0.1, 0.4
    for seed, (ce, tce) in enumerate([(1.0, 0.8), (1.2, 1.3), (0.8, 0.4)]):
        runs.append(_timed(_run(tmp_path, "ce", seed, [2.0, 2.0, 2.0, 2.0 - ce], [1] * 4), 600, 300))  # 60 min
        runs.append(_timed(_run(tmp_path, "tce-0.9", seed, [2.0, 2.0, 2.0, 2.0 - tce], [1] * 4), 450, 300))
    recursive_arm, _ = decisive.decisive_settings(group_runs(runs))
    assert decisive.sweep_size({m: rs[:2] for m, rs in recursive_arm.items()}) is None  # seed 2 missing
    size = decisive.sweep_size(recursive_arm)
    differences = np.array([0.2, -0.1, 0.4])
    expected = stats.pairs_for_power(decisive.paper_share() * 1.0, differences.std(ddof=1))
    assert size["needed"] == expected and size["pair_minutes"] == pytest.approx(60.0)
    assert size["fit"] == 18 - 4  # 18 hours of 60-minute pairs, less the control arm's four seeds
    assert size["pairs"] == max(8, min(expected, 14))
    assert size["rest_hours"] == pytest.approx(max(expected - size["pairs"], 0))
    # a later seed with a wild difference leaves the size as the pilot set it
    runs.append(_timed(_run(tmp_path, "ce", 3, [2.0, 2.0, 2.0, 1.0], [1] * 4), 600, 300))
    runs.append(_timed(_run(tmp_path, "tce-0.9", 3, [2.0, 2.0, 2.0, 3.0], [1] * 4), 600, 300))
    assert decisive.sweep_size(decisive.decisive_settings(group_runs(runs))[0]) == size
    assert f"**{size['pairs']} pairs**" in decisive_report.sweep_size_markdown(size)
    assert "waits for the pilot" in decisive_report.sweep_size_markdown(None)
    # the pilot's CE gains on the primary endpoint: nothing to delay, no effect to power for
    flat = [_timed(_run(tmp_path / "flat", m, seed, [2.0, 2.0, 2.0, 2.1], [1] * 4), 600, 300)
            for m in ("ce", "tce-0.9") for seed in (0, 1, 2)]
    size = decisive.sweep_size(decisive.decisive_settings(group_runs(flat))[0])
    assert size["nothing_to_delay"] and size["pairs"] == decisive.SWEEP["min_pairs"]
    assert "CE lost nothing" in decisive_report.sweep_size_markdown(size)
    # the rule as first written ran what the budget holds: 18 hours of 60-minute pairs less the control arm's 4
    assert size["first_rule_pairs"] == 14
    assert "A change after the pilot, disclosed" in decisive_report.sweep_size_markdown(size)
    assert "**14 pairs**; 8 were run" in decisive_report.sweep_size_markdown(size)


def test_the_raw_margin_difference_is_the_paired_loss_difference_per_arm(tmp_path):
    from fortifai.recursive.runs import group_runs

    runs = []  # margin losses M0 -> M3: CE 0.1, 0.3, -0.1; TCE 0.3, 0.4, 0.2 (TCE minus CE: 0.2, 0.1, 0.3)
    for seed, (ce, tce) in enumerate([(0.1, 0.3), (0.3, 0.4), (-0.1, 0.2)]):
        runs.append(_run(tmp_path, "ce", seed, [1.0, 1.0, 1.0, 1.0 - ce], [1] * 4))
        runs.append(_run(tmp_path, "tce-0.9", seed, [1.0, 1.0, 1.0, 1.0 - tce], [1] * 4))
    raw = decisive.raw_margin_difference(decisive.decisive_settings(group_runs(runs))[0])
    assert raw["recursive"]["difference"] == pytest.approx(0.2) and raw["recursive"]["seeds"] == [0, 1, 2]
    half = 4.302652729911275 * 0.1 / math.sqrt(3)  # t(0.975, 2) x sd / sqrt(n), sd of (0.2, 0.1, 0.3) = 0.1
    assert raw["recursive"]["ci_low"] == pytest.approx(0.2 - half) and "control" not in raw
    assert "+0.200 nats" in decisive_report.raw_margin_markdown(raw)


def test_a_share_of_nothing_lost_reads_undefined_and_left_out_resamples_are_said():
    undefined = decisive.share_avoided([0.1, 0.0], [-0.2, 0.1])
    assert math.isnan(undefined["estimate"]) and decisive.share_text(undefined).startswith("undefined")
    mixed = decisive.share_avoided([0.1, 0.0, 0.2], [-0.2, 0.5, 0.4])  # CE's mean loss > 0, not in every resample
    assert 0 < mixed["undefined_resamples"] < 1
    assert "left out" in decisive.share_text(mixed) and "left out" not in decisive.share_text(
        decisive.share_avoided([0.1, 0.2], [0.4, 0.5]))
    rare = dict(mixed, undefined_resamples=0.004)  # a share that rounds to 0% is not printed as 0%
    assert "in under 1% of the resamples" in decisive.share_text(rare)


def test_the_decisive_preset_runs_the_pairs_the_committed_pilot_asks_for():
    from fortifai.chapters.llm_results import ChapterRuns
    from fortifai.results import RUNS_DIR

    preset = yaml.safe_load((Path(__file__).resolve().parent.parent / "presets/llm_recursive/decisive.yaml").read_text())
    size = decisive.sweep_size(decisive.decisive_settings(ChapterRuns.load(RUNS_DIR, 1).groups)[0])
    assert size is not None, "the pilot's runs are committed"
    assert preset["seeds"] == list(range(size["pairs"]))
    assert set(decisive.SWEEP["pilot_seeds"]) | set(decisive.SWEEP["control_seeds"]) <= set(preset["seeds"])


def test_a_share_over_few_seeds_also_gets_the_t_interval_of_its_per_seed_shares():
    """Three seeds give 10 distinct bootstrap resamples: focal's real-NLL share read [+39%, +42%] where its per-seed
    t interval is [+36%, +44%]."""
    method, baseline = [0.2, 0.3, 0.25], [0.4, 0.5, 0.45]
    share = decisive.share_avoided(method, baseline)
    per_seed = 1 - np.array(method) / np.array(baseline)
    half = 4.302652729911275 * per_seed.std(ddof=1) / math.sqrt(3)
    assert share["seed_t_low"] == pytest.approx(per_seed.mean() - half)
    assert share["seed_t_high"] == pytest.approx(per_seed.mean() + half)
    assert "per-seed t [" in decisive.share_text(share) and "over 3 seeds" in decisive.share_text(share)
    five = decisive.share_avoided(method + [0.2, 0.3], baseline + [0.4, 0.5])
    assert "seed_t_low" not in five and "per-seed t" not in decisive.share_text(five)
    # a claim's text gives the count once, whether or not the per-seed t interval gave it
    assert decisive.share_text(share, seeds=True).count("over 3 seeds") == 1
    assert decisive.share_text(five, seeds=True).endswith("] over 5 seeds")
    mixed_count = decisive.share_text(dict(five, undefined_resamples=0.08), seeds=True)
    assert "] over 5 seeds; CE lost nothing in 8% of the resamples, left out" in mixed_count


def test_the_table_says_what_each_verdict_is_judged_against(tmp_path):
    """'reproduced' on the real-text NLL is judged against Table D2's KR share: the paper gives no NLL number."""
    text = decisive_report.decisive_markdown(decisive.decisive_test({}, {}))
    assert set(decisive.JUDGED_AGAINST) == set(decisive.ENDPOINTS)
    assert "the paper reports no NLL of real text" in text and "the paper reports no margin" in text
