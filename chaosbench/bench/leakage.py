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

Some attractors track themselves for long without any copying: a phase-coherent band (Sprott's
weakly chaotic flows, Coullet) or long regular stretches (CellularNeuralNetwork) let *any* long
trajectory follow a target for many Lyapunov times. Absolute limits cannot tell that from a copy,
so a flagged task is tested against *controls*: ``M`` trajectories of the training data's length and
step from independent starts of the same generator (:func:`control_data`). Their longest trackings
are the envelope of what independent data reach by chance; a copy, tracked for its whole horizon,
stands far above it, while a chance encounter lies in or at the edge of it (:func:`leaks`: above the
controls' maximum by ``CONTROL_MARGIN``). The rank of the training data among the controls
(:func:`p_value`, as in a permutation test, Good 2005, *Permutation, Parametric and Bootstrap Tests of
Hypotheses*, ch. 3) is reported too, but it is not a verdict: only tasks already past the absolute
limits are tested, a selection on the same statistic that biases it low.
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
#: controls for the method of analogues (cheap) and for the all-pairs search (costly)
N_CONTROLS = {"analogue": 99, "tracking": 19}
#: a copy tracks longer than this many times the longest tracking of any control (a copy of a
#: 25-Lyapunov-time target: 25 against a chance envelope of ~5-17 on the catalog's attractors)
CONTROL_MARGIN = 1.25


def past_limits(report: dict) -> list[str]:
    """The measures of a :func:`task_leakage` report past their absolute limits: ``"analogue"`` (an
    analogue tracking ``MAX_ANALOGUE_LYAP`` or more) and ``"tracking"`` (a stretch of ``COPY_FRACTION``
    of the horizon or more)."""
    out = []
    if report["max_analogue_lyap"] >= MAX_ANALOGUE_LYAP:
        out.append("analogue")
    if report["max_tracking_lyap"] >= COPY_FRACTION * report["horizon_lyap"]:
        out.append("tracking")
    return out


def p_value(report: dict, measure: str) -> float | None:
    """Rank of the training data's longest tracking among the controls' as a permutation p-value (None
    without controls): ``(1 + #controls tracking as long or longer) / (M + 1)``. Descriptive only for
    tasks selected by :func:`past_limits` (see the module docstring)."""
    controls = report.get(f"control_max_{measure}_lyap")
    if not controls:
        return None
    train = report[f"max_{measure}_lyap"]
    return (1 + sum(c >= train for c in controls)) / (len(controls) + 1)


def control_ratio(report: dict, measure: str) -> float | None:
    """The training data's longest tracking over the controls' longest (None without controls)."""
    controls = report.get(f"control_max_{measure}_lyap")
    if not controls:
        return None
    top = max(controls)
    return float("inf") if top <= 0 else report[f"max_{measure}_lyap"] / top


def leaks(report: dict) -> bool:
    """Whether a :func:`task_leakage` report shows training data that reproduce a test target: a measure
    past its absolute limit and, when controls were measured, above the longest control tracking by
    more than ``CONTROL_MARGIN``."""
    for measure in past_limits(report):
        ratio = control_ratio(report, measure)
        if ratio is None or ratio > CONTROL_MARGIN:
            return True
    return False


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
        err = np.sqrt(np.mean((reference[i : i + m] - target[:m]) ** 2, axis=1))
        bad = err > threshold
        best = max(best, int(np.argmax(bad)) if bad.any() else m)
    return best


def _tracking(seen: np.ndarray, task, threshold: float, *, pairs: bool = True) -> tuple[np.ndarray, np.ndarray]:
    n = task.n_scored
    steps = np.array([longest_tracking(seen, t[:, :n], threshold=threshold) if pairs else 0 for t in task.targets])
    analogue = np.array([analogue_tracking(seen, t[:, :n], threshold=threshold) for t in task.targets])
    return steps, analogue


def task_leakage(
    task, *, controls: list[np.ndarray] | None = None, pair_controls: int | None = None, threshold: float = THRESHOLD
) -> dict:
    """For every test target of ``task``, how long the training and validation data track it (scored
    variables only), in steps and Lyapunov times: from the target's first point by the method of
    analogues (``analogue_*``), and over every pair of starting points (``tracking_*``, the stricter
    search: it finds the longest chance encounter anywhere in the target).

    ``controls``: independent trajectories in the task's units (:func:`control_data`); for each, the
    longest tracking of any target by the method of analogues (``control_max_analogue_lyap``) and, for
    the first ``pair_controls`` of them (default: all), by the all-pairs search (``control_max_tracking_lyap``).
    """
    n = task.n_scored
    seen = np.concatenate([task.train[:, :n], task.validation[:, :n]])
    steps, analogue = _tracking(seen, task, threshold)
    lyap, analogue_lyap = steps / task.steps_per_lyapunov, analogue / task.steps_per_lyapunov
    out = {
        "system": task.system,
        "seed": task.seed,
        "tracking_steps": steps.tolist(),
        "tracking_lyap": lyap.tolist(),
        "max_tracking_lyap": float(lyap.max()),
        "analogue_lyap": analogue_lyap.tolist(),
        "max_analogue_lyap": float(analogue_lyap.max()),
        "horizon_lyap": task.horizon / task.steps_per_lyapunov,
        "threshold": threshold,
    }
    if controls is not None:
        n_pairs = len(controls) if pair_controls is None else pair_controls
        a, t = [], []
        for i, c in enumerate(controls):
            c_steps, c_analogue = _tracking(np.asarray(c, float)[:, :n], task, threshold, pairs=i < n_pairs)
            a.append(float(c_analogue.max() / task.steps_per_lyapunov))
            if i < n_pairs:
                t.append(float(c_steps.max() / task.steps_per_lyapunov))
        out.update(control_max_analogue_lyap=a, control_max_tracking_lyap=t)
    return out


def control_data(task, system, n_controls: int, *, seed: int = 1_000_003) -> np.ndarray:
    """``n_controls`` trajectories of ``system`` as long as ``task``'s training and validation data, at its
    step, from independent starts of the task's generator (another seed), in the task's standardised
    units (its scored variables): array ``(n_controls, n_steps, n_scored)``.

    They share nothing with the task but the attractor: the null against which :func:`leaks` judges
    the training data's tracking."""
    from ..trajectories import make_options, plan, record

    n_steps = len(task.train) + len(task.validation)
    relative = task.tolerances.get("perturbation") == "relative"
    opts = make_options(
        length=n_steps, dt=task.dt, n_trajectories=n_controls, seed=seed + task.seed, relative_perturbation=relative
    )
    p = plan(system, opts)
    states = record(p, 0, n_controls, n_steps, opts)
    keep = (
        [i for i in range(len(system.variables)) if i not in set(system.clock_variables)]
        if states.shape[-1] != task.n_scored
        else list(range(task.n_scored))
    )
    n = task.n_scored
    return (states[..., keep][..., :n] - task.mean[:n]) / task.std[:n]


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
    return {
        "pairs_lyap": lyap.tolist(),
        "max_tracking_lyap": float(lyap.max()) if m > 1 else 0.0,
        "threshold": threshold,
    }


def decorrelation_distance(system, *, n_pairs: int = 8, seed: int = 0) -> float:
    """How independent the generator's starting points are for ``system``: the median distance (RMS over
    variables, in units of the attractor's std) between ``n_pairs + 1`` trajectories started from *one*
    pool state with independent perturbations, after the decorrelation transient.

    About 1 (two random points of the attractor): the starts share nothing. Far below 1: perturbations
    do not grow, so trajectories from one orbit stay on it: the system does not mix at these settings
    and no protocol can make its windows independent.
    """
    from ..compiler import compile_system, observe_function
    from ..trajectories import decorrelate, decorrelation_time, make_options, reference

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
