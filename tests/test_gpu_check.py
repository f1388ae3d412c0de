"""benchmarks/gpu_check.py --tiny: the GPU check's code runs end to end on CPU and writes the JSON it promises.

The check itself is for a lent GPU; this test makes sure that a device is never spent on a broken script. It
states facts about the report (every section ran, the scorers agree, the per-item reference is the package's
loop, the smoke protocol finished its stages), not about speed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SECTIONS = ["losses", "chunked", "kr", "train_step", "smoke"]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu_check")
    # a generous budget: this checks what the script does, not how fast a loaded machine runs it (its time
    # budget, 110 s at --tiny, is for an idle machine and would cut the smoke run short on a busy one)
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_check.py"), "--tiny", "--out", str(out),
                           "--budget-s", "540"], capture_output=True, text=True, timeout=900, cwd=REPO)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads((out / "gpu_check.json").read_text())


def test_every_section_ran_on_cpu(report):
    assert report["meta"]["tiny"] is True and report["meta"]["device"] == "cpu"
    assert [report[name]["status"] for name in SECTIONS] == ["ok"] * len(SECTIONS)


def test_losses_rows_cover_both_dtypes_against_cross_entropy(report):
    rows = report["losses"]["rows"]
    assert {(r["dtype"], r["case"]) for r in rows} == {
        (d, c) for d in ("bfloat16", "float32")
        for c in ("F.cross_entropy", "ce_fortifai", "tce", "focal", "tce_dynamic", "authors_tce")}
    assert all(r["time_ms"] > 0 for r in rows)
    assert [r["time_vs_ce"] for r in rows if r["case"] == "F.cross_entropy"] == [1.0, 1.0]
    assert [t["limit"] for t in report["losses"]["targets"]] == [1.05, 1.05]


def test_chunked_rows_and_their_limits(report):
    rows = report["chunked"]["rows"]
    cases = {r["case"] for r in rows}
    assert {"linear+tce", "chunked_tce"} <= cases
    assert ("torch_lce_tce" in cases) == report["meta"]["torch_linear_cross_entropy"]
    for r in rows:
        assert r["limit_mb"] == pytest.approx(r["weight_grad_mb"] + 0.25 * r["N"] * r["V"] * 4 / 2**20)
        assert r["peak_mb"] is None  # CPU: memory is benchmarks/losses.py's job (peak RSS in fresh processes)


def test_kr_scorers_agree_and_the_reference_is_the_packages_loop(report):
    (row,) = report["kr"]["rows"]
    assert row["questions"] == 8 and row["per_item_s"] > 0 and row["tree_s"] > 0
    assert row["max_abs_score_diff"] < 1e-4
    assert row["per_item_vs_package_max_abs_diff"] < 1e-9


def test_train_step_reports_throughput_and_no_mfu_without_a_card(report):
    step = report["train_step"]
    assert [r["loss"] for r in step["rows"]] == ["tce (engine)", "ce", "tce lean (chunked)"]
    assert all(r["tokens_per_s"] > 0 and r["mfu"] is None for r in step["rows"])
    assert step["flops_per_token"] == 6 * step["parameters"] + 12 * 2 * 64 * step["seq"]
    assert step["targets"][0]["holds"] is None


def test_smoke_protocol_finished_both_stages(report):
    smoke = report["smoke"]
    assert smoke["returncode"] == 0
    assert [s["stage"] for s in smoke["stages"]] == [0, 1]
    assert all(s["heldout_loss"] > 0 and 0 <= s["kr_accuracy"] <= 1 for s in smoke["stages"])
