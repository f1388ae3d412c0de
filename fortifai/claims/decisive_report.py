"""The decisive test rendered: its table, answer, per-seed table, figure and the disclosures beside them, from
what :mod:`fortifai.claims.decisive` (the plan, its statistics and its rule) computes.

    display(Markdown(decisive_markdown(decisive_test(*arms))))
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

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


def trajectories(ax, arms, methods: list[str], values, colours: dict[str, str]) -> None:
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
        trajectories(ax, arms, methods, lambda run, e=endpoint: endpoint_values(run, e),
                      {m: f"C{j}" for j, m in enumerate(methods)})
        ax.set(title=TITLES[endpoint], xlabel="stage (model $M_i$)", xticks=range(PLAN["stages"]))
    axes[0].legend(fontsize=7)
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
