"""Invariants computed by the package: Lyapunov spectra, dimensions, timescales and statistics."""

from .lyapunov import LyapunovResult, lyapunov_spectrum

__all__ = ["LyapunovResult", "lyapunov_spectrum"]
