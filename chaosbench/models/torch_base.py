"""What every PyTorch forecaster of chaosbench shares: windows of training data, the training loop,
batched closed-loop forecasting, determinism and saving.

A subclass builds its network and says how to score a batch and how to roll out::

    class GRU(TorchForecaster):
        def __init__(self, *, hidden_size: int = 64, **common):
            super().__init__(**common)
            self.hidden_size = hidden_size

        def _build(self, n):                         # -> torch.nn.Module
        def _loss(self, net, windows):               # windows (B, seq_len + 1, n) -> scalar tensor
        def _rollout(self, net, contexts, horizon):  # (K, T, n) -> (K, horizon, n), closed loop

Data arrive normalised (the task's training mean and std); the network works in float32. A network
that predicts increments at the scale of the training increments derives from :class:`IncrementForecaster`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import ChaosbenchError
from .base import Model
from .training import TrainConfig, TrainLog, seed_everything, train


class TorchForecaster(Model):
    """Base class of the PyTorch models: common hyperparameters and the verbs built on them.

    Parameters
    ----------
    seq_len : int
        Steps of each training window the loss sees (a window holds ``seq_len + 1`` points).
    stride : int
        Steps between the starts of consecutive training windows.
    batch_size : int
        Windows per optimiser step.
    max_epochs, lr, final_lr_fraction, schedule, optimizer, weight_decay, grad_clip, patience
        The training loop's settings (:class:`~chaosbench.models.training.TrainConfig`): the work of a fit
        is ``max_epochs`` x ``batches_per_epoch`` optimiser steps, whatever the machine's load.
    safety_seconds : float
        A safety net on the fit's wall time, recorded in ``fit_info_["safety_limit_hit"]`` if it bites
        (below the harness's per-cell limit, so a runaway fit is scored on what it learned).
    batches_per_epoch : int or None
        Cap on optimiser steps per epoch (None: every window once per epoch).
    validation_horizon : int
        Steps of free-running forecast scored on the validation part for early stopping (0: the
        training loss on validation windows instead).
    seed : int
        Seeds weights, batch order and anything random in the model.
    """

    extra = "torch"

    def __init__(
        self,
        *,
        seq_len: int = 64,
        stride: int = 1,
        batch_size: int = 64,
        max_epochs: int = 50,
        lr: float = 1e-3,
        final_lr_fraction: float = 0.01,
        schedule: str = "cosine",
        optimizer: str = "adamw",
        weight_decay: float = 1e-4,
        grad_clip: float = 1.0,
        patience: int = 10,
        safety_seconds: float = 1500.0,
        batches_per_epoch: int | None = 100,
        validation_horizon: int = 200,
        seed: int = 0,
    ):
        super().__init__(seed=seed)
        self.seq_len = seq_len
        self.stride = stride
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.lr = lr
        self.final_lr_fraction = final_lr_fraction
        self.schedule = schedule
        self.optimizer = optimizer
        self.weight_decay = weight_decay
        self.grad_clip = grad_clip
        self.patience = patience
        self.safety_seconds = safety_seconds
        self.batches_per_epoch = batches_per_epoch
        self.validation_horizon = validation_horizon

    # -- for subclasses -----------------------------------------------------------------------
    def _build(self, n: int):
        """The network for ``n`` observed variables (a ``torch.nn.Module``)."""
        raise NotImplementedError

    def _loss(self, net, windows):
        """Scalar loss of ``windows`` ``(B, seq_len + 1, n)`` (float32 tensor)."""
        raise NotImplementedError

    def _rollout(self, net, contexts, horizon: int):
        """Closed-loop forecasts ``(K, horizon, n)`` after ``contexts`` ``(K, T, n)`` (tensors, no grad)."""
        raise NotImplementedError

    def _check_hyperparameters(self) -> None:
        """Raise a one-line ChaosbenchError for a bad hyperparameter of the subclass."""

    def _initialise(self, trajectories: list[np.ndarray], val_fn) -> None:
        """Data-driven initial weights for ``self.net_`` before training, with ``val_fn`` (the
        validation score, lower is better, or None) to choose among candidates (default: keep the
        random weights)."""

    def _after_step(self) -> None:
        """Called after every optimiser step, e.g. to project weights onto a constraint (default: nothing)."""

    # -- the verbs ----------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return type(self).__name__

    def config(self) -> TrainConfig:
        try:
            return TrainConfig(
                max_epochs=self.max_epochs,
                lr=self.lr,
                final_lr_fraction=self.final_lr_fraction,
                schedule=self.schedule,
                optimizer=self.optimizer,
                weight_decay=self.weight_decay,
                grad_clip=self.grad_clip,
                patience=self.patience,
                safety_seconds=self.safety_seconds,
                seed=self.seed,
            )
        except ChaosbenchError as exc:
            raise ChaosbenchError(f"{self.name}: {exc}") from None

    def _check_common(self) -> None:
        for key, low in (("seq_len", 1), ("stride", 1), ("batch_size", 1), ("validation_horizon", 0)):
            v = getattr(self, key)
            if not isinstance(v, int) or isinstance(v, bool) or v < low:
                raise ChaosbenchError(f"{self.name}: {key} must be an integer >= {low}, got {v!r}")
        b = self.batches_per_epoch
        if b is not None and (not isinstance(b, int) or b < 1):
            raise ChaosbenchError(f"{self.name}: batches_per_epoch must be a positive integer or None, got {b!r}")

    def check(self) -> None:
        self._check_common()
        self.config()
        self._check_hyperparameters()

    def _fit(self, trajectories, validation):
        import torch

        self.check()
        config = self.config()
        seed_everything(self.seed)
        self.net_ = self._build(self.dimension_)
        val_fn = self._validation_fn(validation) if validation else None
        self._initialise(trajectories, val_fn)
        windows = torch.as_tensor(windows_of(trajectories, self.seq_len + 1, self.stride), dtype=torch.float32)
        log = train(
            self.net_,
            lambda idx: self._loss(self.net_, windows[torch.as_tensor(idx)]),
            len(windows),
            config,
            batch_size=self.batch_size,
            val_fn=val_fn,
            batches_per_epoch=self.batches_per_epoch,
            after_step=self._after_step,
            name=self.name,
        )
        self.log_: TrainLog = log
        self.fit_info_ = fit_info(log, self.seq_len)

    def _validation_fn(self, validation):
        """Early-stopping score: NRMSE of free-running forecasts on the validation part (or the loss)."""
        import torch

        data = [v for v in validation if len(v) > self.seq_len + 1]
        if not data:
            return None
        if self.validation_horizon == 0:
            w = torch.as_tensor(windows_of(data, self.seq_len + 1, max(1, self.seq_len // 2)), dtype=torch.float32)
            return lambda: float(self._loss(self.net_, w))
        ctx, tgt = validation_pairs(data, self.seq_len, self.validation_horizon)
        contexts, targets = torch.as_tensor(ctx, dtype=torch.float32), torch.as_tensor(tgt, dtype=torch.float32)
        return lambda: float(forecast_score(self._rollout(self.net_, contexts, targets.shape[1]), targets))

    def _forecast_windows(self, contexts, horizon: int) -> np.ndarray:
        import torch

        self.net_.eval()
        # inference mode skips autograd's bookkeeping (no_grad keeps some): the same kernels, so the same
        # numbers, up to 1.3x faster per closed-loop step (benchmarks/rollout_modes.py)
        with torch.inference_mode():
            out = self._rollout(self.net_, torch.as_tensor(contexts, dtype=torch.float32), int(horizon))
        return out.double().numpy()

    @property
    def n_parameters(self) -> int:
        if not hasattr(self, "net_"):
            return 0
        return int(sum(p.numel() for p in self.net_.parameters()))

    # -- saving -------------------------------------------------------------------------------
    def save(self, path) -> None:
        """Write hyperparameters and weights to ``path`` (a ``torch.save`` file)."""
        import torch

        if not hasattr(self, "net_"):
            raise ChaosbenchError(f"{self.name}: call fit before save")
        torch.save(
            {
                "class": self.name,
                "params": json.dumps(self.get_params()),
                "dimension": self.dimension_,
                "dt": self.dt_,
                "state_dict": self.net_.state_dict(),
            },
            Path(path),
        )

    @classmethod
    def load(cls, path) -> "TorchForecaster":
        """A fitted model from a file written by :meth:`save`."""
        import torch

        blob = torch.load(Path(path), weights_only=True)
        if blob["class"] != cls.__name__:
            raise ChaosbenchError(f"{path}: holds a {blob['class']}, not a {cls.__name__}")
        model = cls(**json.loads(blob["params"]))
        model.dimension_, model.dt_ = int(blob["dimension"]), float(blob["dt"])
        seed_everything(model.seed)
        model.net_ = model._build(model.dimension_)
        model.net_.load_state_dict(blob["state_dict"])
        model.net_.eval()
        return model


class IncrementForecaster(TorchForecaster):
    """A :class:`TorchForecaster` whose network predicts the next increment ``x_{t+1} - x_t`` in units of
    ``sigma``, the per-variable std of the training increments (so that its readout works at unit scale),
    through a final linear layer, with the training defaults the sequence models share: batches of 32,
    no weight decay, and patience 0 (validation scores are noisy at a high learning rate, so the schedule
    runs out; the best weights are still restored).

    Fitting stores ``sigma`` in ``increment_std_`` before the network is built; a subclass's ``_build``
    passes the network and its buffer for ``sigma`` through :meth:`_with_scale` (a loaded model gets the
    buffer with its weights).

    **Least-squares readout** (``readout="least_squares"``). After gradient training, the final linear
    layer is fitted again by ridge regression of the normalised increments on the features the trained
    network computes along the training trajectories, teacher forced (a reservoir's readout fitted on a
    learned reservoir: Jaeger 2001, GMD Report 148; the regularisation chosen from
    :data:`~chaosbench.models.reservoir.RIDGE_GRID` by the early-stopping score on the validation part,
    the trained layer kept when no value beats it). Gradient descent leaves the readout far from its
    least-squares optimum (measured on the goal task: the LSTM's validation forecast error fell 26-fold),
    and the fit costs one forward pass. A subclass names its readout layer and its features:
    :meth:`_readout_layer`, :meth:`_features` and :meth:`_feature_window`.

    Parameters
    ----------
    readout : {"least_squares", "trained"}
        Refit the final linear layer by ridge regression after training, or keep the trained one.
    """

    def __init__(
        self,
        *,
        readout: str = "least_squares",
        batch_size: int = 32,
        max_epochs: int = 60,
        patience: int = 0,
        weight_decay: float = 0.0,
        **common,
    ):
        super().__init__(
            batch_size=batch_size, max_epochs=max_epochs, patience=patience, weight_decay=weight_decay, **common
        )
        self.readout = readout

    def _check_common(self) -> None:
        super()._check_common()
        if self.readout not in READOUTS:
            raise ChaosbenchError(f"{self.name}: readout must be one of {', '.join(READOUTS)}, got {self.readout!r}")

    def _readout_layer(self, net):
        """The final ``torch.nn.Linear`` from the features to the normalised increments."""
        raise NotImplementedError

    def _features(self, net, x):
        """The readout's inputs ``(B, T, F)`` along teacher-forced inputs ``x`` ``(B, T, n)``."""
        raise NotImplementedError

    def _feature_window(self) -> int | None:
        """Length of the pieces the training trajectories are cut into for :meth:`_features` (None: whole
        trajectories); the first ``seq_len`` steps of a piece are its warm-up and give no rows."""
        return None

    def _readout_targets(self, piece: np.ndarray) -> np.ndarray:
        """What the readout is fitted to along ``piece`` ``(T, n)``: the ``T - 1`` increments in units of
        ``sigma`` (as the network holds it, in float32)."""
        return np.diff(piece, axis=0) / np.float32(self.increment_std_).astype(float)

    def _increment_std(self, trajectories: list[np.ndarray]) -> np.ndarray:
        """``sigma`` of the training trajectories (a variable whose increments are all zero: 1)."""
        std = increment_std(trajectories)
        return np.where(std > 0, std, 1.0)

    def _fit(self, trajectories, validation):
        self.increment_std_ = self._increment_std(trajectories)
        super()._fit(trajectories, validation)
        if self.readout == "least_squares":
            self.fit_info_.update(self._least_squares_readout(trajectories, validation))

    def _least_squares_readout(self, trajectories, validation) -> dict:
        """Fit the readout by ridge regression on the trained features; returns what ``fit_info_`` records."""
        import torch

        from .reservoir import RIDGE_GRID
        from .search import ridge_path

        val_fn = self._validation_fn(validation) if validation else None
        if val_fn is None:
            return {"readout": "trained (no validation part to choose a ridge on)"}
        net, layer = self.net_, self._readout_layer(self.net_)
        feats, targets = [], []
        net.eval()
        with torch.no_grad():
            for piece in feature_pieces(trajectories, self._feature_window(), self.seq_len):
                h = self._features(net, torch.as_tensor(piece[None, :-1], dtype=torch.float32))[0, self.seq_len :]
                feats.append(h.double().numpy())
                targets.append(self._readout_targets(piece[self.seq_len :]))
        if not feats:
            return {"readout": "trained (training pieces shorter than the warm-up)"}
        phi, y = np.concatenate(feats), np.concatenate(targets)
        phi_mean, y_mean = phi.mean(axis=0), y.mean(axis=0)
        phi_c, y_c = phi - phi_mean, y - y_mean
        solutions = ridge_path(phi_c.T @ phi_c / len(phi), phi_c.T @ y_c / len(phi), RIDGE_GRID)
        trained = {k: v.clone() for k, v in layer.state_dict().items()}
        with torch.no_grad():
            before = float(val_fn())
            scores = []
            for w in solutions:
                layer.weight.copy_(torch.as_tensor(w.T, dtype=torch.float32))
                layer.bias.copy_(torch.as_tensor(y_mean - phi_mean @ w, dtype=torch.float32))
                scores.append(float(val_fn()))
            # the most regularised of the ridges within READOUT_TOLERANCE of the best score: an equally good
            # readout with smaller weights amplifies the features' float32 rounding less
            good = [i for i, v in enumerate(scores) if v <= min(scores) * (1 + READOUT_TOLERANCE)]
            best = max(good, key=lambda i: RIDGE_GRID[i])
            info = {
                "readout_val_score_trained": before,
                "readout_ridge_scores": {f"{r:g}": round(v, 8) for r, v in zip(RIDGE_GRID, scores)},
                "readout_rows": len(phi),
            }
            if not scores[best] < before:
                layer.load_state_dict(trained)
                return {**info, "readout": "trained (no ridge beat it on validation)"}
            w = solutions[best]
            layer.weight.copy_(torch.as_tensor(w.T, dtype=torch.float32))
            layer.bias.copy_(torch.as_tensor(y_mean - phi_mean @ w, dtype=torch.float32))
        info.update(readout="least_squares", readout_ridge=RIDGE_GRID[best], readout_val_score=scores[best])
        return info

    def _with_scale(self, net, buffer):
        """``net`` with ``buffer`` (its per-variable ``sigma``, float32) set to ``increment_std_`` if fitting."""
        import torch

        if hasattr(self, "increment_std_"):
            buffer.copy_(torch.as_tensor(self.increment_std_, dtype=torch.float32))
        return net


READOUTS = ("least_squares", "trained")
#: validation scores within this fraction of the best count as equal when the readout's ridge is chosen
READOUT_TOLERANCE = 0.01


def feature_pieces(trajectories: list[np.ndarray], window: int | None, warm: int) -> list[np.ndarray]:
    """Trajectories cut into pieces of ``window`` points overlapping by ``warm + 1`` (each step after a
    piece's warm-up is a feature row exactly once; None: whole trajectories); pieces no longer than
    ``warm + 1`` give no rows and are left out."""
    out = []
    for t in trajectories:
        if window is None:
            out.append(t)
            continue
        step = window - warm - 1
        for start in range(0, max(len(t) - warm - 1, 1), step):
            out.append(t[start : start + window])
    return [p for p in out if len(p) > warm + 1]


def increment_std(trajectories: list[np.ndarray]) -> np.ndarray:
    """Per-variable std of the one-step increments ``x_{t+1} - x_t`` over all ``trajectories``."""
    return np.concatenate([np.diff(t, axis=0) for t in trajectories]).std(0)


def windows_of(trajectories: list[np.ndarray], length: int, stride: int = 1) -> np.ndarray:
    """Every window of ``length`` consecutive points, ``stride`` apart, from each trajectory:
    array ``(n_windows, length, n)`` (trajectories shorter than ``length`` give none)."""
    out = []
    for x in trajectories:
        if len(x) >= length:
            view = np.lib.stride_tricks.sliding_window_view(x, length, axis=0)[::stride]  # (m, n, length)
            out.append(np.swapaxes(view, 1, 2))
    if not out:
        n = trajectories[0].shape[1]
        return np.empty((0, length, n))
    return np.ascontiguousarray(np.concatenate(out))


def check_positive_int(model: str, **values) -> None:
    """One-line errors for hyperparameters that must be positive integers."""
    for key, v in values.items():
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ChaosbenchError(f"{model}: {key} must be a positive integer, got {v!r}")


def validation_pairs(data: list[np.ndarray], seq_len: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """The early-stopping windows of validation trajectories ``data`` (each longer than ``seq_len + 1``):
    contexts ``(K, seq_len, n)`` and the targets after them ``(K, h, n)``, starting every ``h // 2`` steps of
    each trajectory with ``h = min(horizon, len - seq_len)`` (targets cut to the shortest ``h``)."""
    contexts, targets = [], []
    for v in data:
        h = min(horizon, len(v) - seq_len)
        for start in range(0, len(v) - seq_len - h + 1, max(h // 2, 1)):
            contexts.append(v[start : start + seq_len])
            targets.append(v[start + seq_len : start + seq_len + h])
    h = min(len(t) for t in targets)
    return np.stack(contexts), np.stack([t[:h] for t in targets])


def forecast_score(pred, target, models_first: bool = False):
    """Early-stopping score of forecasts ``pred`` of ``target`` ``(K, h, n)``: the RMSE per lead time
    (the data's std is 1) averaged over lead times, non-finite or huge errors counted as 1e6 (a tensor).
    With ``models_first`` the tensors are ``(M, K, h, n)`` for ``M`` models: one score each."""
    import torch

    dims = (1, 3) if models_first else (0, 2)
    err = torch.sqrt(((pred - target) ** 2).mean(dim=dims))  # RMSE per (model and) lead time
    capped = torch.nan_to_num(err, nan=1e6, posinf=1e6).clamp(max=1e6)
    return capped.mean(dim=1) if models_first else capped.mean()


def fit_info(log: TrainLog, seq_len: int) -> dict:
    """``fit_info_`` of a trained model: the log's summary and the training throughput in time steps."""
    return {
        **log.summary(),
        "steps_per_second": round(log.samples * seq_len / log.seconds, 1) if log.seconds > 0 else None,
    }
