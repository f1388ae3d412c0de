"""The book's structure: every notebook is a chapter, and each follows the notebook conventions."""

import yaml

from fortifai.book.runner import read_parameters


def _toc_files(node):
    if isinstance(node, dict):
        if "file" in node:
            yield node["file"]
        for value in node.values():
            yield from _toc_files(value)
    elif isinstance(node, list):
        for item in node:
            yield from _toc_files(item)


def test_toc_lists_every_notebook_and_existing_files_only(repo):
    toc = yaml.safe_load((repo / "_toc.yml").read_text())
    files = set(_toc_files(toc)) | {toc["root"]}
    notebooks = {f"notebooks/{p.stem}" for p in (repo / "notebooks").glob("*.py")}
    assert notebooks, "no notebooks found"
    assert notebooks <= files, f"not in _toc.yml: {sorted(notebooks - files)}"
    for entry in files:
        assert any((repo / f"{entry}{ext}").is_file() for ext in (".md", ".py")), f"_toc.yml lists missing {entry}"


def test_config_reads_py_notebooks_and_caches_execution(repo):
    config = yaml.safe_load((repo / "_config.yml").read_text())
    assert config["execute"]["execute_notebooks"] == "cache"
    formats = config["sphinx"]["config"]["nb_custom_formats"]
    assert formats[".py"][0] == "jupytext.reads" and formats[".py"][1]["fmt"] == "py:percent"


def test_every_notebook_has_parameters_output_dir_and_small_parameters(repo):
    for notebook in sorted((repo / "notebooks").glob("*.py")):
        params = read_parameters(notebook)
        assert "output_dir" in params, notebook.name
        small = repo / "tests" / "notebook_params" / f"{notebook.stem}.yaml"
        assert small.is_file(), f"{notebook.name} has no small parameters for make test ({small})"


def test_no_ipynb_is_tracked(repo):
    import subprocess

    tracked = subprocess.run(["git", "ls-files", "*.ipynb"], cwd=repo, capture_output=True, text=True).stdout
    assert tracked.strip() == ""


def test_constraints_pin_torch_and_jupyter_book_1(repo):
    pins = dict(
        line.split("==", 1) for line in (repo / "constraints.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    assert pins["torch"] == "2.13.0"
    assert pins["jupyter-book"].startswith("1.")


def test_math_renderer_is_served_from_the_book_not_a_cdn(repo):
    import importlib.util

    config = yaml.safe_load((repo / "_config.yml").read_text())
    path = config["sphinx"]["config"]["mathjax_path"]
    assert "://" not in path and path.startswith("mathjax/"), path
    folder = repo / config["sphinx"]["local_extensions"]["local_mathjax"]
    spec = importlib.util.spec_from_file_location("local_mathjax", folder / "local_mathjax.py")
    extension = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(extension)
    assert (extension.mathjax_folder() / path.removeprefix("mathjax/")).is_file()  # the pinned package has it
    assert "3.2.2" in (extension.mathjax_folder().parent / "package.json").read_text()
