"""The detector on human text from outside `../shared/`: the documentation on this machine.

The transfer benchmark holds out domains and generators of the shared corpora, but every
one of those corpora was assembled the same way, so a habit they share (how their texts
were stored) passes every held-out split. This reads human-written text that none of them
contain, from the machine's own documentation: English manual pages (the Google Cloud
SDK's generated pages left out), manual pages translated by people into other languages,
GNU Info manuals, Python's language reference and standard-library docstrings, and Perl's
documentation. Nearly all of it was written before chat models existed. Each source is cut at
its paragraph breaks into documents of `--words` words or more; nothing is copied into this
repository (the documents are written under `--data`).

For each source it prints the share of documents over the default threshold (p_synthetic >
0.5: every one is a false positive) and the median p_synthetic; with `--audit`, the audit of
each source as a corpus (estimate, 95% interval, calibration state, shift verdict), whose
truth is 0.

    python benchmarks/local_human_text.py --data /tmp/local-human [--audit]

Sources missing on a machine (no manual pages installed, say) are skipped and named. The
documents are collected once and reused from `--data`: empty it after changing `--per-source`
or `--words`.
"""

from __future__ import annotations

import argparse
import gzip
import importlib
import inspect
import os
import random
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from corpus_audit.model import store as model_store  # noqa: E402
from detectors.classifier import ClassifierDetector  # noqa: E402

MAN = Path("/usr/share/man")
LANGUAGES = ("de", "fr", "es", "it", "pl", "pt_BR", "ru")


def documents(text: str, words: int) -> Iterator[str]:
    """Consecutive paragraphs of `text`, joined until a document has at least `words` words."""
    held: list[str] = []
    count = 0
    for paragraph in re.split(r"\n[ \t]*\n", text):
        if paragraph.strip():
            held.append(paragraph.strip("\n"))
            count += len(paragraph.split())
        if count >= words:
            yield "\n\n".join(held)
            held, count = [], 0


def manual_pages(files: list[Path], words: int) -> Iterator[str]:
    """Manual pages as `man` renders them for an 80-column terminal, overstrikes removed."""
    for path in files:
        try:
            page = subprocess.run(["man", "-l", str(path)], capture_output=True, text=True, timeout=30,
                                  env={**os.environ, "MANWIDTH": "80", "MAN_KEEP_FORMATTING": ""}).stdout
            plain = subprocess.run(["col", "-bx"], input=page, capture_output=True, text=True).stdout
        except (OSError, subprocess.TimeoutExpired):  # no man or col here, or a page that hangs
            continue
        yield from list(documents(plain, words))[:3]  # a few per page: many pages, not a few long ones


def info_manuals(words: int) -> Iterator[str]:
    for path in sorted(Path("/usr/share/info").glob("*.gz")):
        with gzip.open(path, "rt", errors="replace") as handle:
            for node in handle.read().split("\x1f")[1:]:  # a node: a header line, then its text
                yield from documents(node.partition("\n")[2], words)


def python_documentation(words: int) -> Iterator[str]:
    """The language reference's topics (`pydoc_data`), then every long docstring of the standard library."""
    from pydoc_data.topics import topics

    for text in topics.values():
        yield from documents(text, words)
    for name in sorted(sys.stdlib_module_names):
        if name.startswith("_") or name in {"antigravity", "this", "idlelib", "tkinter", "turtle", "turtledemo"}:
            continue
        try:
            module = importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a module this platform lacks
            continue
        members = [module] + [m for _, m in inspect.getmembers(module, lambda m: inspect.isclass(m) or inspect.isfunction(m))
                              if getattr(m, "__module__", None) == name]
        for member in members:
            text = inspect.getdoc(member) or ""
            if len(text.split()) >= words:
                yield text


def perl_documentation(words: int) -> Iterator[str]:
    for root in (Path("/usr/share/perl"), Path("/usr/share/perl5")):
        for path in sorted(root.rglob("*.pod")):
            text = "\n".join(line for line in path.read_text(errors="replace").splitlines() if not line.startswith("="))
            yield from documents(text, words)


def sources(words: int) -> dict[str, Callable[[], Iterator[str]]]:
    english = sorted(p for section in ("man1", "man5", "man7", "man8") for p in (MAN / section).glob("*.gz")
                     if not p.name.startswith("gcloud"))
    found: dict[str, Callable[[], Iterator[str]]] = {
        "man_en": lambda: manual_pages(_shuffled(english), words),
        "gnu_info": lambda: info_manuals(words),
        "python_docs": lambda: python_documentation(words),
        "perl_pod": lambda: perl_documentation(words),
    }
    for language in LANGUAGES:
        pages = sorted((MAN / language).glob("man*/*.gz"))
        found[f"man_{language}"] = lambda pages=pages: manual_pages(_shuffled(pages), words)
    return found


def _shuffled(items: list[Path]) -> list[Path]:
    items = list(items)
    random.Random(0).shuffle(items)
    return items


def collect(data: Path, per_source: int, words: int) -> dict[str, Path]:
    """Each source's documents as `data/NAME.parquet` (made once, then reused)."""
    data.mkdir(parents=True, exist_ok=True)
    made = {}
    for name, read in sources(words).items():
        path = data / f"{name}.parquet"
        if not path.exists():
            texts: list[str] = []
            for text in read():
                if text not in texts:
                    texts.append(text)
                if len(texts) >= 4 * per_source:
                    break
            random.Random(1).shuffle(texts)
            pd.DataFrame({"text": texts[:per_source]}).to_parquet(path)
        made[name] = path
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="where the collected documents are written (not the repo)")
    parser.add_argument("--per-source", type=int, default=500, help="documents per source, at most")
    parser.add_argument("--words", type=int, default=150, help="a document's words, at least")
    parser.add_argument("--model", type=Path, default=None, help="model directory (default: the shipped model)")
    parser.add_argument("--audit", action="store_true", help="also audit each source as a corpus (its truth is 0)")
    args = parser.parse_args()
    detector = ClassifierDetector(model_store.load(args.model).model)
    print("| source | documents | median words | flagged (p_synthetic > 0.5) | median p_synthetic |"
          + (" audit: estimate [95% interval] | state | shift |" if args.audit else ""))
    print("|---|---|---|---|---|" + ("---|---|---|" if args.audit else ""))
    skipped, flagged = [], []
    for name, path in collect(args.data, args.per_source, args.words).items():
        texts = pd.read_parquet(path)["text"].tolist()
        if len(texts) < 20:
            skipped.append(name)
            continue
        p = detector.probabilities(texts)
        flagged.append(float(np.mean(p > 0.5)))
        row = (f"| {name} | {len(texts):,} | {int(np.median([len(t.split()) for t in texts]))} | "
               f"{np.mean(p > 0.5):.1%} | {np.median(p):.3f} |")
        if args.audit:
            row += _audit_cells(path, args.model)
        print(row, flush=True)
    print(f"\nworst source: {max(flagged):.1%} flagged; mean {np.mean(flagged):.1%}")
    if skipped:
        print("skipped (under 20 documents on this machine):", ", ".join(skipped))


def _audit_cells(path: Path, model: Path | None) -> str:
    import corpus_audit as ca

    sf = ca.audit(str(path), model=model, workers=1, progress=False).synthetic_fraction
    shift = sf.calibration.get("shift") or {}
    return (f" {sf.estimate:.1%} [{sf.ci_low:.1%}, {sf.ci_high:.1%}] | {sf.state} | "
            f"{shift.get('verdict', 'not tested')} |")


if __name__ == "__main__":
    main()
