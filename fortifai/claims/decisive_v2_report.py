"""The decisive test v2 rendered: its answer (the chapter's first lines), the runs table, what is still to run and
going, the plan's changes, what would decide it and its figure, from what :mod:`fortifai.claims.decisive_v2` (the
plan, its statistics and its rules) computes; :func:`v2_section` is the chapter's one call.

    v2 = v2_section(chapter.groups, chapter.started, read_v2_preset(), pilot)
    display(Markdown(v2["answer"] + "\n\n" + v2["body"]))
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import stats
from ..recursive.runs import Run
from . import decisive_v2 as v2, judge
from .decisive import TITLES, power_text, seeds_for_power, share_text
from .decisive_report import trajectories


def v2_figure(recursive: dict[str, list[Run]], control: dict[str, list[Run]], primary: str | None):
    """The v2 test's runs through M0..M5 as the change from M0 (positive: worse, the plan's loss), one panel per
    endpoint (the primary first): every arm and loss, thin lines per seed and the mean bold; on the KR-split 0
    panel, the paper's Table D2 rows of the same losses (LLaMA-3.2-1B), the footing of the paper's share. None
    before any v2 run has a stage."""
    import matplotlib.pyplot as plt

    from ..recursive.runs import method_label, paper_tables
    if not any(r.stages for arm in (recursive, control) for runs in arm.values() for r in runs):
        return None
    endpoints = list(dict.fromkeys((primary or "kr_split0", *v2.ENDPOINTS)))
    methods = [v2.PLAN["baseline"], v2.PLAN["method"], *v2.PLAN["mechanism"]]
    colours = {m: f"C{j}" for j, m in enumerate(methods)}
    paper = paper_tables()[v2.PLAN["paper_table"]]
    fig, axes = plt.subplots(1, len(endpoints), figsize=(4.4 * len(endpoints), 3.8))
    arms = (("recursive", recursive, "-"), ("control", control, "--"))
    for ax, endpoint in zip(axes, endpoints):
        def loss(run, e=endpoint):
            return [v2.endpoint_loss(run, e, stage) for stage in range(len(run.stages))]

        trajectories(ax, arms, methods, loss, colours)
        if endpoint == "kr_split0":
            for method in methods:
                if method in paper["values"]:
                    row = paper["values"][method]["kr_split0"]
                    ax.plot(range(len(row)), [row[0] - v for v in row], ":", color=colours[method], marker="x",
                            lw=1.4, label=f"{method_label(method)}, the paper ({paper['model']}, Table "
                                          f"{v2.PLAN['paper_table']})")
        ax.axhline(0, color="0.6", lw=0.8)
        short = TITLES.get(endpoint, "held-out real NLL (nats)" if endpoint == "real_nll_heldout" else endpoint)
        ax.set(title=short, ylabel="lost since M0 (up: worse)", xlabel="stage (model $M_i$)",
               xticks=range(v2.PLAN["stages"]))
    axes[0].legend(fontsize=6)
    return fig


def v2_answer_markdown(result: dict[str, Any], preset_written: bool) -> str:
    """The v2 decisive test's answer, the chapter's first: one plain sentence, then a table of a few rows (the
    primary, the secondaries, the mechanism contrasts), from :func:`fortifai.claims.decisive_v2.v2_test`; before
    its runs, what it waits for and the seeds each arm has finished against what the plan asks for."""
    counts = result.get("planned", v2.planned({}))
    need = {**{m: counts["pairs"] for m in (v2.PLAN["baseline"], v2.PLAN["method"])},
            **{m: counts["mechanism_seeds"] for m in v2.PLAN["mechanism"]}}
    shown = {m: v2.pairs_text(counts) if m in (v2.PLAN["baseline"], v2.PLAN["method"]) else n
             for m, n in need.items()}
    done = ", ".join(f"{m} {len(result['finished'].get(m, []))} of {shown[m]}" for m in need)
    control = ", ".join(f"{m} {len(result['control_finished'].get(m, []))} of {counts['control_seeds']}"
                        for m in (v2.PLAN["baseline"], v2.PLAN["method"]))
    progress = f"seeds finished through M5: {done}; control arm: {control}"
    if result["primary"] is None:
        return (f"**The decisive test, v2** (the calibrated regime, six stages, fixed in "
                f"`fortifai/claims/decisive_v2.py` before its runs) waits: {result['why']}. Its {progress}.")
    primary = result["endpoints"][result["primary"]]
    if primary["verdict"] == "not yet":
        where = ("its preset is written (`presets/llm_recursive/decisive-v2.yaml`) and its runs are going"
                 if preset_written else "its preset is not yet written")
        return (f"**The decisive test, v2** (the calibrated regime, six stages, primary endpoint "
                f"{v2.ENDPOINTS[result['primary']]}; the plan fixed in `fortifai/claims/decisive_v2.py` before its "
                f"runs) has no answer yet: {where}. Its {progress}.")
    if "interim" in primary:
        at = (f"{counts['pairs']} pairs" if counts["pairs_set"] else
              f"the pairs its pilot sets (seeds {', '.join(map(str, v2.PLAN['pilot_seeds']))} of CE and TCE 0.9; at "
              f"least {counts['pairs']})")
        sentence = (f"**An interim look at the decisive test v2** ({len(primary['seeds'])} of the plan's "
                    f"{v2.pairs_text(counts)} seed pairs, the calibrated regime, M0..M5): on its primary endpoint, "
                    f"{v2.ENDPOINTS[result['primary']]}, TCE 0.9's share of CE's loss avoided is "
                    f"{share_text(primary, '95% paired bootstrap ')} (the paper: {result['paper']:.0%}). No verdict "
                    f"yet: the plan reads it at {at}. {v2_decider(result)}Its {progress}.")
    else:
        sentence = (f"**The answer, from the decisive test v2** ({len(primary['seeds'])} seed pairs, the calibrated "
                    f"regime, M0..M5): on its primary endpoint, {v2.ENDPOINTS[result['primary']]}, the central claim "
                    f"is **{primary['verdict']}**: {primary['why']}. {v2_decider(result)}Its {progress}.")
    rows = ["| endpoint or contrast | CE's loss M0→M5 | TCE 0.9's | TCE 0.9's share of CE's loss avoided, or the "
            "difference of shares (95% paired bootstrap) | verdict |", "|---|---|---|---|---|"]
    for endpoint, e in result["endpoints"].items():
        if e["verdict"] != "not yet":
            kind = "Primary" if endpoint == result["primary"] else "Secondary"
            rows.append(f"| {kind}: {v2.ENDPOINTS[endpoint]} | {_v2_amount(endpoint, np.mean(e['baseline_loss']), True)} | "
                        f"{_v2_amount(endpoint, np.mean(e['method_loss']), True)} | {share_text(e)} | {_v2_word(e)} |")
    for c in result["contrasts"]:
        if c["verdict"] != "not yet":
            value = v2.contrast_text(c, "") if "ci_low" in c else "no share exists (CE lost nothing)"
            rows.append(f"| Mechanism: TCE 0.9 against {c['other']}, {v2.ENDPOINTS[c['endpoint']]} | | | {value} | "
                        f"{_v2_word(c)} |")
    return sentence + "\n\n" + "\n".join(rows)


def _v2_amount(endpoint: str, value: float, signed: bool = False) -> str:
    """A loss (``signed``: with its sign) or a spread on a v2 endpoint in its unit: accuracy in points, margins and
    NLLs in nats."""
    number = format(100 * value if endpoint == "kr_split0" else value, "+.3g" if signed else ".3g")
    return f"{number} {'pts' if endpoint == 'kr_split0' else 'nats'}"


def _v2_word(test: dict[str, Any]) -> str:
    """A v2 row's verdict cell: the plan's verdict in bold, or "interim" and how many seeds have finished."""
    return test["interim"] if "interim" in test else f"**{test['verdict']}**"


def v2_decider(result: dict[str, Any]) -> str:
    """What would decide the v2 primary where the plan's verdict is underpowered or inconclusive ("" where it is
    reproduced, partly or not reproduced): the seed pairs the spread of the finished pairs asks for to tell the
    paper's share from none (and how much of that spread is question sampling), or a setting in which CE degrades;
    before the planned count, the same projection."""
    e = result["endpoints"][result["primary"]]
    if e["verdict"] == judge.UNDERPOWERED or "interim" in e:
        power = seeds_for_power(e["method_loss"], e["baseline_loss"], paper=result["paper"], power=v2.PLAN["power"])
        sd, effect = (_v2_amount(result["primary"], power[k]) for k in ("sd", "effect"))
        spread = (f"at the spread of these {len(e['seeds'])} pairs (paired differences' standard deviation "
                  f"{sd}, the paper's share of CE's mean loss {effect}), {power['power']:.0%} power to tell the "
                  f"paper's share from none takes **{power_text(power)}** seed pairs")
        if power["effect"] > 0 and np.isfinite(power["sd"]):  # what the plan's counts could tell from none
            counts, ce_loss = result.get("planned") or v2.planned({}), power["effect"] / power["paper_share"]
            sizes = {f"the plan's minimum of {v2.MINIMUM['pairs']} pairs": v2.MINIMUM["pairs"]}
            if counts.get("pairs_set") and counts["pairs"] > v2.MINIMUM["pairs"]:
                sizes[f"its {counts['pairs']} pairs"] = counts["pairs"]
            detects = ", ".join(
                f"{stats.detectable_difference(n, power['sd'], power=v2.PLAN['power']) / ce_loss:.0%} at {what}"
                for what, n in sizes.items())
            spread += (f"; the smallest share detected with that power: {detects} (the paper's: "
                       f"{power['paper_share']:.0%})")
        sources, where = result.get("spread_sources"), ""
        if sources and math.isfinite(sources["question_share"]):  # would more questions per seed narrow it?
            where = (f"Question sampling gives {sources['question_share']:.0%} of that spread's variance (each "
                     f"seed's squared standard error over its {sources['questions']} split-0 questions); the rest is "
                     "training and each seed's own splits. ")
        if "interim" in e:  # a projection; the plan's sample size is the pilot's seeds' (fixed once they finish)
            counts, pilot = result.get("planned") or v2.planned({}), ", ".join(map(str, v2.PLAN["pilot_seeds"]))
            size = (f"the plan's sample size, {counts['pairs']} pairs, was set by the pilot's seeds {pilot} and "
                    "stays fixed" if
                    counts.get("pairs_set") else f"the plan's sample size comes from the pilot's seeds {pilot}")
            return f"So far, {spread}; {size}. {where}"
        return f"What would decide it: {spread}. {where}"
    if e["verdict"] == judge.INCONCLUSIVE:
        return ("What would decide it: a setting in which CE's own loss from M0 to M5 lies above 0 beyond the noise "
                "(more stages, or the regime ladder's next rung), since there is nothing to delay here. ")
    return ""


def other_endpoints_power(result: dict[str, Any]) -> str:
    """The seed pairs for the plan's power that the secondaries' spread so far asks for, on the primary's footing
    (the paper's KR-split 0 share of CE's mean loss on each): descriptive, outside the plan (which reads them at
    the primary's count), for whoever plans the next test; "" before two pairs or once the plan is complete."""
    if not result.get("primary") or v2.plan_complete(result):
        return ""
    rows = []
    for k, e in result["endpoints"].items():
        if k != result["primary"] and "method_loss" in e:
            pairs = power_text(seeds_for_power(e["method_loss"], e["baseline_loss"], result["paper"], v2.PLAN["power"]))
            rows.append(f"{v2.ENDPOINTS[k]}, {pairs}{' pairs' if pairs.isdigit() else ''}")
    return ("**The secondaries' power so far** (outside the plan, which reads them at the primary's count). At "
            f"the spread of the pairs finished, {v2.PLAN['power']:.0%} power to tell the paper's share of CE's "
            "mean loss from none takes these seed pairs (the paper gives no share on them: its KR-split 0 share "
            f"stands there, as in the verdicts): {'; '.join(rows)}." if rows else "")


def chosen_seeds_markdown(result: dict[str, Any]) -> str:
    """The disclosure that CE's runs on the regime pilot's seeds chose the setting, with the primary's share
    without them (outside the plan; :func:`fortifai.claims.decisive_v2.without_chosen_seeds`); "" where the pilot
    ran no seeds or the plan has no primary yet."""
    fresh = result.get("without_chosen_seeds")
    if not fresh or not fresh["excluded"]:
        return ""
    seeds = ", ".join(map(str, fresh["excluded"]))
    share = (f"{share_text(fresh, '95% paired bootstrap ', seeds=True)}" if "estimate" in fresh else
             f"from two such pairs on ({len(fresh['seeds'])} so far)")
    lost = ""
    if math.isfinite(fresh["ce_loss_chosen"]) and math.isfinite(fresh["ce_loss_fresh"]):
        chosen, other = (_v2_amount(result["primary"], fresh[k]) for k in ("ce_loss_chosen", "ce_loss_fresh"))
        lost = (f" On the primary CE lost {chosen} on them and {other} on the other {len(fresh['seeds'])} "
                f"seed{'s' if len(fresh['seeds']) > 1 else ''} (means).")
    return (f"**The seeds that chose the setting.** CE's runs on seeds {seeds} are the regime pilot's (the same "
            "configuration; \"Made twice\" below), and their loss made the go that chose this setting, so they may "
            f"overstate CE's loss.{lost} Outside the plan, the primary without seeds {seeds}: {share}.")


def v2_runs_markdown(recursive: dict[str, list[Run]], control: dict[str, list[Run]], primary: str | None) -> str:
    """Every v2 run finished through M5, stage by stage: the primary endpoint and held-out real-text NLL at M0..M5
    and what each lost from M0 to M5 (positive: worse), per arm, method and seed, with the precision its stages
    trained in (``precision: auto`` is bf16 only on a CPU with native bf16); the numbers behind the answer, shown
    from the first run on ("" before any)."""
    from ..recursive.runs import method_label
    shown = list(dict.fromkeys((primary or "kr_split0", "real_nll_heldout")))
    stages = v2.PLAN["stages"]
    rows = [f"| arm | loss | seed | {' | '.join(f'{v2.ENDPOINTS[e]}: M0 → M{stages - 1} (lost)' for e in shown)} | "
            "trained in |", "|---|---|---|" + "---|" * len(shown) + "---|"]
    for arm, per in (("recursive", recursive), ("control", control)):
        for method in sorted(per, key=lambda m: (m != v2.PLAN["baseline"], m != v2.PLAN["method"], m)):
            for run in sorted(per[method], key=lambda r: r.seed):
                if len(run.stages) < stages:
                    continue
                cells = []
                for e in shown:
                    accuracy = e == "kr_split0"
                    loss = v2.endpoint_loss(run, e)
                    cells.append(" → ".join(f"{v:.1%}" if accuracy else f"{v:.3f}" for v in run.values(e))
                                 + (f" ({loss * 100:+.1f} pts)" if accuracy else f" ({loss:+.3f})"))
                precision = ", ".join(sorted({str(st.get("train", {}).get("precision", "?")) for st in run.stages}))
                rows.append(f"| {arm} | {method_label(method)} | {run.seed} | {' | '.join(cells)} | {precision} |")
    return "\n".join(rows) if len(rows) > 2 else ""


def v2_progress_markdown(progress: dict[str, Any], left: dict[str, Any] | None = None) -> str:
    """The v2 runs still to run (``left``: :func:`fortifai.claims.decisive_v2.still_to_run`) and going, and the runs
    resumed across sessions by replaying finished stages' training (:func:`fortifai.claims.decisive_v2.progress`),
    each replay said identical to its recorded losses or not."""
    lines = []
    if left and left["runs"]:
        at = (f": at the {left['run_minutes']:.0f} min a finished v2 run recorded on average, {left['jobs']} side by "
              f"side, about {left['hours']:.0f} hours" if math.isfinite(left["run_minutes"]) else "")
        least = "" if left.get("pairs_set", True) else "at least "  # the pilot has not yet set the pairs
        lines.append(f"**Still to run for the plan's verdicts:** {least}{left['runs']} runs ("
                     + ", ".join(f"{m} {n}" for m, n in left["left"].items() if n) + f"){at}.")
    if progress["going"]:
        lines.append(f"**Runs going** (their finished stages are committed): {'; '.join(progress['going'])}.")
    if progress["replayed"]:
        same = sum(r["identical"] for r in progress["replayed"])
        differs = "NOT identical: the later stages start from a model that differs in the last digits"
        lines.append(f"**Runs resumed across sessions:** {len(progress['replayed'])}, each by training its finished "
                     "stages again from their committed text (no weights are committed); the replayed training "
                     f"losses equal the recorded ones in {same} of them: "
                     + "; ".join(f"{r['run']} (M{min(r['stages'])}-M{max(r['stages'])} replayed, "
                                 f"{'identical' if r['identical'] else differs})" for r in progress["replayed"]) + ".")
    for t in progress.get("twins", []):
        same = (f"every measure and every regenerated text identical at M0-M{t['both'] - 1}"
                if t["same"] == t["both"] else f"identical at M0-M{t['same'] - 1} only, of M0-M{t['both'] - 1}"
                if t["same"] else f"different from M0 on (of M0-M{t['both'] - 1})")
        lines.append(f"**Made twice:** {t['run']} has the configuration of `{t['twin']}`, made earlier from another "
                     f"commit: {same} (same seed, same result on CPU).")
    return "\n\n".join(lines)


def v2_changes_markdown() -> str:
    """The changes to the v2 plan after its first run existed (:data:`fortifai.claims.decisive_v2.CHANGES`), each
    with its date and its effect on the verdicts; or that there is none."""
    from .decisive_v2 import CHANGES

    if not CHANGES:
        return "**Changes to the v2 plan after its first run:** none."
    return "**Changes to the v2 plan after its first run:**\n\n" + "\n".join(
        f"- {c['date']}: {c['change']} Effect on the verdicts: {c['effect']}" for c in CHANGES)


def v2_section(finished: dict[tuple, list[Run]], started: dict[tuple, list[Run]], preset: dict[str, Any] | None,
               pilot: dict[str, Any], twins: str | None = None) -> dict[str, Any]:
    """The chapter's v2 section from the runs by (setting, method), ``finished`` ones and every one ``started``:
    the plan's ``result`` (:func:`fortifai.claims.decisive_v2.v2_test`), its ``answer``, the v2 ``settings`` (their
    generic rows are folded), the ``body`` below the answer (runs table, what is still to run and going, the plan's
    changes and rules) and the ``figure`` (None before any run)."""
    arms = v2.v2_arms(finished, preset)
    result = v2.v2_test(*arms, pilot)
    started_arms = v2.v2_arms(started, preset)  # every v2 run at M0 or later, by arm
    left = v2.still_to_run(result, [r for arm in arms for runs in arm.values() for r in runs])
    body = [chosen_seeds_markdown(result), other_endpoints_power(result), v2_runs_markdown(*arms, result.get("primary")),
            v2_progress_markdown(v2.progress(*started_arms, twins=twins), left), v2_changes_markdown(),
            "The share's rule is the first test's (next section), on the loss from M0 to M5. The mechanism "
            f"contrasts' rule: {v2.CONTRAST_RULE}; half the paper's share is "
            f"{v2.SMALLEST_CONTRAST * result['paper']:.1%} (Table D2's KR-split 0; the paper gives no share on "
            "held-out NLL, and the same number stands there)."]
    return dict(result=result, answer=v2_answer_markdown(result, preset is not None),
                settings=v2.v2_settings(started_arms), body="\n\n".join(b for b in body if b),
                figure=v2_figure(*arms, result.get("primary")))
