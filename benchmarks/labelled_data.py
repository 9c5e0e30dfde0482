"""All the labelled human / machine text in `../shared/data/`, with one naming of domains and generators.

The files name the same things differently (`xsum` and `news`, `gpt-3.5-turbo-0613` and
`gpt-3.5-turbo`); the transfer benchmark holds out one domain or one generator at a time,
so a domain must be one thing across files. Each row gets:

- `domain`: the coarse domain (news, wikipedia, stories, student_essay, spanish, portuguese,
  and l2r's 13 domains by their own names); held-out cells are these;
- `generator`: the model without date or version suffix, `human` for human text;
- `attack`: `none`, `dipper`, `outfox`, or imbd's `llm_polish`/`llm_rewrite`/`llm_expand`;
- `source_id`: as in the files (a content hash of the human text, equal across files), so
  grouping by it keeps a human text and every machine text made from it on one side.

Nothing here is copied into the repository; the benchmarks read the files where they lie.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
FILES = ("reference/reference", "extra/l2r", "extra/outfox", "extra/glimpse_writing", "extra/imbd", "extra/remodetect")
DOMAINS = {"xsum": "news", "squad": "wikipedia", "writing": "stories", "creative_story": "stories",
           "mixed_es": "spanish", "mixed_pt": "portuguese", "mixed_zh": "chinese"}
GENERATORS = {"claude-3-opus-20240229": "claude-3-opus", "claude-3-sonnet-20240229": "claude-3-sonnet",
              "gpt-3.5-turbo-0613": "gpt-3.5-turbo", "text-davinci-003": "davinci"}


def _attack_and_generator(generator: str) -> tuple[str, str]:
    base, _, attack = generator.partition("+")
    return GENERATORS.get(base, base), {"": "none", "outfox-attack": "outfox"}.get(attack, attack)


def load(shared: Path = SHARED) -> pd.DataFrame:
    """Every labelled row: text, y (1 = machine-written), domain, generator, attack, source_id, file."""
    missing = [f for f in FILES if not (shared / f"{f}.parquet").exists()]
    if missing:
        sys.exit(f"{shared}: labelled data not found ({', '.join(missing)})")
    frames = []
    for name in FILES:
        frame = pd.read_parquet(shared / f"{name}.parquet")
        frame["file"] = name.split("/")[1]
        frames.append(frame)
    data = pd.concat(frames, ignore_index=True)
    pairs = [_attack_and_generator(g) for g in data["generator"]]
    data["generator"] = [g for g, _ in pairs]
    own_attack = data["attack"] if "attack" in data else pd.Series("none", index=data.index)
    data["attack"] = [a if a != "none" else (b if isinstance(b, str) else "none") for (_, a), b in zip(pairs, own_attack)]
    data["domain"] = data["domain"].map(lambda d: DOMAINS.get(d, d))
    data["y"] = (data["label"] == "synthetic").astype(np.int64)
    return data[["doc_id", "text", "y", "label", "domain", "generator", "attack", "source_id", "file"]]


def held_out_domains(data: pd.DataFrame, minimum: int = 30) -> list[str]:
    """Domains with enough of both classes to be scored on their own."""
    counts = data.groupby(["domain", "y"]).size().unstack(fill_value=0)
    return sorted(counts.index[(counts[0] >= minimum) & (counts[1] >= minimum)])
