"""How chapters state results: spreads, the closing claims table, verdicts, and the claims the status page reads.

Every chapter ends with a list of :class:`Claim` (the paper's claim, our number with its spread, the verdict,
the paper's items it tests), made by a package function, rendered by :func:`claims_markdown` and saved by
:func:`publish_claims` into the run's ``metrics["claims"]``. The committed copy the book's status page reads,
``results/claims/<chapter>.json``, changes only by the explicit step :func:`refresh_claims`
(``fortifai claims --refresh``): from the chapter's default run, after it was rerun on purpose.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, replace
from html import escape
from pathlib import Path
from typing import Any, Sequence

from ..claims.claim import Claim, claims_from_dicts, spread  # noqa: F401 (the chapters' one import of them)
from ..claims.judge import STATES

CLAIMS_DIR = Path(__file__).resolve().parents[2] / "results" / "claims"


def claims_markdown(claims: list[Claim], ours: str = "ours (median [10%, 90%] over seeds)") -> str:
    """The closing table as Markdown (display it with ``IPython.display.Markdown``); ``ours``: that column's
    heading, saying what the spread is."""
    lines = [f"| paper | paper's claim | {ours} | verdict |", "|---|---|---|---|"]
    lines += [f"| {c.paper} | {c.claim} | {c.ours} | **{c.word}**{c.verdict[len(c.word):]} |" for c in claims]
    return "\n".join(lines)


def grouped_claims_markdown(groups: Sequence[tuple[str, Sequence[Claim], str | None]],
                            ours: str = "ours (median [10%, 90%] over seeds)") -> str:
    """The closing table in groups: each ``(title, claims, folded)`` a heading line with its verdict counts and
    :func:`claims_markdown`'s table; where ``folded`` gives a reason the table sits in a ``<details>`` dropdown
    under it (open in the HTML book on a click, always shown in the PDF). Groups without claims are left out."""
    out = []
    for title, claims, folded in groups:
        if not claims:
            continue
        counts = ", ".join(f"{n} {word}" for word, n in Counter(c.word for c in claims).most_common())
        table = claims_markdown(list(claims), ours)
        out.append(f"**{title}**: {counts}\n\n{table}" if folded is None else  # a summary is HTML, not Markdown
                   f"<details><summary><b>{escape(title)}</b>: {counts}; folded: {escape(folded)}.</summary>\n\n"
                   f"{table}\n\n</details>")
    return "\n\n".join(out)


def fold(groups: Sequence[tuple[str, Sequence[Claim], str | None]]) -> list[Claim]:
    """The claims of :func:`grouped_claims_markdown`'s groups in their order, each row of a folded group carrying
    its group's reason (:attr:`Claim.folded`): what a chapter publishes, so that the openings and the status page
    count only the rows that can decide a claim."""
    return [c if why is None else replace(c, folded=why) for _, rows, why in groups for c in rows]


def compare_claims(claims: list[Claim], before: list[Claim]) -> list[str]:
    """What changed from ``before`` to ``claims``, claim by claim: verdict words changed, claims new or removed
    (empty: the same claims with the same verdict words)."""
    was, now = {c.claim: c.word for c in before}, {c.claim: c.word for c in claims}
    return ([f"{c!r}: {was[c]} -> {w}" for c, w in now.items() if c in was and was[c] != w]
            + [f"new: {c!r}" for c in now if c not in was] + [f"removed: {c!r}" for c in was if c not in now])


def publish_claims(claims: list[Claim], chapter: str, output_dir: str | Path, metrics: dict[str, Any]) -> str:
    """Put the claims into ``metrics["claims"]`` (the caller writes metrics.json into the run's own folder) and
    return a line saying, for a run at the chapter's default output folder, whether its verdicts agree with the
    committed ``results/claims/<chapter>.json``. A chapter never writes the committed claims: that is the
    explicit step :func:`refresh_claims` (``fortifai claims --refresh``)."""
    from ..results import default_output_dir, read_json

    unknown = sorted({c.word for c in claims} - set(STATES))
    if unknown:
        raise ValueError(f"verdicts must start with one of {STATES}, got {unknown}")
    metrics["claims"] = [asdict(c) for c in claims]
    if Path(output_dir).resolve() != default_output_dir(chapter).resolve():
        return "not the default run: the committed claims are not compared"
    path = CLAIMS_DIR / f"{chapter}.json"
    if not path.is_file():
        return f"no committed {path.name} yet: `fortifai claims --refresh {chapter}` saves these claims"
    changes = compare_claims(claims, claims_from_dicts(read_json(path)))
    if not changes:
        return f"the verdicts agree with the committed {path.name}"
    return (f"the verdicts differ from the committed {path.name} ({'; '.join(changes)}): "
            f"`fortifai claims --refresh {chapter}` saves them")


def refresh_claims(chapters: list[str] | None = None, write: bool = False) -> dict[str, list[str]]:
    """The committed claims against each chapter's default run (``results/<chapter>/default/metrics.json``):
    per chapter, what differs (:func:`compare_claims`; also a claim's text beyond its word, as ``"text"``). With
    ``write``, the committed ``results/claims/<chapter>.json`` is replaced by the default run's claims.
    ``chapters``: their names (default: every chapter with a default run that has claims)."""
    from ..results import default_output_dir, read_json, write_json

    if chapters is None:
        chapters = sorted(p.parent.parent.name for p in CLAIMS_DIR.parent.glob("*/default/metrics.json")
                          if "claims" in read_json(p))
    out = {}
    for chapter in chapters:
        source = default_output_dir(chapter) / "metrics.json"
        if not source.is_file():
            raise FileNotFoundError(f"chapter {chapter!r} has no default run ({source} is missing): run "
                                    f"`fortifai run notebooks/{chapter}.py` first")
        claims = claims_from_dicts(read_json(source).get("claims", []))
        unknown = sorted({c.word for c in claims} - set(STATES))
        if unknown:
            raise ValueError(f"{source}: verdicts must start with one of {STATES}, got {unknown}")
        path = CLAIMS_DIR / f"{chapter}.json"
        before = claims_from_dicts(read_json(path)) if path.is_file() else []
        changes = compare_claims(claims, before)
        if not changes and [asdict(c) for c in claims] != [asdict(c) for c in before]:
            changes = ["text"]  # the same words, some reason or number changed
        out[chapter] = changes
        if write and changes:
            write_json(path, [asdict(c) for c in claims])
    return out


SUMMARY_KEY = "verdicts"  # the glue key of a chapter's summary: its opening cell shows {glue:md}`verdicts`


def verdict_summary(claims: list[Claim]) -> str:
    """Markdown, the opening of every chapter: one sentence counting the verdicts of the listed claims (those not
    :attr:`Claim.folded`; in the order of :data:`fortifai.claims.judge.STATES`), then their table: verdict, the
    paper's claim, ours, the paper's items; the folded ones are named as folded in the closing table, where their
    group counts them (a folded row cannot decide the claim, so the opening does not count it)."""
    listed = [c for c in claims if not c.folded]
    counts = {word: sum(c.word == word for c in listed) for word in STATES}
    named = ", ".join(f"{n} {word}" for word, n in counts.items() if n)
    lines = [f"**Verdicts:** {named or 'none'} ({len(listed)} claim{'' if len(listed) == 1 else 's'}).", ""]
    if listed:
        lines += ["| verdict | the paper's claim | ours | paper |", "|---|---|---|---|"]
        lines += [f"| **{c.word}** | {c.claim} | {c.ours} | {c.paper} |" for c in listed]
    if len(listed) < len(claims):
        lines += ["", f"{len(claims) - len(listed)} more are folded in the closing table, each group under why it "
                      "cannot decide the claim, with its verdicts counted there."]
    return "\n".join(lines)


def close_chapter(chapter: str, record: Any, metrics: dict[str, Any], claims: list[Claim] | None = None,
                  ours: str = "ours (median [10%, 90%] over seeds)", timings: dict[str, float] | None = None,
                  show: bool = True) -> None:
    """How every chapter ends: publish its ``claims`` (into ``metrics["claims"]`` and, at the default parameters,
    the committed ``results/claims/<chapter>.json``), show the closing table, glue the verdict summary that the
    chapter's opening shows (key :data:`SUMMARY_KEY`), write ``metrics.json`` once and finish the run record
    (``run.json``) of ``record`` (a :class:`fortifai.results.RunRecord`; its folder is the run's). ``show=False``:
    the chapter showed its table earlier (a grouped one: pass its claims as :func:`fold` gives them)."""
    from IPython.display import Markdown, display

    from ..results import write_json

    if claims is not None:
        print(publish_claims(claims, chapter, record.output_dir, metrics))
        if show:
            display(Markdown(claims_markdown(claims, ours=ours)))
        glue_markdown(SUMMARY_KEY, verdict_summary(claims))
    write_json(record.output_dir / "metrics.json", metrics)
    record.finish(timings=timings)


def glue_markdown(key: str, text: str) -> None:
    """Glue ``text`` as Markdown under ``key`` for the book, shown nowhere else: a Markdown cell shows it with
    ``{glue:md}`key``` (rendered by the book build; a plain notebook run keeps the role as text). The output is
    what ``myst_nb.glue(key, Markdown(text), display=False)`` writes, made here so that running a chapter needs
    no myst-nb."""
    from IPython.display import display

    display({"application/papermill.record/text/markdown": text}, raw=True,
            metadata={"scrapbook": {"name": key, "mime_prefix": "application/papermill.record/"}})
