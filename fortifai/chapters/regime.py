"""The regime, visible: what fine-tuning did to M0 in every setting, beside the paper's setting and the
calibration's points (:mod:`fortifai.claims.regime`, :mod:`fortifai.experiments.calibration`).

    display(Markdown(regime_markdown(chapter.started, choice)))   # one row per setting, then the calibration
    figure = calibration_figure(choice)                           # held-out damage against KR gain over chance
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..claims import regime
from ..recursive.runs import Run, paper_setting, paper_tables, setting_name


def _mean(values) -> float:
    values = [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return float(np.mean(values)) if values else math.nan


def m0_values(runs: Sequence[Run]) -> dict[str, float]:
    """Means over ``runs`` of what :func:`fortifai.claims.regime.point_values` reads from their M0 (nan where a run
    did not record it), with the tokens of split 0, the epochs, the learning rate and the optimizer steps."""
    rows = []
    for run in runs:
        values = regime.point_values(run.stages[0])
        params = run.params
        rows.append(dict(values, split_tokens=values["train_tokens"], epochs=params["epochs"],
                         learning_rate=params["learning_rate"],
                         steps=regime.optimizer_steps(values["train_blocks"], params["epochs"], params["batch_size"])))
    keys = ("split_tokens", "epochs", "learning_rate", "steps", "heldout_nll", "base_heldout_nll", "split0_nll",
            "share_above_09", "kr_split0", "kr_chance", "kr_questions", "masked_fraction")
    return {key: _mean(row[key] for row in rows) for key in keys} if rows else {}


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _cell(value, fmt: str) -> str:
    return "n/a" if _missing(value) else format(value, fmt)


def _percent(value, fmt: str = ".1f") -> str:
    return "n/a" if _missing(value) else f"{100 * value:{fmt}}%"


def regime_rows(started: Mapping[tuple, Sequence[Run]]) -> list[dict[str, Any]]:
    """One row per setting with CE runs at M0: its CE runs' :func:`m0_values`, and TCE 0.9's masked fraction."""
    rows = []
    for (setting, method), runs in started.items():
        if method != "ce":
            continue
        tce = started.get((setting, "tce-0.9"), [])
        row = dict(setting=setting_name(setting), seeds=len(runs), **m0_values(runs))
        row["tce_masked"] = m0_values(tce).get("masked_fraction", math.nan) if tce else math.nan
        rows.append(row)
    return rows


def regime_markdown(started: Mapping[tuple, Sequence[Run]], choice: Mapping[str, Any] | None) -> str:
    """The regime table: the paper's setting, every committed setting and every calibration point (CE seeds'
    means), with the regime criteria (a)-(e) under it."""
    paper = paper_setting()
    paper_m0 = paper_tables()["D2"]["values"]["ce"]["kr_split0"][0]
    header = ("| setting | seeds | tokens per split | epochs | LR | optimizer steps at M0 | held-out NLL, M0 (base) "
              "| split-0 NLL, M0 | trained tokens above p = 0.9 | KR-split 0 at M0 (measured chance) "
              "| TCE 0.9 masked at M0 |\n|---|---|---|---|---|---|---|---|---|---|---|")
    lines = [header, f"| the paper (LLaMA-3.2-1B, WikiText-2) | 1 | {paper['split']} | {paper['epochs']} | "
                     f"{paper['learning rate']} | n/a | n/a | n/a | n/a | "
                     f"{_percent(paper_m0)} (50% assumed) | n/a |"]

    def line(name, seeds, v, masked):
        return (f"| {name} | {seeds} | {_cell(v['split_tokens'], '.0f')} | {_cell(v['epochs'], '.0f')} | "
                f"{_cell(v['learning_rate'], '.0e')} | {_cell(v['steps'], '.0f')} | {_cell(v['heldout_nll'], '.2f')} "
                f"({_cell(v['base_heldout_nll'], '.2f')}) | {_cell(v['split0_nll'], '.2f')} | "
                f"{_percent(v['share_above_09'], '.0f')} | {_percent(v['kr_split0'])} ({_percent(v['kr_chance'])}) | "
                f"{_percent(masked)} |")

    for row in regime_rows(started):
        lines.append(line(row["setting"] + (" *(memorisation regime)*" if row["heldout_nll"] - row["base_heldout_nll"]
                                            > regime.CRITERIA["a"]["max"] else ""), row["seeds"], row, row["tce_masked"]))
    for point in calibration_points(choice):
        lines.append(line(f"calibration: {point['split_paragraphs']} leads, {point['epochs']} "
                          f"epoch{'s' if point['epochs'] > 1 else ''}, "
                          f"LR {point['learning_rate']:.0e}", point["seeds"], point, point["tce_masked"]))
    criteria = "; ".join(f"({k}) {c['text']}" for k, c in regime.CRITERIA.items())
    return "\n".join(lines) + f"\n\nThe regime criteria, fixed in code before the calibration runs: {criteria}."


def calibration_points(choice: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The calibration's CE points, means over their seeds (with TCE 0.9's masked fraction where it ran)."""
    if not choice:
        return []
    out: dict[tuple, dict] = {}
    for p in choice["points"]:
        key = (p["split_paragraphs"], p["epochs"], p["learning_rate"])
        out.setdefault(key, {"ce": [], "tce-0.9": []})[p["loss"]].append(p)
    rows = []
    for (split, epochs, lr), runs in sorted(out.items()):
        if not runs["ce"]:
            continue
        ce = runs["ce"]
        row = {k: _mean(r.get(k) for r in ce) for k in ("heldout_nll", "base_heldout_nll", "split0_nll",
                                                      "share_above_09", "kr_split0", "kr_chance", "kr_gain",
                                                      "heldout_damage", "split_tokens", "optimizer_steps")}
        rows.append(dict(row, split_paragraphs=split, epochs=epochs, learning_rate=lr, seeds=len(ce),
                         steps=row["optimizer_steps"],
                         tce_masked=_mean(r.get("masked_fraction") for r in runs["tce-0.9"])))
    return rows


def choice_markdown(choice: Mapping[str, Any] | None) -> str:
    """What the calibration chose, by which rule, and the pilot's verdict so far."""
    if not choice:
        return "No calibration runs yet (`python scripts/regime_calibration.py`)."
    chosen, pilot = choice["chosen"], choice["pilot"]
    n = len(choice["points"])
    if chosen["point"] is None:
        return f"{n} calibration runs, none of CE yet."
    p = chosen["point"]
    far = chosen["distance"]
    how = ("passes every criterion" if chosen["rule"] == "passes" else
           "is the nearest, with no point passing yet (" + (f"distance {far:.2f}, the summed relative shortfalls)"
                                                            if far is not None else "no TCE 0.9 run yet)"))
    verdict = pilot.get("verdict") or "not run yet"
    return (f"Over {n} calibration runs, the point {p['split_paragraphs']} leads per split, {p['epochs']} epochs, "
            f"LR {p['learning_rate']:.0e} {how}: KR gain over chance {100 * p['kr_gain']:.1f} points. The CE pilot "
            f"in that regime (six stages, {pilot['rule']}): {verdict}.")


def calibration_figure(choice: Mapping[str, Any] | None):
    """Held-out damage (M0's held-out NLL minus the base model's) against KR gain over chance, one point per CE
    calibration run (marker: split size; size: epochs; colour: learning rate), the criteria's lines and the chosen
    point ringed; None without calibration runs."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    points = [p for p in (choice or {}).get("points", []) if p["loss"] == "ce"]
    if not points:
        return None
    fig, ax = plt.subplots(figsize=(7.4, 4.4))
    sizes = sorted({p["split_paragraphs"] for p in points})
    markers = dict(zip(sizes, "os^D"))
    scatter = None
    for size in sizes:
        group = [p for p in points if p["split_paragraphs"] == size]
        scatter = ax.scatter([100 * p["kr_gain"] for p in group], [p["heldout_damage"] for p in group],
                             marker=markers[size], c=[np.log10(p["learning_rate"]) for p in group], cmap="viridis",
                             vmin=-4.8, vmax=-4, s=[30 * p["epochs"] for p in group], edgecolors="k")
    chosen = (choice.get("chosen") or {}).get("point")
    if chosen:
        mine = [p for p in points if (p["split_paragraphs"], p["epochs"], p["learning_rate"]) ==
                (chosen["split_paragraphs"], chosen["epochs"], chosen["learning_rate"])]
        ax.scatter([100 * p["kr_gain"] for p in mine], [p["heldout_damage"] for p in mine], s=400,
                   facecolors="none", edgecolors="crimson", linewidths=1.5)
    ax.axhline(regime.CRITERIA["a"]["max"], color="grey", ls="--", lw=1)
    ax.axvline(100 * regime.CRITERIA["b"]["min"], color="grey", ls=":", lw=1)
    ax.set(xlabel="KR-split 0 at M0 minus measured chance (points)", ylabel="held-out NLL, M0 minus base (nats)",
           title="Calibration at M0: learning (right) without damage (below the dashed line)")
    handles = [Line2D([], [], marker=markers[size], ls="", color="grey", markeredgecolor="k",
                      label=f"{size} leads per split") for size in sizes]
    if chosen:
        handles.append(Line2D([], [], marker="o", ls="", markersize=12, markerfacecolor="none",
                              markeredgecolor="crimson", label="chosen (both seeds)"))
    ax.legend(handles=handles, title="marker size: epochs", fontsize=8, title_fontsize=8, loc="upper left",
              bbox_to_anchor=(1.22, 1.0))
    fig.colorbar(scatter, ax=ax, label="log10 learning rate")
    return fig


def changes_markdown(choice: Mapping[str, Any] | None) -> str:
    """Every change to the regime rule after a calibration run existed: its date, what it changed, its effect."""
    changes = (choice or {}).get("changes") or regime.CHANGES
    if not changes:
        return "No change to the regime rule after the first calibration run."
    return "Changes to the regime rule after the first calibration run existed:\n\n" + "\n".join(
        f"- {c['date']}, after {c['after']}: {c['change']}. {c['effect'][0].upper() + c['effect'][1:]}."
        for c in changes)


SCALE = 4  # the estimate's text per split, in multiples of today's decisive split


def speed_markdown(benchmark: Mapping[str, Any] | None, today: Sequence[Run]) -> str:
    """Where a stage's time goes on one core (``results/benchmarks/recursive.json``), and the projected minutes of a
    six-stage run at :data:`SCALE` times the text per split of the runs ``today`` (and their epochs, with as many
    held-out leads as :data:`fortifai.claims.regime.BASE`), trained in bf16 where it is native and in fp32."""
    if not benchmark:
        return "No benchmark of the recursive engine committed (`python benchmarks/recursive.py --json ...`)."
    values = m0_values(today)
    if not values:
        return "No decisive runs to scale the estimate from."
    split_tokens = SCALE * values["split_tokens"]
    heldout_tokens = values["split_tokens"] / today[0].params["split_paragraphs"] * regime.BASE["heldout_paragraphs"]
    epochs = int(values["epochs"])
    train, regen, evaluation = benchmark["training"], benchmark["regeneration"], benchmark["evaluation"]
    rows = [
        "| phase (one core) | before | now | speed-up | achieved |", "|---|---|---|---|---|",
        f"| training ({benchmark['precision']}) | | {train['tokens_per_s']:.0f} tokens/s | | "
        f"{train['gflops']:.0f} GFLOP/s |",
        f"| regeneration (stream contexts → paragraph contexts, one prefill) | {regen['reference_tokens_per_s']:.1f} "
        f"tokens/s | {regen['tokens_per_s']:.1f} tokens/s | {regen['speedup']:.2f}x | {regen['gflops']:.0f} GFLOP/s, "
        f"{100 * regen['flop_share']:.0f}% of the fp32 peak; {100 * regen['identical_windows']:.0f}% of "
        f"{regen['windows']} windows token-identical to prefilling each alone |",
        f"| evaluation (per measure → one pass) | {evaluation['reference_seconds']:.1f} s | "
        f"{evaluation['seconds']:.1f} s | {evaluation['speedup']:.2f}x | largest difference "
        f"{max(evaluation['max_abs_difference'].values()):.1e} |",
    ]
    estimates = []
    for precision in ("auto", "fp32"):
        try:
            rates = regime.benchmark_rates(benchmark, precision)
        except (KeyError, TypeError):
            continue
        if rates["training_tokens_per_s"]:
            label = f"{benchmark['precision']} (native here)" if precision == "auto" else "fp32 (no native bf16)"
            estimates.append(f"{regime.projected_minutes(split_tokens, heldout_tokens, epochs, rates):.0f} min "
                             f"training in {label}")
    return ("\n".join(rows) + f"\n\nMeasured on {benchmark['cpu_capability']} (peak {benchmark['peak_gflops_fp32']:.0f}"
            f" GFLOP/s fp32, {benchmark['peak_gflops_bf16']:.0f} bf16, one thread). A six-stage run of "
            f"{split_tokens:.0f} tokens per split ({SCALE} times the decisive test's) and {epochs} "
            f"epoch{'s' if epochs > 1 else ''}, projected on one "
            f"core: " + "; ".join(estimates) + ".")


def pilot_runs(choice: Mapping[str, Any] | None, pilot_dir: Path | None = None) -> list[dict[str, Any]]:
    """Every run of the CE pilot so far, rung by rung (the rungs ``choice.json`` judged, or rung 0 before any):
    its rung, arm, seed, folder and split 0's KR accuracy and mean margin at each finished stage."""
    from ..experiments import calibration
    from ..recursive.config import run_folder_name
    from ..recursive.protocol import RunFiles
    from ..results import read_json

    if not choice or choice["chosen"]["point"] is None:
        return []
    pilot_dir = calibration.PILOT_DIR if pilot_dir is None else Path(pilot_dir)
    rungs = [r["rung"] for r in choice["pilot"].get("rungs", [])] or [0]
    out = []
    for rung in rungs:
        for regenerate, seeds in ((True, regime.PILOT["seeds"]), (False, regime.PILOT["control_seeds"])):
            for seed in seeds:
                folder = pilot_dir / run_folder_name(calibration.pilot_config(choice["chosen"]["point"], seed,
                                                                               regenerate, rung))
                files, accuracy, margin = RunFiles(folder), [], []
                for i in range(regime.PILOT["stages"]):
                    if not files.stage_metrics_file(i).is_file():
                        break
                    kr = read_json(files.stage_metrics_file(i))["kr"]["0"]
                    accuracy.append(kr["accuracy"])
                    margin.append(_mean(kr["margin"]))
                out.append(dict(rung=rung, arm="recursive" if regenerate else "control", seed=seed,
                                folder=folder.name, accuracy=accuracy, margin=margin))
    return out


def pilot_markdown(choice: Mapping[str, Any] | None, runs: Sequence[Mapping[str, Any]]) -> str:
    """The CE pilot: each run's split-0 KR accuracy and mean margin per stage, then each rung's verdict with the
    drops it was judged on (:func:`fortifai.claims.regime.pilot_verdict`), or what it waits for."""
    if not runs:
        return "The CE pilot waits for the calibration's choice."
    stages = regime.PILOT["stages"]
    rows = [f"| rung | arm | seed | KR-split 0 accuracy (%), M0 to M{stages - 1} | mean margin (nats), M0 to "
            f"M{stages - 1} |", "|---|---|---|---|---|"]
    for r in runs:
        acc = " ".join(f"{100 * a:.1f}" for a in r["accuracy"]) or "not started"
        mar = " ".join(f"{m:.3f}" for m in r["margin"]) or ""
        rows.append(f"| {r['rung']} | {r['arm']} | {r['seed']} | {acc} | {mar} |")
    lines = ["\n".join(rows), ""]
    for rung in choice["pilot"].get("rungs", []):
        steps = "; ".join(", ".join(f"{k} {v}" for k, v in step.items()) for step in rung["ladder"]) or "none"
        lines.append(
            f"**Rung {rung['rung']}** (ladder steps applied: {steps}): **{rung['verdict']}**. From M0 to M5, CE's "
            f"KR-split 0 accuracy fell by {100 * rung['accuracy_drop']:.1f} points on average over the seeds "
            f"(control arm {100 * rung['control_accuracy_drop']:.1f}) and its mean margin by "
            f"{rung['margin_drop']:+.3f} nats (control {rung['control_margin_drop']:+.3f})"
            + (f"; the go comes from the {rung['go_by']}." if rung["go_by"] else "."))
    if not choice["pilot"].get("rungs"):
        done = sum(len(r["accuracy"]) == stages for r in runs)
        lines.append(f"The pilot has {done} of {len(runs)} runs through M{stages - 1}; its verdict comes when all are.")
    elif choice["pilot"]["verdict"] == "no-go":
        lines.append("A no-go is a result: at 135M parameters, in this regime and with the ladder's decodings, CE "
                     "does not lose split 0's knowledge in six stages beyond what training on real text alone loses.")
    lines.append(f"\nThe rule, fixed before the first pilot run: {regime.PILOT['rule']}.")
    return "\n".join(lines)


def pilot_figure(runs: Sequence[Mapping[str, Any]]):
    """Split 0's KR accuracy and mean margin per stage of every pilot run (a colour per seed, the recursive arm
    solid and the control dashed, a marker per rung); None before any stage is finished."""
    import matplotlib.pyplot as plt

    if not any(r["accuracy"] for r in runs):
        return None
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for r in runs:
        style = dict(color=colours[r["seed"] % len(colours)], ls="-" if r["arm"] == "recursive" else "--",
                     marker="os^"[r["rung"] % 3], ms=4, label=f"rung {r['rung']}, {r['arm']}, seed {r['seed']}")
        axes[0].plot(range(len(r["accuracy"])), [100 * a for a in r["accuracy"]], **style)
        axes[1].plot(range(len(r["margin"])), r["margin"], **style)
    for ax, label in zip(axes, ("KR-split 0 accuracy (%)", "mean KR margin, split 0 (nats)")):
        ax.set_xticks(range(regime.PILOT["stages"]), [f"M{i}" for i in range(regime.PILOT["stages"])])
        ax.set_xlabel("stage")
        ax.set_ylabel(label)
    axes[1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.suptitle("The CE pilot in the chosen regime")
    fig.tight_layout()
    return fig
