"""Leakage: is a test target a copy of data the model was trained on?

A referee's check, made mechanical. Two trajectories of a chaotic system drawn independently meet
only by chance: a training point near a target's point, followed forward, tracks the target for a
few Lyapunov times at most (a *chance analogue*, Lorenz 1969). A target that is a stretch of the
training trajectory (because both came from one orbit) is tracked for its whole length.

:func:`longest_tracking` measures, over every pair of starting points, the longest stretch over
which one trajectory stays within ``threshold`` (NRMSE, the valid-prediction-time criterion) of
another, so a copy is caught wherever in the target it begins. :func:`task_leakage` applies it to a
task's targets against its training and validation data, :func:`dataset_leakage` to every pair of a
dataset's trajectories; both report it in Lyapunov times.
"""
from __future__ import annotations

import numba as nb
import numpy as np

#: the default threshold: the valid-prediction-time criterion (NRMSE of standardised data)
THRESHOLD = 0.3
#: the method of analogues from a target's first point finds chance analogues that track for 0.2-5
#: Lyapunov times on the catalog's attractors; a copied target is tracked for its whole horizon
MAX_ANALOGUE_LYAP = 8.0
#: the all-pairs search finds longer chance encounters (up to ~70% of a 25-Lyapunov-time horizon on
#: weakly chaotic systems); a target tracked for this fraction of its horizon or more is a copy
COPY_FRACTION = 0.9


def leaks(report: dict) -> bool:
    """Whether a :func:`task_leakage` report shows a reproduced target (see the two limits above)."""
    return (report["max_analogue_lyap"] >= MAX_ANALOGUE_LYAP
            or report["max_tracking_lyap"] >= COPY_FRACTION * report["horizon_lyap"])


@nb.njit(cache=True, nogil=True)
def _longest_diagonal_run(reference, target, threshold):  # pragma: no cover - compiled
    """Longest run ``k`` with ``rms(reference[i + s] - target[j + s]) <= threshold`` for ``s < k``."""
    n_ref, n_tgt, n = reference.shape[0], target.shape[0], reference.shape[1]
    limit = threshold * threshold * n
    run = np.zeros(n_tgt + 1, dtype=np.int64)  # run[j + 1]: current run ending at (i, j)
    best = 0
    for i in range(n_ref):
        prev = 0  # run[j] of the previous row, read before it is overwritten
        for j in range(n_tgt):
            d2 = 0.0
            for c in range(n):
                e = reference[i, c] - target[j, c]
                d2 += e * e
                if d2 > limit:
                    break
            cur = prev + 1 if d2 <= limit else 0
            prev = run[j + 1]
            run[j + 1] = cur
            if cur > best:
                best = cur
    return best


def longest_tracking(reference, target, *, threshold: float = THRESHOLD) -> int:
    """The longest number of consecutive steps over which any stretch of ``reference`` stays within
    ``threshold`` of a stretch of ``target`` (root mean square over variables of the difference).

    Arrays ``(n_steps, n)`` in the same standardised units. Cost ``O(len(reference) len(target) n)``.
    """
    reference = np.ascontiguousarray(reference, dtype=float)
    target = np.ascontiguousarray(target, dtype=float)
    if reference.ndim != 2 or target.ndim != 2 or reference.shape[1] != target.shape[1]:
        raise ValueError(f"reference {reference.shape} and target {target.shape} must be (n_steps, n) alike")
    return int(_longest_diagonal_run(reference, target, float(threshold)))


def analogue_tracking(reference, target, *, threshold: float = THRESHOLD, k: int = 10) -> int:
    """The referee's check (Lorenz's method of analogues): from the ``k`` points of ``reference`` nearest
    to the target's first point, follow each one's continuation; the longest number of steps one stays
    within ``threshold`` of the target."""
    reference, target = np.asarray(reference, float), np.asarray(target, float)
    n_usable = len(reference) - 1
    d = np.sqrt(np.mean((reference[:n_usable] - target[0]) ** 2, axis=1))
    best = 0
    for i in np.argsort(d)[:k]:
        m = min(len(target), len(reference) - i)
        err = np.sqrt(np.mean((reference[i:i + m] - target[:m]) ** 2, axis=1))
        bad = err > threshold
        best = max(best, int(np.argmax(bad)) if bad.any() else m)
    return best


def task_leakage(task, *, threshold: float = THRESHOLD) -> dict:
    """For every test target of ``task``, how long the training and validation data track it (scored
    variables only), in steps and Lyapunov times: from the target's first point by the method of
    analogues (``analogue_*``), and over every pair of starting points (``tracking_*``, the stricter
    search: it finds the longest chance encounter anywhere in the target)."""
    n = task.n_scored
    seen = np.concatenate([task.train[:, :n], task.validation[:, :n]])
    steps = np.array([longest_tracking(seen, t[:, :n], threshold=threshold) for t in task.targets])
    analogue = np.array([analogue_tracking(seen, t[:, :n], threshold=threshold) for t in task.targets])
    lyap, analogue_lyap = steps / task.steps_per_lyapunov, analogue / task.steps_per_lyapunov
    return {"system": task.system, "seed": task.seed, "tracking_steps": steps.tolist(),
            "tracking_lyap": lyap.tolist(), "max_tracking_lyap": float(lyap.max()),
            "analogue_lyap": analogue_lyap.tolist(), "max_analogue_lyap": float(analogue_lyap.max()),
            "horizon_lyap": task.horizon / task.steps_per_lyapunov, "threshold": threshold}


def dataset_leakage(states, *, steps_per_lyapunov: float, threshold: float = THRESHOLD) -> dict:
    """For every pair of trajectories ``states (m, n_steps, n)`` (standardised), the longest stretch over
    which one tracks the other, in Lyapunov times; ``max_tracking_lyap`` is the worst pair."""
    states = np.asarray(states, float)
    m = len(states)
    worst = np.zeros((m, m))
    for a in range(m):
        for b in range(a + 1, m):
            worst[a, b] = worst[b, a] = longest_tracking(states[a], states[b], threshold=threshold)
    lyap = worst / steps_per_lyapunov
    return {"pairs_lyap": lyap.tolist(), "max_tracking_lyap": float(lyap.max()) if m > 1 else 0.0,
            "threshold": threshold}


def decorrelation_distance(system, *, n_pairs: int = 8, seed: int = 0) -> float:
    """How independent the generator's starting points are for ``system``: the median distance (RMS over
    variables, in units of the attractor's std) between ``n_pairs + 1`` trajectories started from *one*
    pool state with independent perturbations, after the decorrelation transient.

    About 1 (two random points of the attractor): the starts share nothing. Far below 1: perturbations
    do not grow, so trajectories from one orbit stay on it: the system does not mix at these settings
    and no protocol can make its windows independent.
    """
    from .compiler import compile_system, observe_function
    from .generate import decorrelate, decorrelation_time, make_options, reference

    cs = compile_system(system)
    opts = make_options(length=2, n_trajectories=n_pairs + 1, seed=seed)
    ref = reference(cs, opts, observe_function(system))
    rng = np.random.default_rng([seed, 0xDEC0])
    scale = np.where(ref.pool.std(0) > 0, ref.pool.std(0), 1.0)
    state = ref.pool[rng.integers(len(ref.pool))]
    starts = state + opts.perturbation * scale * rng.standard_normal((n_pairs + 1, len(state)))
    ends, _ = decorrelate(cs, starts, np.full(n_pairs + 1, ref.times[0]), decorrelation_time(system, opts), opts)
    d = np.sqrt(np.mean(((ends[:, None] - ends[None]) / scale) ** 2, axis=-1))
    return float(np.median(d[np.triu_indices(len(ends), 1)]))
