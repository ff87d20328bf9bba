"""Tests 1-4 of :mod:`chaosbench.validate`, on the recorded orbit: bounded, not at a fixed point, not
periodic (a Poincaré section), broadband (Welch, 1967, IEEE Trans. Audio Electroacoust. 15, 70)."""

from __future__ import annotations

import math

import numpy as np

from ..invariants.spectrum import power_spectrum
from .recording import Recording
from .thresholds import (
    BROADBAND_HALF_WIDTH,
    MAX_EXCURSION,
    MIN_BROADBAND,
    MIN_CROSSINGS,
    MIN_MOTION,
    MIN_SECTION_SPREAD,
    PTS_PER_PERIOD,
    RECORD_PERIODS,
    SPECTRUM_SEGMENT,
    Check,
)


def bounded(rec: Recording | None, why: str, ref_mean: np.ndarray | float, ref_std: np.ndarray) -> Check:
    """Test 1: the integration finished and the recording stays within ``MAX_EXCURSION`` reference stds."""
    if rec is None:
        return Check("bounded", math.inf, False, why)
    excursion = float(np.max(np.abs(rec.seen - ref_mean) / ref_std))
    ok = excursion <= MAX_EXCURSION
    return Check("bounded", excursion, ok, "" if ok else "the orbit leaves the reference attractor's region")


def fixed_point(rec: Recording, ref_std: np.ndarray) -> Check:
    """Test 2: the recording's second half still moves (largest std over ``MIN_MOTION`` reference stds)."""
    half = rec.seen[len(rec.seen) // 2 :]
    motion = float(np.max(half.std(axis=0) / ref_std))
    ok = motion > MIN_MOTION
    return Check("fixed_point", motion, ok, "" if ok else "the orbit settles on a fixed point")


def _standardised(x: np.ndarray) -> np.ndarray:
    std = x.std(axis=0)
    keep = std > 0
    return (x[:, keep] - x[:, keep].mean(axis=0)) / std[keep]


def section_points(z: np.ndarray) -> np.ndarray:
    """Upward crossings through zero of the principal component of ``z`` (N x m, standardised) that crosses
    most often (the first one can be a slow drift, such as a field's reversals).

    Each crossing is located by Newton's method on the cubic through the four samples around it
    (error ~ (sampling step x frequency)^4), and all coordinates are interpolated with the same cubic.
    """
    if z.shape[1] == 0:
        return np.empty((0, 0))
    _, _, vt = np.linalg.svd(z[:: max(1, len(z) // 4096)], full_matrices=False)
    best = None
    for v in vt:
        s = z @ v
        j = np.nonzero((s[1:-2] < 0) & (s[2:-1] >= 0))[0] + 1  # between j and j + 1, with j - 1 and j + 2
        if best is None or len(j) > len(best[1]):
            best = (s, j)
    if best is None:  # z has no rows (so vt has none): no crossings, as below
        return np.empty((0, z.shape[1]))
    s, j = best
    if len(j) == 0:
        return np.empty((0, z.shape[1]))
    nodes = np.array([-1.0, 0.0, 1.0, 2.0])
    samples = np.stack([s[j - 1], s[j], s[j + 1], s[j + 2]], axis=1)
    u = -s[j] / (s[j + 1] - s[j])

    def basis(u):
        L = np.ones((len(u), 4))
        dL = np.zeros((len(u), 4))
        for k in range(4):
            others = [m for m in range(4) if m != k]
            denom = np.prod([nodes[k] - nodes[m] for m in others])
            terms = [u - nodes[m] for m in others]
            L[:, k] = terms[0] * terms[1] * terms[2] / denom
            dL[:, k] = (terms[1] * terms[2] + terms[0] * terms[2] + terms[0] * terms[1]) / denom
        return L, dL

    for _ in range(6):
        L, dL = basis(u)
        ds = np.sum(samples * dL, axis=1)
        u = np.clip(u - np.sum(samples * L, axis=1) / np.where(ds != 0, ds, 1.0), 0.0, 1.0)
    L, _ = basis(u)
    return np.einsum("ck,ckm->cm", L, np.stack([z[j - 1], z[j], z[j + 1], z[j + 2]], axis=1))


def _embedded(seen: np.ndarray) -> np.ndarray:
    """At least three coordinates: a scalar (a delay equation's) is completed by delayed copies."""
    if seen.shape[1] >= 3:
        return seen
    lag = PTS_PER_PERIOD // 4
    copies = 3 - seen.shape[1] + (seen.shape[1] == 0)
    parts = [seen[lag * copies :]] + [seen[lag * (copies - c) : len(seen) - lag * c] for c in range(1, copies + 1)]
    return np.concatenate(parts, axis=1)


def periodic(rec: Recording) -> Check:
    """Test 3: the points of a Poincaré section (:func:`section_points`) do not repeat: the median distance
    to the nearest other one exceeds ``MIN_SECTION_SPREAD`` stds, over at least ``MIN_CROSSINGS`` crossings."""
    from scipy.spatial import cKDTree

    z = _standardised(_embedded(rec.seen))
    points = section_points(z)
    if len(points) < MIN_CROSSINGS:
        return Check(
            "periodic",
            None,
            False,
            f"only {len(points)} section crossings in {RECORD_PERIODS:g} periods (no sustained oscillation)",
        )
    dist, _ = cKDTree(points).query(points, k=2)
    spread = float(np.median(dist[:, 1]))
    ok = spread > MIN_SECTION_SPREAD
    return Check("periodic", spread, ok, "" if ok else f"{len(points)} section points repeat: a periodic orbit")


def broadband_fraction(x: np.ndarray, dt: float) -> float:
    """Fraction of the power of ``x`` (N x m) below its 99% frequency that lies in the spectrum's continuum:
    what survives a running minimum over ``2 BROADBAND_HALF_WIDTH + 1`` bins of the Welch spectrum."""
    from scipy.ndimage import minimum_filter1d

    freqs, psd = power_spectrum(x, dt, segment=SPECTRUM_SEGMENT)
    psd = psd[1:]
    total = psd.sum()
    if not total > 0:
        return 0.0
    top = int(np.searchsorted(np.cumsum(psd) / total, 0.99)) + 1
    floor = minimum_filter1d(psd, 2 * BROADBAND_HALF_WIDTH + 1, mode="nearest")
    return float(floor[:top].sum() / psd[:top].sum())


def broadband(rec: Recording) -> Check:
    """Test 4: the power spectrum has a continuous part (:func:`broadband_fraction` over ``MIN_BROADBAND``)."""
    fraction = broadband_fraction(rec.seen, rec.dt)
    ok = fraction > MIN_BROADBAND
    return Check("broadband", fraction, ok, "" if ok else "the power spectrum is a set of lines")
