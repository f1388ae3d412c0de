# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Language-model results beside the paper's
#
# **Reproduces:** Tables 1-4 and D2-D5, Figs. 4 and A1 (KR-total per stage), 5 (benchmarks per stage),
# 6 and A2 (time to failure, the headline **2.3x**), 7 and A3 (KL divergence of generated text) and Table E6
# (one passage through the stages), for every setting found in `runs_dir`.
#
# **What is compared.** Each run is one loss through the six stages of Algorithm 1 (chapter
# {doc}`llm_recursive`). This chapter reads finished runs, groups them by *setting* (model, data set and every
# other parameter of the tier) and *method* (the loss), and shows the mean over seeds with its standard
# error next to the paper's number for the same stage, method and metric. The paper's numbers are its
# Tables D2-D5 (LLaMA-3.2-1B and Gemma-3-1b-pt fine-tuned on WikiText-2 or Imagination-of-Web, one run each);
# ours, committed in `results/llm_recursive/runs/`, are the *cpu tier*: a 1.4M-parameter Llama pretrained
# from scratch on text disjoint from the splits, six splits of 24 paragraphs: on the offline Wikipedia text
# CE, TCE at gamma 0.5, 0.7, 0.9 and 0.99 and focal 2.0 with three seeds each; on the WikiText-2 test text
# CE, TCE 0.9, TCE 0.99 and focal 2.0 with three seeds each. The scales differ by three orders of
# magnitude, so the comparison is of *shapes and directions* (does KR fall stage by stage, does TCE fall more
# slowly), not of levels. Each seed draws other splits, other KR questions and another data order; every seed of a setting
# fine-tunes the same pretrained model, as the paper's runs do.
#
# To add runs: `python scripts/recursive_sweep.py -f presets/llm_recursive/<preset>.yaml` (or the chapter
# {doc}`llm_recursive`) writes them into `runs_dir`, and this chapter picks them up.

# %% tags=["parameters"]
runs_dir: str | None = None  # default results/llm_recursive/runs
paper_table = "D2"  # the paper's table set beside ours: D2 (LLaMA, WikiText-2), D3, D4, D5
kr_failure_threshold = 0.75  # Sec. 4.5: failure when KR split 0 falls below 75%
min_seeds = 1  # settings and methods with fewer finished seeds are left out
n_boot = 10000
output_dir: str | None = None

# %%
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display

from fortifai import llm_results as lr
from fortifai import recursive
from fortifai.krtest import mcnemar
from fortifai.plotting import use_style
from fortifai.report import Claim, claims_markdown, interval_verdict
from fortifai.results import REPO_ROOT, RunRecord, read_json, resolve_output_dir, save_figure, write_json

use_style()
if paper_table not in lr.paper_tables():
    raise ValueError(f"paper_table must be one of {sorted(lr.paper_tables())}, got {paper_table!r}")
output_dir = resolve_output_dir(output_dir, "llm_results")
runs_dir = Path(runs_dir) if runs_dir else REPO_ROOT / "results" / "llm_recursive" / "runs"
record = RunRecord(output_dir, params=dict(runs_dir=str(runs_dir), paper_table=paper_table,
                                           kr_failure_threshold=kr_failure_threshold, min_seeds=min_seeds,
                                           n_boot=n_boot), seed=0)
paper = lr.paper_tables()[paper_table]
groups = {key: runs for key, runs in lr.group_runs(lr.load_runs(runs_dir)).items() if len(runs) >= min_seeds}
settings = sorted({setting for setting, _ in groups}, key=lr.setting_name)
settings = [s for s in settings if "ce" in lr.by_method(groups, s)]  # a comparison needs the baseline
if not settings:
    raise RuntimeError(f"no setting in {runs_dir} has a finished CE run; run scripts/recursive_sweep.py first")
rows = ["| setting | methods (seeds) |", "|---|---|"]
for s in settings:
    rows.append(f"| {lr.setting_name(s)} | " + ", ".join(f"{lr.method_label(m)} ({len(r)})"
                                                        for m, r in lr.by_method(groups, s).items()) + " |")
display(Markdown("\n".join(rows)))

# %% [markdown]
# ## Knowledge retention per stage (Figs. 4, A1 and 6, A2)
#
# Left: KR-split 0, the questions on the split that is regenerated at every stage (the paper's measure of
# collapse); the dotted line is the 75% failure threshold. Right: KR-total, over all splits' questions
# (including splits the model has not trained on yet, as in the paper). Lines: our mean over seeds, band
# ± one standard error; dashed: the paper's values from the table `paper_table` names (D2: LLaMA-3.2-1B on WikiText-2, the default).

# %%
figure_names = []


def publish(fig, name: str) -> None:
    """Save the figure (PNG and SVG), list it in metrics.json, and show it."""
    save_figure(fig, output_dir, name)
    figure_names.append(name)
    plt.show()


for s_index, setting in enumerate(settings):
    per = lr.by_method(groups, setting)
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
    lr.plot_stages(axes[0], per, "kr_split0", paper)
    axes[0].axhline(kr_failure_threshold * 100, color="red", ls=":", lw=1)
    lr.plot_stages(axes[1], per, "kr_total", paper)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{lr.setting_name(setting)} (dashed: paper, {paper['model']} on {paper['dataset']})")
    publish(fig, f"kr_stages_{s_index}")

# %% [markdown]
# ## Time to failure (Sec. 4.5, Figs. 6 and A2)
#
# Stages until KR-split 0 falls below 75%, interpolated linearly between stages (0: already below at M0;
# "never": not within the run, counted as the run's length for the ratio, which is then a lower bound).
# The ratio is of the mean over seeds to CE's, with a 95% bootstrap interval over seeds. The paper's
# column applies the same computation to its own Table D2-D5 rows; the paper's text claims 2.3x for TCE on
# LLaMA/WikiText-2, which its Table D2 puts at 1.7x by this interpolation.

# %%
failure = {}
ratio_rows = ["| setting | method | time to failure per seed | ratio to CE [95% CI] | paper (" + paper_table + ") |",
              "|---|---|---|---|---|"]
for setting in settings:
    per = lr.by_method(groups, setting)
    n_stages = len(per["ce"][0].stages)
    ttf = {m: lr.times_to_failure(runs, kr_failure_threshold) for m, runs in per.items()}
    paper_ttf = {m: lr.paper_time_to_failure(paper_table, m, kr_failure_threshold) for m in paper["values"]}
    for method, values in ttf.items():
        shown = ", ".join("never" if np.isinf(v) else f"{v:.2f}" for v in values)
        cell = "–"
        entry = dict(per_seed=[None if np.isinf(v) else v for v in values])  # None: never failed
        if method != "ce":
            ratio = lr.failure_ratio(values, ttf["ce"], n_stages, n_boot=n_boot)
            entry.update(ratio)
            bound = "≥ " if ratio["censored"] else ""
            cell = f"{bound}{ratio['ratio']:.2f}x [{ratio['ci_low']:.2f}, {ratio['ci_high']:.2f}]"
        p = paper_ttf.get(method)
        paper_cell = "–" if p is None else (f"{p:.2f}" + ("" if method == "ce" else f" ({p / paper_ttf['ce']:.2f}x)"))
        ratio_rows.append(f"| {lr.setting_name(setting)} | {lr.method_label(method)} | {shown} | {cell} | {paper_cell} |")
        failure[f"{lr.setting_name(setting)} | {method}"] = entry
display(Markdown("\n".join(ratio_rows)))

# %% [markdown]
# ## How much TCE leaves out at this scale
#
# TCE drops a token from the loss when the model gives it a probability above gamma. How often that happens
# decides how different TCE can be from CE: the share of tokens the model $M_i$ of each TCE run predicts
# with probability above its gamma, on the real split it was just trained on and on its own regeneration of
# it (recorded after training; mean over seeds, %). A weak model is rarely that sure, and TCE then equals CE
# for most tokens.

# %%
masked_rows = ["| setting | method | text | " + " | ".join(f"M{i}" for i in range(6)) + " |", "|---|---|---|" + "---|" * 6]
for setting in settings:
    for method, runs in lr.by_method(groups, setting).items():
        if not method.startswith("tce-") or "confidence" not in runs[0].stages[0]:
            continue
        gamma = method.split("-")[1]
        for text in ("trained", "generated"):
            shares = np.array([[st["confidence"]["model"][text]["share_above"].get(gamma, np.nan) for st in r.stages]
                               for r in runs if "confidence" in r.stages[0]], dtype=float)
            masked_rows.append(f"| {lr.setting_name(setting)} | {lr.method_label(method)} | {text} | "
                               + " | ".join(f"{v * 100:.1f}" for v in np.nanmean(shares, axis=0)) + " |")
display(Markdown("\n".join(masked_rows) if len(masked_rows) > 2 else
                 "No TCE run with confidence records."))

# %% [markdown]
# ## The threshold gamma
#
# Where a setting has TCE runs at several thresholds, the time to failure and the KR accuracies at the last
# stage against gamma; CE is TCE with gamma = 1 (nothing masked). Mean over seeds ± standard error. The paper
# runs 0.9 and 0.99 only; a lower gamma masks more tokens and departs further from CE.

# %%
sweep = {}
for s_index, setting in enumerate(settings):
    per = lr.by_method(groups, setting)
    gammas = sorted((float(m.split("-")[1]), m) for m in per if m.startswith("tce-"))
    if len(gammas) < 2:
        continue
    points = gammas + [(1.0, "ce")]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for ax, (what, title) in zip(axes, (("ttf", "time to failure (stages)"), ("kr_split0", "KR-split 0 at the last stage (%)"),
                                        ("kr_total", "KR-total at the last stage (%)"))):
        means, sems = [], []
        for _, method in points:
            runs = per[method]
            if what == "ttf":
                values = np.minimum(lr.times_to_failure(runs, kr_failure_threshold), len(runs[0].stages))
            else:
                values = lr.metric_matrix(runs, what)[:, -1] * 100
            mean, sem = lr.mean_and_sem(np.asarray(values, dtype=float)[:, None])
            means.append(mean[0])
            sems.append(sem[0])
            sweep[f"{lr.setting_name(setting)} | {method} | {what}"] = np.asarray(values, dtype=float).tolist()
        ax.errorbar([g for g, _ in points], means, yerr=sems, marker="o", capsize=3)
        ax.set(xlabel="gamma (1 = CE)", title=title)
    fig.suptitle(lr.setting_name(setting))
    publish(fig, f"gamma_sweep_{s_index}")
if not sweep:
    print("No setting has TCE runs at two or more thresholds.")

# %% [markdown]
# ## Benchmarks per stage (Fig. 5)
#
# The LM Evaluation Harness after every stage, as far as the tier runs it. At the cpu tier: BLiMP, 20 pairs
# per phenomenon (1,340 pairs, all 67 phenomena) from `../shared/data`; HellaSwag has no offline copy and
# GSM8K is not run (a 1.4M-parameter model pretrained on Wikipedia prose scores 0 on it). A 1.4M-parameter
# model is near chance on BLiMP, so this panel can show collapse of grammar only as far as the model had any.

# %%
for s_index, setting in enumerate(settings):
    per = lr.by_method(groups, setting)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for ax, metric in zip(axes, ("blimp", "hellaswag", "gsm8k")):
        lr.plot_stages(ax, per, metric, paper)
        status = per["ce"][0].status(metric)
        if status != "ok":
            ax.text(0.5, 0.08, f"ours {status}", transform=ax.transAxes, ha="center", fontsize=8, wrap=True)
    if axes[0].get_legend_handles_labels()[0]:
        axes[0].legend(fontsize=8)
    fig.suptitle(f"{lr.setting_name(setting)} (dashed: paper, {paper['model']} on {paper['dataset']})")
    publish(fig, f"benchmarks_{s_index}")

# %% [markdown]
# ## Every stage, every metric (Tables D2-D5)
#
# Ours: mean ± standard error over seeds, in %. Paper: the table `paper_table` names, the same method and stage.

# %%
for setting in settings:
    display(Markdown(f"**{lr.setting_name(setting)}**\n\n" + lr.stage_table_markdown(lr.by_method(groups, setting),
                                                                                       paper=paper)))

# %% [markdown]
# ## Before and after collapse (Tables 1-4)
#
# The paper's Tables 1 and 3 are M0 (trained on real data only), Tables 2 and 4 are M5 (after five rounds of
# synthetic accumulation), each for CE and TCE 0.9; Table 1's "KR-test" is KR-total.

# %%
for setting in settings:
    per = {m: r for m, r in lr.by_method(groups, setting).items() if m in ("ce", "tce-0.9")}
    display(Markdown(f"**{lr.setting_name(setting)}**\n\n" + lr.stage_table_markdown(per, paper=paper, stages=[0, 5])))

# %% [markdown]
# ## KL divergence of the regenerated text (Figs. 7, A3)
#
# At each stage, the unigram KL divergence of all the text the model regenerated to the real text it came
# from (words as units). "Authors": zero probabilities replaced by $10^{-10}$ as in their notebook, which lets
# words missing from one side dominate; "smoothed": 0.5 added to every count.

# %%
kl = {}
for s_index, setting in enumerate(settings):
    per = lr.by_method(groups, setting)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    for j, (method, runs) in enumerate(per.items()):
        per_run = [recursive.generated_kl(run.folder) for run in runs]
        for ax, kind in zip(axes, ("authors", "smoothed")):
            values = np.array([[row["total"][kind] for row in stages] for stages in per_run])
            mean, sem = lr.mean_and_sem(values)
            x = np.arange(values.shape[1])
            ax.plot(x, mean, marker="o", color=f"C{j}", label=lr.method_label(method))
            ax.fill_between(x, mean - sem, mean + sem, color=f"C{j}", alpha=0.2, lw=0)
            ax.set(title=f"KL(generated || real), {kind}", xlabel="stage (model $M_i$)")
            kl[f"{lr.setting_name(setting)} | {method} | {kind}"] = values.tolist()
    axes[0].legend(fontsize=8)
    fig.suptitle(lr.setting_name(setting))
    publish(fig, f"kl_{s_index}")

# %% [markdown]
# ## One passage through the stages (Table E6)
#
# The first paragraph of split 0 (first seed), as it was and as each stage's model regenerated it: the first
# `new_tokens` tokens of a split are kept, everything after them is the model's. First 300 characters.

# %%
for setting in settings:
    per = lr.by_method(groups, setting)
    first_runs = {m: runs[0] for m, runs in per.items()}
    real = recursive.read_run_data(per["ce"][0].folder)["splits"][0][0]
    lines = ["| stage | " + " | ".join(lr.method_label(m) for m in first_runs) + " |", "|---" * (len(first_runs) + 1) + "|"]
    same_data = all(recursive.read_run_data(r.folder)["splits"][0][0] == real for r in first_runs.values())
    lines.append("| real | " + " | ".join([real[:300].replace("|", "/")] * len(first_runs)) + " |")
    for i in range(len(per["ce"][0].stages)):
        cells = [read_json(r.folder / f"stage_{i}" / "generated.json")["0"][0][:300].replace("|", "/").replace("\n", " ")
                 for r in first_runs.values()]
        lines.append(f"| M{i} | " + " | ".join(cells) + " |")
    note = "" if same_data else "\n\n(The methods' first seeds drew different splits: the passages differ.)"
    display(Markdown(f"**{lr.setting_name(setting)}**, seed {per['ce'][0].seed}\n\n" + "\n".join(lines) + note))

# %% [markdown]
# ## What reproduces
#
# Per setting, with the seeds we ran. "Reproduced" needs the paper's direction with a 95% interval that
# excludes no effect (a bootstrap over seeds for the time-to-failure ratio, Welch's t for differences of
# means over seeds), or, for KR accuracies, a paired McNemar test (exact, two-sided, p < 0.05) on the
# questions both models answered (runs of one seed share their questions); "partly": the direction beyond
# the noise but a smaller effect than the paper's; "not reproduced": no difference beyond the noise, or the
# opposite direction.

# %%
claims = []
for setting in settings:
    per = lr.by_method(groups, setting)
    name = lr.setting_name(setting)
    for method, paper_claim, paper_ratio in (
            ("tce-0.9", "TCE 0.9 extends the time to failure 2.3x over CE (abstract, Fig. 6)", 2.3),
            ("focal-2.0", "focal loss extends the time to failure 1.5x over CE (Fig. A2)", 1.5),
            ("tce-0.99", "TCE 0.99 delays collapse too (Tables D2-D5)", None)):
        entry = failure.get(f"{name} | {method}")
        if entry is None:
            continue
        claims.append(Claim(f"{name}: {paper_claim}",
                            f"{'≥ ' if entry['censored'] else ''}{entry['ratio']:.2f}x [{entry['ci_low']:.2f}, "
                            f"{entry['ci_high']:.2f}] ({entry['n_method']} vs {entry['n_baseline']} seeds)",
                            interval_verdict(entry["ci_low"], entry["ci_high"], 1.0, paper_ratio, entry["ratio"],
                                    min(entry["n_method"], entry["n_baseline"]))))
    if "tce-0.9" in per:
        n_last = len(per["ce"][0].stages) - 1
        comparisons = [
            ("kr_split0", "TCE 0.9 keeps more of the regenerated split's facts at M5 (Fig. 6, Table D2: KR-split 0 "
                          "68.2% vs 64.3%)", 100, "points"),
            ("kr_total", "TCE 0.9 retains more knowledge than CE at M5 (Tables 2, 4: KR-total +0.6 to +2.5 points)",
             100, "points"),
        ]
        for metric, paper_claim, scale, unit in comparisons:
            last = {m: lr.metric_matrix(per[m], metric)[:, -1] for m in ("ce", "tce-0.9")}
            d = lr.difference_interval(last["tce-0.9"], last["ce"])
            # the same questions answered by both models of a seed: McNemar on the pooled pairs
            tce_answers, ce_answers = lr.paired_answers(per["tce-0.9"], per["ce"], [0] if metric == "kr_split0" else None)
            test = mcnemar(tce_answers, ce_answers)
            direction_ok = test["b"] > test["c"]
            claims.append(Claim(
                f"{name}: {paper_claim}",
                f"TCE minus CE {d['difference'] * scale:+.1f} {unit}; over seeds 95% interval [{d['low'] * scale:+.1f}, "
                f"{d['high'] * scale:+.1f}] (Welch t); paired on {test['n']} questions: TCE alone right {test['b']}, "
                f"CE alone {test['c']}, McNemar p = {test['p_value']:.2g}",
                "reproduced (paired test)" if direction_ok and test["p_value"] < 0.05 else
                interval_verdict(d["low"], d["high"], 0.0, seeds=min(map(len, last.values())))))
        smoothed = {m: np.array(kl[f"{name} | {m} | smoothed"])[:, -1] for m in ("ce", "tce-0.9")}
        d = lr.difference_interval(smoothed["ce"], smoothed["tce-0.9"])
        claims.append(Claim(f"{name}: TCE keeps the KL divergence of generated to real text below CE's (Fig. 7)",
                            f"smoothed KL at M{n_last}: CE minus TCE {d['difference']:+.3f}, 95% interval "
                            f"[{d['low']:+.3f}, {d['high']:+.3f}]", interval_verdict(d["low"], d["high"], 0.0,
                                                                            seeds=min(map(len, smoothed.values())))))
display(Markdown(claims_markdown(claims).replace("(median [10%, 90%] over seeds)", "(with its 95% interval)")))

# %%
metrics = dict(
    runs_dir=str(runs_dir), paper_table=paper_table, kr_failure_threshold=kr_failure_threshold,
    settings={lr.setting_name(s): {m: {"seeds": [r.seed for r in runs], "folders": [r.folder.name for r in runs],
                                       **{metric: lr.metric_matrix(runs, metric).tolist() for metric in lr.METRICS}}
                                   for m, runs in lr.by_method(groups, s).items()} for s in settings},
    time_to_failure=failure,
    paper_time_to_failure={t: {m: lr.paper_time_to_failure(t, m, kr_failure_threshold) for m in v["values"]}
                           for t, v in lr.paper_tables().items()},
    kl=kl, gamma_sweep=sweep, claims=[c.__dict__ for c in claims], figures=figure_names,
)
write_json(output_dir / "metrics.json", metrics)
record.finish()
print(f"wrote {output_dir}")
