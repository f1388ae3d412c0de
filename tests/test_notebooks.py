"""Every chapter runs end to end through the runner at its small parameters and honours the results contract."""

import json
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from fortifai.book.report import Claim
from fortifai.claims.judge import STATES
from fortifai.book.runner import run_notebook
from fortifai.book.status import paper_refs

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.py"))
PAGES_WITHOUT_CLAIMS = {"reproduction_status"}  # the status page reads the chapters' claims and makes none
_runs: dict[str, tuple[Path, float]] = {}


def _run(name: str, tmp_path_factory) -> tuple[Path, float]:
    if name not in _runs:
        small = yaml.safe_load((REPO / "tests" / "notebook_params" / f"{name}.yaml").read_text()) or {}
        out = tmp_path_factory.mktemp(name)
        started = time.perf_counter()
        run_notebook(REPO / "notebooks" / f"{name}.py", small, output_dir=out, progress=False)
        _runs[name] = (out, time.perf_counter() - started)
    return _runs[name]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_and_writes_the_contract(notebook, tmp_path_factory):
    out, seconds = _run(notebook.stem, tmp_path_factory)
    print(f"{notebook.stem}: {seconds:.1f} s at small parameters")
    assert (out / f"{notebook.stem}.ipynb").is_file()
    metrics = json.loads((out / "metrics.json").read_text())
    assert isinstance(metrics, dict) and metrics
    run = json.loads((out / "run.json").read_text())
    assert {"params", "seed", "versions", "git_commit", "wall_time_s"} <= set(run)
    assert {"fortifai", "torch", "numpy"} <= set(run["versions"])
    pngs = {p.stem for p in out.glob("*.png")}
    assert pngs and pngs == {p.stem for p in out.glob("*.svg")}, "every figure in PNG and SVG"
    assert not list(out.glob(".*.tmp*")), "temporary files left behind"
    if notebook.stem not in PAGES_WITHOUT_CLAIMS:
        claims = metrics.get("claims")
        assert isinstance(claims, list) and claims, "the closing claims, saved as metrics['claims']"
        for item in claims:
            assert set(item) == {"claim", "ours", "verdict", "paper", "folded"} and all(isinstance(v, str) for v in item.values())
            assert item["claim"] and item["ours"], item
            assert Claim(**item).word in STATES, item["verdict"]  # a verdict, or "not computed" (no number yet)
            assert paper_refs(item["paper"]), item  # names the paper's items the status page groups it by


def test_gaussian_matches_theory_and_paper_claims(tmp_path_factory):
    out, _ = _run("gaussian_variance", tmp_path_factory)
    metrics = json.loads((out / "metrics.json").read_text())
    curves = {c["gamma"]: c for c in metrics["curves"]}
    for gamma in (None, 0.85):
        median, theory = curves[gamma]["median_variance"], curves[gamma]["theory_variance"]
        assert len(median) == metrics["generations"] + 1 and median[0] == pytest.approx(1.0)
        assert median[10] == pytest.approx(theory[10], rel=0.15)
    assert curves[0.8]["median_variance"][-1] > 1.0
    q10, q90 = np.array(curves[None]["q10"]), np.array(curves[None]["q90"])
    assert np.all(q10 <= np.array(curves[None]["median_variance"])) and np.all(q90 >= q10)


def test_gaussian_same_seed_same_metrics(tmp_path):
    small = {"generations": 8, "seeds": 3, "n_samples": 500, "sweep_gammas": [0.9], "sweep_sampling_biases": [0.9],
             "sweep_generations": 5, "sweep_seeds": 2, "sweep_n_samples": 200, "estimator_generations": 5}
    first = run_notebook(REPO / "notebooks" / "gaussian_variance.py", small, output_dir=tmp_path / "a", progress=False)
    second = run_notebook(REPO / "notebooks" / "gaussian_variance.py", small, output_dir=tmp_path / "b", progress=False)
    assert (first / "metrics.json").read_text() == (second / "metrics.json").read_text()
