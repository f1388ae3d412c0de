"""The decisive test rendered: its table, answer, per-seed table, figure and the disclosures beside them, from
what :mod:`fortifai.claims.decisive` (the plan, its statistics and its rule) computes.

    display(Markdown(decisive_markdown(decisive_test(*arms))))
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import stats
from ..recursive.runs import Run
from . import judge
from .decisive import (ENDPOINTS, JUDGED_AGAINST, PLAN, SWEEP, SWEEP_RULE_CHANGE, TITLES, endpoint_values,
                       power_text, share_text)
from .llm import paired


def sweep_size_markdown(size: dict[str, Any] | None) -> str:
    """:func:`sweep_size` in words: the number of seed pairs and where it comes from."""
    if size is None:
        return f"The sweep's size waits for the pilot's seeds {', '.join(map(str, SWEEP['pilot_seeds']))}, both losses."
    p = size["power"]
    if size["nothing_to_delay"]:
        return (f"**Sweep size, from the pilot** (seeds {', '.join(map(str, size['pilot_seeds']))}): CE lost nothing "
                f"on the primary endpoint over the pilot (mean loss {p['effect'] / p['paper_share']:+.3g}), so the "
                f"paper's share of it is no effect to power for; the main sweep runs the minimum, **{size['pairs']} "
                f"pairs**, which the secondaries and the rule's own test of CE's loss use. A pair took "
                f"{'at least ' if size['lower_bound'] else ''}{size['pair_minutes']:.0f} min.\n\n"
                f"**A change after the pilot, disclosed.** {SWEEP_RULE_CHANGE} As first written, the rule would have "
                f"run what {size['budget_hours']:.0f} hours hold at {size['pair_minutes']:.1f} min per pair beside the "
                f"control arm: **{size['first_rule_pairs']} pairs**; {size['pairs']} were run. The primary endpoint's "
                f"verdict could not have changed (CE's loss is not above 0 whatever the number of pairs); a secondary "
                f"whose CE loss is positive but noisy (KR accuracy) might have passed its gate with more pairs.")
    text = (f"**Sweep size, from the pilot** (seeds {', '.join(map(str, size['pilot_seeds']))}): the paper's share "
            f"{p['paper_share']:.0%} of CE's mean loss on the primary endpoint is a paired difference of "
            f"{p['effect']:.3g} nats; the pilot's paired differences spread by {p['sd']:.3g} (standard deviation), so "
            f"{p['power']:.0%} power at the 5% level takes **{power_text(p)}** seed pairs (paired t-test, noncentral "
            f"t). A pair took {'at least ' if size['lower_bound'] else ''}{size['pair_minutes']:.0f} min (the time its "
            f"runs recorded, two side by side{'; their scoring was not timed' if size['lower_bound'] else ''}), so "
            f"{size['budget_hours']:.0f} hours of these two cores hold {'at most ' if size['lower_bound'] else ''}"
            f"{size['fit']} pairs beside the control arm's {len(size['control_seeds'])}. The main sweep runs "
            f"**{size['pairs']} pairs** (at least {size['min_pairs']}).")
    if size["rest_hours"] > 0:
        text += (f" The pairs the power asks for beyond those would take {'at least ' if size['lower_bound'] else ''}"
                 f"{size['rest_hours']:.0f} more "
                 "hours of the same machine." if math.isfinite(size["rest_hours"]) else
                 " The pilot gives no number of pairs that reaches that power.")
    return text


def decisive_markdown(result: dict[str, Any]) -> str:
    """The plan and, where runs are in, each endpoint's share of CE's loss avoided with its verdict, as a table."""
    rows = ["| endpoint | seeds (KR questions on split 0) | CE's loss M0→M3 | TCE 0.9's | share of CE's loss avoided "
            "(95% paired bootstrap) | verdict | seed pairs for 80% power | CE's loss from self-consumption "
            "(recursive minus control arm, 95% paired t) |", "|---|---|---|---|---|---|---|---|"]
    for endpoint, e in result["endpoints"].items():
        if not e["seeds"]:
            rows.append(f"| {ENDPOINTS[endpoint]} | 0 | | | | {e['verdict']} | | |")
            continue
        questions = ", ".join(str(n) for n in e["questions"])
        cost = e.get("self_consumption")
        cost_text = (f"{cost['difference']:+.3g} [{cost['ci_low']:+.3g}, {cost['ci_high']:+.3g}] over "
                     f"{len(cost['seeds'])} seeds" if cost else "needs two seeds of both arms")
        rows.append(f"| {ENDPOINTS[endpoint]} | {len(e['seeds'])} ({questions}) | {np.mean(e['baseline_loss']):+.3g} "
                    f"| {np.mean(e['method_loss']):+.3g} | {share_text(e)} | **{e['verdict']}**: "
                    f"{e['why']} | {power_text(e['power'])} | {cost_text} |")
    against = "; ".join(f"{TITLES[k]}: {JUDGED_AGAINST[k]}" for k in result["endpoints"])
    return "\n".join(rows) + f"\n\nWhat each verdict is judged against: {against}."


def answer_markdown(result: dict[str, Any], label: str = "") -> str:
    """The chapter's opening answer from :func:`decisive_test`'s ``result``: one plain sentence with the primary
    endpoint's verdict, then a table of a few rows (endpoint, CE's loss, TCE 0.9's, the share avoided, the paper's
    value on the same footing, the verdict). ``label``: the setting's regime (:func:`fortifai.claims.llm.
    regime_label`)."""
    primary = result["endpoints"][PLAN["primary"]]
    if not primary["seeds"]:
        return "**The answer** waits for the decisive test's runs (no seed has CE and TCE 0.9 through M3 yet)."
    interaction = primary.get("interaction")
    pairs = len(primary["seeds"])
    sentence = (f"**The answer, from the decisive test{label}** ({pairs} seed pair{'' if pairs == 1 else 's'} of "
                f"CE and TCE 0.9, {PLAN['setting']}; "
                + (f"the control arm beside them on seeds {', '.join(map(str, interaction['seeds']))}" if interaction
                   else "the control arm not yet on two of these seeds")
                + f"): on its primary endpoint the central claim is **{primary['verdict']}**: {primary['why']}.")
    paper = f"{result['paper_share_same_length']:.0%} by M3, {result['paper_share']:.0%} by M5"
    rows = ["| endpoint | CE's loss M0→M3 | TCE 0.9's | share of CE's loss avoided | paper (Table D2's share on "
            "KR-split 0 accuracy, the only measure it gives) | verdict |", "|---|---|---|---|---|---|"]
    for endpoint in (PLAN["primary"], *PLAN["secondaries"]):
        e = result["endpoints"][endpoint]
        if e["seeds"]:
            kind = "Primary" if endpoint == PLAN["primary"] else "Secondary"
            rows.append(f"| {kind}: {ENDPOINTS[endpoint]} | {np.mean(e['baseline_loss']):+.3g} | "
                        f"{np.mean(e['method_loss']):+.3g} | {share_text(e, '95% paired bootstrap ')} | "
                        f"{paper} | **{e['verdict']}** |")
    return sentence + "\n\n" + "\n".join(rows)


def per_seed_markdown(recursive: dict[str, list[Run]], control: dict[str, list[Run]] | None = None) -> str:
    """Every seed's M0 and M3 values of each endpoint, CE beside TCE 0.9, per arm: the numbers behind the figure's
    thin lines (runs not yet at M3 are left out)."""
    from ..recursive.runs import method_label

    last = PLAN["stages"] - 1
    endpoints = (PLAN["primary"], *PLAN["secondaries"])
    head = " | ".join(f"{TITLES[e]}: {method_label(m)}" for e in endpoints for m in (PLAN["baseline"], PLAN["method"]))
    rows = [f"| arm | seed (KR questions) | {head} |", "|---|---|" + "---|" * (2 * len(endpoints))]
    for arm, runs_by_method in (("recursive", recursive), ("control", control or {})):
        pairs = [(m, c) for m, c in paired(runs_by_method.get(PLAN["method"], []),
                                           runs_by_method.get(PLAN["baseline"], []))
                 if len(m.stages) > last and len(c.stages) > last]
        for method_run, ce_run in pairs:  # in seed order
            cells = [f"{values[0]:.3f} → {values[last]:.3f}" for e in endpoints
                     for values in (endpoint_values(ce_run, e), endpoint_values(method_run, e))]
            n = ce_run.stages[0].get("kr", {}).get("0", {}).get("n")
            rows.append(f"| {arm} | {ce_run.seed} ({n}) | " + " | ".join(cells) + " |")
    return "\n".join(rows) if len(rows) > 2 else ""


def m0_agreement_markdown(rows: list[dict[str, Any]]) -> str:
    """:func:`m0_agreement` as a table, with the largest NLL difference in words (empty before both arms are in)."""
    from ..recursive.runs import method_label

    if not rows:
        return ""
    lines = ["| loss | seed | KR margins at M0, largest difference | training loss, difference | split 0's real NLL "
             "at M0, recursive arm | control arm | difference |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {method_label(r['method'])} | {r['seed']} | {r['margin_difference']:.2g} | "
                     f"{r['train_loss_difference']:.2g} | {r['nll_recursive']:.4f} | {r['nll_control']:.4f} | "
                     f"{r['nll_difference']:+.4f} |")
    measured = [r for r in rows if np.isfinite(r["nll_difference"])]
    if not measured:
        return "\n".join(lines)
    largest = max(measured, key=lambda r: abs(r["nll_difference"]))
    return ("\n".join(lines) + f"\n\nThe largest difference in split 0's real NLL at M0 between the arms: "
            f"{abs(largest['nll_difference']):.4f} nats ({method_label(largest['method'])}, seed {largest['seed']}).")


def _trajectories(ax, arms, methods: list[str], values, colours: dict[str, str]) -> None:
    """On ``ax``, each method of each arm (``(name, runs by method, line style)``) through the stages: thin lines
    per seed, the mean over seeds bold; ``values(run)`` the run's per-stage values."""
    from ..recursive.runs import method_label

    for method in methods:
        for arm, runs_by_method, style in arms:
            runs = runs_by_method.get(method, [])
            if not runs:
                continue
            rows = [values(run) for run in runs]
            width = max(map(len, rows))
            matrix = np.array([v + [math.nan] * (width - len(v)) for v in rows], dtype=float)
            for row in matrix:
                ax.plot(range(width), row, style, color=colours[method], lw=0.6, alpha=0.35)
            ax.plot(range(width), np.nanmean(matrix, axis=0), style, color=colours[method], lw=2.2, marker="o",
                    label=f"{method_label(method)}, {arm} ({len(runs)} seed{'' if len(runs) == 1 else 's'})")


def decisive_figure(recursive: dict[str, list[Run]], control: dict[str, list[Run]] | None = None):
    """Per seed, each endpoint through the stages: CE and TCE 0.9 (colour), recursive arm (solid) and control arm
    (dashed), thin lines per seed and the mean over seeds bold. Returns the matplotlib figure."""
    import matplotlib.pyplot as plt

    endpoints = (PLAN["primary"], *PLAN["secondaries"])
    methods = [PLAN["baseline"], PLAN["method"]]
    fig, axes = plt.subplots(1, len(endpoints), figsize=(4.4 * len(endpoints), 3.6))
    arms = (("recursive", recursive, "-"), ("control", control or {}, "--"))
    for ax, endpoint in zip(axes, endpoints):
        _trajectories(ax, arms, methods, lambda run, e=endpoint: endpoint_values(run, e),
                      {m: f"C{j}" for j, m in enumerate(methods)})
        ax.set(title=TITLES[endpoint], xlabel="stage (model $M_i$)", xticks=range(PLAN["stages"]))
    axes[0].legend(fontsize=7)
    return fig


def v2_figure(recursive: dict[str, list[Run]], control: dict[str, list[Run]], primary: str | None):
    """The v2 test's runs through M0..M5 as the change from M0 (positive: worse, the plan's loss), one panel per
    endpoint (the primary first): every arm and loss, thin lines per seed and the mean bold; on the KR-split 0
    panel, the paper's Table D2 rows of the same losses (LLaMA-3.2-1B), the footing of the paper's share. None
    before any v2 run has a stage."""
    import matplotlib.pyplot as plt

    from ..recursive.runs import method_label, paper_tables
    from . import decisive_v2 as v2

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

        _trajectories(ax, arms, methods, loss, colours)
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


def other_methods_markdown(result: dict[str, dict[str, Any]]) -> str:
    """:func:`other_methods` as a table (empty text before any of their runs is in)."""
    from ..recursive.runs import method_label

    if not result:
        return ""
    plan = method_label(PLAN["method"])
    rows = ["| loss | endpoint | seeds | CE's loss M0→M3 | the loss's | share of CE's loss avoided (95% paired "
            f"bootstrap) | {plan}'s share on the same seeds |", "|---|---|---|---|---|---|---|"]
    for method, endpoints in result.items():
        for endpoint, e in endpoints.items():
            beside = share_text(e["plan_method"]) if e.get("plan_method") else "not run on these seeds"
            rows.append(f"| {method_label(method)} | {ENDPOINTS[endpoint]} | {', '.join(map(str, e['seeds']))} | "
                        f"{np.mean(e['baseline_loss']):+.3g} | {np.mean(e['method_loss']):+.3g} | {share_text(e)} | "
                        f"{beside} |")
    return ("**The paper's other losses in the same setting** (exploratory: the plan's rule was fixed for TCE 0.9 "
            "alone, so these rows carry no verdict)\n\n" + "\n".join(rows))


def other_settings_markdown(entries: list[dict[str, Any]]) -> str:
    """:func:`other_settings` as a table."""
    def percent(value, digits=0):
        return "–" if value is None else format(value, f".{digits}%")

    rows = ["| setting | measured KR chance | TCE 0.9 masks at M0 | what it can say of the central claim |",
            "|---|---|---|---|"]
    for e in entries:
        rows.append(f"| {e['setting']} | {percent(e['chance'])} | {percent(e['masked'], 1)} | "
                    f"{e['cannot_test'] or 'its gates pass (runs made before the decisive test: their claims are below)'} |")
    return "\n".join(rows)


def raw_margin_markdown(raw: dict) -> str:
    """:func:`raw_margin_difference` in a sentence per arm."""
    if "recursive" not in raw:
        return ""
    words = {"recursive": "on its own regenerated text", "control": "on real text only (control arm)"}
    parts = [f"{words[arm]}, {r['difference']:+.3f} nats (paired t 95% [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}], "
             f"{len(r['seeds'])} seeds)" for arm, r in raw.items()]
    return ("**The raw paired result on the primary endpoint**: TCE 0.9's M0-to-M3 loss of split-0 KR margin minus "
            "CE's, " + "; ".join(parts) + ". Positive: TCE 0.9 gains less margin than CE (or loses more), "
            "whether or not the text is the model's own where both arms agree.")


def v2_answer_markdown(result: dict[str, Any], preset_written: bool) -> str:
    """The v2 decisive test's answer, the chapter's first: one plain sentence, then a table of a few rows (the
    primary, the secondaries, the mechanism contrasts), from :func:`fortifai.claims.decisive_v2.v2_test`; before
    its runs, what it waits for and the seeds each arm has finished against what the plan asks for."""
    from . import decisive_v2 as v2

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
            rows.append(f"| {kind}: {v2.ENDPOINTS[endpoint]} | {np.mean(e['baseline_loss']):+.3g} | "
                        f"{np.mean(e['method_loss']):+.3g} | {share_text(e)} | {_v2_word(e)} |")
    for c in result["contrasts"]:
        if c["verdict"] != "not yet":
            value = (f"{c['difference']:+.0%} [{c['ci_low']:+.0%}, {c['ci_high']:+.0%}]" if "ci_low" in c
                     else "no share exists (CE lost nothing)")
            rows.append(f"| Mechanism: TCE 0.9 against {c['other']}, {v2.ENDPOINTS[c['endpoint']]} | | | {value} | "
                        f"{_v2_word(c)} |")
    return sentence + "\n\n" + "\n".join(rows)


def _v2_word(test: dict[str, Any]) -> str:
    """A v2 row's verdict cell: the plan's verdict in bold, or "interim" and how many seeds have finished."""
    return test["interim"] if "interim" in test else f"**{test['verdict']}**"


def v2_decider(result: dict[str, Any]) -> str:
    """What would decide the v2 primary where the plan's verdict is underpowered or inconclusive ("" where it is
    reproduced, partly or not reproduced): the seed pairs the spread of the finished pairs asks for to tell the
    paper's share from none, or a setting in which CE degrades; before the planned count, the same projection."""
    from . import decisive_v2 as v2
    from .decisive import seeds_for_power

    e = result["endpoints"][result["primary"]]
    if e["verdict"] == judge.UNDERPOWERED or "interim" in e:
        power = seeds_for_power(e["method_loss"], e["baseline_loss"], paper=result["paper"], power=v2.PLAN["power"])
        spread = (f"at the spread of these {len(e['seeds'])} pairs (paired differences' standard deviation "
                  f"{power['sd']:.3g}, the paper's share of CE's mean loss {power['effect']:.3g}), {power['power']:.0%} "
                  f"power to tell the paper's share from none takes **{power_text(power)}** seed pairs")
        if power["effect"] > 0 and np.isfinite(power["sd"]):  # what the plan's smallest count could tell from none
            n, ce_loss = v2.MINIMUM["pairs"], power["effect"] / power["paper_share"]
            detectable = stats.detectable_difference(n, power["sd"], power=v2.PLAN["power"]) / ce_loss
            spread += (f"; at the plan's minimum of {n} pairs, the share it detects with that power is "
                       f"{detectable:.0%} (the paper's: {power['paper_share']:.0%})")
        if "interim" in e:  # a projection, not the plan's sample size (that comes from the pilot's seeds)
            return (f"So far, {spread}; the plan's sample size comes from the pilot's seeds "
                    f"{', '.join(map(str, v2.PLAN['pilot_seeds']))}. ")
        return f"What would decide it: {spread}. "
    if e["verdict"] == judge.INCONCLUSIVE:
        return ("What would decide it: a setting in which CE's own loss from M0 to M5 lies above 0 beyond the noise "
                "(more stages, or the regime ladder's next rung), since there is nothing to delay here. ")
    return ""


def v2_runs_markdown(recursive: dict[str, list[Run]], control: dict[str, list[Run]], primary: str | None) -> str:
    """Every v2 run finished through M5, stage by stage: the primary endpoint and held-out real-text NLL at M0..M5
    and what each lost from M0 to M5 (positive: worse), per arm, method and seed, with the precision its stages
    trained in (``precision: auto`` is bf16 only on a CPU with native bf16); the numbers behind the answer, shown
    from the first run on ("" before any)."""
    from ..recursive.runs import method_label
    from . import decisive_v2 as v2

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
    from . import decisive_v2 as v2

    arms = v2.v2_arms(finished, preset)
    result = v2.v2_test(*arms, pilot)
    started_arms = v2.v2_arms(started, preset)  # every v2 run at M0 or later, by arm
    left = v2.still_to_run(result, [r for arm in arms for runs in arm.values() for r in runs])
    body = [v2_runs_markdown(*arms, result.get("primary")),
            v2_progress_markdown(v2.progress(*started_arms, twins=twins), left), v2_changes_markdown(),
            "The share's rule is the first test's (next section), on the loss from M0 to M5. The mechanism "
            f"contrasts' rule: {v2.CONTRAST_RULE}."]
    return dict(result=result, answer=v2_answer_markdown(result, preset is not None),
                settings=v2.v2_settings(started_arms), body="\n\n".join(b for b in body if b),
                figure=v2_figure(*arms, result.get("primary")))
