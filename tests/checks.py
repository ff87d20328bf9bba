"""Assertions shared by the torch model tests."""

import numpy as np

from chaosbench.bench.scoring import score


def assert_trained_and_beats_persistence(model, task, *, loss_ratio: float = 0.5, vpt_factor: float = 3.0) -> None:
    """The fitted ``model`` lowered its training loss by ``loss_ratio``, forecasts every window finitely,
    holds a valid prediction time ``vpt_factor`` times persistence's, and forecasts one window as in a batch."""
    info = model.fit_info_
    assert info["final_train_loss"] < loss_ratio * info["first_train_loss"]
    assert info["steps_per_second"] > 0 and model.n_parameters > 0
    forecasts = model.forecast_windows(task.contexts, task.horizon)
    assert forecasts.shape == task.targets.shape and np.all(np.isfinite(forecasts))
    persistence = np.repeat(task.contexts[:, -1:], task.horizon, axis=1)
    assert score(task, forecasts)["vpt_lyap"] > vpt_factor * score(task, persistence)["vpt_lyap"]
    assert np.allclose(model.forecast(task.contexts[1], 20), forecasts[1, :20], atol=1e-6)
