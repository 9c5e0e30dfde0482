"""What a scan may write and delete in `--out`: a directory it made or marked, its own files only.

`--out` is used when it is new or empty (the scan then marks it: `manifest.json` with
`"tool": "corpus-audit"`) or already marked. Anything else is refused before a byte is
written: a link, a file, a non-empty directory without the mark, a directory that holds
or lies inside something the scan reads. In a marked directory only names the tool
writes itself (`owned`) are ever removed, in real subdirectories, and a link found where
the tool keeps its own files stops the run: nothing is deleted or written through a link.
"""

from __future__ import annotations

import errno
import fcntl
import fnmatch
import json
import os
import re
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

from corpus_audit.errors import AuditError, os_error_message
from corpus_audit.io import atomic

TOOL = "corpus-audit"
MANIFEST = "manifest.json"
LOCK = ".lock"
SUBDIRS = ("documents", "join", "state")
JOIN_WORK = "tmp"  # join/tmp: the near-duplicate join's scratch files
PART = re.compile(r"part-(\d{5})-\d{5}")  # documents/<PART>.parquet, join/<detector>/<PART>.npz
_OWN_TOP = re.compile(r"audit\.json|report\.html|report\.md|manifest\.json")
STATE = re.compile(r"shard-\d{5}\.json")  # state/<STATE>: one finished shard
_OWN = {"documents": re.compile(PART.pattern + r"\.parquet"), "state": STATE,
        "join": re.compile(PART.pattern + r"\.npz")}
_TEMPORARY = re.compile(r"\.(.+)\.tmp-\d+")  # what corpus_audit.io.atomic writes before its rename
_EXAMPLES = ("documents/part-00000-00000.parquet", "audit.json", "report.md", "state/shard-00000.json")


def is_part_name(name: object, shard: int | None = None) -> bool:
    """Whether `name` is a documents part the tool writes (of this shard, when given)."""
    match = PART.fullmatch(name[: -len(".parquet")]) if isinstance(name, str) and name.endswith(".parquet") else None
    return match is not None and (shard is None or int(match.group(1)) == shard)


def check_location(out: Path, reads: Iterable[str]) -> None:
    """Refuse an `--out` that is a link or a file, or that holds or lies inside a path the scan reads."""
    where = Path(os.path.abspath(out))
    if where.is_symlink():
        raise AuditError(f"--out {out}: is a symbolic link; give the directory itself (the tool writes through no link)")
    if where.exists() and not where.is_dir():
        raise AuditError(f"--out {out}: is a file, not a directory; choose a new or empty directory")
    real = where.resolve()
    for read in reads:
        if _overlaps(real, read):
            raise AuditError(f"--out {out}: overlaps the input {read} (the scan would read or replace its own "
                             "files); write the audit outside the input")


def _overlaps(out: Path, read: str) -> bool:
    if "://" in read and not read.startswith("file://"):
        return False
    local = read.removeprefix("file://")
    if not any(c in local for c in "*?["):
        path = Path(local).resolve()
        return path == out or path.is_relative_to(out) or out.is_relative_to(path)
    base = Path(os.path.dirname(re.split(r"[*?\[]", local, maxsplit=1)[0]) or ".").resolve()
    pattern = os.path.abspath(local)
    return base.is_relative_to(out) or any(fnmatch.fnmatchcase(str(out / e), pattern) for e in _EXAMPLES)


class OutDir:
    """The `--out` directory of one scan, claimed, locked, and cleared of the tool's stale files."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self._lock_fd: int | None = None

    def claim(self, resume: bool, overwrite: bool) -> None:
        """Create or mark `--out` and lock it; a finished audit there is replaced only with --overwrite
        (or continued with --resume)."""
        marked = self._marked()
        if not marked:
            try:
                self.out.mkdir(parents=True, exist_ok=True)
                if any(self.out.iterdir()):
                    raise AuditError(f"--out {self.out}: not empty and not an audit directory (no {MANIFEST} of "
                                     f"corpus-audit); choose a new or empty directory, nothing here was changed")
                self.write_manifest({})
            except OSError as err:
                raise AuditError(f"--out {os_error_message(err)}") from None
        self._lock()
        if marked and not (resume or overwrite) and self._holds_audit():
            self.unlock()
            raise AuditError(f"--out {self.out}: holds a finished audit; pass --overwrite to replace it "
                             "(only corpus-audit's own files are removed) or --resume to continue it")

    def write_manifest(self, record: dict) -> None:
        atomic.write_json(self.out / MANIFEST, {"tool": TOOL, **record})

    def read_manifest(self) -> dict | None:
        try:
            manifest = json.loads((self.out / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return manifest if isinstance(manifest, dict) and manifest.get("tool") == TOOL else None

    def _marked(self) -> bool:
        return not (self.out / MANIFEST).is_symlink() and self.read_manifest() is not None

    def _holds_audit(self) -> bool:
        """Whether a finished audit is here (an unfinished run's files are only resumable state)."""
        return os.path.lexists(self.out / "audit.json")

    def _lock(self) -> None:
        path = self.out / LOCK
        try:  # no O_TRUNC, and never through a link
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as err:
            reason = "it is a symbolic link, which is not followed: remove it" if err.errno == errno.ELOOP else err.strerror
            raise AuditError(f"{path}: cannot open the lock file ({reason})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise AuditError(f"{self.out}: another corpus-audit run is writing here (remove nothing; wait for it or "
                             "use another --out)") from None
        self._lock_fd = fd

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor releases the lock
            self._lock_fd = None

    def subdir(self, *names: str) -> Path:
        """A real subdirectory of `--out` (created when missing); a link or a file there stops the run."""
        path = self.out
        for name in names:
            path = path / name
            if path.is_symlink() or (path.exists() and not path.is_dir()):
                raise AuditError(f"{path}: corpus-audit keeps its own files here, but this is "
                                 f"{'a symbolic link' if path.is_symlink() else 'not a directory'}; remove it or "
                                 "choose another --out")
            path.mkdir(exist_ok=True)
        return path

    def remove_stale(self, keep: set[str]) -> None:
        """Remove the tool's own files (an earlier audit, reports, parts, states, scratch) but the
        manifest and the parts and states whose stems are in `keep`. Never through a link."""
        for folder, name in self.owned():
            path = folder / name
            if path.is_symlink():
                raise AuditError(f"{path}: a symbolic link where corpus-audit keeps its own files; remove it or "
                                 "choose another --out (nothing is deleted through a link)")
            stem = name.split(".")[0]
            if (folder == self.out and name == MANIFEST) or (stem in keep and not _TEMPORARY.fullmatch(name)):
                continue
            if path.is_dir():
                shutil.rmtree(path)  # join/tmp (rmtree removes links inside it, never what they point to)
            else:
                path.unlink()

    def owned(self) -> Iterator[tuple[Path, str]]:
        """(folder, name) of every entry in `--out` that the tool writes itself."""
        folders: list[tuple[Path, re.Pattern[str]]] = [(self.out, _OWN_TOP)]
        for sub in SUBDIRS:
            if (self.out / sub).exists():
                folder = self.subdir(sub)
                if sub == "join":
                    folders += [(self.subdir(sub, d.name), _OWN[sub]) for d in sorted(folder.iterdir())
                                if d.name != JOIN_WORK and (d.is_symlink() or d.is_dir())]
                else:
                    folders.append((folder, _OWN[sub]))
        for folder, pattern in folders:
            for name in sorted(os.listdir(folder)):
                temporary = _TEMPORARY.fullmatch(name)
                if pattern.fullmatch(temporary.group(1) if temporary else name):
                    yield folder, name
        if os.path.lexists(self.out / "join" / JOIN_WORK):
            yield self.out / "join", JOIN_WORK
