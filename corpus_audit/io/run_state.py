"""What a scan keeps in `--out` so that `--resume` can skip finished shards.

`manifest.json` records the fingerprint of the options that change results and of the
input files. Each finished shard gets `state/shard-NNNNN.json` (its counts, part files and
detector partials), written atomically after its part files, so a shard either has a
complete state file or counts as not done. A lock file keeps two scans out of one `--out`;
what may be written and removed there is decided by `corpus_audit.io.out_dir`.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from corpus_audit.io import atomic
from corpus_audit.io.out_dir import STATE, OutDir, is_part_name


@dataclass
class ShardResult:
    """Everything the audit needs from one finished shard."""

    index: int
    fingerprint: str
    rows: int = 0
    scanned: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    truncated: int = 0
    empty: int = 0
    invalid_utf8: int = 0
    bytes: int = 0
    parts: list[str] = field(default_factory=list)
    partials: dict[str, Any] = field(default_factory=dict)  # detector name -> partial state
    strata: dict[str, Any] = field(default_factory=dict)  # --by value -> p_synthetic histogram state

    def skip(self, reason: str, amount: int) -> None:
        if amount:
            self.skipped[reason] = self.skipped.get(reason, 0) + amount


class RunState:
    """The `--out` directory of one scan: manifest, shard states, part files and the lock."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.dir = OutDir(out)
        self.documents = out / "documents"
        self.join_dir = out / "join"
        self.state_dir = out / "state"

    def lock(self, resume: bool = False, overwrite: bool = False) -> None:
        """Claim and lock `--out` (see corpus_audit.io.out_dir)."""
        self.dir.claim(resume, overwrite)

    def unlock(self) -> None:
        self.dir.unlock()

    def start(self, manifest: dict[str, Any], resume: bool) -> dict[int, ShardResult]:
        """Prepare the directory; with resume, return the finished shards that still match."""
        finished: dict[int, ShardResult] = {}
        self.dir.subdir("documents")
        self.dir.subdir("state")
        old = self.dir.read_manifest()
        if resume and old is not None and old.get("options") == manifest["options"]:
            wanted = {i: fp for i, fp in enumerate(manifest["shards"])}
            for name in sorted(os.listdir(self.state_dir)):
                result = self._finished_shard(self.state_dir / name)
                if result is not None and wanted.get(result.index) == result.fingerprint:
                    finished[result.index] = result
        keep = {Path(p).stem for r in finished.values() for p in r.parts} | {f"shard-{i:05d}" for i in finished}
        self.dir.remove_stale(keep)
        self.dir.write_manifest(manifest)
        return finished

    def _finished_shard(self, path: Path) -> ShardResult | None:
        """A state file's shard, if the file is the tool's own and every part it names is there.

        State files may have been edited by someone else: only part names the tool writes for
        that shard are accepted, so a state file cannot point the scan outside `--out`."""
        if path.is_symlink() or not STATE.fullmatch(path.name):
            return None
        try:
            result = ShardResult(**json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return None
        if not (isinstance(result.index, int) and isinstance(result.parts, list)
                and all(is_part_name(p, result.index) for p in result.parts)):
            return None
        if not all((self.documents / p).is_file() and not (self.documents / p).is_symlink() for p in result.parts):
            return None
        return result

    def finish_shard(self, result: ShardResult) -> None:
        atomic.write_json(self.state_dir / f"shard-{result.index:05d}.json", asdict(result))

    def join_file(self, detector: str, part: str) -> Path:
        return join_file(self.out, detector, part)


def join_file(out: Path, detector: str, part: str) -> Path:
    """Where a detector's join arrays for one documents part are kept."""
    return out / "join" / detector / f"{Path(part).stem}.npz"
