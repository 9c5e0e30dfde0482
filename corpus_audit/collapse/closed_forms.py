"""Closed forms of model collapse from the literature, and the small simulations that check them.

Each function names its source (the README's "The collapse projection" lists them). The
unigram forms are used beside the corpus simulation
in `corpus_audit.collapse.projection`; the Gaussian and linear-regression ones are the textbook
cases the tests check the simulations against.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import digamma, gammaln


def c4(m: int) -> float:
    """E[s] / sigma for the unbiased sample standard deviation of m normal draws."""
    return math.sqrt(2 / (m - 1)) * math.exp(gammaln(m / 2) - gammaln((m - 1) / 2))


def gaussian_mean_sigma(m: int, generations: int) -> float:
    """E[sigma_n] / sigma when a Gaussian is refitted on m of its own samples each generation
    with the unbiased variance (Shumailov et al., Nature 2024)."""
    return c4(m) ** generations


def gaussian_median_variance(m: int, generations: int) -> float:
    """The median of sigma_n^2 / sigma^2 in the same chain: exp(n [psi((m-1)/2) + ln(2/(m-1))])."""
    return math.exp(generations * (digamma((m - 1) / 2) + math.log(2 / (m - 1))))


def simulate_gaussian(m: int, generations: int, runs: int, seed: int = 0) -> np.ndarray:
    """sigma_g / sigma of `runs` chains (runs x generations+1), vectorised over the runs."""
    rng = np.random.default_rng(seed)
    mu, sigma = np.zeros(runs), np.ones(runs)
    out = np.ones((runs, generations + 1))
    for g in range(1, generations + 1):
        sample = mu[:, None] + sigma[:, None] * rng.standard_normal((runs, m))
        mu, sigma = sample.mean(axis=1), sample.std(axis=1, ddof=1)
        out[:, g] = sigma
    return out


def regression_test_error(d: int, t: int, sigma: float, generations: int, regime: str) -> float:
    """Excess test error of OLS refitted on its own labels (Dohmatob et al. 2024; Gerstgrasser
    et al. 2024): replace n s^2 d / (T - d - 1); accumulate s^2 d / (T - d - 1) sum 1/i^2."""
    unit = sigma**2 * d / (t - d - 1)
    if regime == "replace":
        return generations * unit
    if regime == "accumulate":
        return unit * sum(1 / i**2 for i in range(1, generations + 1))
    raise ValueError(f"regime {regime!r}: expected replace or accumulate")


def simulate_regression(d: int, t: int, sigma: float, generations: int, regime: str, runs: int, seed: int = 0) -> np.ndarray:
    """Mean excess test error ||w_n - w*||^2 (isotropic Gaussian features) over `runs` chains.

    Generation i draws T fresh inputs labelled by the previous model plus noise; replace
    fits on that data alone, accumulate on all data so far."""
    rng = np.random.default_rng(seed)
    errors = np.empty(runs)
    for r in range(runs):
        truth = rng.standard_normal(d)
        w = truth
        xs, ys = np.zeros((0, d)), np.zeros(0)
        for _ in range(generations):
            x = rng.standard_normal((t, d))
            y = x @ w + sigma * rng.standard_normal(t)
            xs, ys = (np.vstack([xs, x]), np.r_[ys, y]) if regime == "accumulate" else (x, y)
            w = np.linalg.lstsq(xs, ys, rcond=None)[0]
        errors[r] = np.sum((w - truth) ** 2)
    return errors


def unigram_chi2(types: int, m: float, generations: int, regime: str, alpha: float = 1.0) -> list[float]:
    """E[chi2(p_g, p_0)] for g = 0..generations of the unigram chain with m tokens per
    generation (Seddik et al. 2024 for replace; the mix recursion
    v_{g+1} = (K-1)/M + (alpha^2 - alpha/M) v_g; accumulate sum_t (K-1)/(M t^2))."""
    unit = (types - 1) / m
    values = [0.0]
    for g in range(1, generations + 1):
        if regime == "replace":
            values.append((types - 1) * (1 - (1 - 1 / m) ** g))
        elif regime == "mix":
            values.append(unit + (alpha**2 - alpha / m) * values[-1])
        else:
            values.append(values[-1] + unit / g**2)
    return values


def unigram_gini_simpson(gini_simpson_0: float, m: float, generations: int) -> list[float]:
    """E[1 - sum p_g^2] under replace: (1 - 1/M)^g (1 - sum p_0^2) (Seddik et al. 2024)."""
    return [(1 - 1 / m) ** g * gini_simpson_0 for g in range(generations + 1)]


def lineage_extinction(generations: int, first_mean: float = 1.0) -> float:
    """Probability that one copy's lineage is extinct after `generations` of a Galton-Watson
    process with Poisson offspring, mean `first_mean` in the first generation and 1 after
    (critical): q_0 = 0, q_{j+1} = exp(q_j - 1), then exp(first_mean (q - 1))."""
    q = 0.0
    for _ in range(generations - 1):
        q = math.exp(q - 1)
    return math.exp(first_mean * (q - 1)) if generations else 0.0


def replace_survival(copies: float, generations: int, first_mean: float = 1.0) -> float:
    """Probability that a type with `copies` copies survives `generations` of replace: 1 - q_g^k."""
    return 1 - lineage_extinction(generations, first_mean) ** copies


def mix_absence_sum(alpha: float, terms: int = 10_000) -> float:
    """S(alpha) = sum_j (1 - f^(j)(0)), f(s) = exp(alpha (s - 1)): how much a type's fresh real
    copies count in the long run of the mix chain."""
    total, s = 0.0, 0.0
    for _ in range(terms):
        total += 1 - s
        s = math.exp(alpha * (s - 1))
        if 1 - s < 1e-15:
            break
    return total


def mix_absence(p: float, alpha: float, m: float) -> float:
    """Long-run probability that a type of generation-0 probability p is absent under mix:
    exp(-(1 - alpha) M p S(alpha))."""
    return math.exp(-(1 - alpha) * m * p * mix_absence_sum(alpha))
