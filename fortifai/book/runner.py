"""Run a chapter notebook in batch: ``fortifai run notebooks/NAME.py -p key value ... [-f params.yaml] [-o DIR]``.

The notebooks are jupytext ``py:percent`` files whose cell tagged ``parameters`` holds plain literal
assignments. The runner reads that cell without executing anything, checks every given parameter
(name, type, and the values its comment allows) against it, and only then converts the notebook with
jupytext and executes it with papermill, writing the executed notebook and the notebook's artifacts into
the output folder. What a parameter allows is written at the end of its comment, after ``allowed:``::

    seeds = 20  # independent chains per setting; allowed: >= 1
    sampling_bias = 0.9  # allowed: (0, 1]                  an interval (inf for none)
    gammas = [None, 0.8]  # allowed: each None or (0, 1]   every element of a list
    sample_mode = "mean"  # allowed: mean | bernoulli        choices
    claims_dir: str | None = None  # allowed: None or existing folder
"""

from __future__ import annotations

import argparse
import ast
import io
import logging
import math
import operator
import re
import sys
import time
import tokenize
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import yaml

from ..results import REPO_ROOT

NOTEBOOK_DIR = REPO_ROOT / "notebooks"
PRESET_DIR = REPO_ROOT / "presets" / "llm_recursive"


class ParameterError(ValueError):
    """A parameter name or value that the notebook does not accept."""


@dataclass(frozen=True)
class Parameter:
    name: str
    default: Any
    types: tuple[type, ...]  # accepted Python types; empty means any
    type_name: str
    allowed: str | None = None  # what its comment allows (see the module's docstring); None: any value of its type

    def describe(self) -> str:
        return f"{self.name}: {self.type_name} = {self.default!r}" + (f"  (allowed: {self.allowed})" if self.allowed
                                                                       else "")

    def check(self, value: Any) -> None:
        """One ParameterError naming the parameter, the value and what is allowed, unless ``value`` is allowed."""
        if self.allowed is not None:
            accepts, phrase = allowed_rule(self.allowed)
            if not accepts(value):
                raise ParameterError(f"{self.name} must be {phrase}, got {value!r}")


_COMPARISONS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}
_INTERVAL = re.compile(r"^([\[(])\s*([^,\s]+)\s*,\s*([^,\s]+)\s*([\])])$")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)


def allowed_rule(text: str) -> tuple[Callable[[Any], bool], str]:
    """What an ``allowed:`` comment says: (a test of a value, the phrase an error uses). One ParameterError for a
    rule it cannot read, so that a chapter's typo is found by ``fortifai list`` and the tests, not by a user."""
    text = text.strip()
    if text.startswith("each "):
        inner, phrase = allowed_rule(text[5:])
        return (lambda v: isinstance(v, (list, tuple)) and all(inner(x) for x in v)), f"a list, each {phrase}"
    if text.startswith("None or "):
        inner, phrase = allowed_rule(text[8:])
        return (lambda v: v is None or inner(v)), f"None or {phrase}"
    if text == "existing folder":
        return (lambda v: isinstance(v, str) and Path(v).expanduser().is_dir()), "an existing folder"
    if text == "text source":  # fortifai.lm.corpus's named sources (light: no torch) or an existing file
        from ..lm.corpus import SOURCES
        return ((lambda v: isinstance(v, str) and (v in SOURCES or Path(v).expanduser().is_file())),
                f"one of {' | '.join(SOURCES)} or an existing text file")
    if text == "preset":  # a tier of presets/llm_recursive/ or an existing YAML file (as recursive.sweep reads it)
        tiers = preset_tiers()
        return ((lambda v: isinstance(v, str) and (v in tiers or any(
                    path.is_file() for path in (Path(v).expanduser(), REPO_ROOT / v)))),
                f"a tier of presets/llm_recursive/ ({', '.join(tiers)}) or an existing YAML file")
    comparison = re.fullmatch(r"(>=|>|<=|<)\s*(\S+)", text)
    if comparison:
        compare, bound = _COMPARISONS[comparison[1]], float(comparison[2])
        return (lambda v: _number(v) and compare(v, bound)), f"a number {text}"
    interval = _INTERVAL.match(text)
    if interval:
        left, low, high, right = interval[1], float(interval[2]), float(interval[3]), interval[4]
        above = operator.gt if left == "(" else operator.ge
        below = operator.lt if right == ")" else operator.le
        return (lambda v: _number(v) and above(v, low) and below(v, high)), f"a number in {text}"
    if "|" in text:
        choices = [parse_value(c.strip()) for c in text.split("|")]
        return (lambda v: any(v == c and type(v) is type(c) for c in choices)), f"one of {text}"
    raise ParameterError(f"cannot read 'allowed: {text}' (comparisons such as >= 1, intervals such as (0, 1], "
                         "choices a | b, 'each ...', 'None or ...', 'existing folder', 'text source', 'preset')")


def preset_tiers() -> list[str]:
    """The tiers of ``presets/llm_recursive/`` (``cpu``, ``smollm2``, ...)."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def _allowed_comments(source: str) -> dict[int, str]:
    """Line number -> the ``allowed:`` rule of the comment on that line."""
    out = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT and "allowed:" in token.string:
            out[token.start[0]] = token.string.split("allowed:", 1)[1].strip()
    return out


_ANNOTATION_TYPES = {"int": int, "float": float, "str": str, "bool": bool, "list": list, "dict": dict, "None": type(None)}


def _types_from_annotation(node: ast.expr) -> tuple[type, ...]:
    """``int``, ``str | None``, ``list`` ... as a tuple of types (unknown names accept anything)."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        left, right = _types_from_annotation(node.left), _types_from_annotation(node.right)
        return () if not left or not right else left + right
    if isinstance(node, ast.Constant) and node.value is None:
        return (type(None),)
    if isinstance(node, ast.Subscript):  # list[float] -> list
        return _types_from_annotation(node.value)
    if isinstance(node, ast.Name) and node.id in _ANNOTATION_TYPES:
        return (_ANNOTATION_TYPES[node.id],)
    return ()


def _types_from_default(value: Any) -> tuple[type, ...]:
    if value is None:
        return ()
    if isinstance(value, bool):
        return (bool,)
    if isinstance(value, float):
        return (float, int)  # an int is a fine float
    if isinstance(value, tuple):
        return (list, tuple)
    return (type(value),)


def _type_name(types: tuple[type, ...]) -> str:
    if not types:
        return "any"
    names = [t.__name__ if t is not type(None) else "None" for t in types]
    if names[:2] == ["float", "int"]:
        names = ["float"] + names[2:]
    return " | ".join(dict.fromkeys(names))


def read_parameters(notebook: str | Path) -> dict[str, Parameter]:
    """The parameters of a notebook: names, defaults and accepted types, read without executing it."""
    import jupytext

    path = Path(notebook)
    if not path.is_file():
        raise FileNotFoundError(f"notebook not found: {path} (available: {', '.join(n.name for n in list_notebooks())})")
    nb = jupytext.read(path)
    cells = [c for c in nb.cells if c.cell_type == "code" and "parameters" in c.metadata.get("tags", [])]
    if len(cells) != 1:
        raise ParameterError(f"{path} must have exactly one cell tagged 'parameters', found {len(cells)}")
    params: dict[str, Parameter] = {}
    allowed = _allowed_comments(cells[0].source)
    for stmt in ast.parse(cells[0].source).body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            name, value_node, annotation = stmt.targets[0].id, stmt.value, None
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value is not None:
            name, value_node, annotation = stmt.target.id, stmt.value, stmt.annotation
        else:
            raise ParameterError(f"{path}: the parameters cell may hold only `name = literal` assignments (line {stmt.lineno})")
        default = ast.literal_eval(value_node)
        types = _types_from_annotation(annotation) if annotation is not None else _types_from_default(default)
        rule = allowed.get(stmt.end_lineno)
        if rule is not None:
            allowed_rule(rule)  # readable
        params[name] = Parameter(name, default, types, _type_name(types), rule)
    return params


def parse_value(text: str) -> Any:
    """A ``-p`` value as YAML: ``30`` is an int, ``0.9`` a float, ``[null, 0.85]`` a list, ``abc`` a string."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def add_params_options(parser: argparse.ArgumentParser, file_help: str = "a YAML file of parameters") -> None:
    """``-f FILE`` and ``-p KEY VALUE``: the parameters of every command line (``fortifai run|recursive|sweep``)."""
    parser.add_argument("-f", "--params-file", "--parameters-file", dest="params_file", type=Path, metavar="FILE",
                        help=f"{file_help} (-p wins over it)")
    parser.add_argument("-p", "--param", "--parameter", dest="param", nargs=2, action="append", default=[],
                        metavar=("KEY", "VALUE"), help="a parameter; VALUE is read as YAML (30, 0.9, null, '[0, 1]', text)")


def load_params(params_file: str | Path | None, pairs: list[tuple[str, str]] | list[list[str]] = ()) -> dict[str, Any]:
    """The parameters of ``-f FILE`` (a YAML mapping) with the ``-p KEY VALUE`` pairs over them (values read by
    :func:`parse_value`); one ParameterError naming the file when it is missing or not a mapping."""
    params: dict[str, Any] = {}
    if params_file is not None:
        path = Path(params_file)
        if not path.is_file():
            raise ParameterError(f"parameters file not found: {path}")
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as error:
            raise ParameterError(f"{path} is not valid YAML: {error}") from None
        if not isinstance(loaded, dict):
            raise ParameterError(f"{path} must hold a mapping of parameter names to values")
        params.update(loaded)
    params.update({key: parse_value(value) for key, value in pairs})
    return params


def _matches(value: Any, types: tuple[type, ...]) -> bool:
    if not types:
        return True
    if isinstance(value, bool) and bool not in types:
        return False  # True is an int in Python, but never a valid count or size
    return isinstance(value, types)


def _finite(value: Any) -> bool:
    """False where ``value`` is, or holds (in a list or mapping), a float nan or inf."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, (list, tuple)):
        return all(map(_finite, value))
    if isinstance(value, dict):
        return all(map(_finite, value.values()))
    return True


def check_parameters(notebook: str | Path, given: dict[str, Any]) -> dict[str, Any]:
    """Validate ``given`` against the notebook's parameters cell; raise one ParameterError listing them all."""
    params = read_parameters(notebook)
    valid = "\n".join(f"  {p.describe()}" for p in params.values())
    unknown = [k for k in given if k not in params]
    if unknown:
        raise ParameterError(
            f"unknown parameter{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} for "
            f"{Path(notebook).name}; valid parameters and their defaults:\n{valid}"
        )
    wrong = [
        f"{k} expects {params[k].type_name}, got {v!r} ({type(v).__name__})"
        for k, v in given.items()
        if not _matches(v, params[k].types)
    ]
    if wrong:
        raise ParameterError(
            "wrong parameter type: " + "; ".join(wrong) + f"\nvalid parameters and their defaults:\n{valid}"
        )
    for name, value in given.items():
        if not _finite(value):  # inf or nan reaches no chapter as a number: a claim would be judged on nothing
            raise ParameterError(f"{name} must be finite, got {value!r}")
        params[name].check(value)
    # `-p sampling_bias 1` means 1.0 where the default is a float; a folder is checked here, relative to where the
    # command runs, and passed absolute, since the kernel runs in the notebook's folder
    def passed(name: str, value: Any) -> Any:
        if isinstance(params[name].default, float) and type(value) is int:
            return float(value)
        if isinstance(value, str) and (params[name].allowed or "").endswith("existing folder"):
            return str(Path(value).expanduser().resolve())
        return value

    return {k: passed(k, v) for k, v in given.items()}


def run_name(given: dict[str, Any]) -> str:
    """A folder name from the non-default parameters, e.g. ``generations-30_seeds-20`` (``default`` for none)."""
    if not given:
        return "default"
    name = "_".join(f"{k}-{v}" for k, v in sorted(given.items()) if k != "output_dir")
    name = re.sub(r"[^A-Za-z0-9.,=+-]+", "_", name.replace(" ", "")).strip("_")
    return name[:120] or "default"


def list_notebooks() -> list[Path]:
    return sorted(NOTEBOOK_DIR.glob("*.py"))


def chapter_parameters(chapter: str, namespace: dict[str, Any]) -> dict[str, Any]:
    """What a chapter's ``run.json`` records: the value in ``namespace`` (the notebook's ``globals()``) of every
    name of its parameters cell, read from the cell itself so that no chapter retypes its parameters (paths as
    strings; ``output_dir`` is the record's own folder, not a value)."""
    names = read_parameters(NOTEBOOK_DIR / f"{chapter}.py")
    return {name: str(namespace[name]) if isinstance(namespace[name], Path) else namespace[name]
            for name in names if name != "output_dir"}


FAILED_FILE = "FAILED"  # in a chapter's output folder whose last run failed, with the error's last line
FAILED_DIR = "failed"  # the failed run's own files (its notebook, what it wrote), beside the previous result
PREVIOUS_DIR = ".previous"  # the last result's files while a rerun builds: restored when the rerun fails or dies


def _result_files(out: Path) -> list[Path]:
    """A chapter result: the files at the top of its folder (metrics, run record, notebook, figures); folders
    (a chapter's runs, ``failed/``) and the lock and ``FAILED`` markers are not part of it."""
    from ..results import LOCK_FILE

    return [p for p in out.iterdir() if p.is_file() and p.name not in (LOCK_FILE, FAILED_FILE)]


def _set_aside(out: Path) -> Path:
    """Move the previous result into ``PREVIOUS_DIR`` before a rerun; a ``PREVIOUS_DIR`` already there is a rerun
    that was killed: its partial files go and the result it had set aside comes back first."""
    previous = out / PREVIOUS_DIR
    if previous.is_dir():
        _put_back(out, previous, keep=None)
    previous.mkdir()
    for path in _result_files(out):
        path.replace(previous / path.name)
    return previous


def _put_back(out: Path, previous: Path, keep: Path | None) -> None:
    """The previous result back in place (renames only: it works on a full disk); this run's files go to
    ``keep`` (or are deleted)."""
    import shutil

    if keep is not None:
        shutil.rmtree(keep, ignore_errors=True)
        keep.mkdir()
    for path in _result_files(out):
        if keep is not None:
            path.replace(keep / path.name)
        else:
            path.unlink()
    for path in previous.iterdir():
        path.replace(out / path.name)
    previous.rmdir()


def run_notebook(
    notebook: str | Path,
    given: dict[str, Any] | None = None,
    output_dir: str | Path | None = None,
    name: str | None = None,
    progress: bool = True,
) -> Path:
    """Check, convert and execute ``notebook``; return the output folder.

    The executed notebook is written as ``<output_dir>/<notebook>.ipynb`` beside the artifacts that the
    notebook itself writes there (metrics.json, figures, run.json), once it has run to the end. A rerun sets the
    previous result aside first and deletes it only on success: a run that fails (or is killed) leaves the
    previous result as it was, with ``FAILED`` beside it and the failed run's own files in ``failed/``.
    """
    from ..results import lock_run_folder, unlock_run_folder

    notebook = Path(notebook)
    given = dict(given or {})
    if "output_dir" in given:  # the kernel's output_dir is the run's folder, set by output_dir= (-o), never a value
        raise ParameterError("output_dir is not a parameter to set with -p: the output folder is -o / --output-dir")
    given = check_parameters(notebook, given)
    params = read_parameters(notebook)
    if "output_dir" not in params:
        raise ParameterError(f"{notebook.name} has no output_dir parameter; every experiment notebook needs one")
    out = Path(output_dir) if output_dir else REPO_ROOT / "results" / notebook.stem / (name or run_name(given))
    if out.exists() and not out.is_dir():
        raise ParameterError(f"the output folder (-o) {str(out)!r} is a file; name a folder (new or existing)")
    out.mkdir(parents=True, exist_ok=True)
    out = lock_run_folder(out)  # one run per output folder: a second is refused (RunFolderBusyError) at once
    try:
        return _execute(notebook, given, out, progress)
    finally:
        unlock_run_folder(out)


def _no_inspection_warnings(record: logging.LogRecord) -> bool:
    return not any(text in record.getMessage() for text in ("Passed unknown parameter", "Unable to parse line"))


def _execute(notebook: Path, given: dict[str, Any], out: Path, progress: bool) -> Path:
    import jupytext
    import papermill

    nb = jupytext.read(notebook)
    # papermill's own parameter inspection cannot read annotations such as `str | None` or a comment's `>=` and
    # warns; the parameters were checked above, so those warnings carry no information
    for name in ("papermill", "papermill.translators"):
        logging.getLogger(name).addFilter(_no_inspection_warnings)
    nb.metadata.setdefault("kernelspec", {"name": "python3", "display_name": "Python 3", "language": "python"})
    import shutil

    started = time.perf_counter()
    previous = _set_aside(out)
    executed = out / f".{notebook.stem}.partial.ipynb"  # renamed into place once the notebook ran to the end
    try:
        papermill.execute_notebook(
            nb,
            str(executed),
            parameters={**given, "output_dir": str(out)},
            kernel_name="python3",
            cwd=str(notebook.resolve().parent),
            progress_bar=progress,
        )
        executed.replace(out / f"{notebook.stem}.ipynb")
    except BaseException as error:  # the previous result stands; this run's files go to failed/
        if executed.is_file():
            executed.replace(out / f"{notebook.stem}.ipynb")
        kept = any(previous.iterdir())
        _put_back(out, previous, keep=out / FAILED_DIR)
        last = (str(error).strip().splitlines() or [type(error).__name__])[-1]
        (out / FAILED_FILE).write_text(
            f"{notebook.name} failed: {last}\nsee {FAILED_DIR}/{notebook.stem}.ipynb; "
            + ("the result beside this file is the previous run's\n" if kept else "no earlier result\n"))
        raise
    shutil.rmtree(previous)
    (out / FAILED_FILE).unlink(missing_ok=True)
    shutil.rmtree(out / FAILED_DIR, ignore_errors=True)
    print(f"{notebook.name}: done in {time.perf_counter() - started:.1f} s -> {out}", file=sys.stderr)
    return out
