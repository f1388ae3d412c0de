"""The results contract: what every experiment notebook leaves in its ``output_dir``.

``metrics.json``  the numbers the book, the tests and anyone else read;
``<figure>.png`` and ``<figure>.svg``  every figure, in both formats;
``run.json``  parameters, seed, package versions, git commit and wall time.

Every file is written atomically (a temporary file in the same folder, then ``os.replace``),
so a reader never sees half a file and an interrupted run leaves the previous version intact; with the mode
``open()`` would give it (0644 under the usual umask), so that colleagues on shared storage can read it.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

REPO_ROOT = Path(__file__).resolve().parent.parent
# the recursive language-model runs, one folder per run: what the sweep writes and the LLM chapters read
RUNS_DIR = REPO_ROOT / "results" / "llm_recursive" / "runs"


def shown_path(path: str | Path) -> str:
    """``path`` as a page shows it: relative to the repository when inside it (no machine's folders), else as given."""
    path = Path(path)
    return str(path.resolve().relative_to(REPO_ROOT)) if path.resolve().is_relative_to(REPO_ROOT) else str(path)


def umask() -> int:
    """The process's umask. Read from /proc where it can be: ``os.umask`` reads it only by setting it, which
    another thread creating a file at that moment would see."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def ordinary_modes(folder: str | os.PathLike) -> None:
    """Give ``folder``, everything in it and itself the modes ``open()`` and ``mkdir`` would under the umask
    (safetensors and ``mkdtemp`` make theirs 0600 and 0700: weights a group or a web server cannot read)."""
    folder, mask = Path(folder), umask()
    for path in [folder, *folder.rglob("*")]:
        if not path.is_symlink():
            os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~mask)


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it over ``path``.

    The temporary file gets the mode ``open()`` would give (``mkstemp`` makes it 0600, readable by its owner only).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~umask())
    finally:
        os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _jsonable(value: Any) -> Any:
    """Turn numpy scalars/arrays and non-finite floats into strict JSON values."""
    if hasattr(value, "tolist"):  # numpy arrays and scalars, torch tensors
        value = value.tolist()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None  # strict JSON has no NaN/Infinity; readers treat null as "undefined"
    if isinstance(value, Path):
        return str(value)
    return value


def write_json(path: str | os.PathLike, data: Any) -> Path:
    """Write ``data`` as indented, strict JSON, atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(_jsonable(data), indent=2, allow_nan=False) + "\n")
    return path


class DamagedFileError(ValueError):
    """A results file that exists but is not valid JSON (truncated, overwritten): the message names it."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"{path} is damaged ({reason}); delete it to have it recomputed, or restore it")
        self.path, self.reason = path, reason


def read_json(path: str | os.PathLike) -> Any:
    """The JSON in ``path``; the one reader of results files, so that a damaged one is named, never a bare
    ``JSONDecodeError``."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DamagedFileError(path, f"not valid JSON: {error}") from None


def save_figure(fig, output_dir: str | os.PathLike, name: str, dpi: int = 120) -> list[Path]:
    """Save a matplotlib figure as ``name.png`` and ``name.svg`` in ``output_dir``, atomically."""
    paths = []
    for ext in ("png", "svg"):
        path = Path(output_dir) / f"{name}.{ext}"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=ext, dpi=dpi, bbox_inches="tight", metadata={"Date": None} if ext == "svg" else None)
        paths.append(path)
    return paths


def git_commit(cwd: str | os.PathLike = REPO_ROOT) -> str | None:
    """The commit of the working tree (with ``-dirty`` when it has changes), or None outside git."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd, capture_output=True, text=True, timeout=5
        ).stdout.strip()
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def versions() -> dict[str, str | None]:
    """Versions of the packages whose behaviour a result depends on."""
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in ("fortifai", "torch", "numpy", "scipy", "scikit-learn", "transformers", "matplotlib"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def default_output_dir(notebook: str, run_name: str = "default") -> Path:
    """``results/<notebook>/<run_name>`` under the repository root (not created)."""
    return REPO_ROOT / "results" / notebook / run_name


def resolve_output_dir(output_dir: str | os.PathLike | None, notebook: str, run_name: str = "default") -> Path:
    """``output_dir`` as given, or :func:`default_output_dir`; created."""
    path = Path(output_dir) if output_dir else default_output_dir(notebook, run_name)
    path.mkdir(parents=True, exist_ok=True)
    return path


class RunRecord:
    """Records one run: create it at the top of a notebook, call :meth:`finish` at the end.

    >>> record = RunRecord(output_dir, params={"seed": 0, "generations": 100}, seed=0)
    >>> ...  # the experiment
    >>> record.finish(timings={"simulation_s": 1.2})  # writes run.json
    """

    def __init__(self, output_dir: str | os.PathLike, params: dict[str, Any], seed: int | None = None):
        self.output_dir = Path(output_dir)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self.params = dict(params)
        self.seed = seed
        self.started_at = _dt.datetime.now(_dt.timezone.utc)
        self._t0 = time.perf_counter()

    def finish(self, timings: dict[str, float] | None = None, **extra: Any) -> Path:
        record = {
            "params": self.params,
            "seed": self.seed,
            "versions": versions(),
            "git_commit": git_commit(),
            "platform": platform.platform(),
            "started_at": self.started_at.isoformat(timespec="seconds"),
            "wall_time_s": round(time.perf_counter() - self._t0, 3),
            "timings_s": timings or {},
            **extra,
        }
        return write_json(self.output_dir / "run.json", record)


# --- folder owners: one process per run folder or chapter output folder ----------------------------------

LOCK_FILE = ".lock"  # in a run folder: its owner holds an flock on it and has written its pid into it


class RunFolderBusyError(RuntimeError):
    """Another process owns the run folder."""


_HELD: dict[Path, int] = {}  # run folders this process owns: their lock files' descriptors


def _busy(path: Path, holder: str) -> RunFolderBusyError:
    return RunFolderBusyError(f"{path} is in use by process {holder} (one process per run folder): wait for it or "
                              "stop it, then run the same command again")


def refuse_if_busy(path: str | Path) -> None:
    """Raise :func:`lock_run_folder`'s RunFolderBusyError where another process owns ``path``; creates nothing (a
    check before anything is validated or imported)."""
    holder = run_folder_owner(path)
    if holder is not None:
        raise _busy(Path(path).resolve(), holder)


def lock_run_folder(path: str | Path) -> Path:
    """Own the run folder ``path`` until this process ends or :func:`unlock_run_folder`, or raise one
    RunFolderBusyError naming it and its owner's pid.

    An exclusive ``flock`` on ``<path>/.lock``: the kernel drops it when its process ends, however it ends, so a
    killed run leaves no stale lock. Taken again in the same process it is already held (the command line takes
    it before the engine opens the folder).
    """
    import fcntl

    path = Path(path).resolve()
    if path in _HELD:
        return path
    path.mkdir(parents=True, exist_ok=True)
    fd = os.open(path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise _busy(path, holder) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    _HELD[path] = fd
    return path


def unlock_run_folder(path: str | Path) -> None:
    fd = _HELD.pop(Path(path).resolve(), None)
    if fd is not None:
        os.close(fd)  # closing the only descriptor releases the flock


def run_folder_owner(path: str | Path) -> str | None:
    """The pid of the process that owns the run folder ``path``, or None when none does (or this one does)."""
    import fcntl

    path = Path(path).resolve()
    if path in _HELD or not (path / LOCK_FILE).is_file():
        return None
    fd = os.open(path / LOCK_FILE, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return None
    except BlockingIOError:
        return os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
    finally:
        os.close(fd)  # and with it the probe's own lock
