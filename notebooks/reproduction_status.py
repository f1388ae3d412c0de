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
# # Reproduction status
#
# Every figure, table, equation and algorithm of the paper, the chapter that reproduces it, and the verdicts
# that chapter computed. A verdict is one of **reproduced**, **partly**, **not reproduced**, **inconclusive**
# (the setting cannot test the claim: the loss changes almost no token before failure, or the regenerated text
# has lost the content) or **underpowered** (our interval holds both no effect and the paper's effect); an item
# no chapter has a claim on yet says **not yet**.
#
# Nothing on this page is typed: each chapter, run at its default parameters, saves its closing claims into
# `results/claims/<chapter>.json` ({func}`fortifai.report.publish_claims`, committed with the code), each claim
# naming the paper's items it tests, and this page joins them with the list of the paper's items
# ({mod}`fortifai.status`). The chapters recompute their claims whenever the book is built and say whether
# they agree with the committed ones.

# %% tags=["parameters"]
claims_dir: str | None = None  # default results/claims (the committed claims of every chapter); allowed: None or existing folder
output_dir: str | None = None

# %%
from collections import Counter
from pathlib import Path

import matplotlib.pyplot as plt
from IPython.display import Markdown, display

from fortifai import status
from fortifai.plotting import use_style
from fortifai.report import CLAIMS_DIR, VERDICTS
from fortifai.results import RunRecord, resolve_output_dir, save_figure, write_json

use_style()
output_dir = resolve_output_dir(output_dir, "reproduction_status")
claims_dir = Path(claims_dir) if claims_dir else CLAIMS_DIR
record = RunRecord(output_dir, params=dict(claims_dir=str(claims_dir)), seed=None)
rows = status.status_rows(claims_dir)
chapters = status.load_chapter_claims(claims_dir)

# %% [markdown]
# ## Verdicts by chapter
#
# How many of each chapter's claims reached each verdict.

# %%
order = list(VERDICTS)
colors = {"reproduced": "#2a9d8f", "partly": "#e9c46a", "not reproduced": "#e76f51", "inconclusive": "#8d99ae",
          "underpowered": "#b8b8d1"}
fig, ax = plt.subplots(figsize=(8, 0.5 + 0.45 * max(1, len(chapters))))
names = list(chapters)
left = [0] * len(names)
for word in order:
    counts = [Counter(c.word for c in chapters[name])[word] for name in names]
    ax.barh(names, counts, left=left, color=colors[word], label=word)
    left = [a + b for a, b in zip(left, counts)]
ax.set(xlabel="claims", title="verdicts of each chapter's claims")
ax.invert_yaxis()
ax.legend(fontsize=8, loc="lower right")
save_figure(fig, output_dir, "verdicts")
plt.show()

# %% [markdown]
# ## Every item of the paper
#
# Per item: what it shows, the chapter, and each claim on it with its verdict and our number (the spread and
# the test behind each number are in the chapter's closing table).

# %%
display(Markdown(status.status_markdown(rows)))

# %%
write_json(output_dir / "metrics.json", dict(
    claims_dir=str(claims_dir),
    items=[{"refs": r["refs"], "chapter": r["chapter"], "verdict": r["verdict"],
            "claims": [{"chapter": ch, "claim": c.claim, "verdict": c.word} for ch, c in r["claims"]]} for r in rows],
    not_yet=[", ".join(r["refs"]) for r in rows if not r["claims"]],
))
record.finish()
print(f"{sum(1 for r in rows if r['claims'])} of {len(rows)} items have claims; wrote {output_dir}")
