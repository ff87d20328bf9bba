"""Dimensions and entropy: Kaplan-Yorke and Pesin from a spectrum, correlation dimension from points."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def kaplan_yorke_dimension(spectrum, dimension: int | None = None) -> float | None:
    """The Kaplan-Yorke (Lyapunov) dimension j + (l_1 + ... + l_j) / |l_{j+1}|.

    ``j`` is the largest index whose cumulative sum is non-negative. If the cumulative sum of all
    given exponents stays non-negative, the dimension is the number of exponents when they are the
    whole spectrum (``dimension`` given and equal), else undetermined (None): more exponents are
    needed. The result never exceeds ``dimension``.

    Kaplan, J. L., & Yorke, J. A. (1979). Chaotic behavior of multidimensional difference equations.
    In Functional Differential Equations and Approximation of Fixed Points, LNM 730, 204-227.
    """
    lam = np.sort(np.asarray(spectrum, dtype=float))[::-1]
    sums = np.cumsum(lam)
    if sums[0] < 0:
        return 0.0
    j = int(np.nonzero(sums >= 0)[0][-1])  # 0-based: exponents 0..j have a non-negative sum
    if j == len(lam) - 1:
        return float(len(lam)) if dimension is not None and len(lam) == dimension else None
    value = (j + 1) + sums[j] / abs(lam[j + 1])
    return float(min(value, dimension)) if dimension is not None else float(value)


def pesin_entropy(spectrum) -> float:
    """Sum of the positive exponents: an upper bound on the Kolmogorov-Sinai entropy.

    Pesin, Ya. B. (1977). Characteristic Lyapunov exponents and smooth ergodic theory.
    Russian Math. Surveys 32(4), 55-114.
    """
    lam = np.asarray(spectrum, dtype=float)
    return float(lam[lam > 0].sum())


@dataclass
class CorrelationDimension:
    """The slope of log C(r) against log r over the chosen scaling region, and that region."""

    value: float
    spread: float
    r_range: tuple[float, float]
    c_range: tuple[float, float]


def correlation_sum(
    points: np.ndarray, radii: np.ndarray, theiler: int = 0, distances: np.ndarray | None = None
) -> np.ndarray:
    """C(r): the fraction of pairs (i, j) with |i - j| > ``theiler`` closer than r (Euclidean).

    ``distances`` may pass the sorted pairwise distances of ``points`` if already computed.
    """
    from scipy.spatial.distance import pdist

    n = len(points)
    d = np.sort(pdist(points)) if distances is None else distances
    counts = np.searchsorted(d, radii, side="left").astype(float)
    n_pairs = n * (n - 1) / 2
    # pairs close in time are close because they are consecutive, not because the orbit returns
    for lag in range(1, theiler + 1):
        near = np.sqrt(((points[lag:] - points[:-lag]) ** 2).sum(axis=1))
        counts -= np.searchsorted(np.sort(near), radii, side="left")
        n_pairs -= n - lag
    return counts / n_pairs


def correlation_dimension(
    points: np.ndarray,
    *,
    theiler: int = 0,
    n_radii: int = 48,
    window_decades: float = 0.8,
    c_min_pairs: float = 200.0,
    min_dimension: float = 0.0,
) -> CorrelationDimension:
    """Correlation dimension by Grassberger & Procaccia (1983), with the scaling region chosen automatically.

    Coordinates are standardised first. C(r) is evaluated on a logarithmic grid of radii between
    the radius holding ``c_min_pairs`` pairs and the radius holding half the pairs. Among all windows
    ``window_decades`` wide (in r), the one whose local slopes d log C / d log r vary least is the
    scaling region; the dimension is the least-squares slope there and ``spread`` the standard
    deviation of the local slopes in it.

    ``min_dimension`` excludes windows whose slope is below it (all windows stay candidates if none
    reaches it). An attractor of a flow contains whole orbits, so its dimension is at least 1; a
    slope below 1 on sampled orbits is a gap, not a scaling region: on a thin band, pairs on the
    same pass are removed by the Theiler window and pairs on other passes only begin at the band's
    width, so C(r) stalls between the two scales.

    Grassberger, P., & Procaccia, I. (1983). Characterization of strange attractors. Phys. Rev.
    Lett. 50(5), 346-349. Theiler, J. (1986). Spurious dimension from correlation algorithms applied
    to limited time-series data. Phys. Rev. A 34(3), 2427-2432.
    """
    x = np.asarray(points, dtype=float)
    std = x.std(axis=0)
    x = (x - x.mean(axis=0)) / np.where(std > 0, std, 1.0)
    n = len(x)
    n_pairs = n * (n - 1) / 2
    from scipy.spatial.distance import pdist

    d = np.sort(pdist(x))
    positive = d[d > 0]
    r_lo = positive[min(int(c_min_pairs), len(positive) - 1)]
    r_hi = positive[len(positive) // 2]
    radii = np.geomspace(r_lo, r_hi, n_radii)
    C = correlation_sum(x, radii, theiler, distances=d)
    logr, logC = np.log10(radii), np.log10(np.maximum(C, 1.0 / n_pairs))
    slopes = np.gradient(logC, logr)
    step = logr[1] - logr[0]
    width = max(4, int(round(window_decades / step)))
    if width >= len(logr):
        width = len(logr) - 1
    windows = range(len(logr) - width)
    admissible = [i for i in windows if slopes[i : i + width + 1].mean() >= min_dimension] or list(windows)
    i = min(admissible, key=lambda k: slopes[k : k + width + 1].std())
    sl = slice(i, i + width + 1)
    value = float(np.polyfit(logr[sl], logC[sl], 1)[0])
    return CorrelationDimension(
        value=value,
        spread=float(slopes[sl].std()),
        r_range=(float(radii[i]), float(radii[i + width])),
        c_range=(float(C[i]), float(C[i + width])),
    )
