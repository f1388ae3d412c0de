"""A run folder is a safe place (issue 21): one owner at a time, clean stops, damaged files named and recomputed,
files others can read, and every bad value refused before anything is written or started."""

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fortifai import recursive
from fortifai.book import runner
from fortifai.lm import pretrain
from fortifai.recursive import sweep
from fortifai.recursive.protocol import without_timings
from fortifai.results import LOCK_FILE, read_json, save_figure, write_json

REPO = Path(__file__).resolve().parent.parent
SMOKE = str(REPO / "presets" / "llm_recursive" / "smoke.yaml")
OFFLINE = {**os.environ, "HF_HUB_OFFLINE": "1"}


def fortifai(*args, timeout=60):
    """``fortifai ARGS`` as a process: (exit code, stderr, seconds)."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "fortifai", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=REPO, env=OFFLINE)
    return done.returncode, done.stderr, time.perf_counter() - started


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("FORTIFAI_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


# --- one owner per run folder ----------------------------------------------------------------------


def hold(folder: Path) -> subprocess.Popen:
    """Another process that owns ``folder`` until killed."""
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from fortifai.recursive import "
                               "lock_run_folder; lock_run_folder(sys.argv[1]); print('held', flush=True); "
                               "time.sleep(120)", str(folder)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_a_second_process_on_a_run_folder_exits_at_once_naming_the_folder_and_the_owner(tmp_path):
    folder = tmp_path / "run"
    holder = hold(folder)
    try:
        code, err, seconds = fortifai("recursive", "-f", SMOKE, "-p", "method", "ce", "-o", str(folder), timeout=30)
        with pytest.raises(recursive.RunFolderBusyError, match=f"process {holder.pid}"):
            recursive.RunDirectory(folder, recursive.RecursiveConfig())
    finally:
        holder.kill()
        holder.wait()
    assert code == 2 and seconds < 2, (seconds, err)  # refused before torch is imported
    assert len(err.strip().splitlines()) == 1 and str(folder) in err and f"process {holder.pid}" in err
    assert not (folder / "manifest.json").exists()
    # the kernel drops a killed owner's lock: the folder is free again, and this process may reopen it
    first = recursive.RunDirectory(folder, recursive.RecursiveConfig())
    recursive.RunDirectory(folder, recursive.RecursiveConfig())
    first.close()
    assert recursive.run_folder_owner(folder) is None


SLEEPER = """
import sys, time
from pathlib import Path
from fortifai.recursive import sweep, RecursiveConfig
folder = Path(sys.argv[1])
sweep.run_command = lambda *a, **k: [sys.executable, "-c",
    "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(120)", str(folder / "child.pid")]
runs = [sweep.PlannedRun("ce", 0, RecursiveConfig(), folder / "ce-seed0")]
sys.exit(sweep.run_local(runs, None))
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_signal_to_a_sweep_stops_its_runs_and_reports_them_stopped(tmp_path, sig):
    proc = subprocess.Popen([sys.executable, "-c", SLEEPER, str(tmp_path)], stdout=subprocess.PIPE, text=True,
                            cwd=REPO)
    pid_file = tmp_path / "child.pid"
    deadline = time.time() + 30
    while not (pid_file.is_file() and pid_file.read_text()) and time.time() < deadline:
        time.sleep(0.1)
    child = int(pid_file.read_text())
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=30)
    time.sleep(0.2)
    alive = Path(f"/proc/{child}").exists() and "zombie" not in Path(f"/proc/{child}/status").read_text()
    if alive:
        os.kill(child, signal.SIGKILL)
    assert not alive, "the sweep's run outlived it"
    assert proc.returncode == 128 + sig and "ce-seed0: stopped" in out and "FAILED" not in out


def test_a_sweep_skips_a_run_that_another_process_owns(tmp_path, capsys):
    run = sweep.plan(sweep.read_preset("smoke"), methods=["ce"], seeds=[0], runs_dir=tmp_path)[0]
    holder = hold(run.folder)
    try:
        assert sweep.run_local([run], None) == 0
    finally:
        holder.kill()
        holder.wait()
    assert f"skipped (in use by process {holder.pid})" in capsys.readouterr().out and not run.log.exists()


# --- damaged files: named, and recomputed where they can be ------------------------------------------


def test_a_damaged_json_file_is_named(tmp_path):
    from fortifai.results import DamagedFileError

    path = write_json(tmp_path / "metrics.json", {"a": list(range(50))})
    os.truncate(path, 20)
    with pytest.raises(DamagedFileError, match=f"{path} is damaged"):
        read_json(path)
    manifest = tmp_path / "run" / "manifest.json"
    recursive.RunDirectory(tmp_path / "run", recursive.RecursiveConfig()).close()
    os.truncate(manifest, 30)
    with pytest.raises(ValueError, match=str(manifest)):
        recursive.RunDirectory(tmp_path / "run", recursive.RecursiveConfig())


TOY = dict(model="scratch-llama-tiny", stages=2, split_paragraphs=3, heldout_paragraphs=2, epochs=1, learning_rate=1e-3,
           batch_size=4, micro_batch_size=4, block_size=32, context_tokens=32, new_tokens=8, num_beams=2,
           generation_batch_size=64, kr_per_paragraph=1, eval_batch_size=16)


def toy_hooks():
    from test_recursive import toy_hooks as hooks

    return hooks()


def comparable(result):
    return [{k: v for k, v in without_timings(stage).items() if k not in ("train", "generation")}
            | {"heldout_loss": stage["train"]["heldout_loss"]} for stage in result["stages"]]


def test_a_truncated_stage_file_is_named_once_and_the_run_ends_as_an_uninterrupted_one(tmp_path, capsys):
    config = recursive.RecursiveConfig(**TOY, loss="ce")
    reference = recursive.run(config, tmp_path / "reference", toy_hooks(), progress=False)
    recursive.run(config, tmp_path / "run", toy_hooks(), progress=False, until_stage=0)  # a stopped run
    damaged = tmp_path / "run" / "stage_0" / "metrics.json"
    os.truncate(damaged, 100)
    capsys.readouterr()
    resumed = recursive.run(config, tmp_path / "run", toy_hooks(), progress=False)
    said = [line for line in capsys.readouterr().out.splitlines() if "damaged" in line]
    assert len(said) == 1 and said[0].startswith(f"{damaged} is damaged (not valid JSON")
    assert said[0].endswith("): stage 0 is recomputed")
    assert comparable(resumed) == comparable(reference)
    # a finished run's damaged metrics.json is named and written again from its stages
    final = tmp_path / "run" / "metrics.json"
    os.truncate(final, 50)
    again = recursive.run(config, tmp_path / "run", toy_hooks(), progress=False)
    assert str(final) in capsys.readouterr().out and comparable(again) == comparable(reference)
    assert read_json(final)["stages"] == again["stages"]


@pytest.mark.parametrize("content, reason", [("{}", "valid JSON without 'stage', 'train', 'kr'"),
                                             ("null", "valid JSON, but NoneType, not an object")])
def test_valid_json_that_is_no_stage_is_named_and_the_stage_recomputed(tmp_path, capsys, content, reason):
    """A stage metrics.json of `{}` was taken as finished (exit 0, a `{}` stage in the final metrics)."""
    config = recursive.RecursiveConfig(**TOY, loss="ce")
    reference = recursive.run(config, tmp_path / "reference", toy_hooks(), progress=False)
    recursive.run(config, tmp_path / "run", toy_hooks(), progress=False)
    damaged = tmp_path / "run" / "stage_1" / "metrics.json"
    damaged.write_text(content)
    capsys.readouterr()
    resumed = recursive.run(config, tmp_path / "run", toy_hooks(), progress=False)
    said = [line for line in capsys.readouterr().out.splitlines() if "damaged" in line]
    assert said and said[0] == f"{damaged} is damaged ({reason}): stage 1 is recomputed"
    assert comparable(resumed) == comparable(reference)
    assert read_json(tmp_path / "run" / "metrics.json")["stages"][1]["stage"] == 1


def test_damaged_weights_make_their_stage_train_again(tmp_path):
    """Unreadable weights gave a traceback and a run that could not resume without deleting files by hand."""
    config = recursive.RecursiveConfig(**TOY, loss="ce")
    reference = recursive.run(config, tmp_path / "reference", toy_hooks(), progress=False)
    recursive.run(config, tmp_path / "run", toy_hooks(), progress=False, until_stage=0)
    weights = tmp_path / "run" / "stage_0" / "model" / "model.safetensors"
    os.truncate(weights, weights.stat().st_size // 2)
    said = []
    hooks = toy_hooks()
    hooks.log = said.append
    resumed = recursive.run(config, tmp_path / "run", hooks, progress=False)
    assert any(line.startswith(f"{weights.parent}: the weights do not load") and
               line.endswith("the stage that made them trains again") for line in said), said
    assert comparable(resumed) == comparable(reference)


def test_a_damaged_trainer_checkpoint_is_dropped_not_resumed(tmp_path):
    import torch

    from fortifai.recursive.training import _checkpoint_damage

    folder = tmp_path / "checkpoint-4"
    folder.mkdir()
    assert _checkpoint_damage(folder).startswith("no trainer_state.json")
    write_json(folder / "trainer_state.json", {"epoch": 1.0})
    torch.save({"state": torch.ones(1000)}, folder / "optimizer.pt")
    assert _checkpoint_damage(folder) is None
    os.truncate(folder / "optimizer.pt", 300)
    assert _checkpoint_damage(folder).startswith("unreadable (")


def test_the_checkpoint_a_resume_names_is_the_one_it_resumes_from(tmp_path):
    """The resume line named the last checkpoint before the damaged one was dropped: it named one then discarded."""
    import torch

    from fortifai.recursive.training import resumable_checkpoint

    for step in (4, 8):
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        write_json(folder / "trainer_state.json", {"epoch": step / 4})
        torch.save({"state": torch.ones(1000)}, folder / "optimizer.pt")
    os.truncate(tmp_path / "checkpoint-8" / "optimizer.pt", 300)
    said = []
    assert resumable_checkpoint(tmp_path, said.append) == str(tmp_path / "checkpoint-4")
    assert len(said) == 1 and said[0].startswith(f"{tmp_path / 'checkpoint-8'}: unreadable (")
    assert not (tmp_path / "checkpoint-8").exists() and resumable_checkpoint(tmp_path / "none") is None


def test_kept_weights_get_the_mode_open_would_give(tmp_path):
    """model.safetensors was written 0600 (run folders, the pretraining cache): unreadable to a group."""
    from fortifai.lm.models import load_model, save_atomically

    model, tokenizer = load_model("tiny-random", seed=0)
    previous = os.umask(0o022)
    try:
        save_atomically(model, tokenizer, tmp_path / "model")
    finally:
        os.umask(previous)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "model").iterdir()}
    assert modes["model.safetensors"] == 0o644 and set(modes.values()) == {0o644}
    assert stat.S_IMODE((tmp_path / "model").stat().st_mode) == 0o755


# --- files others can read ---------------------------------------------------------------------------


def test_written_files_get_the_mode_open_would_give(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    previous = os.umask(0o022)
    try:
        paths = [write_json(tmp_path / "metrics.json", {}), *save_figure(plt.figure(), tmp_path, "figure")]
        os.umask(0o027)
        paths.append(write_json(tmp_path / "run.json", {}))
    finally:
        os.umask(previous)
    assert [stat.S_IMODE(p.stat().st_mode) for p in paths] == [0o644, 0o644, 0o644, 0o640]


# --- every value checked before anything is written or started -------------------------------------


@pytest.mark.parametrize("pairs, message", [
    ({"seed": -1}, "seed must be an integer >= 0, got -1"),
    ({"pretrain_seed": -1}, "pretrain_seed must be an integer >= 0"),
    ({"min_paragraph_words": -5}, "min_paragraph_words must be an integer >= 0, got -5"),
    ({"pretrain_paragraphs": -5}, "pretrain_paragraphs must be an integer >= 0, got -5"),
    ({"dataset": "nosuchdata"}, "dataset must be one of .* or a path to a text file, got 'nosuchdata'"),
    ({"method": "tce-0.9", "gamma": 0.5}, "method 'tce-0.9' sets gamma=0.9, but gamma=0.5 is given too"),
    ({"method": "focal-"}, "method 'focal-': a number must follow '-'"),
])
def test_bad_run_values_are_refused_naming_them(pairs, message):
    fields, _ = sweep.split_preset({**sweep.read_preset("smoke"), **pairs})
    with pytest.raises(ValueError, match=message):
        sweep.run_config(fields)


def test_fortifai_recursive_refuses_a_bad_value_before_writing(tmp_path):
    code, err, _ = fortifai("recursive", "-f", SMOKE, "-p", "method", "ce", "-p", "seed", "-1", "-o", str(tmp_path / "r"))
    assert code == 2 and err.strip().splitlines() == ["fortifai recursive: error: seed must be an integer >= 0, got -1"]
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("pairs, message", [
    (["-p", "model", "nosuch/model"], "nosuch/model"),
    (["-p", "dataset", "wikitext-2-validation"], "wikitext-2-validation"),
])
def test_a_sweep_resolves_models_and_data_sets_before_any_run_starts(tmp_path, pairs, message):
    code, err, _ = fortifai("sweep", "-f", SMOKE, *pairs, "--runs-dir", str(tmp_path), timeout=120)
    assert code == 2 and len(err.strip().splitlines()) == 1 and message in err, err
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("notebook, name, value", [
    ("gaussian_variance", "seeds", 0), ("gaussian_variance", "generations", -1),
    ("gaussian_variance", "gammas", [None, 1.5]), ("gmm_collapse", "gamma", 1.5), ("gmm_collapse", "n_components", 0),
    ("losses", "train_fraction", 1.5), ("kr_test", "n_splits", 0), ("vae_mnist", "sample_mode", "sampled"),
    ("reproduction_status", "claims_dir", "/no/such/folder"),
])
def test_chapters_declare_what_their_parameters_allow(notebook, name, value):
    with pytest.raises(runner.ParameterError, match=f"^{name} must be .*, got {value!r}".replace("[", r"\[")):
        runner.check_parameters(REPO / "notebooks" / f"{notebook}.py", {name: value})


def test_every_chapter_default_is_allowed():
    for notebook in runner.list_notebooks():
        for param in runner.read_parameters(notebook).values():
            param.check(param.default)


def test_fortifai_run_refuses_a_value_in_under_2_s_before_a_kernel(tmp_path):
    code, err, seconds = fortifai("run", "notebooks/gaussian_variance.py", "-p", "seeds", "0", "-o", str(tmp_path / "g"))
    assert code == 2 and seconds < 2, (seconds, err)
    assert err.strip().splitlines() == ["fortifai run: error: seeds must be a number >= 1, got 0"]
    assert not (tmp_path / "g").exists()


def test_a_claims_folder_that_does_not_exist_is_refused(tmp_path):
    from fortifai.book.status import status_rows

    with pytest.raises(FileNotFoundError, match="claims_dir '.*nothing' is not a folder"):
        status_rows(tmp_path / "nothing")


def test_a_failed_chapter_rerun_keeps_the_previous_result(tmp_path, monkeypatch):
    """A failed rerun deleted the previous metrics.json and run.json; now it builds beside them and replaces them
    only on success: the previous result stands, FAILED says so, the failed run's files are in failed/."""
    import papermill

    out = tmp_path / "out"
    out.mkdir()
    (out / "metrics.json").write_text('{"a": 1}')
    (out / "run.json").write_text('{"b": 2}')
    (out / "runs").mkdir()  # a chapter's own runs folder is not part of its result: never moved

    def fail(nb, path, **kwargs):
        Path(path).write_text("{}")  # the executed notebook, as far as it got
        (out / "fig.png").write_text("half a figure")
        raise RuntimeError("the kernel died")

    monkeypatch.setattr(papermill, "execute_notebook", fail)
    with pytest.raises(RuntimeError):
        runner.run_notebook(REPO / "notebooks" / "reproduction_status.py", {}, output_dir=out, progress=False)
    assert sorted(p.name for p in out.iterdir() if p.name != LOCK_FILE) == ["FAILED", "failed", "metrics.json",
                                                                              "run.json", "runs"]
    assert (out / "metrics.json").read_text() == '{"a": 1}' and (out / "run.json").read_text() == '{"b": 2}'
    assert sorted(p.name for p in (out / "failed").iterdir()) == ["fig.png", "reproduction_status.ipynb"]
    text = (out / "FAILED").read_text()
    assert "the kernel died" in text and "previous run's" in text

    def succeed(nb, path, **kwargs):
        Path(path).write_text("{}")
        (out / "metrics.json").write_text('{"a": 3}')

    monkeypatch.setattr(papermill, "execute_notebook", succeed)
    runner.run_notebook(REPO / "notebooks" / "reproduction_status.py", {}, output_dir=out, progress=False)
    assert sorted(p.name for p in out.iterdir() if p.name != LOCK_FILE) == ["metrics.json",
                                                                              "reproduction_status.ipynb", "runs"]
    assert (out / "metrics.json").read_text() == '{"a": 3}'


def test_a_killed_chapter_rerun_gives_the_previous_result_back(tmp_path, monkeypatch):
    """A rerun killed mid-way leaves its partial files and the set-aside result; the next run restores the
    result before it starts, so a failure of that run too leaves the last good one."""
    import papermill

    out = tmp_path / "out"
    (out / runner.PREVIOUS_DIR).mkdir(parents=True)
    (out / runner.PREVIOUS_DIR / "metrics.json").write_text('{"good": 1}')
    (out / "metrics.json").write_text("{")  # the killed run's half-written file
    (out / ".reproduction_status.partial.ipynb").write_text("{")

    def fail(nb, path, **kwargs):
        raise RuntimeError("no")

    monkeypatch.setattr(papermill, "execute_notebook", fail)
    with pytest.raises(RuntimeError):
        runner.run_notebook(REPO / "notebooks" / "reproduction_status.py", {}, output_dir=out, progress=False)
    assert (out / "metrics.json").read_text() == '{"good": 1}' and not (out / runner.PREVIOUS_DIR).exists()
    assert not (out / ".reproduction_status.partial.ipynb").exists()


# --- smaller -------------------------------------------------------------------------------------------


def test_o_dir_writes_inside_dir_and_a_runs_folder_shares_its_data(tmp_path):
    config = recursive.RecursiveConfig()
    alone = recursive.RunDirectory(tmp_path / "mine", config)
    alone.write_data({"splits": [], "heldout": []})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"] and alone.data() == {"splits": [], "heldout": []}
    named = recursive.RunDirectory(tmp_path / "runs" / recursive.run_folder_name(config), config)
    named.write_data({"splits": [], "heldout": []})
    assert (tmp_path / "runs" / recursive.DATA_FOLDER).is_dir() and named.data() == alone.data()


@pytest.mark.parametrize("kwargs, message", [
    ({"gama": 0.9}, r"unexpected \['gama'\]"), ({"gamma": -1}, r"gamma for loss='tce' must be a number in \[0, inf\)"),
])
def test_compute_loss_func_checks_its_arguments_when_built(kwargs, message):
    from fortifai.losses import compute_loss_func

    with pytest.raises(ValueError, match=message):
        compute_loss_func("tce", **kwargs)


@pytest.mark.parametrize("module", ["TruncatedCrossEntropyLoss", "DynamicTruncatedCrossEntropyLoss", "FocalLoss"])
def test_loss_modules_check_their_arguments_when_built(module):
    import fortifai.losses

    with pytest.raises(ValueError, match="ignore_index must be an int, got 1.5"):
        getattr(fortifai.losses, module)(ignore_index=1.5)


QUESTION = {"context": "The river was built in 1801.", "sentence_true": "It is old.", "sentence_false": "It is new.",
            "location": 0}


def test_the_kr_loader_reads_json_lines_and_a_bom_and_names_the_encoding(tmp_path):
    from fortifai.krtest import KRFormatError, load_questions

    lines = tmp_path / "q.jsonl"
    lines.write_text("\n".join(json.dumps({**QUESTION, "location": i}) for i in range(2)) + "\n")
    assert len(load_questions(lines)) == 2
    bom = tmp_path / "bom.json"
    bom.write_bytes(b"\xef\xbb\xbf" + json.dumps([QUESTION]).encode())
    assert len(load_questions(bom)) == 1
    latin = tmp_path / "latin.json"
    latin.write_bytes(json.dumps([{**QUESTION, "context": "Caf\u00e9 du Monde."}], ensure_ascii=False).encode("latin-1"))
    with pytest.raises(KRFormatError, match=f"{latin}: not UTF-8 .*iconv"):
        load_questions(latin)
    broken = tmp_path / "broken.json"
    broken.write_text("[" + json.dumps(QUESTION))
    with pytest.raises(KRFormatError, match="expected one JSON list of question objects"):
        load_questions(broken)


def test_scoring_no_questions_gives_no_scores():
    from fortifai.krtest.score import score_questions_per_item

    assert score_questions_per_item(None, None, []).shape == (0, 2)


def test_stale_pretraining_folders_of_dead_processes_are_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(dead.stdout)
    host = socket.gethostname()
    stale = [tmp_path / f"m-1.partial-{host}-{dead}", tmp_path / f"m-1.partial-{dead}"]
    kept = [tmp_path / f"m-1.partial-{host}-{os.getpid()}", tmp_path / f"m-1.partial-otherhost-{dead}", tmp_path / "m-1"]
    for folder in stale + kept:
        folder.mkdir()
    assert sorted(pretrain.remove_stale_partials(tmp_path)) == sorted(stale)
    assert sorted(tmp_path.iterdir()) == sorted(kept)


@pytest.mark.parametrize("value", [".inf", ".nan"])
def test_a_non_finite_parameter_is_refused_before_the_kernel(value):
    """`-p sampling_bias .inf` ran 23 s and judged its claims on null metrics; now one line, exit 2, at once."""
    import subprocess
    import sys
    import time

    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "fortifai", "run", "notebooks/gaussian_variance.py", "-p",
                           "sampling_bias", value], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 2 and time.perf_counter() - started < 10
    assert "sampling_bias must be finite" in done.stderr, done.stderr


@pytest.mark.parametrize("notebook, name, value, allowed", [
    ("llm_recursive", "preset", "no-such-tier", "a tier of presets/llm_recursive/"),
    ("losses", "text", "no/such/file.txt", "one of wikipedia-offline"),
    ("kr_test", "source", "no/such/file.txt", "or an existing text file"),
])
def test_an_unknown_preset_or_text_is_refused_before_the_kernel(notebook, name, value, allowed):
    """An unknown preset or a missing text file reached a kernel (and wrote a folder) before it failed."""
    import subprocess
    import sys
    import time

    repo = Path(__file__).resolve().parents[1]
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "fortifai", "run", f"notebooks/{notebook}.py", "-p", name, value],
                          capture_output=True, text=True, cwd=repo)
    assert done.returncode == 2 and time.perf_counter() - started < 10, done.stderr
    assert f"{name} must be" in done.stderr and allowed in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (repo / "results" / notebook / f"{name}-{value}".replace("/", "_")).exists()


def test_an_output_folder_that_is_a_file_is_refused_in_one_line(tmp_path):
    import subprocess
    import sys

    (tmp_path / "afile").write_text("mine\n")
    done = subprocess.run([sys.executable, "-m", "fortifai", "run", "notebooks/gaussian_variance.py", "-o",
                           str(tmp_path / "afile")], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [
        f"fortifai run: error: the output folder (-o) {str(tmp_path / 'afile')!r} is a file; name a folder (new or "
        "existing)"]
    assert (tmp_path / "afile").read_text() == "mine\n"


def test_a_sweep_whose_splits_do_not_fit_its_dataset_is_refused_before_any_run_folder(tmp_path):
    """`split_paragraphs 100000` started every run, each failing in its own log after writing its folder."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "fortifai", "sweep", "-f", "presets/llm_recursive/smoke.yaml", "-p",
                           "split_paragraphs", "100000", "--runs-dir", str(tmp_path / "runs")],
                          capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 2 and "split_paragraphs 100000" in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not (tmp_path / "runs").exists()


def test_a_preset_or_text_rule_takes_tiers_names_and_existing_files(tmp_path):
    from fortifai.book.runner import allowed_rule

    preset, _ = allowed_rule("preset")
    text, _ = allowed_rule("text source")
    (tmp_path / "mine.yaml").write_text("methods: [ce]\n")
    (tmp_path / "mine.txt").write_text("A paragraph.\n")
    assert preset("cpu") and preset(str(tmp_path / "mine.yaml")) and not preset("cpuu") and not preset(3)
    assert text("wikipedia-offline") and text(str(tmp_path / "mine.txt")) and not text(str(tmp_path / "none.txt"))


def test_finiteness_reaches_into_lists():
    from fortifai.book.runner import _finite

    assert _finite([0.5, {"a": 1.0}]) and not _finite([0.5, {"a": float("inf")}]) and not _finite(float("nan"))


# --- chapter output folders: one owner, and nothing written outside -o ------------------------------------


def test_a_second_chapter_run_into_a_held_folder_is_refused_at_once(tmp_path):
    """Two `fortifai run` into one -o both exited 0, the folder mixing figures of both runs."""
    import subprocess
    import sys
    import time

    from fortifai.results import lock_run_folder, unlock_run_folder

    out = lock_run_folder(tmp_path / "out")  # a run holding the folder
    try:
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "fortifai", "run", "notebooks/gaussian_variance.py", "-o", str(out)],
                              capture_output=True, text=True, cwd=REPO)
        seconds = time.perf_counter() - started
    finally:
        unlock_run_folder(out)
    assert done.returncode == 2 and seconds < 5, (seconds, done.stderr)
    assert f"{out} is in use by process {os.getpid()}" in done.stderr
    assert sorted(p.name for p in out.iterdir()) == [LOCK_FILE]  # nothing of the refused run


def test_output_dir_is_not_a_parameter():
    with pytest.raises(runner.ParameterError, match="output_dir is not a parameter to set with -p"):
        runner.run_notebook(REPO / "notebooks" / "gaussian_variance.py", {"output_dir": "/tmp/x"}, progress=False)


def test_a_chapter_run_elsewhere_creates_nothing_in_the_checkout(tmp_path):
    """publish_claims created results/<chapter>/default even when -o pointed elsewhere."""
    import yaml

    def tree():
        return {p for p in (REPO / "results").rglob("*") if "__pycache__" not in p.parts}

    before = tree()
    small = yaml.safe_load((REPO / "tests" / "notebook_params" / "gaussian_variance.yaml").read_text())
    runner.run_notebook(REPO / "notebooks" / "gaussian_variance.py", small, output_dir=tmp_path / "out", progress=False)
    assert (tmp_path / "out" / "metrics.json").is_file()
    assert tree() - before == set()


def test_a_non_finite_training_loss_ends_the_run_in_one_line_with_the_stage_kept(tmp_path, monkeypatch):
    """A NaN loss crashed on a log line after the stage was committed."""
    from fortifai.recursive import engine

    real = engine.train_stage

    def diverging(*args, **kwargs):
        metrics = real(*args, **kwargs)
        return {**metrics, "train_loss": float("nan"), "heldout_loss": None}

    monkeypatch.setattr(engine, "train_stage", diverging)
    config = recursive.RecursiveConfig(**TOY, loss="ce")
    with pytest.raises(engine.NonFiniteLossError, match="stage 0's training loss is nan .* stage 0, which is kept"):
        recursive.run(config, tmp_path / "run", toy_hooks(), progress=False)
    assert (tmp_path / "run" / "stage_0" / "metrics.json").is_file()
    assert not (tmp_path / "run" / "stage_1" / "metrics.json").exists()


def test_a_damaged_shared_data_file_is_replaced_in_place_never_removed(tmp_path):
    """With --jobs 2 and a damaged _data file, one run removed it while the other read it (FileNotFoundError)."""
    runs = tmp_path / "runs"
    configs = [recursive.RecursiveConfig(**TOY, loss=loss) for loss in ("ce", "tce")]
    folders = [runs / recursive.run_folder_name(c) for c in configs]
    for config, folder in zip(configs, folders):
        recursive.run(config, folder, toy_hooks(), progress=False, until_stage=0)
    shared = recursive.RunFiles(folders[0]).shared_data_file()
    assert shared == recursive.RunFiles(folders[1]).shared_data_file()
    good = shared.read_text()
    shared.write_text("{}")
    recursive.RunDirectory(folders[0], configs[0], log=lambda m: None)  # the first run to open the folder
    assert shared.is_file()  # still there for the other run of the seed, which may be reading it
    for config, folder in zip(configs, folders):
        recursive.run(config, folder, toy_hooks(), progress=False, until_stage=0)
    assert shared.read_text() == good
