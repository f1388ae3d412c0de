"""How chapters state results: spreads, the closing claims table, verdicts, and the claims the status page reads.

Every chapter ends with a list of :class:`Claim` (the paper's claim, our number with its spread, the verdict,
the paper's items it tests), made by a package function, rendered by :func:`claims_markdown` and saved by
:func:`publish_claims`: into the run's ``metrics["claims"]`` and, for a run at the chapter's default
parameters, into ``results/claims/<chapter>.json``, the committed copy the book's status page reads.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

CLAIMS_DIR = Path(__file__).resolve().parents[2] / "results" / "claims"


@dataclass
class Claim:
    """One row of a chapter's closing table."""

    claim: str  # what the paper says, in its words where possible
    ours: str  # our number with its spread
    verdict: str  # one of VERDICTS, then ": " and the reason
    paper: str = ""  # the paper's items it tests, e.g. "Fig. 2" or "Figs. 6, A2; Table D2" (the status page's key)

    @property
    def word(self) -> str:
        """The verdict word alone (``"partly"`` of ``"partly: ..."``)."""
        return self.verdict.split(":")[0].strip()


def spread(values, fmt: str = "{:.3g}", low: float = 0.1, high: float = 0.9) -> str:
    """``median [q10, q90]`` of finite and infinite values alike (inf prints as ``never``)."""
    values = np.asarray(values, dtype=float)
    # interpolating between inf and a number gives nan: pick observed values when some are infinite
    method = "linear" if np.all(np.isfinite(values)) else "inverted_cdf"
    q_low, median, q_high = np.quantile(values, [low, 0.5, high], method=method)

    def show(v: float) -> str:
        return "never" if np.isinf(v) else fmt.format(v)

    return f"{show(median)} [{show(q_low)}, {show(q_high)}]"


def claims_markdown(claims: list[Claim], ours: str = "ours (median [10%, 90%] over seeds)") -> str:
    """The closing table as Markdown (display it with ``IPython.display.Markdown``); ``ours``: that column's
    heading, saying what the spread is."""
    lines = [f"| paper | paper's claim | {ours} | verdict |", "|---|---|---|---|"]
    lines += [f"| {c.paper} | {c.claim} | {c.ours} | **{c.word}**{c.verdict[len(c.word):]} |" for c in claims]
    return "\n".join(lines)


def claims_from_dicts(items: list[dict[str, Any]]) -> list[Claim]:
    names = {f.name for f in fields(Claim)}
    return [Claim(**{k: v for k, v in item.items() if k in names}) for item in items]


def publish_claims(claims: list[Claim], chapter: str, output_dir: str | Path, metrics: dict[str, Any]) -> str:
    """Put the claims into ``metrics["claims"]`` (the caller writes metrics.json) and, when ``output_dir`` is the
    chapter's default run, into the committed ``results/claims/<chapter>.json``; return a line saying whether the
    verdicts agree with the committed ones (a fresh default run should reproduce them)."""
    from ..results import default_output_dir, read_json, write_json

    unknown = sorted({c.word for c in claims} - set(VERDICTS))
    if unknown:
        raise ValueError(f"verdicts must start with one of {VERDICTS}, got {unknown}")
    metrics["claims"] = [asdict(c) for c in claims]
    if Path(output_dir).resolve() != default_output_dir(chapter).resolve():  # -o elsewhere: nothing written here
        return "not the default parameters: the committed claims are left as they are"
    path = CLAIMS_DIR / f"{chapter}.json"
    before = claims_from_dicts(read_json(path)) if path.is_file() else []
    write_json(path, metrics["claims"])
    if not before:
        return f"wrote {path.name}: no committed claims to compare with"
    was = {c.claim: c.word for c in before}
    changed = [f"{c.claim!r}: {was[c.claim]} -> {c.word}" for c in claims if c.claim in was and was[c.claim] != c.word]
    added = [c.claim for c in claims if c.claim not in was]
    if not changed and not added and len(before) == len(claims):
        return f"the verdicts agree with the committed {path.name}"
    return f"updated {path.name}: " + "; ".join(changed + [f"new: {a!r}" for a in added] or ["claims removed"])


SUMMARY_KEY = "verdicts"  # the glue key of a chapter's summary: its opening cell shows {glue:md}`verdicts`


def verdict_summary(claims: list[Claim]) -> str:
    """Markdown: the verdicts of ``claims`` counted in the order of :data:`VERDICTS`, then each claim's verdict
    word and its paper items (the opening of every chapter)."""
    counts = {word: sum(c.word == word for c in claims) for word in VERDICTS}
    listed = ", ".join(f"{n} {word}" for word, n in counts.items() if n)
    lines = [f"**Verdicts:** {listed or 'none'} ({len(claims)} claim{'' if len(claims) == 1 else 's'}).", ""]
    lines += [f"- **{c.word}**: {c.claim}" + (f" ({c.paper})" if c.paper else "") for c in claims]
    return "\n".join(lines)


def close_chapter(chapter: str, record: Any, metrics: dict[str, Any], claims: list[Claim] | None = None,
                  ours: str = "ours (median [10%, 90%] over seeds)", timings: dict[str, float] | None = None,
                  show: bool = True) -> None:
    """How every chapter ends: publish its ``claims`` (into ``metrics["claims"]`` and, at the default parameters,
    the committed ``results/claims/<chapter>.json``), show the closing table, glue the verdict summary that the
    chapter's opening shows (key :data:`SUMMARY_KEY`), write ``metrics.json`` once and finish the run record
    (``run.json``) of ``record`` (a :class:`fortifai.results.RunRecord`; its folder is the run's). ``show=False``:
    the chapter showed its table earlier."""
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


VERDICTS = ("reproduced", "partly", "not reproduced", "inconclusive", "underpowered")  # the only verdict words
MIN_MASKED_FRACTION = 0.05  # below it, the loss is CE on 95% of the tokens: the setting cannot tell them apart
MIN_REGENERATION_FIDELITY = 0.20  # below it, the regenerated split has lost the content KR asks about


def judge(low: float, high: float, null: float, paper_effect: float | None = None, estimate: float | None = None,
          seeds: int = 2, masked_fraction: float | None = None, fidelity: float | None = None,
          baseline_loss: tuple[float, float, float] | None = None) -> tuple[str, str]:
    """``(verdict, why)`` on a paper's directional claim from our interval ``[low, high]`` of the effect.

    Before the interval: **inconclusive** when the setting cannot test the claim: the loss changes fewer than
    5% of the tokens before failure (``masked_fraction``), the regeneration keeps fewer than 20% of its
    input's word 4-grams (``fidelity``), or, for a claim about what is lost from M0, the baseline lost nothing
    beyond noise (``baseline_loss``: its mean loss and t interval over the seeds, the lower end not above 0). Then, in the paper's direction (the side of ``null`` that
    ``paper_effect`` lies on; above it when not given): **reproduced** when the interval lies beyond ``null``
    (**partly** when it also lies short of ``paper_effect``); **underpowered** when it holds both ``null`` and
    ``paper_effect`` (or one seed gives no interval); **not reproduced** when it holds ``null`` and excludes the
    paper's effect, or lies on the other side.
    """
    if masked_fraction is not None and masked_fraction < MIN_MASKED_FRACTION:
        return "inconclusive", (f"the loss masks {masked_fraction:.1%} of the tokens before failure "
                                f"(< {MIN_MASKED_FRACTION:.0%}): it is CE almost everywhere")
    if fidelity is not None and fidelity < MIN_REGENERATION_FIDELITY:
        return "inconclusive", (f"the first regeneration keeps {fidelity:.0%} of its input's word 4-grams "
                                f"(< {MIN_REGENERATION_FIDELITY:.0%}): the text has lost its content")
    if baseline_loss is not None and seeds >= 2 and np.isfinite(baseline_loss[1]) and baseline_loss[1] <= 0:
        mean, lo, hi = baseline_loss
        return "inconclusive", (f"CE lost nothing beyond noise ({mean * 100:+.1f} points, t95 [{lo * 100:+.1f}, "
                                f"{hi * 100:+.1f}]): there is nothing to delay")
    if seeds < 2 or not (np.isfinite(low) and np.isfinite(high)):
        return "underpowered", "one seed (or no spread) gives no interval"
    sign = -1.0 if paper_effect is not None and paper_effect < null else 1.0
    lo, hi = sorted((sign * (low - null), sign * (high - null)))  # the paper's direction is positive now
    effect = None if paper_effect is None else sign * (paper_effect - null)
    if lo > 0:
        if effect is not None and hi < effect:
            return "partly", "the paper's direction beyond the noise, an effect smaller than the paper's"
        return "reproduced", "the interval lies beyond no effect, in the paper's direction"
    if hi < 0:
        return "not reproduced", "the opposite direction, beyond the noise"
    if effect is not None and hi >= effect:
        return "underpowered", "the interval holds both no effect and the paper's effect"
    if effect is None:
        return "not reproduced", "no difference beyond the noise (the paper gives no size to test against)"
    return "not reproduced", "the interval holds no effect and excludes the paper's"
