"""The decisive test of the central claim, "TCE delays collapse": its plan, fixed in code before its runs.

The plan (:data:`PLAN`, :data:`ENDPOINTS`, :data:`VERDICT_RULE`) was committed before any of the runs that decide it
existed (presets/llm_recursive/decisive.yaml) and is never changed after: the setting, the primary endpoint (the
share of CE's M0-to-M3 loss on split 0's mean KR margin that TCE 0.9 avoids, paired by seed), the secondaries,
the paper's value on the same footing (computed from Table D2) and the rule that turns the interval into a verdict.

    result = decisive_test(*decisive_settings(groups))      # groups: fortifai.recursive.runs.group_runs(...)
    result["endpoints"]["kr_margin_split0"]["verdict"]
"""

from __future__ import annotations

import math
from typing import Any, Collection, Sequence

import numpy as np

from .. import stats
from . import judge
from ..recursive.runs import Run, paper_headline, paper_tables
from .llm import paired

PLAN = dict(
    setting="SmolLM2-135M on the counterfactual Wikipedia leads (presets/llm_recursive/decisive.yaml), stages M0..M3",
    dataset="wikipedia-offline-counterfactual", model="smollm2-135m", stages=4,
    method="tce-0.9", baseline="ce", primary="kr_margin_split0",
    secondaries=("kr_split0", "real_nll_split0"),
    paper_table="D2", paper_stage=5, paper_stage_same_length=3, level=0.95, n_boot=10_000, power=0.8,
)
ENDPOINTS = {
    "kr_margin_split0": "the mean KR margin of split 0 (score of the true continuation minus the false one, nats)",
    "kr_split0": "KR accuracy on split 0",
    "real_nll_split0": "the mean token NLL of split 0's original paragraphs (higher is worse)",
}
# what each endpoint's verdict is judged against: the paper's one number on this footing is Table D2's share of
# CE's KR-split 0 loss (paper_share); where an endpoint measures something else, the table says so
JUDGED_AGAINST = {
    "kr_margin_split0": "Table D2's share on KR-split 0 accuracy: the paper reports no margin",
    "kr_split0": "Table D2's share on the same measure, KR-split 0 accuracy",
    "real_nll_split0": "Table D2's share on KR-split 0 accuracy: the paper reports no NLL of real text",
}
TITLES = {"kr_margin_split0": "KR margin, split 0 (nats)", "kr_split0": "KR accuracy, split 0",
          "real_nll_split0": "NLL of split 0's real paragraphs (nats)"}  # each endpoint's short name in figures
VERDICT_RULE = judge.SHARE_RULE  # fixed with the plan; the judge applies it (judge.effect with CE's loss as gate)

# How many seed pairs the main sweep runs, set after the pilot (its seeds here) and before the rest: the pairs the
# pilot's spread asks for (80% power to tell the paper's share from none on the primary endpoint), at least
# min_pairs, at most what budget_hours of these two cores allow beside the control arm's seeds.
SWEEP = dict(pilot_seeds=(0, 1, 2), min_pairs=8, control_seeds=(0, 1, 2, 3), budget_hours=18.0)


def endpoint_values(run: Run, endpoint: str) -> list[float]:
    """Per stage, the endpoint's value for ``run`` (nan where the stage did not record it)."""
    if endpoint not in ENDPOINTS:
        raise ValueError(f"endpoint must be one of {list(ENDPOINTS)}, got {endpoint!r}")
    return run.values(endpoint)


def endpoint_loss(run: Run, endpoint: str, stage: int = PLAN["stages"] - 1) -> float:
    """What ``run`` lost on ``endpoint`` from M0 to ``stage``, positive when it got worse (a drop in margin or
    accuracy, a rise in NLL)."""
    values = endpoint_values(run, endpoint)
    if stage >= len(values):
        return math.nan
    change = values[stage] - values[0]
    return change if endpoint == "real_nll_split0" else -change


def share_avoided(method_loss: Sequence[float], baseline_loss: Sequence[float], n_boot: int = PLAN["n_boot"],
                  level: float = PLAN["level"], seed: int = 0) -> dict[str, Any]:
    """``1 - mean(method's loss) / mean(baseline's loss)`` over paired seeds, with its paired percentile bootstrap
    interval (seed indices resampled, both losses of a drawn seed taken together); resamples where the baseline
    lost nothing have no share and are counted (``undefined_resamples``), not used."""
    a, b = np.asarray(method_loss, dtype=float), np.asarray(baseline_loss, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0 or not np.isfinite(a).all() or not np.isfinite(b).all():
        raise ValueError(f"method_loss and baseline_loss must be finite per-seed values of one length, got {a} and {b}")
    estimate = 1 - a.mean() / b.mean() if b.mean() > 0 else math.nan
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, a.size, size=(n_boot, a.size))
    ma, mb = a[idx].mean(axis=1), b[idx].mean(axis=1)
    defined = mb > 0
    boot = 1 - ma[defined] / mb[defined]
    low, high = (np.quantile(boot, [(1 - level) / 2, (1 + level) / 2], method="inverted_cdf") if boot.size
                 else (math.nan, math.nan))
    out = dict(estimate=float(estimate), ci_low=float(low), ci_high=float(high), n=int(a.size), level=level,
               undefined_resamples=float(1 - defined.mean()), method_loss=a.tolist(), baseline_loss=b.tolist())
    if 2 <= a.size < FEW_SEEDS and (b > 0).all() and np.ptp(1 - a / b) > 1e-9:  # identical shares: no spread
        # few seeds give few distinct resamples (3 seeds: 10), so a percentile interval is too narrow: beside it
        # the t interval of the per-seed shares
        t = stats.paired_t(1 - a / b, np.zeros(a.size), level)
        out.update(seed_t_low=t["ci_low"], seed_t_high=t["ci_high"])
    return out


FEW_SEEDS = 5  # below it a share also gets the t interval of its per-seed shares


def paired_share(method_loss: Sequence[float], baseline_loss: Sequence[float]) -> dict[str, Any]:
    """:func:`share_avoided` over the seeds both losses finished; one seed has no interval (nan ends)."""
    share = share_avoided(method_loss, baseline_loss)
    if len(method_loss) < 2:
        share.update(ci_low=math.nan, ci_high=math.nan)
    return share


def paper_share(stage: int = PLAN["paper_stage"], table: str = PLAN["paper_table"],
                method: str = PLAN["method"]) -> float:
    """The share of CE's KR-split 0 loss from M0 to ``stage`` that ``method`` avoids in the paper's ``table``:
    Table D2 gives 1 - 13.3/16.0 at M5 and 1 - 6.7/9.0 at M3."""
    values = paper_tables()[table]["values"]
    loss = {m: values[m]["kr_split0"][0] - values[m]["kr_split0"][stage] for m in (method, "ce")}
    return 1 - loss[method] / loss["ce"]


def headline_share(ratio: float) -> float:
    """The share of CE's loss a method avoids at any stage when both decline linearly from one start and the method
    takes ``ratio`` times as long to reach the same level (its slope is CE's divided by ``ratio``)."""
    if not ratio > 0:
        raise ValueError(f"ratio must be > 0, got {ratio!r}")
    return 1 - 1 / ratio


def plan_verdict(baseline_loss: Sequence[float], low: float, high: float, paper: float,
                 level: float = PLAN["level"]) -> tuple[str, str]:
    """The verdict of :data:`VERDICT_RULE` on the share's interval ``[low, high]``, CE's per-seed losses and the
    paper's share on the same footing."""
    b = np.asarray(baseline_loss, dtype=float)
    t = stats.paired_t(b, np.zeros_like(b), level=level)
    return judge.effect(low, high, 0.0, paper, seeds=b.size,
                        baseline_loss=(t["difference"], t["ci_low"], t["ci_high"]))


def seeds_for_power(method_loss: Sequence[float], baseline_loss: Sequence[float], paper: float | None = None,
                    power: float = PLAN["power"]) -> dict[str, Any]:
    """Seed pairs for ``power`` to tell the paper's share from none: a share ``s`` of CE's mean loss ``L`` avoided
    is a mean paired difference (CE's loss minus the method's) of ``s L``; its spread over seeds is the pilot's."""
    a, b = np.asarray(method_loss, dtype=float), np.asarray(baseline_loss, dtype=float)
    paper = paper_share() if paper is None else paper
    sd = float(np.std(b - a, ddof=1)) if a.size > 1 else math.nan
    effect = paper * float(b.mean())
    n = stats.pairs_for_power(effect, sd, power=power) if np.isfinite(sd) and effect > 0 else None
    return dict(pairs=n, effect=effect, sd=sd, pilot_pairs=int(a.size), power=power, paper_share=paper)


def decisive_pairs(per: dict[str, list[Run]], endpoint: str,
                   method: str = PLAN["method"]) -> tuple[list[float], list[float], list[int]]:
    """Per seed both losses finished to the plan's last stage: (``method``'s loss, CE's loss, seeds) on
    ``endpoint``."""
    pairs = [(m, c) for m, c in paired(per.get(method, []), per.get(PLAN["baseline"], []))
             if len(m.stages) >= PLAN["stages"] and len(c.stages) >= PLAN["stages"]]
    return ([endpoint_loss(m, endpoint) for m, _ in pairs], [endpoint_loss(c, endpoint) for _, c in pairs],
            [m.seed for m, _ in pairs])


def decisive_test(recursive: dict[str, list[Run]], control: dict[str, list[Run]] | None = None) -> dict[str, Any]:
    """The plan applied: the primary endpoint's share with its interval and verdict, the secondaries' shares, the
    arm-by-loss interaction (TCE's advantage in loss under self-consumption minus its advantage with real text
    only, per seed of both arms), and the seed pairs the observed spread asks for."""
    paper = paper_share()
    out: dict[str, Any] = dict(plan=PLAN, rule=VERDICT_RULE, paper_share=paper,
                               paper_share_same_length=paper_share(PLAN["paper_stage_same_length"]),
                               headline=headline_share(paper_headline()["abstract"]),
                               endpoints={})
    for endpoint in (PLAN["primary"], *PLAN["secondaries"]):
        method_loss, baseline_loss, seeds = decisive_pairs(recursive, endpoint)
        if not seeds:
            out["endpoints"][endpoint] = dict(seeds=[], verdict="not yet", why="no seed has both runs to M3")
            continue
        share = paired_share(method_loss, baseline_loss)
        if len(seeds) < 2:  # before the rule can apply (no verdict of the rule)
            verdict, why = judge.UNDERPOWERED, "one seed gives no interval: the plan's rule applies from two seeds on"
        else:
            verdict, why = plan_verdict(baseline_loss, share["ci_low"], share["ci_high"], paper)
        questions = {r.seed: r.stages[0].get("kr", {}).get("0", {}).get("n") for r in recursive[PLAN["method"]]}
        entry = dict(seeds=seeds, **share, verdict=verdict, why=why, questions=[questions.get(s) for s in seeds],
                     power=seeds_for_power(method_loss, baseline_loss, paper))
        if control:
            c_method, c_base, c_seeds = decisive_pairs(control, endpoint)
            both = sorted(set(seeds) & set(c_seeds))
            if len(both) >= 2:
                advantage = {s: b - m for s, m, b in zip(seeds, method_loss, baseline_loss)}
                c_advantage = {s: b - m for s, m, b in zip(c_seeds, c_method, c_base)}
                entry["interaction"] = stats.paired_t([advantage[s] for s in both], [c_advantage[s] for s in both])
                entry["interaction"]["seeds"] = both
                # exploratory, outside the rule: what self-consumption itself cost CE beyond real text alone
                loss, c_loss = dict(zip(seeds, baseline_loss)), dict(zip(c_seeds, c_base))
                entry["self_consumption"] = stats.paired_t([loss[s] for s in both], [c_loss[s] for s in both])
                entry["self_consumption"]["seeds"] = both
        if verdict in judge.SUPPORTS:
            entry["why"] += control_caveat(entry.get("interaction"))
        out["endpoints"][endpoint] = entry
    return out


def control_caveat(interaction: dict[str, Any] | None) -> str:
    """What the control arm says of a share found on the recursive arm: whether TCE's advantage there is more than
    its advantage on real text alone (the interaction's paired t interval above 0), or that it cannot say yet."""
    if interaction is None:
        return ("; the control arm cannot yet tell it from TCE's advantage on real text alone (it needs two seeds "
                "of both arms)")
    if interaction["ci_low"] > 0:
        return (f"; beyond TCE's advantage on real text alone (interaction {interaction['difference']:+.3g} "
                f"[{interaction['ci_low']:+.3g}, {interaction['ci_high']:+.3g}])")
    return (f"; the control arm cannot yet tell it from TCE's advantage on real text alone (interaction "
            f"{interaction['difference']:+.3g} [{interaction['ci_low']:+.3g}, {interaction['ci_high']:+.3g}] over "
            f"{len(interaction['seeds'])} seeds holds 0)")


def run_minutes(run: Run) -> float:
    """The minutes ``run`` recorded over its stages: training, then regeneration and evaluation (``finish_seconds``,
    recorded since the pilot); for runs before it, training and regeneration alone, a lower bound (the scoring
    after each stage was not timed)."""
    seconds = 0.0
    for stage in run.stages:
        seconds += stage.get("train", {}).get("train_seconds", 0.0)
        seconds += stage["finish_seconds"] if "finish_seconds" in stage else sum(
            g.get("seconds", 0.0) for g in stage.get("generation", {}).values())
    return seconds / 60


SWEEP_RULE_CHANGE = ("The branch that runs the minimum where CE lost nothing on the primary endpoint was added to "
                     "the sweep-size rule 28 s after the commit of the pilot's seed 1, in which CE had gained margin: "
                     "after data the rule was meant to precede.")


def sweep_size(recursive: dict[str, list[Run]], sweep: dict[str, Any] = SWEEP) -> dict[str, Any] | None:
    """From the pilot's seeds alone (``sweep["pilot_seeds"]``, both losses finished): the seed pairs for the plan's
    power on the primary endpoint, the minutes a pair takes (two runs side by side: the slower one's recorded time,
    mean over the pilot), the pairs ``budget_hours`` allow beside the control arm, and the pairs the sweep runs:
    the power's number, at least ``min_pairs``, at most what fits; ``rest_hours`` is what the pairs beyond the
    budget would take. Where CE lost nothing on the primary endpoint over the pilot (``nothing_to_delay``), the
    paper's share of it is no effect to power for: the sweep runs ``min_pairs``. None until every pilot seed is in."""
    pilot = {PLAN["method"]: [r for r in recursive.get(PLAN["method"], []) if r.seed in sweep["pilot_seeds"]],
             PLAN["baseline"]: [r for r in recursive.get(PLAN["baseline"], []) if r.seed in sweep["pilot_seeds"]]}
    method_loss, baseline_loss, seeds = decisive_pairs(pilot, PLAN["primary"])
    if sorted(seeds) != sorted(sweep["pilot_seeds"]):
        return None
    by_seed = {(r.seed, m): r for m, runs in pilot.items() for r in runs}
    pair_minutes = float(np.mean([max(run_minutes(by_seed[s, PLAN["method"]]), run_minutes(by_seed[s, PLAN["baseline"]]))
                                  for s in seeds]))
    power = seeds_for_power(method_loss, baseline_loss)
    fit = int(sweep["budget_hours"] * 60 // pair_minutes) - len(sweep["control_seeds"])
    needed, nothing_to_delay = power["pairs"], not power["effect"] > 0
    # the rule as first written, before the nothing-to-delay branch (added after the pilot: SWEEP_RULE_CHANGE)
    first_rule = max(sweep["min_pairs"], min(needed, fit) if needed is not None else fit)
    if nothing_to_delay:
        pairs, rest = sweep["min_pairs"], 0.0
    else:
        pairs = max(sweep["min_pairs"], min(needed, fit) if needed is not None else fit)
        rest = (needed - pairs) * pair_minutes / 60 if needed is not None and needed > pairs else (
            math.inf if needed is None else 0.0)
    untimed = any("finish_seconds" not in stage for run in by_seed.values() for stage in run.stages)
    return dict(pilot_seeds=list(seeds), power=power, needed=needed, pair_minutes=pair_minutes, fit=fit,
                lower_bound=untimed, nothing_to_delay=nothing_to_delay, first_rule_pairs=first_rule,
                pairs=pairs, rest_hours=rest, **{k: sweep[k] for k in ("min_pairs", "control_seeds", "budget_hours")})


def decisive_settings(groups: dict[tuple, list[Run]]) -> tuple[dict[str, list[Run]], dict[str, list[Run]]]:
    """From :func:`fortifai.recursive.runs.group_runs`: the plan's setting's runs by method, recursive arm and control
    arm (``regenerate: false``)."""
    arms: tuple[dict[str, list[Run]], dict[str, list[Run]]] = ({}, {})
    for (setting, method), runs in groups.items():
        params = dict(setting)
        if (params.get("dataset"), params.get("model"), params.get("stages"), params.get("paragraph_separator")) == (
                PLAN["dataset"], PLAN["model"], PLAN["stages"], "blank_line"):
            arms[0 if params.get("regenerate", True) else 1].setdefault(method, []).extend(runs)
    return arms


def power_text(power: dict[str, Any]) -> str:
    """The seed pairs for the plan's power, or why there is no number yet."""
    if not np.isfinite(power["sd"]):
        return "needs 2 seeds for a spread"
    if not power["effect"] > 0:
        return "none: CE lost nothing, no effect to power for"
    return str(power["pairs"]) if power["pairs"] is not None else "more than 10,000"


def share_text(e: dict[str, Any], prefix: str = "", seeds: bool = False) -> str:
    """An endpoint's share with its interval: "undefined" where CE's mean loss is not above 0 (no share of it can
    be avoided), and the share of bootstrap resamples where CE lost nothing, which the interval leaves out.
    ``seeds``: end with the count of seed pairs (once, whether or not the per-seed t interval gives it)."""
    count = f" over {e['n'] if 'n' in e else len(e['seeds'])} seeds" if seeds else ""
    if not np.isfinite(e["estimate"]):
        return f"undefined (CE's mean loss is not above 0){count}"
    if not np.isfinite(e["ci_low"]):
        return f"{e['estimate']:+.0%}, no interval{count}"
    share = e.get("undefined_resamples", 0)
    left_out = (f"; CE lost nothing in {'under 1%' if share < 0.01 else format(share, '.0%')} of the resamples, "
                "left out" if share > 0 else "")
    seed_t = (f"; per-seed t [{e['seed_t_low']:+.0%}, {e['seed_t_high']:+.0%}] over {e['n']} seeds"
              if "seed_t_low" in e and np.isfinite(e["seed_t_low"]) else "")
    return f"{e['estimate']:+.0%} {prefix}[{e['ci_low']:+.0%}, {e['ci_high']:+.0%}]{'' if seed_t else count}{left_out}{seed_t}"


def m0_agreement(recursive: dict[str, list[Run]], control: dict[str, list[Run]]) -> list[dict[str, Any]]:
    """M0 is the same model in both arms (the same seed, splits and training; the arms part after it): per loss and
    seed of both arms, the largest difference at M0 in the KR margins (every split, scored in fp32 in both) and the
    training loss, and split 0's real-text NLL in each arm. Up to commit 1edceb5 (the decisive runs) a stage trained
    in the same process was regenerated and scored for NLL under the Trainer's bf16 autocast, and in fp32 where the
    process had resumed after the stage's training; where the two arms' M0 took different paths, the NLL shows by
    how much that moves the real-text NLL."""
    rows = []
    for method in (PLAN["baseline"], PLAN["method"]):
        control_runs = {r.seed: r for r in control.get(method, []) if r.stages}
        for run in sorted(recursive.get(method, []), key=lambda r: r.seed):
            other = control_runs.get(run.seed)
            if other is None or not run.stages:
                continue
            a, b = run.stages[0], other.stages[0]
            pairs = [(a["kr"][k].get("margin", []), b.get("kr", {}).get(k, {}).get("margin", [])) for k in a.get("kr", {})]
            # questions that differ in number between the arms: not the same data, no agreement to measure
            margins = ([abs(x - y) for ours, theirs in pairs for x, y in zip(ours, theirs)]
                       if all(len(ours) == len(theirs) for ours, theirs in pairs) else [math.inf])
            nll = run.values("real_nll_split0")[0], other.values("real_nll_split0")[0]
            rows.append(dict(method=method, seed=run.seed, margin_difference=max(margins) if margins else math.nan,
                             train_loss_difference=abs(a["train"]["train_loss"] - b["train"]["train_loss"]),
                             nll_recursive=nll[0], nll_control=nll[1], nll_difference=nll[0] - nll[1]))
    return rows


def other_methods(recursive: dict[str, list[Run]]) -> dict[str, dict[str, Any]]:
    """The paper's other losses run in the plan's setting beside CE (TCE 0.99, focal 2.0: the plan's "if compute
    remains"), outside the plan: per method and endpoint the share of CE's loss avoided with its paired bootstrap
    interval over the seeds both finished, and no verdict (the plan fixed its rule for TCE 0.9 alone). Beside
    each, ``plan_method``: TCE 0.9's share on the same seeds (None where it lacks one of them), so that the
    rows compare like with like rather than with the decisive test's share over more seeds."""
    out: dict[str, dict[str, Any]] = {}
    for method in sorted(set(recursive) - {PLAN["method"], PLAN["baseline"]}):
        for endpoint in (PLAN["primary"], *PLAN["secondaries"]):
            method_loss, baseline_loss, seeds = decisive_pairs(recursive, endpoint, method)
            if not seeds:
                continue
            plan_loss, plan_baseline, plan_seeds = decisive_pairs(recursive, endpoint)
            same = [plan_seeds.index(s) for s in seeds if s in plan_seeds]
            plan_method = (paired_share([plan_loss[i] for i in same], [plan_baseline[i] for i in same])
                           if len(same) == len(seeds) else None)
            out.setdefault(method, {})[endpoint] = dict(seeds=seeds, plan_method=plan_method,
                                                        **paired_share(method_loss, baseline_loss))
    return out


def decisive_claims(result: dict[str, Any], label: str = "") -> list:
    """The decisive test's rows of the chapter's closing table: the primary endpoint first, then the secondaries,
    each with its share, interval, the paper's value and the verdict of the plan's rule (none before the runs);
    ``label`` follows "the decisive test" (its regime: :func:`fortifai.claims.llm.regime_label`)."""
    from .claim import Claim

    rows = []
    for endpoint, e in result["endpoints"].items():
        if not e["seeds"]:
            continue
        primary = endpoint == PLAN["primary"]
        interaction = e.get("interaction")
        ours = (f"share of CE's M0-to-M3 loss avoided: {share_text(e, '95% paired bootstrap ', seeds=True)} "
                f"(CE's loss {np.mean(e['baseline_loss']):+.3g}, "
                f"TCE 0.9's {np.mean(e['method_loss']):+.3g})"
                + (f"; TCE's advantage recursive minus control {interaction['difference']:+.3g} "
                   f"[{interaction['ci_low']:+.3g}, {interaction['ci_high']:+.3g}] over {len(interaction['seeds'])} "
                   "seeds" if interaction else ""))
        rows.append(Claim(
            f"{'Primary endpoint' if primary else 'Secondary'} of the decisive test{label}: TCE 0.9 avoids part of CE's loss "
            f"on {ENDPOINTS[endpoint]} (Table D2: {result['paper_share']:.0%} of KR-split 0's loss by M5, "
            f"{result['paper_share_same_length']:.0%} by M3)", ours, f"{e['verdict']}: {e['why']}",
            "Sec. 1; Fig. 6; Table D2; Sec. 4.5" if primary else "Fig. 6; Table D2; Sec. 4.5"))
    return rows


def other_settings(started: dict[tuple, list[Run]], exclude: Collection[tuple] = ()) -> list[dict[str, Any]]:
    """What the settings other than the decisive tests' (this one's, and ``exclude``: v2's) can say about the
    central claim, from their M0 gates (``started``: runs at M0 or later by (setting, method)): whether CE can fail
    there (the measured KR chance against the paper's failure threshold) and whether TCE can act (the share of
    tokens TCE 0.9 masks at M0)."""
    from ..recursive.runs import setting_name
    from ..recursive.config import KR_FAILURE_THRESHOLD
    from .llm import run_gate

    decisive = {id(r) for arm in decisive_settings(started) for runs in arm.values() for r in runs}
    out = []
    for setting in sorted({s for s, _ in started if s not in exclude}, key=setting_name):
        runs = {m: rs for (s, m), rs in started.items() if s == setting and not any(id(r) in decisive for r in rs)}
        if not runs:
            continue
        gates = [run_gate(r) for rs in runs.values() for r in rs]
        chance = [g["kr_chance"] for g in gates if g["kr_chance"] is not None]
        masked = [run_gate(r)["masked_fraction_m0"] for r in runs.get(PLAN["method"], [])]
        masked = [m for m in masked if m is not None]
        entry = dict(setting=setting_name(setting), chance=float(np.mean(chance)) if chance else None,
                     masked=float(np.mean(masked)) if masked else None, threshold=KR_FAILURE_THRESHOLD)
        reasons = []
        if entry["chance"] is not None and entry["chance"] >= KR_FAILURE_THRESHOLD:
            reasons.append(f"its measured KR chance, {entry['chance']:.0%}, lies above the failure threshold "
                           f"{KR_FAILURE_THRESHOLD:.0%}: CE cannot fail there")
        masking = judge.gate(masked_fraction=entry["masked"])
        if masking:
            reasons.append(f"TCE 0.9 {masking.removeprefix('the loss ')}")
        entry["cannot_test"] = "; ".join(reasons)
        out.append(entry)
    return out


def raw_margin_difference(recursive: dict[str, list[Run]], control: dict[str, list[Run]] | None = None) -> dict:
    """The primary endpoint without the share: TCE 0.9's M0-to-M3 loss of split-0 KR margin minus CE's, paired by
    seed (positive: TCE lost more, or gained less), with its t interval, per arm."""
    out = {}
    for arm, per in (("recursive", recursive), ("control", control or {})):
        method_loss, baseline_loss, seeds = decisive_pairs(per, PLAN["primary"])
        if len(seeds) >= 2:
            out[arm] = dict(seeds=seeds, **stats.paired_t(method_loss, baseline_loss))
    return out


