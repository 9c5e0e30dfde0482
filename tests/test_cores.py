"""The default number of workers: the cores this process may use, within a cgroup's CPU quota."""

from __future__ import annotations

import os

import pytest

from corpus_audit.config import ScanConfig
from corpus_audit.scan import cores


@pytest.fixture
def host(monkeypatch, tmp_path):
    """A 64-core host whose cgroup files are written by the test."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)))
    monkeypatch.setattr(cores, "CGROUP", tmp_path)

    def write(**files: str) -> None:
        for name, text in files.items():
            path = tmp_path / name.replace("__", "/")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)

    return write


@pytest.mark.parametrize(("files", "expected"), [
    ({"cpu.max": "150000 100000\n"}, 2),  # docker --cpus 1.5: rounded up
    ({"cpu.max": "50000 100000\n"}, 1),  # half a CPU is still one worker
    ({"cpu.max": "100000 50000\n"}, 2),
    ({"cpu.max": "max 100000\n"}, 64),  # no limit
    ({"cpu__cpu.cfs_quota_us": "300000\n", "cpu__cpu.cfs_period_us": "100000\n"}, 3),  # cgroup v1
    ({"cpu,cpuacct__cpu.cfs_quota_us": "100000\n", "cpu,cpuacct__cpu.cfs_period_us": "100000\n"}, 1),
    ({"cpu__cpu.cfs_quota_us": "-1\n", "cpu__cpu.cfs_period_us": "100000\n"}, 64),
    ({"cpu.max": "garbage\n"}, 64),  # unreadable: the affinity alone
    ({}, 64),
])
def test_a_cgroup_quota_lowers_the_default_number_of_workers(host, files, expected):
    host(**files)
    assert cores.usable_cores() == expected
    assert ScanConfig(inputs=("x",)).workers == expected


def test_the_default_workers_follow_the_cpu_affinity_not_the_host(host, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 3, 5})  # taskset -c 0,3,5
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    assert ScanConfig(inputs=("x",)).workers == 3
    host(**{"cpu.max": "200000 100000\n"})
    assert ScanConfig(inputs=("x",)).workers == 2
