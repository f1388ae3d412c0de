"""The book's status page: every item of the paper beside the verdicts the chapters computed.

    rows = status_rows()                     # one per paper item (fortifai/data/paper_items.yaml)
    claims = load_chapter_claims()           # {chapter: [Claim]} from results/claims/<chapter>.json

A chapter run at its default parameters saves its closing claims (:func:`fortifai.book.report.publish_claims`)
into ``results/claims/<chapter>.json``, which is committed; each claim names the paper's items it tests
(``Claim.paper``, e.g. ``"Figs. 6, A2; Sec. 4.5"``). This module joins the two, so the page holds no number
of its own.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from .report import CLAIMS_DIR, Claim, claims_from_dicts

_KINDS = {"fig": "Fig.", "figs": "Fig.", "table": "Table", "tables": "Table", "eq": "Eq.", "eqs": "Eq.",
          "sec": "Sec.", "secs": "Sec.", "algorithm": "Algorithm", "appendix": "Appendix"}


def paper_refs(text: str) -> set[str]:
    """``"Figs. 6, A2; Eqs. 2-4; Table D2"`` -> ``{"Fig. 6", "Fig. A2", "Eq. 2", "Eq. 3", "Eq. 4", "Table D2"}``."""
    out = set()
    for part in filter(None, (p.strip() for p in text.split(";"))):
        match = re.match(r"([A-Za-z]+)\.?\s+(.*)", part)
        if not match or match.group(1).lower() not in _KINDS:
            raise ValueError(f"paper reference {part!r}: expected e.g. 'Fig. 2', 'Tables 2, 4', 'Eqs. 2-4', 'Sec. 4.5'")
        kind = _KINDS[match.group(1).lower()]
        for label in (x.strip() for x in match.group(2).split(",")):
            span = re.fullmatch(r"(\d+)\s*-\s*(\d+)", label)
            labels = [str(i) for i in range(int(span.group(1)), int(span.group(2)) + 1)] if span else [label]
            out.update(f"{kind} {x}" for x in labels)
    return out


@lru_cache(maxsize=1)
def paper_items() -> list[dict[str, Any]]:
    import yaml

    return yaml.safe_load((Path(__file__).resolve().parent.parent / "data" / "paper_items.yaml").read_text())["items"]


def load_chapter_claims(claims_dir: str | Path = CLAIMS_DIR) -> dict[str, list[Claim]]:
    """The committed claims of every chapter, by chapter name; a folder that does not exist is refused (it would
    read as "no chapter has a claim yet")."""
    from ..results import read_json

    if not Path(claims_dir).is_dir():
        raise FileNotFoundError(f"claims_dir {str(claims_dir)!r} is not a folder (default: {CLAIMS_DIR})")
    return {p.stem: claims_from_dicts(read_json(p)) for p in sorted(Path(claims_dir).glob("*.json"))}


def status_rows(claims_dir: str | Path = CLAIMS_DIR) -> list[dict[str, Any]]:
    """Per paper item: its references, what it shows, its chapter, the claims that test it (from any chapter),
    and the verdict words of those listed (``"not yet"`` when no chapter has a claim on it; ``"folded"`` beside
    the words when every claim on it is folded, :attr:`Claim.folded`: none of them can decide it)."""
    chapters = load_chapter_claims(claims_dir)
    rows = []
    for item in paper_items():
        refs = set(item["refs"])
        found = [(chapter, c) for chapter, claims in chapters.items() for c in claims if paper_refs(c.paper) & refs]
        listed = [c for _, c in found if not c.folded]
        words = ", ".join(sorted({c.word for c in listed or [c for _, c in found]}))
        verdict = words if listed else f"folded ({words})" if found else "not yet"
        rows.append({**item, "claims": found, "verdict": verdict})
    return rows


def status_markdown(rows: list[dict[str, Any]]) -> str:
    """The page's table: paper item, what it shows, where, and each claim's verdict with our number (a folded
    claim marked so, after the listed ones)."""
    lines = ["| paper | what | chapter | verdicts (ours) |", "|---|---|---|---|"]
    for row in rows:
        found = sorted((c for _, c in row["claims"]), key=lambda c: bool(c.folded))
        cells = "<br>".join(f"{'folded, ' if c.folded else ''}**{c.word}**: {c.claim} ({c.ours})"
                            for c in found) or "not yet"
        lines.append(f"| {', '.join(row['refs'])} | {row['what']} | {{doc}}`../notebooks/{row['chapter']}` | "
                     f"{cells} |")
    return "\n".join(lines)


def status_summary(rows: list[dict[str, Any]], chapters: dict[str, list[Claim]]) -> str:
    """The page's opening: the verdicts of every chapter's listed claims counted (a folded one cannot decide its
    claim: it is counted apart, as the chapters' openings do), and how many of the paper's items have a claim (the
    items without one listed)."""
    from ..claims.judge import STATES

    claims = [c for found in chapters.values() for c in found if not c.folded]
    folded = sum(bool(c.folded) for found in chapters.values() for c in found)
    counts = ", ".join(f"{n} {word}" for word in STATES if (n := sum(c.word == word for c in claims)))
    missing = [", ".join(r["refs"]) for r in rows if not r["claims"]]
    return (f"**Verdicts:** {counts or 'none'} ({len(claims)} claims in {len(chapters)} chapters"
            + (f"; {folded} more folded in their chapters' closing tables, not counted" if folded else "") + "). "
            f"**{len(rows) - len(missing)} of {len(rows)}** items of the paper have a claim"
            + (f"; not yet: {'; '.join(missing)}." if missing else "."))


# one colour per word of fortifai.claims.judge.STATES, in its order (the verdicts, then "not computed")
STATE_COLORS = ("#2a9d8f", "#e9c46a", "#e76f51", "#8d99ae", "#b8b8d1", "#dddddd")


def plot_verdicts(chapters: dict[str, list[Claim]]):
    """Stacked bars: how many of each chapter's listed claims reached each verdict (folded ones not counted)."""
    from collections import Counter

    import matplotlib.pyplot as plt

    from ..claims.judge import STATES, VERDICTS

    fig, ax = plt.subplots(figsize=(8, 0.5 + 0.45 * max(1, len(chapters))))
    names = list(chapters)
    left = [0] * len(names)
    for word, color in zip(STATES, STATE_COLORS):
        counts = [Counter(c.word for c in chapters[name] if not c.folded)[word] for name in names]
        if word not in VERDICTS and not any(counts):
            continue  # "not computed" shown only where a claim has it
        ax.barh(names, counts, left=left, color=color, label=word)
        left = [a + b for a, b in zip(left, counts)]
    ax.set(xlabel="claims", title="verdicts of each chapter's listed claims")
    ax.invert_yaxis()
    ax.legend(fontsize=8, loc="lower right")
    return fig


def status_metrics(rows: list[dict[str, Any]], claims_dir: str | Path) -> dict[str, Any]:
    """The page's ``metrics.json``: per item its chapter, verdict and claims; the items no claim tests yet."""
    return dict(
        claims_dir=str(claims_dir),
        items=[{"refs": r["refs"], "chapter": r["chapter"], "verdict": r["verdict"],
                "claims": [{"chapter": ch, "claim": c.claim, "verdict": c.word} for ch, c in r["claims"]]}
               for r in rows],
        not_yet=[", ".join(r["refs"]) for r in rows if not r["claims"]],
    )
