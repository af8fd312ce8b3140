"""What a result was produced with: the command, versions, commit, machine and date.

Every ``results.json`` carries this record, so that a figure can be traced and re-run.
"""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = ("tfrec", "tensorflow", "tf-keras", "tensorflow-recommenders", "scikit-surprise", "implicit",
            "numpy", "scipy", "pandas", "optuna")


def versions() -> dict[str, str]:
    """Installed versions of tfrec and the libraries its models come from (without importing them)."""
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def git_commit() -> str | None:
    """The commit of the tfrec checkout in use (with ``+dirty`` for local changes), else ``None``."""
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return None
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "")


def cpu_model() -> str:
    """The CPU's model name (Linux ``/proc/cpuinfo``; the platform's processor elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def provenance(seed: int | None = None, **extra: Any) -> dict[str, Any]:
    """The record a result file carries: command line, versions, commit, machine, date, seed."""
    return {"command": " ".join(["tfrec" if i == 0 else a for i, a in enumerate(sys.argv)]),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "git_commit": git_commit(), "versions": versions(), "cpu": cpu_model(),
            "cores": os.cpu_count(), "machine": platform.machine(), "seed": seed, **extra}
