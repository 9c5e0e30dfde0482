"""What a scan keeps in `--out` so that `--resume` can skip finished shards.

`manifest.json` records the fingerprint of the options that change results and of the
input files. Each finished shard gets `state/shard-NNNNN.json` (its counts, part files and
detector partials), written atomically after its part files, so a shard either has a
complete state file or counts as not done. A lock file keeps two scans out of one `--out`.
"""

from __future__ import annotations

import fcntl
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from corpus_audit import atomic
from corpus_audit.errors import AuditError


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
        self.documents = out / "documents"
        self.join_dir = out / "join"
        self.state_dir = out / "state"
        self._lock_handle = None

    def lock(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        handle = open(self.out / ".lock", "w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise AuditError(f"{self.out}: another corpus-audit run is writing here (remove nothing; wait for it or use another --out)") from None
        self._lock_handle = handle

    def unlock(self) -> None:
        if self._lock_handle is not None:
            fcntl.flock(self._lock_handle, fcntl.LOCK_UN)
            self._lock_handle.close()
            self._lock_handle = None

    def start(self, manifest: dict[str, Any], resume: bool) -> dict[int, ShardResult]:
        """Prepare the directory; with resume, return the finished shards that still match."""
        finished: dict[int, ShardResult] = {}
        old = self._read_manifest()
        if resume and old is not None and old.get("options") == manifest["options"]:
            wanted = {i: fp for i, fp in enumerate(manifest["shards"])}
            for path in sorted(self.state_dir.glob("shard-*.json")):
                result = ShardResult(**json.loads(path.read_text()))
                if wanted.get(result.index) == result.fingerprint and all((self.documents / p).exists() for p in result.parts):
                    finished[result.index] = result
        keep = {Path(p).stem for r in finished.values() for p in r.parts}
        for stale in [*self.documents.glob("*.parquet"), *self.join_dir.glob("*/*.npz")]:
            if stale.stem not in keep:
                stale.unlink()
        if self.state_dir.exists():
            for stale in self.state_dir.glob("shard-*.json"):
                if int(stale.stem.split("-")[1]) not in finished:
                    stale.unlink()
        self.documents.mkdir(parents=True, exist_ok=True)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        atomic.write_json(self.out / "manifest.json", manifest)
        return finished

    def _read_manifest(self) -> dict[str, Any] | None:
        try:
            return json.loads((self.out / "manifest.json").read_text())
        except (OSError, ValueError):
            return None

    def finish_shard(self, result: ShardResult) -> None:
        atomic.write_json(self.state_dir / f"shard-{result.index:05d}.json", asdict(result))

    def join_file(self, detector: str, part: str) -> Path:
        return join_file(self.out, detector, part)


def join_file(out: Path, detector: str, part: str) -> Path:
    """Where a detector's join arrays for one documents part are kept."""
    return out / "join" / detector / f"{Path(part).stem}.npz"
