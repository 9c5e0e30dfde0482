"""Mergeable partials: histograms agree with numpy, merge is associative, state round-trips."""

from __future__ import annotations

import numpy as np
import pytest

from detectors import Bundle, Histogram, Tally


@pytest.mark.parametrize("log", [False, True])
def test_histogram_quantiles_match_numpy_within_a_bin(log):
    rng = np.random.default_rng(1)
    values = rng.uniform(1, 100, 20_000) if log else rng.uniform(0, 1, 20_000)
    hist = Histogram(1.0, 100.0, 1000, log) if log else Histogram(0.0, 1.0, 1000)
    hist.add(values)
    for q in (0.05, 0.5, 0.95):
        exact = np.quantile(values, q)
        width = exact * (np.log(100) / 1000) if log else 1 / 1000
        assert abs(hist.quantile(q) - exact) <= 2 * width
    assert hist.count == 20_000
    assert hist.minimum == values.min() and hist.maximum == values.max()
    assert hist.total / hist.count == pytest.approx(values.mean())


def test_histogram_merge_equals_one_pass_and_state_round_trips():
    values = np.linspace(0, 1, 1001)
    whole = Histogram(0.0, 1.0, 50).add(values)
    parts = Histogram(0.0, 1.0, 50).add(values[:300]).merge(Histogram(0.0, 1.0, 50).add(values[300:]))
    assert np.array_equal(whole.counts, parts.counts) and whole.count == parts.count
    restored = Histogram.from_state(parts.to_state())
    assert np.array_equal(restored.counts, parts.counts)
    assert (restored.minimum, restored.maximum, restored.total) == (parts.minimum, parts.maximum, parts.total)
    with pytest.raises(ValueError):
        whole.merge(Histogram(0.0, 2.0, 50))


def test_empty_histogram_and_bundle_of_tallies():
    assert Histogram(0.0, 1.0).summary() == {"count": 0}
    a = Bundle({"h": Histogram(0.0, 1.0).add(np.array([0.5])), "t": Tally().add("x", 2)})
    b = Bundle({"h": Histogram(0.0, 1.0).add(np.array([0.25, np.nan])), "t": Tally().add("x", 1).add("y", 4)})
    merged = Bundle.from_state(a.merge(b).to_state())
    assert merged.parts["h"].count == 2
    assert merged.parts["t"].counts == {"x": 3, "y": 4}


def test_point_mass_at_the_lower_bound_has_exact_quantiles():
    hist = Histogram(0.0, 1.0, 100).add(np.r_[np.zeros(80), np.full(20, 0.5)])
    assert hist.quantile(0.5) == 0.0 and hist.quantile(0.8) == 0.0
    assert 0.49 <= hist.quantile(0.9) <= 0.5
    assert Histogram.from_state(hist.to_state()).quantile(0.5) == 0.0
