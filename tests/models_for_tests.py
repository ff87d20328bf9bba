"""Misbehaving models the harness must survive (imported by cell processes as 'tests.models_for_tests:...')."""

import time

import numpy as np

from chaosbench.models.base import Model


class NaNModel(Model):
    """Diverges: its forecast (persistence) turns to NaN after ten steps."""

    def _fit(self, trajectories, validation):
        pass

    def _forecast(self, context, horizon):
        out = np.repeat(context[-1:], horizon, axis=0)
        out[10:] = np.nan
        return out


class CrashModel(Model):
    """Its fit raises."""

    def _fit(self, trajectories, validation):
        raise RuntimeError("the optimiser exploded")


class SleepyModel(Model):
    """Persistence that takes ``seconds`` to fit (for time budgets and interrupted runs)."""

    def __init__(self, *, seconds: float = 1.0, seed: int = 0):
        super().__init__(seed=seed)
        self.seconds = seconds

    def _fit(self, trajectories, validation):
        time.sleep(self.seconds)

    def _forecast(self, context, horizon):
        return np.repeat(context[-1:], horizon, axis=0)


class BrokenModel(Model):
    """Broken: its forecast is NaN from the first step."""

    def _fit(self, trajectories, validation):
        pass

    def _forecast(self, context, horizon):
        return np.full((horizon, context.shape[1]), np.nan)
