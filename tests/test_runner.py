"""The runner rejects bad parameters before executing anything, with one message naming what is allowed."""

import subprocess
import sys
import time

import pytest

from fortifai.book.runner import ParameterError, check_parameters, parse_value, read_parameters, run_name

NOTEBOOK = "notebooks/gaussian_variance.py"


def _cli(repo, *args):
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "fortifai", *args], cwd=repo, capture_output=True, text=True, timeout=60)
    return proc, time.perf_counter() - started


def test_reads_parameters_with_defaults_and_types(repo):
    params = read_parameters(repo / NOTEBOOK)
    assert params["generations"].default == 100 and params["generations"].types == (int,)
    assert params["sampling_bias"].default == 0.9 and params["sampling_bias"].type_name == "float"
    assert params["gammas"].default == [None, 0.85, 0.8]
    assert params["output_dir"].default is None and params["output_dir"].type_name == "str | None"


def test_unknown_parameter_lists_the_valid_ones(repo):
    with pytest.raises(ParameterError) as error:
        check_parameters(repo / NOTEBOOK, {"no_such_parameter": 1})
    text = str(error.value)
    assert "no_such_parameter" in text and "generations: int = 100" in text and "sampling_bias: float = 0.9" in text


@pytest.mark.parametrize(
    "name, value, expected",
    [("generations", "minus-three", "generations expects int"), ("generations", True, "generations expects int"),
     ("sampling_bias", "high", "sampling_bias expects float"), ("gammas", 0.85, "gammas expects list"),
     ("output_dir", 3, "output_dir expects str | None")],
)
def test_wrong_type_names_the_expected_type(repo, name, value, expected):
    with pytest.raises(ParameterError, match=expected):
        check_parameters(repo / NOTEBOOK, {name: value})


def test_int_is_accepted_as_float(repo):
    assert check_parameters(repo / NOTEBOOK, {"sampling_bias": 1}) == {"sampling_bias": 1.0}


def test_values_are_read_as_yaml():
    assert parse_value("30") == 30 and parse_value("0.9") == 0.9 and parse_value("null") is None
    assert parse_value("[null, 0.85]") == [None, 0.85] and parse_value("minus-three") == "minus-three"


def test_run_name_from_changed_parameters():
    assert run_name({}) == "default"
    assert run_name({"seeds": 20, "generations": 30}) == "generations-30_seeds-20"


def test_cli_unknown_parameter_fails_fast(repo):
    proc, seconds = _cli(repo, "run", NOTEBOOK, "-p", "no_such_parameter", "1")
    assert proc.returncode == 2
    assert "unknown parameter 'no_such_parameter'" in proc.stderr and "generations: int = 100" in proc.stderr
    assert seconds < 5


def test_cli_wrong_type_fails_fast(repo):
    proc, seconds = _cli(repo, "run", NOTEBOOK, "-p", "generations", "minus-three")
    assert proc.returncode == 2
    assert "generations expects int, got 'minus-three'" in proc.stderr
    assert seconds < 5


def test_cli_missing_notebook_and_parameters_file(repo, tmp_path):
    proc, _ = _cli(repo, "run", "notebooks/nope.py")
    assert proc.returncode == 2 and "notebook not found" in proc.stderr and "gaussian_variance.py" in proc.stderr
    proc, _ = _cli(repo, "run", NOTEBOOK, "-f", str(tmp_path / "missing.yaml"))
    assert proc.returncode == 2 and "parameters file not found" in proc.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("generations: many\n")
    proc, _ = _cli(repo, "run", NOTEBOOK, "-f", str(bad))
    assert proc.returncode == 2 and "generations expects int" in proc.stderr


def test_cli_list_shows_every_notebook(repo):
    proc, _ = _cli(repo, "list")
    assert proc.returncode == 0
    for notebook in sorted((repo / "notebooks").glob("*.py")):
        assert f"notebooks/{notebook.name}" in proc.stdout
    assert "generations: int = 100" in proc.stdout


def test_a_relative_folder_is_checked_where_the_command_runs_and_passed_absolute(repo, monkeypatch):
    from fortifai.book.runner import check_parameters

    monkeypatch.chdir(repo)
    given = check_parameters(repo / "notebooks" / "reproduction_status.py", {"claims_dir": "results/claims"})
    assert given["claims_dir"] == str((repo / "results" / "claims").resolve())


def test_every_chapter_records_the_parameters_of_its_parameters_cell(repo):
    """run.json records what the parameters cell names, read from the cell (no chapter retypes its parameters)."""
    from pathlib import Path

    from fortifai.book.runner import chapter_parameters, list_notebooks

    cell = read_parameters(repo / "notebooks" / "gaussian_variance.py")
    namespace = {name: p.default for name, p in cell.items()} | {"output_dir": Path("/x"), "unrelated": 1}
    namespace["seeds"] = 7
    recorded = chapter_parameters("gaussian_variance", namespace)
    assert set(recorded) == set(cell) - {"output_dir"} and recorded["seeds"] == 7
    assert chapter_parameters("reproduction_status", {"claims_dir": Path("/c"), "output_dir": None}) == {"claims_dir": "/c"}
    for notebook in list_notebooks():  # and every chapter uses it
        assert f"chapter_parameters(\"{notebook.stem}\", globals())" in notebook.read_text(), notebook.name
