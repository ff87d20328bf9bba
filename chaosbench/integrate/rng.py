"""A small counter-based normal generator for compiled code.

numba's own generator is per thread, so draws inside ``prange`` depend on scheduling; seeding
each trajectory's splitmix64 stream (Steele, Lea & Flood 2014) with (seed, trajectory) makes noisy
trajectories reproducible whatever the number of threads.
"""

import math

import numba as nb
import numpy as np


@nb.njit(cache=True)
def splitmix64(state):
    """One step of splitmix64: returns (new state, 64 random bits)."""
    state = state + np.uint64(0x9E3779B97F4A7C15)
    z = state
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return state, z ^ (z >> np.uint64(31))


@nb.njit(cache=True)
def seed_state(seed, stream):
    state = np.uint64(seed) * np.uint64(0x2545F4914F6CDD1D) + np.uint64(stream)
    state, _ = splitmix64(state)
    return state


@nb.njit(cache=True)
def normals(state, out):
    """Fill ``out`` with standard normal draws (Box-Muller); returns the new state."""
    i = 0
    while i < out.size:
        state, a = splitmix64(state)
        state, b = splitmix64(state)
        u1 = ((a >> np.uint64(11)) + np.uint64(1)) * (1.0 / 9007199254740993.0)
        u2 = (b >> np.uint64(11)) * (1.0 / 9007199254740992.0)
        r = math.sqrt(-2.0 * math.log(u1))
        out[i] = r * math.cos(2.0 * math.pi * u2)
        if i + 1 < out.size:
            out[i + 1] = r * math.sin(2.0 * math.pi * u2)
        i += 2
    return state
