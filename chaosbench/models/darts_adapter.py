"""darts forecasters behind the chaosbench interface (optional extra: ``pip install 'chaosbench[darts]'``).

Each class here holds its hyperparameters (small, CPU-friendly defaults) and builds the darts model
in :meth:`fit`. Trajectories become integer-indexed ``TimeSeries`` (darts needs a RangeIndex or a
DatetimeIndex; the step ``dt`` is known to the task, not to darts). Forecasts longer than the
output chunk are darts' own autoregressive rollout, as in Gilpin 2023 (Phys. Rev. Research 5,
043252), which benchmarked these models on the same kind of data.
"""

from __future__ import annotations

import shutil
import tempfile

import numpy as np

try:  # imported here so that the registry turns a missing extra into a one-line message
    import darts  # noqa: F401
except ModuleNotFoundError as exc:  # pragma: no cover - exercised without the extra
    raise ModuleNotFoundError("darts is not installed", name="darts") from exc

from ..errors import ChaosbenchError
from .base import Model
from .baselines import require_int


def _series(arrays):
    from darts import TimeSeries

    return [TimeSeries.from_values(np.asarray(a, np.float64)) for a in arrays]


def _count_sklearn(estimator) -> int:
    total = 0
    for sub in getattr(estimator, "estimators_", None) or [estimator]:
        total += int(np.size(getattr(sub, "coef_", 0))) + int(np.size(getattr(sub, "intercept_", 0)))
    return total


class DartsModel(Model):
    """Shared fit/forecast for darts models; subclasses name the darts class and its arguments."""

    extra = "darts"
    darts_class: str = ""
    torch_model = True
    #: set when the darts class fixes its output chunk itself (and refuses the argument)
    fixed_output_chunk: int | None = None
    #: hyperparameters that must be integers >= 1
    _positive_ints: tuple[str, ...] = ()

    def _model_kwargs(self) -> dict:
        return {}

    def check(self) -> None:
        """Refuse, at plan time, the values darts would refuse (or misuse) in every cell."""
        for name in self._positive_ints:
            require_int(self, name, 1)

    def _build(self):
        import darts.models

        cls = getattr(darts.models, self.darts_class)
        kwargs = self._model_kwargs()
        if self.torch_model:
            self._workdir = tempfile.mkdtemp(prefix="chaosbench-darts-")
            if self.fixed_output_chunk is None:
                kwargs["output_chunk_length"] = self.output_chunk_length
            kwargs.update(
                input_chunk_length=self.input_chunk_length,
                n_epochs=self.n_epochs,
                batch_size=self.batch_size,
                random_state=self.seed,
                save_checkpoints=False,
                force_reset=True,
                work_dir=self._workdir,
                pl_trainer_kwargs={
                    "accelerator": "cpu",
                    "enable_progress_bar": False,
                    "enable_model_summary": False,
                    "logger": False,
                    "enable_checkpointing": False,
                },
            )
        return cls(**kwargs)

    def _fit(self, trajectories, validation):
        import logging

        for name in ("pytorch_lightning", "lightning", "lightning.pytorch", "darts"):
            logging.getLogger(name).setLevel(logging.ERROR)
        self.model_ = self._build()
        kwargs = {}
        if self.torch_model:
            kwargs = {
                "verbose": False,
                "max_samples_per_ts": self.max_samples_per_epoch,
                "dataloader_kwargs": {"num_workers": 0},
            }
            if validation:
                kwargs["val_series"] = _series(validation)
        try:
            self.model_.fit(_series(trajectories), **kwargs)
        finally:
            if self.torch_model:  # nothing is kept there (no checkpoints, no logger)
                shutil.rmtree(self._workdir, ignore_errors=True)

    def _forecast_windows(self, contexts, horizon):
        kwargs = {"verbose": False, "show_warnings": False}
        if self.torch_model:
            kwargs["batch_size"] = len(contexts)
        preds = self.model_.predict(n=int(horizon), series=_series(contexts), **kwargs)
        return np.stack([p.values(copy=False) for p in preds]).astype(float)

    @property
    def n_parameters(self) -> int:
        if not hasattr(self, "model_"):
            return 0
        if self.torch_model:
            return int(sum(p.numel() for p in self.model_.model.parameters()))
        return _count_sklearn(self.model_.model)


class TorchDartsModel(DartsModel):
    """A darts neural model: the training settings every one of them shares."""

    _positive_ints: tuple[str, ...] = ("input_chunk_length", "output_chunk_length", "n_epochs", "batch_size")

    def __init__(
        self,
        *,
        input_chunk_length: int = 50,
        output_chunk_length: int = 10,
        n_epochs: int = 10,
        batch_size: int = 64,
        max_samples_per_epoch: int | None = 5000,
        seed: int = 0,
    ):
        super().__init__(seed=seed)
        self.input_chunk_length = input_chunk_length
        self.output_chunk_length = output_chunk_length
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.max_samples_per_epoch = max_samples_per_epoch

    def check(self) -> None:
        super().check()
        require_int(self, "max_samples_per_epoch", 1, none_ok=True)


class LinearRegression(DartsModel):
    """Linear regression on ``lags`` past values, predicting ``output_chunk_length`` steps at once
    (darts ``LinearRegressionModel``, scikit-learn least squares)."""

    _name = "darts-linear"
    darts_class = "LinearRegressionModel"
    torch_model = False
    _positive_ints = ("lags", "output_chunk_length")

    def __init__(self, *, lags: int = 20, output_chunk_length: int = 1, seed: int = 0):
        super().__init__(seed=seed)
        self.lags = lags
        self.output_chunk_length = output_chunk_length

    def _model_kwargs(self):
        return {"lags": self.lags, "output_chunk_length": self.output_chunk_length}


class NBEATS(TorchDartsModel):
    """N-BEATS (Oreshkin et al. 2020, ICLR): stacks of fully connected blocks with backcast and forecast
    residuals; generic architecture."""

    _name = "darts-nbeats"
    darts_class = "NBEATSModel"
    _positive_ints = TorchDartsModel._positive_ints + ("num_stacks", "num_blocks", "num_layers", "layer_widths")

    def __init__(
        self, *, num_stacks: int = 4, num_blocks: int = 1, num_layers: int = 2, layer_widths: int = 64, **common
    ):
        super().__init__(**common)
        self.num_stacks, self.num_blocks, self.num_layers, self.layer_widths = (
            num_stacks,
            num_blocks,
            num_layers,
            layer_widths,
        )

    def _model_kwargs(self):
        return {
            "generic_architecture": True,
            "num_stacks": self.num_stacks,
            "num_blocks": self.num_blocks,
            "num_layers": self.num_layers,
            "layer_widths": self.layer_widths,
        }


class NHiTS(NBEATS):
    """N-HiTS (Challu et al. 2023, AAAI): N-BEATS with multi-rate pooling and hierarchical interpolation."""

    _name = "darts-nhits"
    darts_class = "NHiTSModel"

    def __init__(
        self, *, num_stacks: int = 3, num_blocks: int = 1, num_layers: int = 2, layer_widths: int = 64, **common
    ):
        super().__init__(
            num_stacks=num_stacks, num_blocks=num_blocks, num_layers=num_layers, layer_widths=layer_widths, **common
        )

    def _model_kwargs(self):
        return {
            "num_stacks": self.num_stacks,
            "num_blocks": self.num_blocks,
            "num_layers": self.num_layers,
            "layer_widths": self.layer_widths,
        }


class TCN(TorchDartsModel):
    """Temporal convolutional network (Bai, Kolter & Koltun 2018, arXiv:1803.01271): dilated causal
    convolutions with residual blocks."""

    _name = "darts-tcn"
    darts_class = "TCNModel"
    _positive_ints = TorchDartsModel._positive_ints + ("kernel_size", "num_filters", "dilation_base")

    def __init__(self, *, kernel_size: int = 3, num_filters: int = 16, dilation_base: int = 2, **common):
        super().__init__(**common)
        self.kernel_size, self.num_filters, self.dilation_base = kernel_size, num_filters, dilation_base

    def check(self) -> None:
        super().check()
        for name in ("kernel_size", "output_chunk_length"):
            if getattr(self, name) >= self.input_chunk_length:
                raise ChaosbenchError(
                    f"darts-tcn: {name} ({getattr(self, name)}) must be smaller than "
                    f"input_chunk_length ({self.input_chunk_length})"
                )

    def _model_kwargs(self):
        return {"kernel_size": self.kernel_size, "num_filters": self.num_filters, "dilation_base": self.dilation_base}


class Transformer(TorchDartsModel):
    """Encoder-decoder transformer (Vaswani et al. 2017, NeurIPS) over the input chunk."""

    _name = "darts-transformer"
    darts_class = "TransformerModel"
    _positive_ints = TorchDartsModel._positive_ints + (
        "d_model",
        "nhead",
        "num_encoder_layers",
        "num_decoder_layers",
        "dim_feedforward",
    )

    def __init__(
        self,
        *,
        d_model: int = 32,
        nhead: int = 4,
        num_encoder_layers: int = 2,
        num_decoder_layers: int = 2,
        dim_feedforward: int = 64,
        **common,
    ):
        super().__init__(**common)
        self.d_model, self.nhead = d_model, nhead
        self.num_encoder_layers, self.num_decoder_layers = num_encoder_layers, num_decoder_layers
        self.dim_feedforward = dim_feedforward

    def check(self) -> None:
        super().check()
        if self.d_model % self.nhead:
            raise ChaosbenchError(f"darts-transformer: nhead ({self.nhead}) must divide d_model ({self.d_model})")

    def _model_kwargs(self):
        return {
            "d_model": self.d_model,
            "nhead": self.nhead,
            "num_encoder_layers": self.num_encoder_layers,
            "num_decoder_layers": self.num_decoder_layers,
            "dim_feedforward": self.dim_feedforward,
        }


class RNN(TorchDartsModel):
    """Recurrent network (LSTM, Hochreiter & Schmidhuber 1997, or GRU) trained on sequences of
    ``training_length`` steps, one step ahead (darts ``RNNModel``)."""

    _name = "darts-rnn"
    darts_class = "RNNModel"
    fixed_output_chunk = 1
    _positive_ints = TorchDartsModel._positive_ints + ("hidden_dim", "n_rnn_layers", "training_length")
    CELLS = ("RNN", "LSTM", "GRU")

    def __init__(
        self,
        *,
        cell: str = "LSTM",
        hidden_dim: int = 32,
        n_rnn_layers: int = 1,
        training_length: int = 60,
        input_chunk_length: int = 20,
        output_chunk_length: int = 1,
        **common,
    ):
        super().__init__(input_chunk_length=input_chunk_length, output_chunk_length=output_chunk_length, **common)
        self.cell, self.hidden_dim, self.n_rnn_layers, self.training_length = (
            cell,
            hidden_dim,
            n_rnn_layers,
            training_length,
        )

    def check(self) -> None:
        super().check()
        if self.cell not in self.CELLS:
            raise ChaosbenchError(f"darts-rnn: cell must be one of {', '.join(self.CELLS)}, got {self.cell!r}")
        if self.training_length < self.input_chunk_length:
            raise ChaosbenchError(
                f"darts-rnn: training_length ({self.training_length}) must be at least "
                f"input_chunk_length ({self.input_chunk_length})"
            )

    def _model_kwargs(self):
        return {
            "model": self.cell,
            "hidden_dim": self.hidden_dim,
            "n_rnn_layers": self.n_rnn_layers,
            "training_length": self.training_length,
        }
