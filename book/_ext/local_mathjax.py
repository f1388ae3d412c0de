"""Sphinx extension: the built book serves MathJax from its own files, so its math renders with no network.

MathJax 3.2.2 comes from the PyPI package ``django-static-mathjax`` (the ``book`` extra, pinned in
constraints.txt, installed by ``make setup``). Its ``es5`` build is copied to ``_build/html/_static/mathjax/``
when the build starts, and ``mathjax_path`` in ``_config.yml`` points every page there (a relative
``mathjax_path`` is read relative to ``_static``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sphinx.errors import ConfigError, ExtensionError

from fortifai.packaged import package_folder

PACKAGE = "mathjax"  # the import name of django-static-mathjax; never imported, only its files are read
INSTALL = "pip install django-static-mathjax==3.2.2.1 (make setup installs it)"


def mathjax_folder() -> Path:
    """The installed MathJax build (``es5/``: the components, their extensions and fonts)."""
    folder = package_folder(PACKAGE)
    es5 = folder / "static" / "mathjax" / "es5" if folder else None
    if es5 is None or not (es5 / "startup.js").is_file():
        raise ExtensionError(f"the book serves MathJax from its own files, and no MathJax is installed: {INSTALL}")
    return es5


def copy_mathjax(app) -> None:
    if app.builder.format != "html":
        return
    path = app.config.mathjax_path
    if "://" in path or path.startswith("/") or not path.startswith("mathjax/"):
        raise ConfigError(f"mathjax_path must be a file of the served copy, 'mathjax/<component>.js', got {path!r}")
    source = mathjax_folder()
    if not (source / path.removeprefix("mathjax/")).is_file():
        raise ConfigError(f"mathjax_path={path!r}: MathJax has no component {path.removeprefix('mathjax/')}")
    shutil.copytree(source, Path(app.outdir) / "_static" / "mathjax", dirs_exist_ok=True)


def setup(app):
    app.connect("builder-inited", copy_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
