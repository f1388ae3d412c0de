"""The package's shape: layers that import downward only, modules of one concept, no tracker words in the book."""

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "fortifai"
MODULES = sorted(PACKAGE.rglob("*.py"))


def _imported(path: Path) -> set[str]:
    """The fortifai modules ``path`` imports (relative imports resolved), at any depth of the file."""
    parts = path.relative_to(REPO).with_suffix("").parts
    package = parts[:-1] if parts[-1] != "__init__" else parts[:-1]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = list(package[:len(package) - node.level + 1]) if node.level else []
            name = ".".join(base + ([node.module] if node.module else []))
            out |= {name} | {f"{name}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
    return {n for n in out if n.startswith("fortifai")}


def _folder(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0] if len(path.relative_to(PACKAGE).parts) > 1 else ""


def test_the_language_model_plumbing_does_not_import_the_kr_test():
    """lm/ is plumbing the KR-test uses (lm/facts.py holds what both need); lm importing krtest made a cycle."""
    offenders = [p.name for p in MODULES if _folder(p) == "lm"
                 and any(n.startswith("fortifai.krtest") for n in _imported(p))]
    assert not offenders, offenders


def test_the_engine_and_its_plumbing_do_not_import_the_claims_or_the_experiments():
    """claims/ reads runs (recursive/runs.py); the calibration, which runs the engine and judges by claims/regime.py,
    sat in recursive/ and made a cycle between the two folders: it lives in experiments/, above both."""
    below = ("recursive", "lm", "krtest", "losses", "toys")
    offenders = [str(p.relative_to(PACKAGE)) for p in MODULES if _folder(p) in below
                 and any(n.startswith(("fortifai.claims", "fortifai.experiments")) for n in _imported(p))]
    offenders += [str(p.relative_to(PACKAGE)) for p in MODULES if _folder(p) == "claims"
                  and any(n.startswith("fortifai.experiments") for n in _imported(p))]
    assert not offenders, offenders


def test_the_claims_do_not_import_the_book():
    """The book renders claims (book/report.py imports them); a claim row and its verdict live in claims/."""
    offenders = [p.name for p in MODULES if _folder(p) == "claims"
                 and any(n.startswith("fortifai.book") for n in _imported(p))]
    assert not offenders, offenders


def test_nothing_in_the_package_imports_a_chapter_module():
    """Chapter modules sit on top: only notebooks (and tests) import fortifai.chapters."""
    offenders = [str(p.relative_to(PACKAGE)) for p in MODULES if _folder(p) != "chapters"
                 and any(n.startswith("fortifai.chapters") for n in _imported(p))]
    assert not offenders, offenders


def test_no_module_is_over_450_lines():
    long = {str(p.relative_to(PACKAGE)): n for p in MODULES if (n := len(p.read_text().splitlines())) > 450}
    assert not long, long


def test_no_page_or_claim_speaks_of_issues():
    """A reader has no tracker: 'issue 3' means nothing in a chapter, a claim or a docstring."""
    pattern = re.compile(r"\bissues? #?\d+", re.IGNORECASE)
    files = [*MODULES, *(REPO / "notebooks").glob("*.py"), *(REPO / "book").glob("*.md"),
             *(REPO / "results" / "claims").glob("*.json")]
    found = [f"{p.relative_to(REPO)}: {m.group(0)}" for p in files for m in pattern.finditer(p.read_text())]
    assert not found, found
