"""Sphinx extension: every chapter's download menu offers its executed notebook (``.ipynb``), beside its source
(the jupytext ``.py``) and the page as PDF that sphinx-book-theme's download button (on by default) lists.

The theme offers an ``.ipynb`` only for MyST Markdown notebooks with launch buttons configured; our chapters are
``py:percent`` files and the book has no launch service (it reads offline). MyST-NB writes each executed notebook
to ``_build/jupyter_execute/<page>.ipynb``; this copies it to ``_sources/`` and names it to the theme, before the
theme builds its buttons (priority 500 < 501).
"""

from __future__ import annotations

from pathlib import Path
from shutil import copy2


def add_executed_notebook(app, pagename, templatename, context, doctree) -> None:
    executed = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
    if not executed.is_file():
        return
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    copy2(executed, target)
    context["ipynb_source"] = f"{pagename}.ipynb"


def setup(app):
    app.connect("html-page-context", add_executed_notebook, priority=500)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
