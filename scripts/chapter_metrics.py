"""Run every chapter at its small test parameters and keep its metrics.json; compare two such folders.

    python scripts/chapter_metrics.py run OUT            # OUT/<chapter>.json for every notebook
    python scripts/chapter_metrics.py compare BEFORE AFTER [--rename REGEX REPLACEMENT]...

Used to show that a refactor leaves every chapter's results unchanged: run it at the commit before and
after, then compare. Numbers must agree to ``--rtol`` (default 1e-9); wall times are ignored. ``--rename`` rewrites
the strings (keys and values) of BEFORE first, for a change that renames labels on purpose; say which in the note.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
# measured times and memory, and the folders the runs read: they differ between any two runs
IGNORED = {"wall_time_s", "seconds", "elapsed_s", "runtime_s", "questions_per_second", "score_seconds", "throughput",
           "time_ms", "time_vs_base", "peak_mb", "mem_vs_base", "runs_dir", "claims_dir"}


def run(out: Path, only: list[str]) -> None:
    from fortifai.book.runner import run_notebook

    out.mkdir(parents=True, exist_ok=True)
    for notebook in sorted((REPO / "notebooks").glob("*.py")):
        if only and notebook.stem not in only:
            continue
        small = yaml.safe_load((REPO / "tests" / "notebook_params" / f"{notebook.stem}.yaml").read_text()) or {}
        with tempfile.TemporaryDirectory() as tmp:
            folder = run_notebook(notebook, small, output_dir=tmp, progress=False)
            (out / f"{notebook.stem}.json").write_text((folder / "metrics.json").read_text())
        print(f"{notebook.stem}: done", flush=True)


def differences(a, b, path: str = "", rtol: float = 1e-9) -> list[str]:
    """Every place where two JSON values differ (numbers to ``rtol``)."""
    if isinstance(a, dict) and isinstance(b, dict):
        found = [f"{path}/{k}: only in one" for k in sorted(set(a) ^ set(b)) if k not in IGNORED]
        for key in sorted(set(a) & set(b)):
            if key not in IGNORED:
                found += differences(a[key], b[key], f"{path}/{key}", rtol)
        return found
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: length {len(a)} != {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{path}[{i}]", rtol)]
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool):
        if (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=rtol, abs_tol=1e-12):
            return []
    elif a == b:
        return []
    return [f"{path}: {a!r} != {b!r}"]


def renamed(value, renames: list[tuple[str, str]]):
    """``value`` with every string, keys included, rewritten by the (regex, replacement) pairs."""
    if isinstance(value, dict):
        return {renamed(k, renames): renamed(v, renames) for k, v in value.items()}
    if isinstance(value, list):
        return [renamed(v, renames) for v in value]
    if isinstance(value, str):
        for pattern, replacement in renames:
            value = re.sub(pattern, replacement, value)
    return value


def compare(before: Path, after: Path, rtol: float, renames: list[tuple[str, str]] = ()) -> int:
    failed = 0
    for old in sorted(before.glob("*.json")):
        new = after / old.name
        if not new.is_file():
            print(f"{old.stem}: missing in {after}")
            failed += 1
            continue
        found = differences(renamed(json.loads(old.read_text()), renames), json.loads(new.read_text()), rtol=rtol)
        print(f"{old.stem}: {'unchanged' if not found else f'{len(found)} differences'}")
        for line in found[:20]:
            print("   ", line)
        failed += bool(found)
    return failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    runner = sub.add_parser("run", help="run every chapter at its small parameters")
    runner.add_argument("out", type=Path)
    runner.add_argument("--only", nargs="*", default=[], help="chapter names (default: all)")
    comparer = sub.add_parser("compare", help="compare two folders written by 'run'")
    comparer.add_argument("before", type=Path)
    comparer.add_argument("after", type=Path)
    comparer.add_argument("--rtol", type=float, default=1e-9)
    comparer.add_argument("--rename", nargs=2, action="append", default=[], metavar=("REGEX", "REPLACEMENT"),
                          help="rewrite BEFORE's strings first (a label renamed on purpose)")
    args = parser.parse_args(argv)
    if args.command == "run":
        run(args.out, args.only)
        return 0
    return 1 if compare(args.before, args.after, args.rtol, [tuple(r) for r in args.rename]) else 0


if __name__ == "__main__":
    sys.exit(main())
