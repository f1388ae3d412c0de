"""The decisive test, v2: the calibrated regime (fortifai.claims.regime), six stages, and arms that tell whether
truncation matters. Fixed in code before its first run, and never changed after (a change after a run exists goes
into :data:`CHANGES` with its date and its effect on the verdicts).

- **Setting**: the calibration's chosen point (``results/regime/choice.json``), six stages M0..M5, counterfactual
  leads, paragraph contexts; ``presets/llm_recursive/decisive-v2.yaml`` is written from the choice before any run.
- **Primary** (:func:`primary_endpoint`): the share of CE's M0-to-M5 loss of KR-split 0 accuracy that TCE 0.9
  avoids; the mean KR margin instead where the pilot's go came from the margin alone; held-out real-text NLL where
  the pilot ended no-go (the setting is then its ladder's last rung). The paper on the same footing: Table D2's
  share at M5 (:func:`fortifai.claims.decisive.paper_share`). Paired bootstrap over seeds, CE-loss gate, the
  rule of :func:`fortifai.claims.decisive.plan_verdict`.
- **Secondaries**: the other endpoints of :data:`ENDPOINTS` and the arm-by-loss interaction with the control arm.
- **Mechanism contrasts** (:func:`mechanism_contrast`), on the primary and on held-out NLL: TCE 0.9's share minus
  ``rmask-0.9``'s (the same count of masked targets, chosen at random: "truncation matters" if the paired
  interval lies above 0) and minus focal 2.0's (the paper's "TCE beats FL").
- **Sample size** (:func:`sample_size`): from a 3-seed pilot of every arm, the pairs for 80% power on the primary,
  at least :data:`MINIMUM`'s counts.

:func:`v2_arms` finds the plan's runs, :func:`v2_test` computes all of the above from them, :func:`v2_claims` gives
the closing table's rows ("Decisive test v2, primary" and "Decisive test v2, mechanism"; "not computed" until the
planned counts of :func:`planned` have finished M5, with the interim estimate and interval beside it from two seeds
on). :mod:`fortifai.claims.decisive_v2_report` renders it for the chapter.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .. import stats
from . import judge
from ..recursive.runs import Run
from .decisive import FEW_SEEDS, paper_share, plan_verdict, seeds_for_power, share_avoided, share_text
from .llm import paired

PLAN = dict(
    method="tce-0.9", baseline="ce", mechanism=("rmask-0.9", "focal-2.0"), stages=6, paper_table="D2",
    paper_stage=5, level=0.95, n_boot=10_000, power=0.8, pilot_seeds=(0, 1, 2),
)
ENDPOINTS = {
    "kr_split0": "KR accuracy on split 0",
    "kr_margin_split0": "the mean KR margin of split 0 (nats)",
    "real_nll_heldout": "the mean token NLL of held-out real paragraphs, the literature's collapse measure",
    "real_nll_split0": "the mean token NLL of split 0's original paragraphs",
}
MINIMUM = dict(pairs=8, mechanism_seeds=6, control_seeds=4)  # CE/TCE 0.9 pairs; rmask and focal seeds; control arm
# the smallest difference of shares the mechanism contrasts are asked to tell from none: half the paper's own share
SMALLEST_CONTRAST = 0.5
CONTRAST_RULE = judge.CONTRAST_RULE  # fixed with the plan; judge.effect applies it (smallest: the line above)
# why the chapter folds the generic per-setting rows of the v2 setting's runs (fortifai.claims.llm.setting_claims)
OWN_SETTING = ("the decisive test v2's own setting: the plan's rows at the top of this table decide; these are the "
               "same runs judged by the per-setting rules of the other settings, for comparison with them")
CHANGES: list[dict[str, str]] = [  # changes after the first v2 run existed: date, change, effect on the verdicts
    dict(date="2026-12-07", change=(
        "The plan's verdicts are read at its planned counts (the sample size's CE/TCE 0.9 pairs, the mechanism arms' "
        "and the control arm's seeds); before them a row reads not computed, \"interim\", with its estimate and "
        "interval beside it. As first written a row took a verdict from two seeds on, where a percentile bootstrap "
        "over two seeds has three distinct resamples. Made after the seed-0 runs of every arm and before a second "
        "seed of any had finished."),
        effect=("none at the planned counts: the endpoints, the paper's share, the rules and the sample size are "
                "unchanged; rows before them no longer carry a verdict word.")),
    dict(date="2026-12-07", change=(
        "A fix to the KR questions' number changes (fortifai.krtest, commit 83177c0): a year past 2037, which only "
        "counterfactual text has, is changed to an earlier year instead of stopping the run (seed 2 of every arm "
        "stopped at its data step). Made after the seed-1 runs of every arm had finished."),
        effect=("none: every other year draws exactly as before, so the questions of seeds 0 and 1 are unchanged "
                "(tested); later seeds draw theirs with the fix.")),
    dict(date="2026-12-07", change=(
        "The same runs' generic per-setting rows (folded under the plan's, judged by the rules of the other "
        "settings) are held as not computed too until the plan's counts (hold_own_setting). Made after the "
        "seed-1 runs of every arm had finished, when one such row read a verdict from two seeds."),
        effect="none on the plan's rows; the folded rows keep their numbers and take their verdict words at the "
               "planned counts."),
]


def primary_endpoint(pilot: Mapping[str, Any]) -> str:
    """The primary endpoint from the regime pilot's verdict (``choice.json``'s ``pilot``): KR-split 0 accuracy,
    the mean margin where the go came from the margin alone, held-out real-text NLL after a no-go."""
    if pilot.get("verdict") not in ("go", "no-go"):
        raise ValueError(f"the regime pilot has no verdict yet ({pilot.get('verdict')!r}): the v2 plan waits for it")
    if pilot["verdict"] == "no-go":
        return "real_nll_heldout"
    last = pilot["rungs"][-1] if pilot.get("rungs") else pilot
    return "kr_margin_split0" if last.get("go_by") == "margin" else "kr_split0"


def endpoint_loss(run: Run, endpoint: str, stage: int = PLAN["stages"] - 1) -> float:
    """What ``run`` lost on ``endpoint`` from M0 to ``stage`` (positive: worse)."""
    if endpoint not in ENDPOINTS:
        raise ValueError(f"endpoint must be one of {list(ENDPOINTS)}, got {endpoint!r}")
    values = run.values(endpoint)
    if stage >= len(values):
        return math.nan
    change = values[stage] - values[0]
    return change if endpoint.startswith("real_nll") else -change


def finished_pairs(per: Mapping[str, Sequence[Run]], method: str) -> list[tuple[Run, Run]]:
    """(``method``'s run, CE's run) per seed both finished to M5."""
    return [(m, c) for m, c in paired(per.get(method, []), per.get(PLAN["baseline"], []))
            if len(m.stages) >= PLAN["stages"] and len(c.stages) >= PLAN["stages"]]


def losses(per: Mapping[str, Sequence[Run]], method: str, endpoint: str) -> tuple[list[float], list[float], list[int]]:
    """(``method``'s loss, CE's loss, seeds) on ``endpoint`` over the seeds both finished to M5."""
    pairs = finished_pairs(per, method)
    return ([endpoint_loss(m, endpoint) for m, _ in pairs], [endpoint_loss(c, endpoint) for _, c in pairs],
            [m.seed for m, _ in pairs])


def primary_test(per: Mapping[str, Sequence[Run]], endpoint: str) -> dict[str, Any]:
    """TCE 0.9's share of CE's loss avoided on ``endpoint``, its interval and the plan's verdict."""
    method_loss, baseline_loss, seeds = losses(per, PLAN["method"], endpoint)
    paper = paper_share(PLAN["paper_stage"])
    if len(seeds) < 2:
        return dict(endpoint=endpoint, seeds=seeds, verdict="not yet", why="fewer than two seed pairs", paper=paper)
    share = share_avoided(method_loss, baseline_loss, n_boot=PLAN["n_boot"])
    verdict, why = plan_verdict(baseline_loss, share["ci_low"], share["ci_high"], paper)
    return dict(endpoint=endpoint, seeds=seeds, paper=paper, verdict=verdict, why=why, **share)


def mechanism_contrast(per: Mapping[str, Sequence[Run]], other: str, endpoint: str, seed: int = 0) -> dict[str, Any]:
    """TCE 0.9's share of CE's loss avoided minus ``other``'s, over the seeds all three ran, with the paired
    bootstrap interval (seed indices resampled; resamples where CE lost nothing left out and counted) and the
    verdict of :data:`CONTRAST_RULE`."""
    tce, ce_t, seeds_t = losses(per, PLAN["method"], endpoint)
    oth, ce_o, seeds_o = losses(per, other, endpoint)
    common = sorted(set(seeds_t) & set(seeds_o))
    a = np.array([tce[seeds_t.index(s)] for s in common])
    b = np.array([oth[seeds_o.index(s)] for s in common])
    c = np.array([ce_t[seeds_t.index(s)] for s in common])
    out = dict(other=other, endpoint=endpoint, seeds=common)
    if len(common) < 2:
        return dict(out, verdict="not yet", why="fewer than two seeds with all three losses")
    ce_t = stats.paired_t(c, np.zeros_like(c))
    no_share = judge.gate(baseline_loss=(ce_t["difference"], ce_t["ci_low"], ce_t["ci_high"]), seeds=len(common))
    if no_share:
        return dict(out, difference=math.nan, verdict=judge.INCONCLUSIVE, why=f"{no_share} (no share exists)")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(common), size=(PLAN["n_boot"], len(common)))
    mc = c[idx].mean(axis=1)
    defined = mc > 0
    boot = (b[idx].mean(axis=1) - a[idx].mean(axis=1))[defined] / mc[defined]  # share_TCE - share_other
    low, high = np.quantile(boot, [(1 - PLAN["level"]) / 2, (1 + PLAN["level"]) / 2], method="inverted_cdf")
    difference = float((b.mean() - a.mean()) / c.mean())
    smallest = SMALLEST_CONTRAST * paper_share(PLAN["paper_stage"])
    verdict, why = judge.effect(float(low), float(high), 0.0, seeds=len(common), estimate=difference, smallest=smallest)
    out = dict(out, difference=difference, ci_low=float(low), ci_high=float(high),
               undefined_resamples=float(1 - defined.mean()), verdict=verdict, why=why)
    if len(common) < FEW_SEEDS and (c > 0).all() and np.ptp((b - a) / c) > 1e-9:  # as a share's (decisive.FEW_SEEDS)
        t = stats.paired_t((b - a) / c, np.zeros(len(common)), PLAN["level"])  # the per-seed differences of shares
        out.update(seed_t_low=t["ci_low"], seed_t_high=t["ci_high"])
    return out


def without_chosen_seeds(per: Mapping[str, Sequence[Run]], endpoint: str, pilot: Mapping[str, Any]) -> dict[str, Any]:
    """Outside the plan: TCE 0.9's share of CE's loss avoided on ``endpoint`` over the seed pairs the regime
    ``pilot`` did not run. Its CE runs on its ``seeds`` are this test's (the same configuration), and their loss made
    the go that chose the setting, so they may overstate CE's loss. The share from two such pairs on."""
    chose = sorted(pilot.get("seeds", []))
    method_loss, baseline_loss, seeds = losses(per, PLAN["method"], endpoint)
    keep = [i for i, s in enumerate(seeds) if s not in chose]
    ce_loss = {k: float(np.mean(v)) if v else math.nan for k, v in (  # CE's mean loss on each side
        ("ce_loss_chosen", [b for b, s in zip(baseline_loss, seeds) if s in chose]),
        ("ce_loss_fresh", [baseline_loss[i] for i in keep]))}
    out = dict(excluded=chose, seeds=[seeds[i] for i in keep], **ce_loss)
    if len(keep) < 2:
        return out
    return dict(out, **share_avoided([method_loss[i] for i in keep], [baseline_loss[i] for i in keep],
                                     n_boot=PLAN["n_boot"]))


def contrast_text(c: Mapping[str, Any], prefix: str = "95% paired bootstrap ") -> str:
    """A mechanism contrast's difference of shares with its paired bootstrap interval (``prefix`` names it), the
    per-seed t interval beside it where there are few seeds (as a share's), and its seed count."""
    seed_t = (f"; per-seed t [{c['seed_t_low']:+.0%}, {c['seed_t_high']:+.0%}]" if "seed_t_low" in c
              and np.isfinite(c["seed_t_low"]) else "")
    return (f"{c['difference']:+.0%} {prefix}[{c['ci_low']:+.0%}, {c['ci_high']:+.0%}]{seed_t} over "
            f"{len(c['seeds'])} seeds")


QUESTION_VALUES = {"kr_split0": "correct", "kr_margin_split0": "margin"}  # an endpoint's per-question values


def spread_sources(per: Mapping[str, Sequence[Run]], endpoint: str) -> dict[str, Any] | None:
    """How much of the spread over seeds of CE's loss minus TCE 0.9's on a KR ``endpoint`` is question sampling:
    each seed's difference is a mean over its split-0 questions (the same for both losses), so its squared standard
    error over them is the variance question sampling alone gives; the rest of the variance over seeds is training
    and the splits each seed draws.
    ``question_share`` is capped at 1 (seeds that spread less than their questions alone would make them). None for
    an endpoint without per-question values, or before two pairs."""
    key, last = QUESTION_VALUES.get(endpoint), PLAN["stages"] - 1
    pairs = finished_pairs(per, PLAN["method"])
    if key is None or len(pairs) < 2:
        return None

    def lost(run):  # per question, M0 minus M5 (positive: worse, as endpoint_loss)
        return np.asarray(run.stages[0]["kr"]["0"][key], float) - np.asarray(run.stages[last]["kr"]["0"][key], float)

    per_question = [lost(c) - lost(m) for m, c in pairs]
    between = float(np.var([q.mean() for q in per_question], ddof=1))
    questions = float(np.mean([q.var(ddof=1) / q.size for q in per_question]))
    return dict(seeds=[m.seed for m, _ in pairs], variance=between, question_variance=questions,
                questions=int(np.mean([q.size for q in per_question])),
                question_share=min(1.0, questions / between) if between > 0 else math.nan)


def sample_size(pilot: Mapping[str, Sequence[Run]], endpoint: str) -> dict[str, Any]:
    """From the pilot's seeds of every arm: the CE/TCE 0.9 pairs for 80% power on ``endpoint`` (the paper's share
    of the pilot's mean CE loss against the pilot's paired spread), at least :data:`MINIMUM`'s; where CE lost
    nothing over the pilot, the minimum (no effect to power for)."""
    method_loss, baseline_loss, seeds = losses(
        {m: [r for r in runs if r.seed in PLAN["pilot_seeds"]] for m, runs in pilot.items()}, PLAN["method"], endpoint)
    if sorted(seeds) != sorted(PLAN["pilot_seeds"]):
        return dict(pairs=None, why="waits for every pilot seed of CE and TCE 0.9",
                    mechanism_seeds=MINIMUM["mechanism_seeds"], control_seeds=MINIMUM["control_seeds"])
    power = seeds_for_power(method_loss, baseline_loss, paper=paper_share(PLAN["paper_stage"]), power=PLAN["power"])
    needed = power["pairs"] if power["effect"] > 0 else None
    return dict(power=power, pairs=max(MINIMUM["pairs"], needed or 0),
                mechanism_seeds=MINIMUM["mechanism_seeds"], control_seeds=MINIMUM["control_seeds"],
                why="the power's number" if needed else "CE lost nothing over the pilot: the minimum")


SETTING_KEYS = ("model", "dataset", "stages", "split_paragraphs", "epochs", "learning_rate", "do_sample",
                "regeneration_context")  # what makes a run the v2 setting's (its preset's values of them)
MECHANISM_ENDPOINTS = ("primary", "real_nll_heldout")  # the contrasts are on the primary and on held-out NLL
CONTRAST_CLAIMS = {"rmask-0.9": "truncation matters: TCE 0.9 avoids more of CE's loss than masking as many targets "
                                "chosen at random (rmask-0.9, a control of ours: the paper credits TCE's suppressing "
                                "the high-confidence tokens)",
                   "focal-2.0": "TCE 0.9 avoids more of CE's loss than focal loss 2.0 (the paper: FL delays "
                                "collapse less than TCE)"}
CONTRAST_PAPER = {"rmask-0.9": "Sec. 2.2.1", "focal-2.0": "Appendix A; Fig. A2"}


def planned(size: Mapping[str, Any]) -> dict[str, Any]:
    """The counts the plan reads its verdicts at, from :func:`sample_size`: its CE/TCE 0.9 pairs (the minimum
    while the pilot has not finished: ``pairs_set`` False), and the minimum's mechanism and control seeds. Before
    them a row is interim."""
    return dict(pairs=size.get("pairs") or MINIMUM["pairs"], pairs_set=bool(size.get("pairs")),
                mechanism_seeds=size.get("mechanism_seeds") or MINIMUM["mechanism_seeds"],
                control_seeds=size.get("control_seeds") or MINIMUM["control_seeds"])


def pairs_text(counts: Mapping[str, Any]) -> str:
    """The plan's CE/TCE 0.9 pairs as a reader needs them: the number, or "at least" the minimum before the pilot
    has set it."""
    return str(counts["pairs"]) if counts.get("pairs_set") else f"at least {counts['pairs']}"


def sweep_seeds(preset: Mapping[str, Any], pilot: Mapping[str, Any],
                runs_dir: str | Path | None = None) -> dict[str, list[int]]:
    """The seeds each arm runs by the plan, from the v2 ``preset``, the regime ``pilot`` (``choice.json``'s, which
    names the primary) and the runs finished (``runs_dir``, default the committed runs folder): CE and TCE 0.9 the
    pairs of :func:`sample_size` on the primary (the minimum until every pilot seed has finished, or while the pilot
    has no verdict), rmask, focal and the control arm (``control``) the minimum; ``scripts/v2_sweep.sh`` runs them."""
    from ..results import RUNS_DIR
    from ..recursive.runs import group_runs, load_runs

    runs_dir = Path(runs_dir or RUNS_DIR)
    recursive = v2_arms(group_runs(load_runs(runs_dir)), preset)[0] if runs_dir.is_dir() else {}
    try:
        pairs = planned(sample_size(recursive, primary_endpoint(pilot)))["pairs"]
    except ValueError:  # the pilot has no verdict: no primary yet
        pairs = MINIMUM["pairs"]
    return {PLAN["baseline"]: list(range(pairs)), PLAN["method"]: list(range(pairs)),
            **{m: list(range(MINIMUM["mechanism_seeds"])) for m in PLAN["mechanism"]},
            "control": list(range(MINIMUM["control_seeds"]))}


def v2_arms(groups: Mapping[tuple, Sequence[Run]], preset: Mapping[str, Any] | None
            ) -> tuple[dict[str, list[Run]], dict[str, list[Run]]]:
    """From :func:`fortifai.recursive.runs.group_runs`: the v2 setting's runs by method, recursive arm and control
    arm (``regenerate: false``); the setting is ``preset``'s values of :data:`SETTING_KEYS` (none: no preset yet)."""
    arms: tuple[dict[str, list[Run]], dict[str, list[Run]]] = ({}, {})
    if preset is None:
        return arms
    wanted = {k: preset[k] for k in SETTING_KEYS if k in preset}
    for (setting, method), runs in groups.items():
        params = dict(setting)
        if all(params.get(k) == v for k, v in wanted.items()):
            arms[0 if params.get("regenerate", True) else 1].setdefault(method, []).extend(runs)
    return arms


def finished(per: Mapping[str, Sequence[Run]]) -> dict[str, list[int]]:
    """The seeds of each method that have finished M5."""
    return {m: sorted(r.seed for r in runs if len(r.stages) >= PLAN["stages"]) for m, runs in per.items()}


def v2_settings(arms: Sequence[Mapping[str, Sequence[Run]]]) -> set[tuple]:
    """The settings of the runs of :func:`v2_arms`'s arms (the recursive arm's and the control arm's)."""
    return {r.setting for arm in arms for runs in arm.values() for r in runs}


def progress(recursive: Mapping[str, Sequence[Run]], control: Mapping[str, Sequence[Run]],
             twins: str | Path | None = None) -> dict[str, Any]:
    """From the started runs of both arms (:func:`v2_arms` on every run at M0 or later): the runs still going, with
    the stages they have finished; every run resumed by replaying finished stages' training from their committed
    text (:func:`fortifai.recursive.protocol.replay_record`), with whether each replay was identical; and each run
    with a twin in the runs folder ``twins`` (the same configuration, so the same folder name, made earlier: the CE
    pilot's), with how many stages of the two are identical (:func:`fortifai.recursive.runs.identical_stages`)."""
    from ..recursive.protocol import RunFiles
    from ..recursive.runs import identical_stages
    from ..results import shown_path

    arms = [("", recursive), ("control ", control)]
    twin = [dict(run=f"{arm}{m} seed {r.seed}", twin=shown_path(Path(twins) / r.folder.name),
                 **dict(zip(("same", "both"), identical_stages(r.folder, Path(twins) / r.folder.name))))
            for arm, per in arms for m, runs in per.items() for r in runs
            if twins is not None and (Path(twins) / r.folder.name).is_dir()]
    going = [f"{arm}{m} seed {r.seed} (finished M0{f'-M{len(r.stages) - 1}' if len(r.stages) > 1 else ''} of "
             f"M0-M{PLAN['stages'] - 1})" for arm, per in arms for m, runs in per.items() for r in runs
             if len(r.stages) < PLAN["stages"]]
    replayed = [dict(run=f"{arm}{m} seed {r.seed}", stages=sorted(map(int, replays)),
                     identical=all(x["identical"] for x in replays.values()))
                for arm, per in arms for m, runs in per.items() for r in runs
                if (replays := RunFiles(r.folder).replays())]
    return dict(going=going, replayed=replayed, twins=twin)


def still_to_run(result: Mapping[str, Any], runs: Sequence[Run], jobs: int = 2) -> dict[str, Any]:
    """The runs the plan still needs (its counts, :func:`planned`, less the seeds each arm of ``result`` finished),
    and the hours they take at the mean recorded time of the finished v2 ``runs``
    (:func:`fortifai.claims.decisive.run_minutes`), ``jobs`` side by side (``scripts/v2_sweep.sh``'s two)."""
    from .decisive import run_minutes

    counts = result.get("planned") or planned({})
    need = {**{m: counts["pairs"] for m in (PLAN["baseline"], PLAN["method"])},
            **{m: counts["mechanism_seeds"] for m in PLAN["mechanism"]}}
    left = {m: max(0, n - len(result["finished"].get(m, []))) for m, n in need.items()}
    left.update({f"control {m}": max(0, counts["control_seeds"] - len(result["control_finished"].get(m, [])))
                 for m in (PLAN["baseline"], PLAN["method"])})
    done = [run_minutes(r) for r in runs if len(r.stages) >= PLAN["stages"]]
    minutes = float(np.mean(done)) if done else math.nan
    return dict(left=left, runs=sum(left.values()), run_minutes=minutes, jobs=jobs, pairs_set=counts["pairs_set"],
                hours=sum(left.values()) * minutes / jobs / 60)


def interaction(recursive: Mapping[str, Sequence[Run]], control: Mapping[str, Sequence[Run]],
                endpoint: str) -> dict[str, Any] | None:
    """The arm-by-loss interaction: TCE 0.9's advantage over CE (CE's M0-to-M5 loss minus TCE's) on the recursive
    arm minus on the control arm, paired over the seeds both arms ran (95% t); None before two such seeds."""
    m_r, c_r, s_r = losses(recursive, PLAN["method"], endpoint)
    m_c, c_c, s_c = losses(control, PLAN["method"], endpoint)
    common = sorted(set(s_r) & set(s_c))
    if len(common) < 2:
        return None
    adv_r = np.array([c_r[s_r.index(s)] - m_r[s_r.index(s)] for s in common])
    adv_c = np.array([c_c[s_c.index(s)] - m_c[s_c.index(s)] for s in common])
    return dict(seeds=common, **stats.paired_t(adv_r, adv_c, level=PLAN["level"]))


def v2_test(recursive: Mapping[str, Sequence[Run]], control: Mapping[str, Sequence[Run]],
            pilot: Mapping[str, Any]) -> dict[str, Any]:
    """The v2 plan on its runs: the primary (from the regime ``pilot``'s verdict) and the secondaries, each TCE
    0.9's share of CE's M0-to-M5 loss avoided with the plan's verdict; the mechanism contrasts; the interaction with
    the control arm; the sample size; the seeds each arm finished. ``primary`` None while the pilot has no verdict."""
    out = dict(finished=finished(recursive), control_finished=finished(control), paper=paper_share(PLAN["paper_stage"]))
    try:
        primary = primary_endpoint(pilot)
    except ValueError as error:
        return dict(out, primary=None, why=str(error))
    endpoints = {e: primary_test(recursive, e) for e in (primary, *[k for k in ENDPOINTS if k != primary])}
    contrast_on = list(dict.fromkeys(primary if e == "primary" else e for e in MECHANISM_ENDPOINTS))
    contrasts = [mechanism_contrast(recursive, other, e) for other in PLAN["mechanism"] for e in contrast_on]
    size = sample_size(recursive, primary)
    counts = planned(size)
    for test, n, shown, what in [
            *((e, counts["pairs"], pairs_text(counts), "seed pairs") for e in endpoints.values()),
            *((c, counts["mechanism_seeds"], counts["mechanism_seeds"], "seeds with all three losses")
              for c in contrasts)]:
        if test["verdict"] != "not yet" and len(test["seeds"]) < n:  # the rule's reading, not yet the plan's verdict
            gate = f"; so far {test['why']}" if test["verdict"] == judge.INCONCLUSIVE else ""  # no share to read
            test["interim"] = f"interim: {len(test['seeds'])} of the plan's {shown} {what} have finished M5{gate}"
    return dict(out, primary=primary, endpoints=endpoints, contrasts=contrasts, planned=counts,
                interaction={e: interaction(recursive, control, e) for e in endpoints}, sample_size=size,
                without_chosen_seeds=without_chosen_seeds(recursive, primary, pilot),
                spread_sources=spread_sources(recursive, primary))


def plan_complete(result: Mapping[str, Any]) -> bool:
    """Whether the plan's counts have finished M5: every row of :func:`v2_test` has the plan's verdict."""
    tests = [*result.get("endpoints", {}).values(), *result.get("contrasts", [])]
    return bool(result.get("primary")) and all(t["verdict"] != "not yet" and "interim" not in t for t in tests)


def hold_own_setting(groups: Sequence[tuple], result: Mapping[str, Any]) -> list[tuple]:
    """The chapter's closing-table ``groups`` (title, claims, why folded) with the generic rows of the v2 setting's
    runs (folded under :data:`OWN_SETTING`) held as "not computed", their numbers kept, until the plan's counts
    have finished M5 (:func:`plan_complete`): the same runs take no verdict before the plan's rows do."""
    from dataclasses import replace

    if plan_complete(result):
        return list(groups)
    counts = result.get("planned") or planned({})
    why = judge.not_computed(
        f"interim: the v2 runs are judged at the plan's counts ({pairs_text(counts)} CE/TCE 0.9 pairs, "
        f"{counts['mechanism_seeds']} seeds of each mechanism arm); these rows wait for them")
    return [(title, [replace(c, verdict=why) if folded == OWN_SETTING else c for c in rows], folded)
            for title, rows, folded in groups]


def v2_claims(result: Mapping[str, Any]) -> list:
    """The closing table's v2 rows: the primary, then each mechanism contrast; "not computed" (with what it waits
    for) until the plan's counts (:func:`planned`) have finished M5, the interim estimate beside it from two on."""
    from .claim import Claim

    def verdict(e):
        if e["verdict"] == "not yet":
            return judge.not_computed(f"{e['why']} have finished M5")
        return judge.not_computed(e["interim"]) if "interim" in e else judge.say(e["verdict"], e["why"])

    paper = result["paper"]
    primary = result.get("primary")
    if primary is None:
        done = len(set(result["finished"].get(PLAN["baseline"], [])) & set(result["finished"].get(PLAN["method"], [])))
        return [Claim(f"Decisive test v2, primary: TCE 0.9 avoids part of CE's M0-to-M5 loss (Table D2: {paper:.0%} "
                      "of KR-split 0's loss by M5)", f"{done} seed pairs finished", judge.not_computed(result["why"]),
                      "Sec. 1; Table D2")]
    e = result["endpoints"][primary]
    ours = (f"share of CE's M0-to-M5 loss avoided: {share_text(e, '95% paired bootstrap ', seeds=True)}"
            if "estimate" in e else f"{len(e['seeds'])} seed pairs finished")
    rows = [Claim(f"Decisive test v2, primary: TCE 0.9 avoids part of CE's M0-to-M5 loss on {ENDPOINTS[primary]} "
                  f"(Table D2: {paper:.0%} of KR-split 0's loss by M5)", ours, verdict(e),
                  "Sec. 1; Fig. 6; Table D2; Sec. 4.5")]
    for c in result["contrasts"]:
        ours = (f"difference of shares {contrast_text(c)}" if "ci_low" in c
                else f"{len(c['seeds'])} seeds with all three losses")
        rows.append(Claim(f"Decisive test v2, mechanism: {CONTRAST_CLAIMS[c['other']]}, on {ENDPOINTS[c['endpoint']]}",
                          ours, verdict(c), CONTRAST_PAPER[c["other"]]))
    return rows
