"""fortifai collect: finished runs into the committed runs folder, without weights, atomically, refusing clashes."""

import json

import pytest

from fortifai.cli import main
from fortifai.recursive.collect import collect_runs, runs_to_collect


def make_run(runs, name, finished=True, data="abc"):
    run = runs / name
    (run / "stage_0" / "model").mkdir(parents=True)
    (runs / "_data").mkdir(exist_ok=True)
    (runs / "_data" / f"{data}.json").write_text(json.dumps({"splits": [[data]]}))
    (run / "data.json").write_text(json.dumps({"data_file": f"../_data/{data}.json"}))
    (run / "manifest.json").write_text(json.dumps({"params": {"seed": 0}}))
    (run / "stage_0" / "metrics.json").write_text(json.dumps({"stage": 0}))
    (run / "stage_0" / "model" / "model.safetensors").write_bytes(b"weights")
    (run / ".lock").write_text("123\n")
    if finished:
        (run / "metrics.json").write_text(json.dumps({"stages": [{"stage": 0}]}))
    return run


def test_copies_finished_runs_with_their_data_and_without_weights(tmp_path):
    source, dest = tmp_path / "sweep", tmp_path / "main"
    make_run(source, "ce-seed0-aaaa")
    make_run(source, "tce-0.9-seed0-bbbb", finished=False, data="def")
    assert collect_runs(source, dest, log=lambda _: None) == ["ce-seed0-aaaa"]
    run = dest / "ce-seed0-aaaa"
    assert json.loads((run / "metrics.json").read_text()) == {"stages": [{"stage": 0}]}
    assert not (run / "stage_0" / "model").exists() and not (run / ".lock").exists()
    assert (dest / "_data" / "abc.json").is_file() and not (dest / "_data" / "def.json").exists()
    assert not (dest / "tce-0.9-seed0-bbbb").exists()
    assert not list(dest.glob(".*partial"))
    # again: nothing left to copy, and what is there is kept
    assert runs_to_collect(source, dest) == [] and collect_runs(source, dest, log=lambda _: None) == []


def test_an_interrupted_copy_is_replaced(tmp_path):
    source, dest = tmp_path / "sweep", tmp_path / "main"
    make_run(source, "ce-seed0-aaaa")
    (dest / ".ce-seed0-aaaa.partial" / "stage_0").mkdir(parents=True)  # a copy stopped half way
    assert collect_runs(source, dest, log=lambda _: None) == ["ce-seed0-aaaa"]
    assert (dest / "ce-seed0-aaaa" / "metrics.json").is_file() and not list(dest.glob(".*partial"))


def test_a_run_with_other_content_stops_everything_before_any_copy(tmp_path, capsys):
    source, dest = tmp_path / "sweep", tmp_path / "main"
    make_run(source, "ce-seed0-aaaa")
    make_run(source, "ce-seed1-cccc", data="ghi")
    other = make_run(dest, "ce-seed0-aaaa")
    (other / "metrics.json").write_text(json.dumps({"stages": []}))
    with pytest.raises(FileExistsError, match="ce-seed0-aaaa"):
        collect_runs(source, dest, log=lambda _: None)
    assert not (dest / "ce-seed1-cccc").exists()
    assert main(["collect", str(source), "--to", str(dest)]) == 2
    assert "ce-seed0-aaaa" in capsys.readouterr().err and not (dest / "ce-seed1-cccc").exists()


def test_cli_refuses_a_missing_source(tmp_path, capsys):
    assert main(["collect", str(tmp_path / "nowhere"), "--to", str(tmp_path / "main")]) == 2
    assert "source" in capsys.readouterr().err


@pytest.mark.parametrize("content", ["{}", "null", '{"stages": '])
def test_a_damaged_run_is_named_and_refused(tmp_path, content):
    """collect copied damaged runs as finished."""
    source, dest = tmp_path / "sweep", tmp_path / "main"
    make_run(source, "ce-seed0-aaaa")
    (make_run(source, "ce-seed1-cccc", data="ghi") / "metrics.json").write_text(content)
    said = []
    assert collect_runs(source, dest, log=said.append) == ["ce-seed0-aaaa"]
    assert any(line.startswith("ce-seed1-cccc: refused (damaged: metrics.json:") for line in said)
    assert not (dest / "ce-seed1-cccc").exists()


def test_a_partial_copy_is_never_read_as_a_run(tmp_path):
    """An interrupted collect left a `.partial` run that llm_results read as real."""
    from fortifai.recursive.runs import load_runs

    runs = tmp_path / "runs"
    for name in ("ce-seed0-aaaa", ".ce-seed1-bbbb.partial", "ce-seed2-dddd.partial"):
        (make_run(runs, name) / "metrics.json").write_text(json.dumps({"params": {"seed": 0}, "stages": [{"stage": 0}]}))
    assert [r.folder.name for r in load_runs(runs)] == ["ce-seed0-aaaa"]


def test_partial_copies_the_finished_stages_of_a_run_going_and_completes_it_later(tmp_path):
    """--partial: the finished stages of a run going (never the stage in progress, never weights); a later collect,
    once more stages or the whole run have finished, adds what the runs folder lacks and keeps what it holds."""
    source, dest = tmp_path / "sweep", tmp_path / "main"
    run = make_run(source, "ce-seed0-aaaa", finished=False)
    (run / "stage_1").mkdir()
    (run / "stage_1" / "generated.json").write_text("{}")  # stage 1 in progress: its metrics.json not yet there
    assert collect_runs(source, dest, log=lambda _: None) == []  # not finished: only with partial
    said = []
    assert collect_runs(source, dest, log=said.append, partial=True) == ["ce-seed0-aaaa"]
    assert "ce-seed0-aaaa: copied (going: stages 0-0)" in said
    copy = dest / "ce-seed0-aaaa"
    assert sorted(str(f.relative_to(copy)) for f in copy.rglob("*") if f.is_file()) == [
        "data.json", "manifest.json", "stage_0/metrics.json"]
    assert (dest / "_data" / "abc.json").is_file()
    assert collect_runs(source, dest, log=lambda _: None, partial=True) == []  # nothing new
    # the run goes on: stage 1 finishes, stage 0 is replayed in a later session, then the run completes
    (run / "stage_1" / "metrics.json").write_text(json.dumps({"stage": 1}))
    (run / "stage_0" / "replay.json").write_text(json.dumps({"identical": True}))
    (run / "metrics.json").write_text(json.dumps({"stages": [{"stage": 0}, {"stage": 1}]}))
    assert collect_runs(source, dest, log=lambda _: None) == ["ce-seed0-aaaa"]
    assert sorted(str(f.relative_to(copy)) for f in copy.rglob("*") if f.is_file()) == [
        "data.json", "manifest.json", "metrics.json", "stage_0/metrics.json", "stage_0/replay.json",
        "stage_1/generated.json", "stage_1/metrics.json"]
    assert runs_to_collect(source, dest) == []


def test_a_partial_copy_that_differs_from_the_run_is_refused(tmp_path):
    source, dest = tmp_path / "sweep", tmp_path / "main"
    make_run(source, "ce-seed0-aaaa", finished=False)
    collect_runs(source, dest, log=lambda _: None, partial=True)
    (dest / "ce-seed0-aaaa" / "stage_0" / "metrics.json").write_text(json.dumps({"stage": 0, "other": 1}))
    with pytest.raises(FileExistsError, match="ce-seed0-aaaa"):
        runs_to_collect(source, dest, partial=True)
