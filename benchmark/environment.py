"""Capture the environment a run executed in: versions, hardware, host, git commit.

Stored with every run (``runs.environment``) so a number can always be traced to the code
and machine that produced it.
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

import torch

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
def capture_environment() -> dict[str, Any]:
    """Versions, hardware and host of this process (cached: it does not change in a process)."""
    gpu = None
    if torch.cuda.is_available():
        gpu = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": {name: _version(name) for name in PACKAGES},
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "gpu": gpu,
        "cuda": torch.version.cuda if torch.cuda.is_available() else None,
        "hostname": socket.gethostname(),
        "git_commit": git_commit(),
    }
