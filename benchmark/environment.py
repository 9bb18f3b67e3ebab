"""Capture the environment a run executed in: versions, hardware, host, git commit, and the
process that ran it.

Captured *where the run executes* (a pool worker, a Dask worker on another host, or the
caller's process; :func:`run_environment`) and stored with the run (``runs.environment``),
so a number can always be traced to the code, machine and process that produced it.
"""

from __future__ import annotations

import functools
import os
import platform
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES: tuple[str, ...] = (
    "bnnbench",
    "torch",
    "torchvision",
    "numpy",
    "pandas",
    "optuna",
    "pytorch_optimizer",
    "scikit-learn",
    "mnist1d",
    "sqlalchemy",
)


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux, else ``platform.processor()``)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def git_commit(path: Path | None = None) -> str | None:
    """``HEAD`` of the git checkout holding bnnbench (``+dirty`` if modified), else None."""
    where = path or Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(
            ["git", "-C", str(where), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(where), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{out}+dirty" if dirty else out


@functools.cache
def software_environment() -> dict[str, Any]:
    """The code this process runs: Python, package versions, bnnbench's git commit, and the
    host. Cheap and torch-free: a Dask coordinator asks every worker for it on connecting
    (which also proves the workers can import bnnbench) and compares it with its own."""
    return {
        "python": sys.version.split()[0],
        "packages": {name: _version(name) for name in PACKAGES},
        "hostname": socket.gethostname(),
        "git_commit": git_commit(),
    }


def software_differences(here: dict[str, Any], there: dict[str, Any]) -> list[str]:
    """What differs between two :func:`software_environment` results (Python, package
    versions, git commit; a commit only when both sides know theirs), as items like
    ``"torch 2.3.0 (here 2.4.1)"``: the value ``there``, then the value ``here``."""
    diffs = []
    if here.get("python") != there.get("python"):
        diffs.append(f"python {there.get('python')} (here {here.get('python')})")
    mine, theirs = here.get("packages") or {}, there.get("packages") or {}
    for name in sorted(set(mine) | set(theirs)):
        if mine.get(name) != theirs.get(name):
            diffs.append(f"{name} {theirs.get(name)} (here {mine.get(name)})")
    commits = here.get("git_commit"), there.get("git_commit")
    if all(commits) and commits[0] != commits[1]:
        diffs.append(f"git commit {commits[1]} (here {commits[0]})")
    return diffs


@functools.cache
def capture_environment() -> dict[str, Any]:
    """Versions, hardware and host of this process (cached: it does not change in a process)."""
    import torch

    gpu = None
    if torch.cuda.is_available():
        gpu = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
    software = software_environment()
    return {
        "python": software["python"],
        "platform": platform.platform(),
        "packages": dict(software["packages"]),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "gpu": gpu,
        "cuda": torch.version.cuda if torch.cuda.is_available() else None,
        "hostname": software["hostname"],
        "git_commit": software["git_commit"],
    }


def dask_worker_address() -> str | None:
    """The address of the Dask worker this code runs in, or None outside one."""
    if "distributed" not in sys.modules:
        return None
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return None


def run_environment(threads: int | None = None) -> dict[str, Any]:
    """:func:`capture_environment` plus what differs per process: its pid, its
    ``multiprocessing`` name, the Dask worker's address (when in one) and the torch thread
    count the run trained with."""
    import multiprocessing

    import torch

    return {
        **capture_environment(),
        "pid": os.getpid(),
        "process": multiprocessing.current_process().name,
        "dask_worker": dask_worker_address(),
        "torch_threads": threads if threads is not None else torch.get_num_threads(),
    }
