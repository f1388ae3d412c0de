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
# ```{glue:md} status_summary
# :format: myst
# ```
#
# Every figure, table, equation and algorithm of the paper, the chapter that reproduces it, and the verdicts
# that chapter computed. A verdict is one of **reproduced**, **partly**, **not reproduced**, **inconclusive**
# (the setting cannot test the claim: the loss changes almost no token before failure, or the regenerated text
# has lost the content) or **underpowered** (our interval holds both no effect and the paper's effect); an item
# no chapter has a claim on yet says **not yet**. A claim *folded* in its chapter's closing table (a setting
# superseded by a decisive test, or one whose plan's own rows decide) cannot decide its item: it is marked so in
# the table and left out of the counts, as the chapter's opening leaves it out.
#
# Nothing on this page is typed: each chapter, run at its default parameters, saves its closing claims into
# `results/claims/<chapter>.json` ({func}`fortifai.book.report.publish_claims`, committed with the code), each claim
# naming the paper's items it tests, and this page joins them with the list of the paper's items
# ({mod}`fortifai.book.status`). The chapters recompute their claims whenever the book is built and say whether
# they agree with the committed ones.

# %% tags=["parameters"] mystnb={"remove_code_source": true, "remove_code_outputs": true}
claims_dir: str | None = None  # default results/claims (the committed claims of every chapter); allowed: None or existing folder
output_dir: str | None = None

# %% tags=["remove-cell"]
from pathlib import Path

from IPython.display import Markdown, display

from fortifai.book import status
from fortifai.book.plotting import FigureLog, use_style
from fortifai.book.report import CLAIMS_DIR, close_chapter, glue_markdown
from fortifai.book.runner import chapter_parameters
from fortifai.results import RunRecord, resolve_output_dir

use_style()
output_dir = resolve_output_dir(output_dir, "reproduction_status")
claims_dir = Path(claims_dir) if claims_dir else CLAIMS_DIR
record = RunRecord(output_dir, params=chapter_parameters("reproduction_status", globals()), seed=None)
rows = status.status_rows(claims_dir)
chapters = status.load_chapter_claims(claims_dir)
glue_markdown("status_summary", status.status_summary(rows, chapters))

# %% [markdown]
# ## Verdicts by chapter
#
# How many of each chapter's listed claims (those not folded) reached each verdict.

# %% tags=["remove-input"]
FigureLog(output_dir).publish(status.plot_verdicts(chapters), "verdicts")

# %% [markdown]
# ## Every item of the paper
#
# Per item: what it shows, the chapter, and each claim on it with its verdict and our number (the spread and
# the test behind each number are in the chapter's closing table).

# %% tags=["remove-input"]
display(Markdown(status.status_markdown(rows)))

# %% tags=["remove-cell"]
close_chapter("reproduction_status", record, status.status_metrics(rows, claims_dir))
print(f"{sum(1 for r in rows if r['claims'])} of {len(rows)} items have claims; wrote {output_dir}")
