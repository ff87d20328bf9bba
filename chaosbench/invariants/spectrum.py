"""Timescales from the power spectrum: the dominant period and a sampling step that resolves the signal."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: the suggested step puts this many samples in one cycle of the frequency below which POWER_FRACTION lies
SAMPLES_PER_CYCLE = 10.0
POWER_FRACTION = 0.99


@dataclass
class Timescales:
    """Dominant period, suggested sampling step and the frequency that sets it."""

    dominant_period: float
    suggested_dt: float
    f_power: float


def power_spectrum(states: np.ndarray, dt: float, segment: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Welch's averaged periodogram (Hann window, half overlap) summed over standardised variables.

    Welch, P. D. (1967). The use of fast Fourier transform for the estimation of power spectra.
    IEEE Trans. Audio Electroacoust. 15(2), 70-73.
    """
    from scipy.signal import welch

    x = np.asarray(states, dtype=float)
    std = x.std(axis=0)
    x = (x - x.mean(axis=0)) / np.where(std > 0, std, 1.0)
    freqs, psd = welch(x, fs=1.0 / dt, nperseg=min(segment, len(x)), axis=0, detrend="constant")
    return freqs, psd.sum(axis=1)


def timescales(states: np.ndarray, dt: float, segment: int = 4096, min_cycles: float = 8.0) -> Timescales:
    """The period of the highest peak of the power spectrum, and ``suggested_dt``.

    The peak is searched above the frequency of ``min_cycles`` cycles per Welch segment (below,
    the spectrum of a chaotic signal is flat noise) and refined by a parabola through the three
    highest bins in log power. ``suggested_dt`` = 1 / (SAMPLES_PER_CYCLE f) where f is the frequency
    below which POWER_FRACTION of the power lies.
    """
    freqs, psd = power_spectrum(states, dt, segment)
    df = freqs[1] - freqs[0]
    usable = freqs >= min_cycles * df
    i = int(np.argmax(np.where(usable, psd, -np.inf)))
    f_peak = freqs[i]
    if 0 < i < len(psd) - 1 and np.all(psd[i - 1 : i + 2] > 0):
        a, b, c = np.log(psd[i - 1 : i + 2])
        denom = a - 2 * b + c
        # only a true local maximum is refined (then the vertex lies within half a bin); at the edge of
        # the usable band the bin below can be higher, and a near-straight line puts the vertex anywhere
        if denom < 0 and b >= a and b >= c:
            f_peak = freqs[i] + 0.5 * (a - c) / denom * df
    power = np.cumsum(psd[1:]) / psd[1:].sum()
    f_power = freqs[1:][int(np.searchsorted(power, POWER_FRACTION))]
    return Timescales(
        dominant_period=float(1.0 / f_peak),
        suggested_dt=float(1.0 / (SAMPLES_PER_CYCLE * f_power)),
        f_power=float(f_power),
    )
