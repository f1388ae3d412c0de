"""The KR-test file format: the authors' JSON list of questions, read as it is (repeats kept, dropped or refused)
and written atomically."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable


REQUIRED_FIELDS = ("context", "sentence_true", "sentence_false", "location")


class KRFormatError(ValueError):
    """A KR-test file or list that does not follow the format."""


@dataclass
class KRQuestion:
    context: str
    sentence_true: str
    sentence_false: str
    location: int
    kind: str | None = None
    change: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # any other keys of the file, written back as they were

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k != "extra" and v is not None}
        return {**out, **self.extra}


# ---------------------------------------------------------------------------------------------------- format

DUPLICATES = ("error", "keep", "drop")


class KRQuestions(list):
    """A list of :class:`KRQuestion` that also tells how many repeated questions it met (``duplicates``)."""

    duplicates: int = 0


def validate_questions(items: Any, duplicates: str = "error") -> KRQuestions:
    """Check a list of question dicts (or :class:`KRQuestion`) and return them as :class:`KRQuestion`.

    Raises :class:`KRFormatError` naming the item and the field: not a list, missing field, empty text,
    a location that is not an int >= 0, or true equal to false. A question repeated (same context, true and
    false sentence) is, by ``duplicates``: an ``"error"``, kept (``"keep"``, scored as often as it occurs) or
    dropped (``"drop"``, first occurrence kept); the returned list's ``.duplicates`` counts the repeats.
    """
    if duplicates not in DUPLICATES:
        raise ValueError(f"duplicates must be one of {DUPLICATES}, got {duplicates!r}")
    if not isinstance(items, (list, tuple)):
        raise KRFormatError(f"KR questions must be a JSON list of objects, got {type(items).__name__}")
    out, seen, repeats = KRQuestions(), {}, 0
    for i, item in enumerate(items):
        if isinstance(item, KRQuestion):
            item = item.to_dict()
        if not isinstance(item, dict):
            raise KRFormatError(f"question {i}: must be an object with {', '.join(REQUIRED_FIELDS)}, got {type(item).__name__}")
        missing = [f for f in REQUIRED_FIELDS if f not in item]
        if missing:
            raise KRFormatError(f"question {i}: missing field(s) {', '.join(missing)} (required: {', '.join(REQUIRED_FIELDS)})")
        for name in REQUIRED_FIELDS[:3]:
            if not isinstance(item[name], str) or not item[name].strip():
                raise KRFormatError(f"question {i}: field {name!r} must be a non-empty string, got {item[name]!r}")
        location = item["location"]
        if isinstance(location, bool) or not isinstance(location, int) or location < 0:
            raise KRFormatError(f"question {i}: field 'location' must be an int >= 0, got {location!r}")
        if item["sentence_true"].strip() == item["sentence_false"].strip():
            raise KRFormatError(f"question {i}: 'sentence_true' and 'sentence_false' are the same text")
        key = (item["context"].strip(), item["sentence_true"].strip(), item["sentence_false"].strip())
        if key in seen:
            if duplicates == "error":
                raise KRFormatError(f"question {i}: duplicate of question {seen[key]} (same context, true and false "
                                    "sentence); load with duplicates='keep' or 'drop'")
            repeats += 1
            if duplicates == "drop":
                continue
        seen.setdefault(key, i)
        extra = {k: v for k, v in item.items() if k not in REQUIRED_FIELDS + ("kind", "change")}
        out.append(KRQuestion(item["context"], item["sentence_true"], item["sentence_false"], location,
                              item.get("kind"), item.get("change"), extra))
    out.duplicates = repeats
    return out


def load_questions(path: str | os.PathLike, duplicates: str = "keep") -> KRQuestions:
    """Read and validate a KR-test JSON file (the authors' format; extra keys are kept).

    The authors' released files repeat questions (their WikiText file holds each several times); by default
    they are kept, as the authors scored them; ``duplicates="drop"`` keeps each once, ``"error"`` refuses the
    file. The result's ``.duplicates`` says how many repeats there were.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"KR-test file not found: {path}")
    try:
        text = path.read_bytes().decode("utf-8-sig")  # a byte-order mark, as some editors write, is read past
    except UnicodeDecodeError as err:
        raise KRFormatError(f"{path}: not UTF-8 (byte {err.object[err.start]:#04x} at offset {err.start}); save it "
                            "as UTF-8, e.g. iconv -f latin1 -t utf-8") from None
    try:
        items = json.loads(text)
    except json.JSONDecodeError as err:
        items = _json_lines(text)
        if items is None:
            raise KRFormatError(f"{path}: not valid JSON ({err}); expected one JSON list of question objects "
                                "(or JSON Lines, one object per line)") from None
    return validate_questions(items, duplicates)


def _json_lines(text: str) -> list | None:
    """The objects of a JSON Lines text (one per non-empty line), or None when it is not one."""
    try:
        rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError:
        return None
    return rows if len(rows) > 1 and all(isinstance(row, dict) for row in rows) else None


def write_questions(questions: Iterable[KRQuestion | dict], path: str | os.PathLike) -> Path:
    """Validate and write questions as an indented JSON list (atomically)."""
    from ..results import atomic_path

    questions = validate_questions(list(questions))
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps([q.to_dict() for q in questions], indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


