"""Forecasts that copy a stretch of the past: context parroting and Lorenz's method of analogues.

Neither learns a number. Both delay-embed the last ``embedding`` states of the context, find the
nearest (Euclidean) embedded state in a library of past trajectories and copy what followed it.
They differ only in the library: ``parrot`` searches the context itself (zero-shot, the training
data are ignored), ``analogue`` searches the training trajectories (never the validation part).

They are the referee's two questions: does a model do better than copying what it has just been
shown, and better than copying what it was trained on? A copy is a real stretch of trajectory, so
both keep to the attractor in a long free run; both runs are eventually periodic (a finite library
copied deterministically), which the long-term statistics see.

All variables of a state are matched together (the tasks observe the whole state; the paper's
univariate foundation-model setting matched one channel at a time).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..errors import ChaosbenchError
from .base import Model
from .baselines import require_int


def delay_vectors(x: np.ndarray, embedding: int) -> np.ndarray:
    """Delay vectors of ``x`` ``(n_steps, n)``: row ``i`` is ``x[i : i + embedding]`` flattened (time-major,
    like ``x[-embedding:].reshape(-1)``), so it ends at step ``i + embedding - 1``; array
    ``(n_steps - embedding + 1, embedding * n)``."""
    windows = sliding_window_view(x, embedding, axis=0)  # (rows, n, embedding)
    return windows.transpose(0, 2, 1).reshape(len(windows), -1)


class ContextParroting(Model):
    """Context parroting (Zhang & Gilpin 2025, "Context parroting: a simple but tough-to-beat baseline
    for foundation models in scientific machine learning", arXiv:2505.11349, ICLR 2026).

    The final ``embedding`` states of the context form a motif; the earlier motif of the context
    nearest to it (Euclidean distance over all variables and delays) is found, and the forecast
    copies the states that followed that match, up to the end of the context. When the copy reaches
    the end of the context it starts again from the first copied state: the stretch from the match to
    the end is treated as one period of a repeated motif, as in the authors' code
    (github.com/y-z-zhang/parroting, ``models/parrot.py``), which tiles it. That code leaves the
    context's last state out of the tiled stretch; here it is kept, so a periodic orbit of an integer
    period in steps is continued exactly.

    Parameters
    ----------
    embedding : int
        Motif length D in steps (30, the authors' default; the paper's Appendix C studies the choice).
        Median valid prediction times for D = 10, 30, 50 (context 500, 10 windows): Lorenz 0.41, 0.35,
        0.35 Lyapunov times; Mackey-Glass 0.03, 0.20, 0.14. As in the authors' code, a
        candidate motif may not overlap the final one, so it ends at least D steps before the end of
        the context (otherwise the motif shifted by one step, a near copy of itself on a finely sampled
        flow, wins and the forecast degenerates to persistence). A context shorter than 2D uses
        ``D = n_context // 2``, and one of a single step is repeated (persistence).
    seed : int
        Unused (the forecast is deterministic); kept for the common interface.

    The training data are not used: the model has no parameters (``n_parameters == 0``).
    """

    _name = "parrot"

    def __init__(self, *, embedding: int = 30, seed: int = 0):
        super().__init__(seed=seed)
        self.embedding = embedding

    def check(self) -> None:
        require_int(self, "embedding", 1)

    def _fit(self, trajectories, validation):
        self.check()

    def _forecast(self, context, horizon):
        n_context = len(context)
        d = min(self.embedding, n_context // 2)
        if d < 1:
            return np.repeat(context[-1:], horizon, axis=0)
        vectors = delay_vectors(context, d)
        # candidates end at step i + d - 1 <= n_context - 1 - d: they do not overlap the final motif
        candidates = vectors[: n_context - 2 * d + 1]
        best = int(np.argmin(np.sum((candidates - vectors[-1]) ** 2, axis=1)))
        start = best + d  # the first state after the match
        period = n_context - start
        return context[start + np.arange(horizon) % period]


class Analogues(Model):
    """Lorenz's method of analogues (E. N. Lorenz 1969, "Atmospheric predictability as revealed by
    naturally occurring analogues", J. Atmos. Sci. 26, 636-646), with delay-embedded states.

    The training states are delay-embedded (the last ``embedding`` states, all variables) and stored
    in a k-d tree at fit. The forecast finds the stored state nearest to the end of the context and
    copies what followed it in its training trajectory. When that trajectory ends, the search is made
    again from the last ``embedding`` forecast states, now excluding the last ``theiler`` states of the
    trajectory just copied (a Theiler window: otherwise its own final steps, the nearest states to
    its end, would be chosen and the copy would shrink to a loop of a few steps). The copy is never
    re-searched mid-stretch: once ``embedding`` states have been copied the query *is* a stored state,
    whose nearest neighbour is itself, so a re-search would only find the same stretch.

    Parameters
    ----------
    embedding : int
        States per delay vector (1: the state itself, as Lorenz used whole weather maps; more helps when
        the observed variables do not determine the state, as for a delay equation). The default 30 is
        the parrot's: on the Lorenz task (10,000 training points, 10 windows) the median valid
        prediction time is the same, 2.2 Lyapunov times, for 1, 3, 10 and 30; on Mackey-Glass it is
        0.0, 1.4, 1.4 and 1.8. The context must have at least this many steps.
    theiler : int
        After a trajectory is copied to its end, the next stretch taken from the same trajectory has at
        least this many steps: a lower bound on the period of the (eventually periodic) free run. The
        default 100 is one dominant period at the tasks' default resolution.
    seed : int
        Unused (the forecast is deterministic); kept for the common interface.

    Only training trajectories are searched; a validation part is ignored. The model learns nothing
    (``n_parameters == 0``) but stores the training data: ``n_stored_`` embedded states.
    """

    _name = "analogue"

    def __init__(self, *, embedding: int = 30, theiler: int = 100, seed: int = 0):
        super().__init__(seed=seed)
        self.embedding = embedding
        self.theiler = theiler

    def check(self) -> None:
        require_int(self, "embedding", 1)
        require_int(self, "theiler", 0)

    def _fit(self, trajectories, validation):
        from scipy.spatial import cKDTree

        self.check()
        d = self.embedding
        # a stored state needs a full delay vector behind it and at least one step after it
        used = [x for x in trajectories if len(x) > d]
        if not used:
            raise ChaosbenchError(f"analogue: no training trajectory is longer than embedding={d} steps")
        self.trajectories_ = used
        self.trajectory_ = np.concatenate([np.full(len(x) - d, j) for j, x in enumerate(used)])
        self.end_ = np.concatenate([np.arange(d - 1, len(x) - 1) for x in used])
        self.tree_ = cKDTree(np.concatenate([delay_vectors(x, d)[:-1] for x in used]))
        self.n_stored_ = int(len(self.end_))
        self.fit_info_ = {"n_stored": self.n_stored_, "embedding_dimension": d * self.dimension_}

    def _search(self, queries: np.ndarray, finished: np.ndarray | None) -> np.ndarray:
        """Indices of the stored states nearest to ``queries`` ``(m, d * n)``; with ``finished`` (the
        trajectory each query has just copied to its end), that trajectory's last ``theiler`` steps
        are excluded."""
        if finished is None or self.theiler == 0:
            return np.atleast_1d(self.tree_.query(queries, k=1)[1])
        # at most `theiler` stored states are excluded, so the nearest theiler + 1 hold an allowed one
        k = min(self.theiler + 1, self.n_stored_)
        candidates = self.tree_.query(queries, k=k)[1].reshape(len(queries), k)
        length = np.array([len(x) for x in self.trajectories_])
        j, end = self.trajectory_[candidates], self.end_[candidates]
        allowed = (j != finished[:, None]) | (end < length[j] - 1 - self.theiler)
        # a tiny training set may have no allowed state among them: take the nearest
        first = np.where(allowed.any(1), np.argmax(allowed, axis=1), 0)
        return candidates[np.arange(len(queries)), first]

    def _forecast_windows(self, contexts, horizon):
        k_windows, n_context, n = contexts.shape
        d = self.embedding
        if n_context < d:
            raise ChaosbenchError(f"analogue: the context ({n_context} steps) is shorter than embedding={d}")
        out = np.empty((k_windows, horizon, n))
        filled = np.zeros(k_windows, dtype=int)
        pending = np.arange(k_windows)
        finished: np.ndarray | None = None
        queries = contexts[:, n_context - d :].reshape(k_windows, -1)
        while len(pending) and horizon:
            found = self._search(queries, finished)
            still, last = [], []
            for w, s in zip(pending, found):
                x = self.trajectories_[self.trajectory_[s]]
                piece = x[self.end_[s] + 1 : self.end_[s] + 1 + horizon - filled[w]]
                out[w, filled[w] : filled[w] + len(piece)] = piece
                filled[w] += len(piece)
                if filled[w] < horizon:
                    still.append(w)
                    last.append(self.trajectory_[s])
            pending, finished = np.array(still, dtype=int), np.array(last, dtype=int)
            queries = np.stack([self._tail(contexts[w], out[w, : filled[w]]) for w in pending]) if still else None
        return out

    def _tail(self, context: np.ndarray, forecast: np.ndarray) -> np.ndarray:
        """The delay vector of the last ``embedding`` states of the context followed by the forecast."""
        d = self.embedding
        return np.concatenate([context[max(0, len(context) - d + len(forecast)) :], forecast[-d:]]).reshape(-1)

    @property
    def n_parameters(self) -> int:
        return 0
