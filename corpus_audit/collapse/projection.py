"""The collapse-risk projection: a unigram Wright-Fisher chain on the corpus's own spectrum.

Generation 0 is the corpus (its word types' counts). Generation g >= 1 trains on M tokens
and its model is the empirical distribution of them, after an optional sampling
transform (temperature, top-k, top-p) of the model it samples from:

- `replace`: all M tokens are sampled from generation g-1's model;
- `mix`: a share alpha from generation g-1's model, 1 - alpha fresh from generation 0;
- `accumulate`: generation g's M sampled tokens are added to all earlier generations' data.

The Monte-Carlo simulation is exact in the types, vectorised in their counts: types with
the same generation-0 count and the same current count are exchangeable, so the state
of a run is a table of (generation-0 class, current count, number of types), and a
generation draws, for each row, how many of its types get each next count. Counts are
Poissonised: a type's next count is Poisson(M q) independently, so the total is
Poisson(M) instead of exactly M; given its total, the sample is exactly multinomial. This
makes a 1M-type projection take seconds instead of minutes. Each run draws alpha from
the estimate's interval (a split normal: the estimate as mode, each half-interval as
1.96 standard deviations), so the bands carry the estimate's uncertainty.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from functools import partial
from typing import Any

import numpy as np

from corpus_audit.collapse import closed_forms as theory
from corpus_audit.errors import AuditError

REGIMES = ("replace", "mix", "accumulate")
METRICS = ("types_alive", "hapax_survival", "rare_decile_survival", "coverage", "tail_mass", "entropy",
           "gini_simpson", "chi2", "kl", "effective_real_tokens")
MAX_ZIPF_TYPES = 10_000_000
RUN_CHUNKS = 8  # the runs are simulated in this many chunks, so up to 8 workers can share them
_EXPAND = 64  # rows with at most this many types draw each type's count; larger rows draw a histogram
_BULK_MEAN = 50.0  # ... when the expected count is at most this

# The risk grade: how much of the corpus's rarest decile of word types the plan loses by
# the last generation beyond what sampling fresh real data alone would lose.
RISK_RULE = ((0.05, "low"), (0.15, "moderate"), (0.40, "high"))
RISK_TEXT = ("excess loss of the rarest decile of word types at the last generation, over training on fresh "
             "real data alone: under 5 points low, under 15 moderate, under 40 high, else critical")


@dataclass(frozen=True)
class Spectrum:
    """Generation 0: distinct type counts and how many types have each."""

    counts: np.ndarray  # distinct counts, float64
    types: np.ndarray  # number of types with that count, int64
    source: str

    @property
    def tokens(self) -> float:
        return float(np.dot(self.counts, self.types))

    @property
    def size(self) -> int:
        return int(self.types.sum())

    @classmethod
    def from_counts_of_counts(cls, pairs: list[list[float]], source: str) -> Spectrum:
        table = np.asarray(pairs, dtype=np.float64).reshape(-1, 2)
        types = np.rint(table[:, 1]).astype(np.int64)
        keep = (table[:, 0] > 0) & (types > 0)
        if not keep.any():
            raise AuditError(f"{source}: the word spectrum is empty (no words were counted)")
        return cls(table[keep, 0], types[keep], source)

    @classmethod
    def zipf(cls, types: int, exponent: float, tokens: float) -> Spectrum:
        """The expected counts of a Zipf(exponent) corpus of `tokens` tokens over `types` types
        (each at least 1: every type of the vocabulary was seen)."""
        if types < 2 or exponent <= 0 or tokens < types:
            raise AuditError(f"Zipf spectrum: need at least 2 types, exponent > 0 and at least as many tokens as "
                             f"types (got {types}, {exponent}, {tokens:g})")
        if types > MAX_ZIPF_TYPES:  # each type is a float here: 100M types took gigabytes before the first run
            raise AuditError(f"--zipf-types {types:,}: at most {MAX_ZIPF_TYPES:,} (about 30 s and 350 MB); project a "
                             "real corpus's own spectrum with --spectrum AUDIT_DIR")
        p = np.arange(1, types + 1, dtype=np.float64) ** -exponent
        counts = np.maximum(1.0, np.rint(tokens * p / p.sum()))
        values, number = np.unique(counts, return_counts=True)
        return cls(values, number.astype(np.int64), f"Zipf spectrum, {types:,} types, exponent {exponent:g}")


@dataclass(frozen=True)
class Plan:
    """The training plan to project, and the synthetic fraction with its interval."""

    alpha: float
    alpha_low: float | None = None
    alpha_high: float | None = None
    regime: str = "mix"
    generations: int = 5
    tokens_per_generation: float | None = None  # default: the corpus's tokens
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int | None = None
    runs: int = 100
    seed: int = 0
    tail_rank: int = 1000

    def __post_init__(self) -> None:
        low = self.alpha if self.alpha_low is None else self.alpha_low
        high = self.alpha if self.alpha_high is None else self.alpha_high
        if not 0 <= low <= self.alpha <= high <= 1:
            raise AuditError(f"synthetic fraction {self.alpha} with interval [{low}, {high}]: need 0 <= low <= "
                             "fraction <= high <= 1")
        checks = [(self.regime in REGIMES, f"--regime {self.regime!r}: expected one of {', '.join(REGIMES)}"),
                  (1 <= self.generations <= 1000, f"--generations {self.generations}: must be 1 to 1000"),
                  (self.tokens_per_generation is None or self.tokens_per_generation >= 1,
                   f"--tokens-per-generation {self.tokens_per_generation}: must be at least 1"),
                  (self.temperature > 0, f"--temperature {self.temperature}: must be above 0"),
                  (0 < self.top_p <= 1, f"--top-p {self.top_p}: must be in (0, 1]"),
                  (self.top_k is None or self.top_k >= 1, f"--top-k {self.top_k}: must be at least 1"),
                  (1 <= self.runs <= 100_000, f"--runs {self.runs}: must be 1 to 100,000"),
                  (self.seed >= 0, f"--seed {self.seed}: must be 0 or more"),
                  (self.tail_rank >= 1, f"tail rank {self.tail_rank}: must be at least 1")]
        for ok, message in checks:
            if not ok:
                raise AuditError(message)

    @property
    def interval(self) -> tuple[float, float]:
        return (self.alpha if self.alpha_low is None else self.alpha_low,
                self.alpha if self.alpha_high is None else self.alpha_high)

    @property
    def transformed(self) -> bool:
        return self.temperature != 1 or self.top_p < 1 or self.top_k is not None


@dataclass
class _Classes:
    """Generation-0 classes: types of equal count, split where a rank boundary cuts them."""

    count: np.ndarray
    types: np.ndarray
    rare: np.ndarray  # in the rarest decile of types
    tail: np.ndarray  # beyond the tail rank

    @classmethod
    def of(cls, spectrum: Spectrum, tail_rank: int) -> _Classes:
        order = np.argsort(-spectrum.counts, kind="stable")
        counts, types = spectrum.counts[order], spectrum.types[order]
        total = int(types.sum())
        cuts = {tail_rank, total - max(1, math.ceil(total / 10))}
        start = np.concatenate([[0], np.cumsum(types)[:-1]])
        rows = []
        for c, n, s in zip(counts.tolist(), types.tolist(), start.tolist()):
            edges = sorted({s, s + n, *(x for x in cuts if s < x < s + n)})
            rows += [(c, b - a, a) for a, b in zip(edges, edges[1:])]
        c, n, s = (np.array(x) for x in zip(*rows))
        return cls(c.astype(np.float64), n.astype(np.int64), s >= total - max(1, math.ceil(total / 10)), s >= tail_rank)


def _split_normal(rng: np.random.Generator, mode: float, low: float, high: float, size: int) -> np.ndarray:
    z = rng.standard_normal(size)
    return np.clip(mode + np.where(z > 0, (high - mode), (mode - low)) * z / 1.96, 0.0, 1.0)


def _poisson_rows(rng: np.random.Generator, mean: np.ndarray, types: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each row of `types` iid Poisson(`mean`) draws: (row, value, number of types) triples.

    Small rows draw each type; large rows with a small mean draw the histogram of their
    types' values directly, one multinomial over the values 0..K per row, whose last value
    takes the tail (K is 12 sd above the largest mean: a tail below 1e-30 per type)."""
    expand = (types <= _EXPAND) | (mean > _BULK_MEAN)
    rows = np.repeat(np.flatnonzero(expand), types[expand])
    expanded = rng.poisson(mean[rows]).astype(np.float64)
    bulk = np.flatnonzero(~expand)
    if not len(bulk):
        return rows, expanded, np.ones(len(rows), np.int64)
    lam = mean[bulk][:, None]
    top = float(lam.max())
    values = np.arange(math.ceil(top + 12 * math.sqrt(top) + 12), dtype=np.float64)
    log_factorial = np.r_[0.0, np.cumsum(np.log(values[1:]))]
    with np.errstate(divide="ignore", invalid="ignore"):  # a zero mean: log 0 = -inf, all its mass on the value 0
        pmf = np.exp(values * np.log(lam) - lam - log_factorial)
    pmf[:, 0] = np.exp(-lam[:, 0])
    pmf[:, -1] = np.maximum(1.0 - pmf[:, :-1].sum(axis=1), 0.0)
    histogram = rng.multinomial(types[bulk], pmf)
    row, value = np.nonzero(histogram)
    return (np.concatenate([rows, bulk[row]]), np.concatenate([expanded, values[value]]),
            np.concatenate([np.ones(len(rows), np.int64), histogram[row, value]]))


def _collapse(group: np.ndarray, count: np.ndarray, types: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge rows with the same (class, count), in (class, count) order.

    Counts are whole numbers (Poisson draws, plus earlier counts when accumulating), so the
    pair packs into one int64 key, and sorting it replaces a two-key lexsort (3-4x faster)."""
    if len(group) == 0:
        return group, count, types
    width = int(count.max()) + 1
    if int(group.max()) >= (1 << 62) // width:  # cannot pack: sort by both keys
        order = np.lexsort((count, group))
        group, count, types = group[order], count[order], types[order]
        starts = np.flatnonzero(np.r_[True, (group[1:] != group[:-1]) | (count[1:] != count[:-1])])
        return group[starts], count[starts], np.add.reduceat(types, starts)
    keys = group.astype(np.int64) * width + count.astype(np.int64)
    single = types == 1  # most rows: one type drawn alone, whose keys need only be counted (a sort, not an argsort)
    ordered = np.sort(keys[single], kind="stable")  # runs of ascending classes: timsort takes them 2x faster
    starts = np.flatnonzero(np.r_[ordered.size > 0, ordered[1:] != ordered[:-1]])
    distinct, summed = ordered[starts], np.diff(np.r_[starts, ordered.size])
    if not single.all():  # then merge in the rows of several types
        merged = np.concatenate([distinct, keys[~single]])
        order = np.argsort(merged, kind="stable")
        merged = merged[order]
        starts = np.flatnonzero(np.r_[True, merged[1:] != merged[:-1]])
        distinct, summed = merged[starts], np.add.reduceat(np.concatenate([summed, types[~single]])[order], starts)
    return distinct // width, (distinct % width).astype(np.float64), summed.astype(np.int64)


def _sampling_model(q: np.ndarray, types: np.ndarray, plan: Plan) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The transformed model per row, with rows split where top-k or top-p cuts through them.
    Returns (row index, probability per type, types) of the new rows."""
    rows = np.arange(len(q))
    if plan.temperature != 1:
        q = np.where(q > 0, q, 0) ** (1 / plan.temperature)
    if plan.top_k is not None or plan.top_p < 1:
        order = np.argsort(-q, kind="stable")
        rows, q, types = rows[order], q[order], types[order]
        q = q / np.dot(q, types)
        before_types = np.cumsum(types) - types
        before_mass = np.cumsum(q * types) - q * types
        keep = types.copy()
        if plan.top_k is not None:
            keep = np.minimum(keep, np.maximum(plan.top_k - before_types, 0))
        if plan.top_p < 1:
            with np.errstate(divide="ignore", invalid="ignore"):
                needed = np.where(q > 0, np.ceil(np.maximum(plan.top_p - before_mass, 0) / q), 0)
            keep = np.minimum(keep, needed.astype(np.int64))
        cut = types - keep
        split = cut > 0
        rows = np.r_[rows, rows[split]]
        q = np.r_[np.where(keep > 0, q, 0.0), np.zeros(int(split.sum()))]
        types = np.r_[keep, cut[split]]
        present = types > 0
        rows, q, types = rows[present], q[present], types[present]
    mass = np.dot(q, types)
    return rows, q / mass if mass > 0 else q, types


def _metrics(classes: _Classes, p0: np.ndarray, group: np.ndarray, count: np.ndarray, types: np.ndarray,
             totals: dict[str, float]) -> list[float]:
    alive = count > 0
    mass = np.dot(count, types)
    if mass == 0:  # every type died (a tiny corpus): the model is undefined
        return [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, math.nan, math.nan, 0.0]
    q = count / mass
    p = p0[group]
    n = types.astype(np.float64)
    chi2 = float(np.sum(n * (q - p) ** 2 / p))
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = float(-np.sum(np.where(alive, n * q * np.log(q), 0.0)))
        kl = float(np.sum(np.where(alive, n * q * np.log(q / p), 0.0)))
    share = lambda mask, of: float(n[alive & mask].sum() / of) if of else math.nan  # noqa: E731
    return [float(n[alive].sum()), share(classes.count[group] == 1, totals["hapaxes"]),
            share(classes.rare[group], totals["rare"]), float(np.sum(n[alive] * p[alive])),
            float(np.sum(n * q * classes.tail[group])), entropy, float(1 - np.sum(n * q**2)), chi2, kl,
            1 / (1 / totals["tokens"] + chi2 / max(totals["types"] - 1, 1))]


def simulate(spectrum: Spectrum, plan: Plan, runs: Sequence[int] | None = None) -> dict[str, np.ndarray]:
    """Every metric per run and generation (len(runs) x generations+1), for the given runs
    (all of them by default). Run r draws from its own stream, seeded by (seed, r), so any
    split of the runs over processes gives the same numbers."""
    runs = range(plan.runs) if runs is None else runs
    classes = _Classes.of(spectrum, plan.tail_rank)
    tokens = spectrum.tokens
    m = plan.tokens_per_generation or tokens
    p0 = classes.count / tokens
    totals = {"hapaxes": float(classes.types[classes.count == 1].sum()), "rare": float(classes.types[classes.rare].sum()),
              "tokens": tokens, "types": float(classes.types.sum())}
    out = {name: np.empty((len(runs), plan.generations + 1)) for name in METRICS}
    start = _metrics(classes, p0, np.arange(len(p0)), classes.count, classes.types, totals)
    for r, run in enumerate(runs):
        rng = np.random.default_rng([plan.seed, run])
        alpha = _split_normal(rng, plan.alpha, *plan.interval, 1)[0]
        group, count, types = np.arange(len(p0)), classes.count.copy(), classes.types.copy()
        for name, value in zip(METRICS, start):
            out[name][r, 0] = value
        for g in range(1, plan.generations + 1):
            mass = np.dot(count, types)
            rows, q, row_types = _sampling_model(count / mass if mass > 0 else count, types, plan)
            row_group = group[rows]
            synthetic = 1.0 if plan.regime != "mix" else alpha
            mean = synthetic * m * q + (1 - synthetic) * m * p0[row_group]
            drawn_rows, values, drawn_types = _poisson_rows(rng, mean, row_types)
            base = count[rows][drawn_rows] if plan.regime == "accumulate" and g > 1 else 0.0
            group, count, types = _collapse(row_group[drawn_rows], base + values, drawn_types)
            if plan.regime != "mix":  # dead types never come back: drop them
                live = count > 0
                group, count, types = group[live], count[live], types[live]
            for name, value in zip(METRICS, _metrics(classes, p0, group, count, types, totals)):
                out[name][r, g] = value
    return out


def _all_runs(spectrum: Spectrum, plan: Plan, map_: Callable[..., Iterable[Any]]) -> dict[str, np.ndarray]:
    """`simulate` over every run, in chunks handed to `map_` (an engine's workers, or the builtin map)."""
    chunks = [chunk.tolist() for chunk in np.array_split(np.arange(plan.runs), min(plan.runs, RUN_CHUNKS))]
    parts = list(map_(partial(simulate, spectrum, plan), chunks))
    return {name: np.vstack([part[name] for part in parts]) for name in METRICS}


def _band(values: np.ndarray) -> dict[str, float | None]:
    if np.isnan(values).all():
        return {"mean": None, "low": None, "high": None}
    return {"mean": float(np.nanmean(values)), "low": float(np.nanquantile(values, 0.025)),
            "high": float(np.nanquantile(values, 0.975))}


def closed_forms(spectrum: Spectrum, plan: Plan) -> dict[str, Any]:
    """The closed forms that apply to this plan (none under a sampling transform)."""
    if plan.transformed:
        return {"note": "no closed form under a sampling transform"}
    m, k = plan.tokens_per_generation or spectrum.tokens, spectrum.size
    p = spectrum.counts / spectrum.tokens
    forms: dict[str, Any] = {"chi2": theory.unigram_chi2(k, m, plan.generations, plan.regime, plan.alpha)}
    if plan.regime == "replace":
        forms["gini_simpson"] = theory.unigram_gini_simpson(float(1 - np.dot(spectrum.types, p**2)), m, plan.generations)
        first = m / spectrum.tokens
        forms["types_alive"] = [float(k)] + [float(np.dot(spectrum.types, [theory.replace_survival(c, g, first) for c in spectrum.counts]))
                                             for g in range(1, plan.generations + 1)]
    if plan.regime == "mix":
        absent = np.exp(-(1 - plan.alpha) * m * p * theory.mix_absence_sum(plan.alpha))  # mix_absence, S computed once
        forms["types_alive_long_run"] = float(np.dot(spectrum.types, 1 - absent))
    return forms


def _first_generation(alive: list[float], share: float) -> int | None:
    lost = [g for g, a in enumerate(alive) if a <= (1 - share) * alive[0]]
    return lost[0] if lost else None


def fresh_data(spectrum: Spectrum, plan: Plan, map_: Callable[..., Iterable[Any]] = map,
               runs: dict[str, np.ndarray] | None = None) -> dict[str, Any]:
    """What one generation trained on fresh human text of the same size does to each metric.

    Every generation of fresh data is a new draw from generation 0, so this one generation
    stands for all of them: the yardstick a projected figure is read against. `runs`: the
    plan's own runs, whose generation 1 is such a draw when the plan mixes without a sampling
    transform (its model is then generation 0's, whatever alpha), so they are not simulated twice."""
    if runs is None or plan.regime != "mix" or plan.transformed:
        runs = _all_runs(spectrum, replace(plan, alpha=0.0, alpha_low=None, alpha_high=None, regime="mix", generations=1),
                         map_)
    bands = {name: _band(runs[name][:, 1]) for name in METRICS}
    alive, start = bands["types_alive"]["mean"], float(runs["types_alive"][0, 0])
    lose = {k: (1 if alive <= (1 - share) * start else None) for k, share in (("10%", 0.10), ("50%", 0.50))}
    return {**bands, "generations_to_lose": lose}


def project(spectrum: Spectrum, plan: Plan, map_: Callable[..., Iterable[Any]] = map) -> dict[str, Any]:
    """The `collapse_projection` section of audit.json; `map_` runs chunks of the simulation
    (a scan passes its engine's, so the runs share the workers)."""
    runs = _all_runs(spectrum, plan, map_)
    generations = [{"generation": g, **{name: _band(runs[name][:, g]) for name in METRICS}}
                   for g in range(plan.generations + 1)]
    alive = [row["types_alive"]["mean"] for row in generations]
    classes = _Classes.of(spectrum, plan.tail_rank)
    m = plan.tokens_per_generation or spectrum.tokens
    rare_p = classes.count[classes.rare] / spectrum.tokens
    baseline = float(np.dot(classes.types[classes.rare], 1 - np.exp(-m * rare_p)) / classes.types[classes.rare].sum())
    excess = baseline - generations[-1]["rare_decile_survival"]["mean"]
    risk = next((grade for limit, grade in RISK_RULE if excess < limit), "critical")
    memory = {"replace": 1.0, "mix": plan.alpha**2 - plan.alpha / m, "accumulate": 0.0}[plan.regime]
    return {
        "risk": risk,
        "risk_rule": RISK_TEXT,
        "risk_inputs": {"rare_decile_survival_fresh_data": baseline,
                        "rare_decile_survival_projected": generations[-1]["rare_decile_survival"]["mean"],
                        "excess_rare_decile_loss": excess, "stability_margin": 1 - memory},
        "inputs": {**asdict(plan), "alpha_interval": list(plan.interval), "tokens_per_generation": m,
                   "spectrum": {"source": spectrum.source, "types": spectrum.size, "tokens": spectrum.tokens,
                                "hapaxes": int(spectrum.types[spectrum.counts == 1].sum())}},
        "generations": generations,
        "generations_to_lose": {"10%": _first_generation(alive, 0.10), "50%": _first_generation(alive, 0.50)},
        "fresh_data": fresh_data(spectrum, plan, map_, runs),
        "closed_form": closed_forms(spectrum, plan),
        "model": "unigram Wright-Fisher chain on the corpus's word spectrum, Poissonised counts; "
                 f"{plan.runs} runs, alpha drawn per run from its interval",
    }
