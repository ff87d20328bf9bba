"""State-space forecasters: a stack of Linear Recurrent Units (``"lru"``) and a Mamba-style
selective state-space model (``"mamba"``), in plain PyTorch on the CPU.

Both predict the next increment ``x_{t+1} - x_t`` (in units of the training increments' std) from
the states of their layers. Training is teacher forced over whole windows in the layers' parallel
mode (a chunked scan), optionally ending each window closed loop through the recurrent update
(``rollout_steps``); forecasting reads the context in parallel mode, then runs closed loop one step
at a time with the recurrent update (O(1) per step). The two modes compute the same function
(tests/test_ssm.py checks them against each other), so a model forecasts as it was trained. The
layers are in :mod:`chaosbench.models.ssm_layers`.
"""

from __future__ import annotations

import math


from ..errors import ChaosbenchError
from .torch_base import IncrementForecaster, check_positive_int, increment_std


class StateSpaceForecaster(IncrementForecaster):
    """What the state-space forecasters share: the network around the blocks, loss and rollout.

    Parameters
    ----------
    d_model : int
        Width of the residual stream.
    n_layers : int
        Residual blocks.
    d_state : int
        State size of each layer's recurrence (per channel for Mamba).
    burn_in : int
        Leading steps of each training window left out of the loss: the states start from zero
        there, unlike when forecasting after a long context.
    input_noise : float
        Std of Gaussian noise added to the training inputs (normalised units), so the model learns
        to pull perturbed states back; the targets stay clean.
    rollout_steps : int
        Last steps of each training window predicted closed loop (each prediction the next input,
        through the recurrent update, as in forecasting) instead of teacher forced; their state
        errors join the loss (0: teacher forcing only).
    chunk : int
        Chunk length of the parallel scan (0: about sqrt(window length)).
    readout : {"trained", "least_squares"}
        ``"trained"`` by default: the least-squares readout shortened the training it was calibrated with
        without keeping its skill on Rossler (``results/perf/torch_calibration.md``), and was not
        calibrated at the full schedule.
    **common
        The :class:`~chaosbench.models.torch_base.IncrementForecaster` settings.
    """

    def __init__(
        self,
        *,
        d_model: int = 64,
        n_layers: int = 2,
        d_state: int = 32,
        burn_in: int = 16,
        input_noise: float = 0.0,
        rollout_steps: int = 0,
        chunk: int = 0,
        seq_len: int = 128,
        lr: float = 3e-3,
        max_epochs: int = 40,
        weight_decay: float = 1e-4,
        readout: str = "trained",
        **common,
    ):
        super().__init__(
            seq_len=seq_len, lr=lr, max_epochs=max_epochs, weight_decay=weight_decay, readout=readout, **common
        )
        self.d_model = d_model
        self.n_layers = n_layers
        self.d_state = d_state
        self.burn_in = burn_in
        self.input_noise = input_noise
        self.rollout_steps = rollout_steps
        self.chunk = chunk

    def _blocks(self) -> list:
        raise NotImplementedError

    def _check_hyperparameters(self) -> None:
        check_positive_int(self.name, d_model=self.d_model, n_layers=self.n_layers, d_state=self.d_state)
        for key in ("rollout_steps", "burn_in"):  # the loss needs one teacher-forced step after the burn-in
            v, room = getattr(self, key), self.seq_len - (self.rollout_steps if key == "burn_in" else 0)
            if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < room:
                raise ChaosbenchError(
                    f"{self.name}: {key} must be an integer in [0, {room}) for seq_len {self.seq_len}, got {v!r}"
                )
        v = self.input_noise
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
            raise ChaosbenchError(f"{self.name}: input_noise must be a non-negative number, got {v!r}")
        c = self.chunk
        if not isinstance(c, int) or isinstance(c, bool) or c < 0:
            raise ChaosbenchError(f"{self.name}: chunk must be a non-negative integer, got {c!r}")

    def _increment_std(self, trajectories):
        return increment_std(trajectories) + 1e-12  # (a variable that never moves: a tiny sigma)

    def _build(self, n: int):
        from .ssm_layers import SSMNet

        net = SSMNet(n, self._blocks(), self.d_model)
        return self._with_scale(net, net.increment_scale)

    def _readout_layer(self, net):
        return net.head

    def _features(self, net, x):
        return net.features(x)[0]

    def _feature_window(self) -> int:
        # the scan's memory grows with the length: pieces of 1,024 steps after the warm-up
        return 1024 + self.seq_len + 1

    def _loss(self, net, windows):
        import torch

        x = windows[:, :-1]
        if self.input_noise > 0:
            x = x + self.input_noise * torch.randn_like(x)
        n_read = x.shape[1] - self.rollout_steps
        increments, states = net(x[:, :n_read])
        target = (windows[:, 1 : n_read + 1] - x[:, :n_read]) / net.increment_scale
        errors = ((increments - target)[:, self.burn_in :] ** 2).flatten(1)
        if self.rollout_steps:  # then closed loop, as in forecasting; errors of the states in increment units
            start = x[:, n_read - 1] + net.increment_scale * increments[:, -1]
            free = torch.stack(self._free_run(net, start, states, self.rollout_steps), 1)
            free_errors = ((free - windows[:, n_read + 1 :]) / net.increment_scale) ** 2
            errors = torch.cat([errors, free_errors.flatten(1)], 1)
        return errors.mean()

    def _rollout(self, net, contexts, horizon):
        import torch

        increments, states = net(contexts)
        x = contexts[:, -1] + net.increment_scale * increments[:, -1]
        return torch.stack([x] + self._free_run(net, x, states, horizon - 1), 1)

    @staticmethod
    def _free_run(net, x, states, steps: int) -> list:
        """``steps`` closed-loop states after ``x`` ``(B, n)`` with the layers' recurrent update."""
        out = []
        for _ in range(steps):
            increment, states = net.step(x, states)
            x = x + net.increment_scale * increment
            out.append(x)
        return out


class LRU(StateSpaceForecaster):
    """A stack of Linear Recurrent Units (Orvieto et al. 2023, "Resurrecting Recurrent Neural
    Networks for Long Sequences", ICML): complex diagonal linear recurrences with the stable
    exponential parameterisation and gamma normalisation, in pre-norm residual blocks with a GELU
    and a GLU (:class:`~chaosbench.models.ssm_layers.LRUBlock`).

    Parameters
    ----------
    r_min, r_max : float
        Ring of the initial eigenvalue moduli, ``0 <= r_min < r_max < 1``.
    max_phase : float
        Largest initial eigenvalue phase (radians).
    **kwargs
        :class:`StateSpaceForecaster` and :class:`~chaosbench.models.torch_base.TorchForecaster` settings.
    """

    def __init__(self, *, r_min: float = 0.5, r_max: float = 0.99, max_phase: float = math.pi, **kwargs):
        super().__init__(**kwargs)
        self.r_min = r_min
        self.r_max = r_max
        self.max_phase = max_phase

    def _check_hyperparameters(self) -> None:
        super()._check_hyperparameters()
        for key in ("r_min", "r_max"):
            v = getattr(self, key)
            if not (isinstance(v, (int, float)) and 0 <= v < 1):
                raise ChaosbenchError(f"{self.name}: {key} must be a number in [0, 1), got {v!r}")
        if self.r_min >= self.r_max:
            raise ChaosbenchError(f"{self.name}: r_min must be below r_max, got {self.r_min!r} >= {self.r_max!r}")
        if not (isinstance(self.max_phase, (int, float)) and 0 < self.max_phase <= 2 * math.pi):
            raise ChaosbenchError(f"{self.name}: max_phase must be in (0, 2 pi], got {self.max_phase!r}")

    def _blocks(self):
        from .ssm_layers import LRUBlock

        return [
            LRUBlock(
                self.d_model,
                self.d_state,
                r_min=self.r_min,
                r_max=self.r_max,
                max_phase=self.max_phase,
                chunk=self.chunk,
            )
            for _ in range(self.n_layers)
        ]


class Mamba(StateSpaceForecaster):
    """A stack of selective state-space blocks in the style of Mamba (Gu & Dao 2023, "Mamba:
    Linear-Time Sequence Modeling with Selective State Spaces"): input-dependent ``Delta``, ``B``,
    ``C``, diagonal ``A = -exp(A_log)``, a causal depthwise convolution and a SiLU gate
    (:class:`~chaosbench.models.ssm_layers.SelectiveSSMLayer`); mamba-ssm's CUDA kernels are not needed.

    Parameters
    ----------
    expand : int
        Inner channels per residual channel.
    d_conv : int
        Width of the causal depthwise convolution.
    dt_min, dt_max : float
        Range of the initial steps ``Delta`` (log-uniform), ``0 < dt_min < dt_max``.
    **kwargs
        :class:`StateSpaceForecaster` and :class:`~chaosbench.models.torch_base.TorchForecaster` settings.
    """

    def __init__(
        self,
        *,
        expand: int = 2,
        d_conv: int = 4,
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
        d_model: int = 32,
        d_state: int = 8,
        batch_size: int = 16,
        max_epochs: int = 25,
        **kwargs,
    ):
        # its (batch, time, channels, state) tensors make a step ~5x dearer than the LRU's:
        # narrower, smaller batches, fewer steps
        super().__init__(d_model=d_model, d_state=d_state, batch_size=batch_size, max_epochs=max_epochs, **kwargs)
        self.expand = expand
        self.d_conv = d_conv
        self.dt_min = dt_min
        self.dt_max = dt_max

    def _check_hyperparameters(self) -> None:
        super()._check_hyperparameters()
        check_positive_int(self.name, expand=self.expand, d_conv=self.d_conv)
        for key in ("dt_min", "dt_max"):
            v = getattr(self, key)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ChaosbenchError(f"{self.name}: {key} must be a positive number, got {v!r}")
        if self.dt_min >= self.dt_max:
            raise ChaosbenchError(f"{self.name}: dt_min must be below dt_max, got {self.dt_min!r} >= {self.dt_max!r}")

    def _blocks(self):
        from .ssm_layers import MambaBlock

        return [
            MambaBlock(
                self.d_model,
                self.d_state,
                expand=self.expand,
                d_conv=self.d_conv,
                dt_min=self.dt_min,
                dt_max=self.dt_max,
                chunk=self.chunk,
            )
            for _ in range(self.n_layers)
        ]
