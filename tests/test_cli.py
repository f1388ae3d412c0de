"""The command line: ``fortifai run | list | recursive | sweep``, one -f/-p loader, the sweep's launchers (here, through
submitit's local executor, and Slurm's sbatch scripts, made against a stand-in sbatch)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from fortifai import cli
from fortifai.book.runner import ParameterError, load_params
from fortifai.recursive import sweep

REPO = Path(__file__).resolve().parent.parent
SMOKE = REPO / "presets" / "llm_recursive" / "smoke.yaml"


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("FORTIFAI_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def _fortifai(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "fortifai", *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.parametrize("command", ["run", "list", "recursive", "sweep"])
def test_every_subcommand_has_help(command):
    proc = _fortifai(command, "--help")
    assert proc.returncode == 0 and proc.stdout.startswith(f"usage: fortifai {command}")
    if command == "sweep":
        assert "{local,slurm,submitit-local}" in proc.stdout and "--partition" in proc.stdout


def test_the_torchrun_entry_point_is_the_recursive_subcommand():
    proc = subprocess.run([sys.executable, "-m", "fortifai.recursive", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "--until-stage" in proc.stdout and "--run-dir" in proc.stdout


def test_p_wins_over_the_file_and_values_are_yaml(tmp_path):
    params = tmp_path / "p.yaml"
    params.write_text("epochs: 3\nmethods: [ce]\n")
    assert load_params(params, [("epochs", "5"), ("gamma", "null")]) == {"epochs": 5, "methods": ["ce"], "gamma": None}
    with pytest.raises(ParameterError, match="parameters file not found"):
        load_params(tmp_path / "missing.yaml")
    params.write_text("- a list\n")
    with pytest.raises(ParameterError, match="must hold a mapping"):
        load_params(params)


@pytest.mark.parametrize("args, message", [
    (["-p", "lr", "1"], "unknown recursive-run parameters ['lr']"),
    (["-p", "epochs", "many"], "epochs must be int, got 'many'"),
    (["-p", "learning_rate", "fast"], "learning_rate must be float, got 'fast'"),
    (["--methods", "ce", "tce--1"], "tce--1, seed 0: gamma for loss='tce' must be a number in [0, inf)"),
    (["--methods", "mse"], "method must be one of"),
    (["-p", "seed", "3"], "seed is set per run by the grid"),
    (["-p", "seeds", "3"], "seeds must be a non-empty list of integers, got 3"),
    (["--partition", "gpu"], "--partition: option(s) of --launcher slurm, not --launcher local"),
    (["--launcher", "slurm", "--jobs", "2"], "--jobs is for the local launchers"),
])
def test_bad_sweep_input_is_one_error_naming_it_before_any_work(args, message, tmp_path, capsys):
    assert cli.main(["sweep", "-f", str(SMOKE), "--runs-dir", str(tmp_path / "runs"), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fortifai sweep: error: ") and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()


def test_bad_recursive_input_is_one_error(tmp_path, capsys):
    assert cli.main(["recursive", "-f", str(SMOKE), "-p", "method", "tce--2", "-o", str(tmp_path / "run")]) == 2
    assert "gamma for loss='tce' must be a number in [0, inf)" in capsys.readouterr().err
    assert cli.main(["recursive", "-f", str(tmp_path / "missing.yaml")]) == 2
    assert "parameters file not found" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_slurm_without_slurm_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch, no srun
    assert cli.main(["sweep", "-f", str(SMOKE), "--runs-dir", str(tmp_path / "runs"), "--launcher", "slurm"]) == 2
    assert "--launcher slurm needs Slurm's sbatch and srun on PATH" in capsys.readouterr().err


def _smoke_with_notebook_keys(tmp_path) -> Path:
    # a preset holding the chapters' keys: every child must accept it (they used to refuse runs_dir and
    # kr_failure_threshold), and the runs go where it says
    preset = tmp_path / "preset.yaml"
    preset.write_text(SMOKE.read_text() + f"runs_dir: {tmp_path / 'runs'}\nkr_failure_threshold: 0.6\n")
    return preset


def test_submitit_local_runs_the_smoke_grid_then_skips_it(tmp_path):
    preset = _smoke_with_notebook_keys(tmp_path)
    first = _fortifai("sweep", "-f", preset, "--launcher", "submitit-local", "--jobs", "2", timeout=900)
    assert first.returncode == 0, first.stdout + first.stderr
    runs = sweep.plan(yaml.safe_load(preset.read_text()))
    assert [run.method for run in runs] == ["ce", "tce-0.9"]
    for run in runs:
        assert run.folder.parent == tmp_path / "runs" and f"{run.name}: submitted as job" in first.stdout
        assert f"{run.name}: done" in first.stdout
        assert [s["stage"] for s in json.loads((run.folder / "metrics.json").read_text())["stages"]] == [0, 1]
        assert f"-m fortifai recursive -o {run.folder}" in run.log.read_text()  # one log per run, beside it
    assert list((tmp_path / "runs" / "_submitit").glob("*_result.pkl"))
    started = time.perf_counter()
    second = _fortifai("sweep", "-f", preset, "--launcher", "submitit-local")
    assert second.returncode == 0, second.stderr
    assert second.stdout.splitlines() == [f"{run.name}: skipped (finished)" for run in runs]
    assert time.perf_counter() - started < 30


def test_a_requeued_job_resumes_its_run_at_the_first_unfinished_stage(tmp_path):
    pairs = [("stages", "3")]
    [run] = sweep.plan(load_params(SMOKE, pairs), methods=["ce"], runs_dir=tmp_path / "runs")
    executor = sweep.make_executor("submitit-local", tmp_path / "jobs", time_min=30)
    job = executor.submit(sweep.RunJob(sweep.run_command(run, SMOKE, pairs), run.log))
    while not (run.folder / "stage_0" / "metrics.json").is_file():
        assert not job.done(), job.stdout()
        time.sleep(0.2)
    # preempted, as Slurm does it: submitit's signal to the job's task, which checkpoints and requeues it
    controller = job._process.pid
    task = int(Path(f"/proc/{controller}/task/{controller}/children").read_text().split()[0])
    os.kill(task, signal.SIGUSR2)
    assert job.result() == str(run.log)
    assert "Requeued job" in job.stdout()
    log = run.log.read_text()
    assert log.count("-m fortifai recursive") == 2 and f"resuming {run.folder} at stage 1" in log
    assert len(json.loads((run.folder / "metrics.json").read_text())["stages"]) == 3


@pytest.fixture
def fake_slurm(tmp_path, monkeypatch):
    """sbatch that answers with a job number, srun that is there, squeue that reports what ``squeue.txt`` holds."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    scripts = {
        "sbatch": f'n=$(($(cat {bin_dir}/count 2>/dev/null || echo 41) + 1)); echo $n > {bin_dir}/count\n'
                  'echo "Submitted batch job $n"\n',
        "srun": "exit 0\n",
        "squeue": f"cat {bin_dir}/squeue.txt 2>/dev/null\n",
    }
    for name, body in scripts.items():
        (bin_dir / name).write_text("#!/bin/sh\n" + body)
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return bin_dir


def test_slurm_submits_one_job_per_run_with_its_sbatch_options(tmp_path, fake_slurm, capsys):
    from submitit.core.utils import DelayedSubmission

    runs_dir, job_dir = tmp_path / "runs", tmp_path / "jobs"
    args = ["sweep", "-f", str(SMOKE), "-p", "epochs", "2", "--runs-dir", str(runs_dir), "--launcher", "slurm",
            "--job-dir", str(job_dir), "--nproc", "2", "--partition", "gpu", "--time", "90", "--account", "proj",
            "--mem-gb", "32", "--cpus-per-task", "8", "--slurm-setup", "module load cuda",
            "--slurm-param", "mail-type", "END"]
    assert cli.main(args) == 0
    runs = sweep.plan(load_params(SMOKE, [("epochs", "2")]), runs_dir=runs_dir)
    out = capsys.readouterr().out
    for job_id, run in zip((42, 43), runs):
        assert f"{run.name}: submitted as job {job_id}" in out
        script = (job_dir / f"{job_id}_submission.sh").read_text()
        for line in ("--partition=gpu", "--gpus-per-node=2", "--time=90", "--account=proj", "--mem=32GB",
                     "--cpus-per-task=8", "--nodes=1", "--ntasks-per-node=1", f"--job-name=fortifai-{run.name}",
                     "--signal=USR2@90", "--mail-type=END"):
            assert f"#SBATCH {line}\n" in script, line
        assert "module load cuda" in script and "-m submitit.core._submit" in script
        # inside the job: the same command line as here, through torchrun over --nproc processes
        job = DelayedSubmission.load(job_dir / f"{job_id}_submitted.pkl").function
        assert isinstance(job, sweep.RunJob) and job.log == run.log
        assert job.command == sweep.run_command(run, SMOKE, [["epochs", "2"]], nproc=2)
        assert job.command[1:6] == ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
        assert (runs_dir / f"{run.name}.job").read_text() == f"{job_id}\n"
    # run again while the jobs are queued: nothing is submitted twice; once they are gone, unfinished runs are
    (fake_slurm / "squeue.txt").write_text("PENDING\n")
    assert cli.main(args) == 0
    assert capsys.readouterr().out.count("is queued or running") == 2 and not (job_dir / "44_submission.sh").exists()
    (fake_slurm / "squeue.txt").write_text("CANCELLED\n")
    assert cli.main(args) == 0
    assert "submitted as job 45" in capsys.readouterr().out
