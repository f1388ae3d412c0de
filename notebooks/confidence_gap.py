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
# # The confidence gap (Fig. 1)
#
# ```{glue:md} verdicts
# :format: myst
# ```
#
# (Computed by this run: the verdicts of the closing table at the end of the chapter.)
#
# **Reproduces:** Fig. 1 of the paper, the observation the method is built on: a model fine-tuned on part
# of a corpus is more confident (assigns higher probability to the next token) on the text it was trained on
# *and on the text it generated itself* than on real text it has not seen, while the model before
# fine-tuning is about equally confident on the trained and unseen parts. TCE exploits the gap: tokens the
# model is very sure of, which are over-represented in its own generations, are left out of the loss.
#
# **How it is measured.** Every run of the recursive protocol (chapter {doc}`llm_recursive`) records, after
# each stage, the per-token probability of the target that the stage's model $M_i$ gives to three texts:
# the real split it has just been trained on (*trained*), held-out real text it never trains on (*unseen*),
# and its own regeneration of the trained split (*generated*, the authors' decoding: beam search with 5 beams
# and repetition penalty 3). At stage 0 the same is recorded for the base model (the pretrained model before
# fine-tuning). This chapter reads those records from the committed runs: no model is loaded. The paper used
# LLaMA-3.2-1B and WikiText-2; ours are the smollm2 tier (SmolLM2-135M, pretrained, fine-tuned on offline
# Wikipedia leads; its M0 is enough for Fig. 1, so runs still going count) and the cpu tier (a 1.4M-parameter
# Llama pretrained from scratch).

# %% tags=["parameters"]
runs_dir: str | None = None  # default results/llm_recursive/runs; allowed: None or existing folder
method = "ce"  # the fine-tuning loss of Fig. 1's fine-tuned model (the paper: standard cross entropy)
output_dir: str | None = None

# %% tags=["hide-input"]
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display

from fortifai import recursive
from fortifai.book.plotting import FigureLog, use_style
from fortifai.book.report import close_chapter
from fortifai.book.runner import chapter_parameters
from fortifai.claims import confidence as confidence_claims
from fortifai.recursive import runs as llm_runs
from fortifai.results import RUNS_DIR, RunRecord, resolve_output_dir

use_style()

# %% tags=["hide-input"]
output_dir = resolve_output_dir(output_dir, "confidence_gap")
runs_dir = Path(runs_dir) if runs_dir else RUNS_DIR
record = RunRecord(output_dir, params=chapter_parameters("confidence_gap", globals()), seed=0)
# Fig. 1 needs M0 only: runs still going count once their M0 is finished; pretrained models first
runs = [r for r in llm_runs.load_runs(runs_dir, partial=True) if "confidence" in r.stages[0]]
groups = llm_runs.group_runs(runs)
settings = sorted({s for s, m in groups if m == method},
                  key=lambda s: (str(dict(s)["model"]).startswith("scratch"), llm_runs.setting_name(s)))
if not settings:
    raise RuntimeError(f"no finished run of method={method!r} with confidence records in {runs_dir}; the runs "
                       "made before fortifai recorded them have none: rerun `fortifai sweep`")
TEXTS = ("trained", "unseen", "generated")
figures = FigureLog(output_dir)

# %% [markdown]
# ## Fig. 1: base model and fine-tuned model
#
# Distribution of the probability of the target token (histogram over all tokens of all seeds, as a share
# of the tokens), for the base model and for $M_0$ fine-tuned with `method`. Vertical lines: the means.

# %%
summary = {}
edges = np.linspace(0, 1, recursive.CONFIDENCE_BINS + 1)  # the bins the engine records
for s_index, setting in enumerate(settings):
    members = groups[setting, method]
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.8), sharey=True)
    for ax, which, title in zip(axes, ("base", "model"), ("base model", f"fine-tuned ($M_0$, {llm_runs.method_label(method)})")):
        for j, text in enumerate(TEXTS):
            counts = np.sum([r.stages[0]["confidence"][which][text]["histogram"] for r in members], axis=0)
            share = counts / counts.sum()
            ax.stairs(share, edges, color=f"C{j}", label=text)
            means = [r.stages[0]["confidence"][which][text]["mean"] for r in members]
            ax.axvline(np.mean(means), color=f"C{j}", ls=":", lw=1)
            summary[f"{llm_runs.setting_name(setting)} | {which} | {text}"] = means
        ax.set(title=title, xlabel="probability of the target token", yscale="log")
    axes[0].set_ylabel("share of tokens")
    axes[0].legend()
    fig.suptitle(f"{llm_runs.setting_name(setting)}, {len(members)} seed(s)")
    figures.publish(fig, f"confidence_{s_index}")

# %% [markdown]
# Mean probability of the target (mean over seeds ± standard error), and the share of tokens above 0.9
# (the tokens TCE 0.9 would leave out of the loss).

# %%
rows = ["| setting | model | " + " | ".join(f"mean p, {t}" for t in TEXTS) + " | " +
        " | ".join(f"share p > 0.9, {t}" for t in TEXTS) + " |", "|---|---|" + "---|" * 2 * len(TEXTS)]
for setting in settings:
    members = groups[setting, method]
    for which in ("base", "model"):
        cells = []
        for key in ("mean", "share_above"):
            for text in TEXTS:
                v = np.array([r.stages[0]["confidence"][which][text][key] if key == "mean"
                              else r.stages[0]["confidence"][which][text][key]["0.9"] for r in members])
                mean, sem = llm_runs.mean_and_sem(v[:, None])
                cells.append(llm_runs.fmt_cell(mean[0], sem[0], len(v), scale=1, digits=3) if key == "mean"
                             else llm_runs.fmt_cell(mean[0], sem[0], len(v)) + " %")
        rows.append(f"| {llm_runs.setting_name(setting)} | {'base' if which == 'base' else 'M0'} | " + " | ".join(cells) + " |")
display(Markdown("\n".join(rows)))

# %% [markdown]
# ## The gap through the stages, per loss
#
# Mean probability $M_i$ gives its own regeneration minus the mean it gives unseen real text, per stage:
# the overconfidence TCE is meant to keep in check. Mean over seeds ± standard error.

# %%
gaps = {}
for s_index, setting in enumerate(settings):
    per = {m: [r for r in rs if "confidence" in r.stages[0] and len(r.stages) == r.params["stages"]]
           for m, rs in llm_runs.by_method(groups, setting).items()}  # through the stages: finished runs only
    per = {m: members for m, members in per.items() if members}
    if not per:
        continue
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for j, (m, members) in enumerate(per.items()):
        values = np.array([[st["confidence"]["model"]["generated"]["mean"] - st["confidence"]["model"]["unseen"]["mean"]
                            for st in r.stages] for r in members])
        mean, sem = llm_runs.mean_and_sem(values)
        x = np.arange(values.shape[1])
        ax.plot(x, mean, marker="o", color=f"C{j}", label=f"{llm_runs.method_label(m)} (n={len(members)})")
        ax.fill_between(x, mean - sem, mean + sem, color=f"C{j}", alpha=0.2, lw=0)
        gaps[f"{llm_runs.setting_name(setting)} | {m}"] = values.tolist()
    ax.axhline(0, color="grey", lw=0.8)
    ax.set(xlabel="stage (model $M_i$)", ylabel="mean p: generated - unseen", title=llm_runs.setting_name(setting))
    ax.legend(fontsize=8)
    figures.publish(fig, f"gap_stages_{s_index}")

# %% [markdown]
# ## What reproduces
#
# Computed by {mod}`fortifai.claims.confidence` from the mean probabilities above: a claim about the fine-tuned
# model holds when its difference is positive in every seed; the base model counts as "about equally confident"
# when its difference between the trained and unseen text is under a quarter of the fine-tuned model's.

# %% tags=["hide-input"]
metrics = dict(method=method, runs_dir=str(runs_dir), stage0_mean_p=summary, gap_generated_minus_unseen=gaps,
               figures=figures.names)
close_chapter("confidence_gap", record, metrics, confidence_claims.claims(metrics), ours=confidence_claims.OURS)
