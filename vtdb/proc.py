"""Is a process alive on this host: the one check the state machine, the lock and the temp-file cleanup share.

At the bottom of the package (psutil only), so `atomic` can tell a dead writer's temp file without
importing the state machine and its settings. Also package_env: the environment for a child process that
runs vtdb again (PYTHONPATH finding this package).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

import psutil

INSPECT_DENIED = 0.0  # process_start of a process that exists but may not be inspected (another user's)


def process_start(pid: int) -> float | None:
    """Start time of a running process on this host; None when there is none.

    The one "is this process alive" check (state's owner check and atomic's temp-file cleanup use it):
    an exited, unreaped zombie counts as gone, and a process we may not inspect (psutil.AccessDenied)
    exists, so it is alive: its start time is then unknown, INSPECT_DENIED (0.0).
    """
    if pid <= 0:
        return None
    try:
        proc = psutil.Process(pid)
    except psutil.AccessDenied:
        return INSPECT_DENIED
    except (psutil.Error, OSError, ValueError):
        return None
    try:
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
    except psutil.AccessDenied:
        pass  # it exists; whether it is a zombie cannot be told
    except (psutil.Error, OSError):
        return None
    try:
        return float(proc.create_time())
    except psutil.AccessDenied:
        return INSPECT_DENIED
    except (psutil.Error, OSError):
        return None


def pid_alive(pid: int) -> bool:
    """Is there a live process `pid` on this host (one we may not inspect counts as alive)?"""
    return process_start(pid) is not None


def owner_alive(pid: int, started: float) -> bool:
    """Is process `pid` (started at `started`) still running on this host?

    A process we may not inspect is alive (its start time cannot tell a reused pid, so the pid decides).
    """
    actual = process_start(pid)
    if actual is None:
        return False
    if actual == INSPECT_DENIED:
        return True
    # A different start time means the pid was reused by another process.
    return not started or abs(actual - started) < 2.0


def host_boot_time() -> float:
    try:
        return float(psutil.boot_time())
    except Exception:  # noqa: BLE001 - containers without /proc/stat: assume no reboot
        return 0.0


# The folder holding the vtdb package: on a child's PYTHONPATH, it finds vtdb whether it is installed or not.
PACKAGE_PARENT = str(Path(__file__).resolve().parents[1])


def package_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a child `python -m vtdb.…` (the pipeline's phases, Phase 1's per-GPU workers): this
    process's, plus `extra`, with PACKAGE_PARENT put first on PYTHONPATH."""
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, **(extra or {}), "PYTHONPATH": PACKAGE_PARENT + (os.pathsep + path if path else "")}
