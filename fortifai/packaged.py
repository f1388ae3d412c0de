"""Files that come with installed packages, and fortifai's own cache folder.

The offline data and models (MNIST, Wikipedia prose, SmolLM2) ship inside PyPI packages that must not be
imported (their imports fail or clash with other names), so they are found through the import system's
search path alone.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path


def package_folder(package: str) -> Path | None:
    """The folder of an installed package, found without importing it; None when it is not installed."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def cache_dir() -> Path:
    """Where converted and pretrained models live: env ``FORTIFAI_CACHE``, else ``~/.cache/fortifai``."""
    return Path(os.environ.get("FORTIFAI_CACHE") or Path.home() / ".cache" / "fortifai").expanduser()
