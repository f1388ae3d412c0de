"""The KR-test chapter's analysis: draw a question set from a text source, score a pretrained model and an
untrained control (several seeds) on it, and the chapter's tables and figures.

    drawn = draw_questions("wikipedia-offline", n_paragraphs=20, per_paragraph=5, min_words=40, seed=0)
    scored = score_models([("pretrained", "smollm2-135m", 0), ("control seed 0", "tiny-random", 0)], drawn.questions)
    found = analyse(drawn, scored, controls=["control seed 0"], n_splits=2, n_boot=2000, seed=0)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..krtest.format import KRQuestion
from ..krtest.generate import entity_inventory, generate_questions
from ..krtest.score import reduce_scores, score_questions
from ..krtest.statistics import accuracy_by_kind, accuracy_report, mcnemar


@dataclass
class Drawn:
    """A question set drawn from a source: the paragraphs' count, the indices drawn, the questions."""

    n_source_paragraphs: int
    picked: list[int]
    questions: list[KRQuestion]

    @property
    def kinds(self) -> list[str]:
        return sorted({q.kind for q in self.questions})

    @property
    def counts(self) -> dict[str, int]:
        return {k: sum(q.kind == k for q in self.questions) for k in self.kinds}


def draw_questions(source: str, n_paragraphs: int, per_paragraph: int, min_words: int, seed: int) -> Drawn:
    """``n_paragraphs`` paragraphs of ``source`` drawn at random (kept in source order), ``per_paragraph``
    questions each; each question's ``location`` is its paragraph's index; entities for swaps come from the whole
    source."""
    from ..lm.corpus import load_paragraphs

    paragraphs = load_paragraphs(source, min_words=min_words)
    picked = sorted(np.random.default_rng(seed).choice(len(paragraphs), size=min(n_paragraphs, len(paragraphs)),
                                                       replace=False).tolist())
    questions = generate_questions([paragraphs[i] for i in picked], per_paragraph=per_paragraph, seed=seed,
                                   locations=picked, inventory=entity_inventory(paragraphs))
    return Drawn(len(paragraphs), picked, questions)


def bold_change(q: KRQuestion, which: str) -> str:
    """The ``"true"`` or ``"false"`` sentence of ``q`` with its changed span in bold (Markdown)."""
    c = q.change
    text = q.sentence_true if which == "true" else q.sentence_false
    span = c[which]
    return text[:c["start"]] + f"**{span}**" + text[c["start"] + len(span):]


def examples_markdown(questions: list[KRQuestion]) -> str:
    """One question of each kind, laid out like the paper's Table B1."""
    rows = ["| kind | context | true sentence | false sentence |", "|---|---|---|---|"]
    for kind in sorted({q.kind for q in questions}):
        q = next(q for q in questions if q.kind == kind)
        rows.append(f"| {kind} | {q.context} | {bold_change(q, 'true')} | {bold_change(q, 'false')} |")
    return "\n".join(rows)


def score_models(runs: list[tuple[str, str, int]], questions: list[KRQuestion], batch_size: int = 16,
                 progress: bool = True) -> dict[str, dict[str, Any]]:
    """Score every ``(role, model name, seed)`` of ``runs`` on ``questions``: per role its ``"mean"`` and
    ``"first_k"`` scores (n, 2) and its ``"load_s"`` and ``"score_s"`` seconds."""
    from ..lm.models import load_model

    out = {}
    for role, name, model_seed in runs:
        started = time.perf_counter()
        lm, tokenizer = load_model(name, seed=model_seed)
        load_s = time.perf_counter() - started
        started = time.perf_counter()
        tokens = score_questions(lm, tokenizer, questions, batch_size=batch_size, return_tokens=True, progress=progress)
        out[role] = {"mean": reduce_scores(tokens, "mean"), "first_k": reduce_scores(tokens, "first_k"),
                     "load_s": load_s, "score_s": time.perf_counter() - started}
        del lm
    return out


def analyse(drawn: Drawn, scored: dict[str, dict[str, Any]], controls: list[str], n_splits: int, n_boot: int,
            seed: int) -> dict[str, Any]:
    """Accuracy per model (total and per split, bootstrap intervals), the authors' first-k variant, accuracy by
    kind (the pretrained model, and the control pooled over its seeds: each question once per seed), the pooled
    control, and McNemar between the pretrained model and the first control."""
    locations = [q.location for q in drawn.questions]
    correct = {role: s["mean"][:, 0] > s["mean"][:, 1] for role, s in scored.items()}
    pooled = np.concatenate([correct[r] for r in controls])
    return {
        "accuracy": {role: accuracy_report(c, locations, n_splits=min(n_splits, len(drawn.picked)), n_boot=n_boot,
                                           seed=seed) for role, c in correct.items()},
        "accuracy_first_k": {role: float(np.mean(s["first_k"][:, 0] > s["first_k"][:, 1]))
                             for role, s in scored.items()},
        "accuracy_by_kind": {
            "pretrained": accuracy_by_kind(drawn.questions, correct["pretrained"], n_boot=n_boot, seed=seed),
            "control": accuracy_by_kind(drawn.questions * len(controls), pooled, n_boot=n_boot, seed=seed)},
        "control_pooled": accuracy_report(pooled, n_boot=n_boot, seed=seed)["total"],
        "mcnemar": mcnemar(correct["pretrained"], correct[controls[0]]),
    }


def accuracy_markdown(runs: list[tuple[str, str, int]], found: dict[str, Any], scored: dict[str, dict[str, Any]],
                      n_controls: int) -> str:
    """KR-total and KR-split *k* per model with their intervals, the first-k variant and the scoring seconds,
    then the control pooled over its seeds."""
    from ..claims.kr import pct

    reports = found["accuracy"]
    n_split_cols = len(reports["pretrained"]["splits"])
    lines = ["| model | KR-total (95% CI) | " + " | ".join(f"KR-split {k}" for k in range(n_split_cols))
             + " | authors' first-k variant | seconds |", "|---|---|" + "---|" * n_split_cols + "---|---|"]
    for role, name, _ in runs:
        splits = " | ".join(pct(s) for s in reports[role]["splits"])
        lines.append(f"| {role}: {name} | {pct(reports[role]['total'])} | {splits} | "
                     f"{100 * found['accuracy_first_k'][role]:.1f}% | {scored[role]['score_s']:.0f} |")
    lines.append(f"| control, {n_controls} seeds pooled | {pct(found['control_pooled'])} | | | |")
    return "\n".join(lines)


def plot_accuracy_by_kind(by_kind: dict[str, dict], roles: dict[str, str], counts: dict[str, int], n_controls: int):
    """Bars of accuracy by kind with 95% bootstrap intervals, pretrained beside the pooled control; chance and
    the paper's failure line (``fortifai.recursive.KR_FAILURE_THRESHOLD``)."""
    import matplotlib.pyplot as plt

    from ..book.plotting import PALETTE
    from ..recursive.config import KR_FAILURE_THRESHOLD

    kinds = list(counts)
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    width = 0.38
    x = np.arange(len(kinds))
    for j, (role, name) in enumerate(roles.items()):
        acc = np.array([by_kind[role][k]["accuracy"] for k in kinds])
        low = acc - np.array([by_kind[role][k]["ci_low"] for k in kinds])
        high = np.array([by_kind[role][k]["ci_high"] for k in kinds]) - acc
        label = f"{role}: {name}" + (f" ({n_controls} seeds pooled)" if role == "control" else "")
        ax.bar(x + (j - 0.5) * width, acc, width, yerr=[low, high], capsize=3, color=PALETTE[j], label=label)
    ax.axhline(0.5, color="#444444", linestyle=":", linewidth=1, label="chance (50%)")
    ax.axhline(KR_FAILURE_THRESHOLD, color="#d62728", linestyle="--", linewidth=1,
               label=f"paper's failure line ({KR_FAILURE_THRESHOLD:.0%})")
    ax.set_xticks(x, [f"{k}\n(n={counts[k]})" for k in kinds])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("accuracy (95% bootstrap CI)")
    ax.set_title("KR-test accuracy by kind of change")
    ax.legend(loc="lower right", fontsize=8)
    return fig


def plot_margins(scored: dict[str, dict[str, Any]], roles: dict[str, str], controls: list[str]):
    """Histograms of the score margin (true minus false, nats per token), pretrained against the pooled control."""
    import matplotlib.pyplot as plt

    from ..book.plotting import PALETTE

    def margin(role: str) -> np.ndarray:
        return scored[role]["mean"][:, 0] - scored[role]["mean"][:, 1]

    fig, ax = plt.subplots(figsize=(7, 3.5))
    margins = {"pretrained": margin("pretrained"), "control": np.concatenate([margin(r) for r in controls])}
    edges = np.linspace(min(m.min() for m in margins.values()), max(m.max() for m in margins.values()), 40)
    for j, (role, name) in enumerate(roles.items()):
        ax.hist(margins[role], bins=edges, alpha=0.6, color=PALETTE[j], density=True, label=f"{role}: {name}")
    ax.axvline(0, color="#444444", linewidth=1)
    ax.set_xlabel("log p(true) - log p(false), mean per token (nats)")
    ax.set_ylabel("density of questions")
    ax.legend()
    return fig
