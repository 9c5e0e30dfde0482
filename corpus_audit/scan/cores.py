"""How many cores this process may use: the default number of workers."""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")


def usable_cores() -> int:
    """The CPUs this process may run on (its affinity: taskset, a cpuset, Slurm), lowered to its
    cgroup's CPU quota rounded up (a container's `--cpus`, a Kubernetes CPU limit).

    `os.cpu_count()` counts the host's cores: in a 2-CPU pod on a 64-core host it would start
    64 workers, each holding the model. (joblib's loky reads the same files, but importing it
    costs a scan a sixth of a second.)"""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    quota = _quota(CGROUP)
    return max(1, min(cores, math.ceil(quota))) if quota else cores


def _quota(cgroup: Path) -> float | None:
    """CPUs allowed by the cgroup's quota (v2 `cpu.max`, else v1 `cpu.cfs_quota_us`); None when unlimited or unknown."""
    try:
        limit, period = (cgroup / "cpu.max").read_text().split()[:2]
        return None if limit == "max" else int(limit) / int(period)
    except (OSError, ValueError):
        pass
    for v1 in ("cpu", "cpu,cpuacct"):
        try:
            limit = int((cgroup / v1 / "cpu.cfs_quota_us").read_text())
            return None if limit <= 0 else limit / int((cgroup / v1 / "cpu.cfs_period_us").read_text())
        except (OSError, ValueError):
            continue
    return None
