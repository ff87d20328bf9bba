"""Many small AL-RNNs/PLRNNs trained at once, one per system, as if each were trained alone.

A 20-unit AL-RNN step (Brenner et al. 2024) is a handful of tiny tensor operations: training one
on a CPU is bound by the cost of launching them, not by arithmetic. Stacking ``K`` such models, one
per system, gives every weight a leading "model" dimension: the same number of operations then
runs on ``K``-times larger tensors, at a fraction of ``K`` times the cost.

Each model keeps everything it would have alone: its seed's initial weights (built in turn, after
reseeding, exactly as a lone fit builds them), its own batch order, its own adaptive forcing
``alpha`` (Hess et al. 2023), gradient clipping by its own norm, its own validation score, best
epoch and early stop. The loss is the sum of the models' losses, so each model's gradient is its
own, and the optimisers (RAdam, AdamW) update every element on its own, so the stacked update is
the ``K`` separate updates. Every model's slice runs through the same kernels whatever ``K`` is, so a
model ends with the same weights, to the bit, alone (``Model.fit`` runs this loop with ``K = 1``) or in
any group (``tests/test_batched.py``; ``benchmarks/together_vs_alone.py`` over a full schedule). The
per-model loop of :class:`~chaosbench.models.torch_base.TorchForecaster` orders a few float32 sums
otherwise, and over a full schedule training carries that rounding to a different model: which is
why a lone fit does not use it.

:func:`fit_together` is the entry point; :func:`why_not_together` says when models cannot share a
batch (then each is fitted alone).
"""

from __future__ import annotations

import copy
import math
import time

import numpy as np
import torch

from ..errors import ChaosbenchError
from .base import as_trajectories
from .plrnn import ALRNN
from .plrnn_gtf import next_alpha, sequence_growth
from .plrnn_subregions import subregion_norms
from .torch_base import fit_info, forecast_score, validation_pairs, windows_of
from .training import TrainLog, batches, make_optimizer, planned_steps, seed_everything

#: hyperparameters that may differ between models trained together (each keeps its own)
PER_MODEL = ("seed",)


def why_not_together(models: list) -> str | None:
    """None if ``models`` can be trained in one batch, else the reason: they must all be AL-RNNs or
    PLRNNs with the same hyperparameters (seeds aside), forecast-based model selection, and noise (if
    any) drawn once before training."""
    if not models:
        return "no models"
    if not all(isinstance(m, ALRNN) for m in models):
        return "only AL-RNNs and PLRNNs train together"
    first = {k: v for k, v in models[0].get_params().items() if k not in PER_MODEL}
    for m in models[1:]:
        if type(m) is not type(models[0]) or {k: v for k, v in m.get_params().items() if k not in PER_MODEL} != first:
            return "the models' hyperparameters differ"
    m = models[0]
    if getattr(m, "selection", "forecast") != "forecast":
        return f"selection '{m.selection}' is not supported together"
    if getattr(m, "train_noise", 0) > 0 and getattr(m, "train_noise_mode", "fixed") != "fixed":
        return "noise redrawn per batch is not supported together"
    if m.validation_horizon == 0:
        return "validation by the loss (validation_horizon=0) is not supported together"
    return None


class _Stacked(torch.nn.Module):
    """``K`` AL-RNN latent models (:class:`~chaosbench.models.plrnn_nets._AlmostLinearRNN`) of one shape,
    their weights stacked along a leading dimension."""

    NAMES = ("A", "W", "h", "B", "b")
    # set in __init__ by setattr (parameters) and register_buffer; declared for the type checker
    A: torch.Tensor
    W: torch.Tensor
    h: torch.Tensor
    B: torch.Tensor | None
    b: torch.Tensor | None
    relu_units: torch.Tensor

    def __init__(self, nets: list):
        super().__init__()
        self.n, self.m = nets[0].n, nets[0].m
        for name in self.NAMES:
            if getattr(nets[0], name) is not None:
                setattr(self, name, torch.nn.Parameter(torch.stack([getattr(n, name).detach() for n in nets])))
            else:
                setattr(self, name, None)
        self.register_buffer("relu_units", nets[0].relu_units.clone())

    def state_of(self, k: int) -> dict:
        """Model ``k``'s weights as its own network's ``state_dict``."""
        out = {name: getattr(self, name)[k].detach().clone() for name in self.NAMES if getattr(self, name) is not None}
        out["relu_units"] = self.relu_units.clone()
        return out

    def initial_state(self, x0: torch.Tensor) -> torch.Tensor:
        """``[x0, B x0 + b]`` for observations ``(K, batch, n)``."""
        if self.B is None or self.b is None:  # both or neither: they exist exactly when m > n
            return x0
        return torch.cat([x0, torch.baddbmm(self.b[:, None], x0, self.B.transpose(1, 2))], dim=-1)

    def step(self, z: torch.Tensor) -> torch.Tensor:
        """``z_t = A z_{t-1} + W phi(z_{t-1}) + h`` for states ``(K, batch, m)``."""
        phi = torch.where(self.relu_units, torch.relu(z), z)
        return torch.addcmul(torch.baddbmm(self.h[:, None], phi, self.W.transpose(1, 2)), self.A[:, None], z)

    @torch.no_grad()
    def jacobian_growth(self, states: torch.Tensor) -> torch.Tensor:
        """Per model, the largest over sequences of the geometric mean of the Jacobians' spectral norms
        along states ``(K, batch, T, m)`` (as :func:`~chaosbench.models.plrnn_gtf.jacobian_growth`)."""
        norms = subregion_norms(self.A, self.W, self.relu_units, states)  # (K, batch, T)
        return sequence_growth(norms).amax(dim=1)


def _forced_run(net: _Stacked, x: torch.Tensor, alpha: torch.Tensor, every: int = 1):
    """:func:`~chaosbench.models.plrnn_gtf.forced_run` for ``K`` models: data ``(K, batch, T + 1, n)``,
    forcing strengths ``alpha`` ``(K,)``. Returns predictions ``(K, batch, T, n)`` and states."""
    n, m = x.shape[-1], net.m
    z = net.initial_state(x[:, :, 0])
    weight = torch.zeros(len(alpha), 1, m, dtype=x.dtype)
    weight[:, :, :n] = alpha[:, None, None]
    if m > n:
        x = torch.cat([x, torch.zeros(*x.shape[:-1], m - n, dtype=x.dtype)], dim=-1)
    targets = x.unbind(2)
    before, after = [], []
    for t in range(1, len(targets)):
        z = net.step(z)
        before.append(z)
        if t % every == 0:
            z = torch.lerp(z, targets[t], weight)
        after.append(z)
    return torch.stack(before, 2)[..., :n], torch.stack(after, 2)


def _free_run(net: _Stacked, z: torch.Tensor, horizon: int) -> torch.Tensor:
    out = []
    for _ in range(horizon):
        z = net.step(z)
        out.append(z)
    return torch.stack(out, 2)[..., : net.n]


class _Validation:
    """Each model's early-stopping score, as :meth:`TorchForecaster._validation_fn` computes it: RMSE
    per lead time of free runs from the validation part's windows, averaged over lead times."""

    def __init__(self, models: list, validations: list):
        ctx, tgt = [], []
        for model, validation in zip(models, validations):
            data = [v for v in validation if len(v) > model.seq_len + 1]
            if not data:
                raise ChaosbenchError(f"{model.name}: the validation part is too short to select an epoch")
            contexts, targets = validation_pairs(data, model.seq_len, model.validation_horizon)
            ctx.append(contexts)
            tgt.append(targets)
        if len({c.shape for c in ctx}) != 1 or len({t.shape for t in tgt}) != 1:
            raise ChaosbenchError("models trained together need validation parts of one length")
        self.seq_len = models[0].seq_len
        self.ctx = torch.as_tensor(np.stack(ctx), dtype=torch.float32)
        self.tgt = torch.as_tensor(np.stack(tgt), dtype=torch.float32)

    @torch.no_grad()
    def __call__(self, net: _Stacked) -> np.ndarray:
        contexts = self.ctx[:, :, -(self.seq_len + 1) :]
        ones = torch.ones(len(contexts))
        if contexts.shape[2] > 1:
            _, states = _forced_run(net, contexts, ones)
            z = states[:, :, -1]
        else:
            z = net.initial_state(contexts[:, :, 0])
        pred = _free_run(net, z, self.tgt.shape[2])
        return forecast_score(pred, self.tgt, models_first=True).numpy().astype(float)


def fit_together(models: list, trains: list, *, dt: float | list[float], validations: list) -> list:
    """Fit ``models`` (AL-RNNs/PLRNNs of one configuration, see :func:`why_not_together`), model ``k``
    on ``trains[k]`` (sampled every ``dt`` or ``dt[k]``) with ``validations[k]``, in one stacked loop.
    Each model ends as :meth:`Model.fit` would leave it (weights, ``alpha_``, ``log_``, ``fit_info_``), plus
    ``fit_info_["trained_with"]``: how many models shared the loop. Returns ``models``."""
    reason = why_not_together(models)
    if reason:
        raise ChaosbenchError(f"these models cannot be trained together: {reason}")
    k_models = len(models)
    data, vals = [], []
    dts = list(dt) if isinstance(dt, (list, tuple, np.ndarray)) else [dt] * k_models
    for model, train, validation, step in zip(models, trains, validations, dts):
        trajectories = as_trajectories(train)
        model.dimension_, model.dt_ = trajectories[0].shape[1], float(step)
        trajectories = model._start_fit(trajectories)  # (noise, if any, drawn once, as a lone fit draws it)
        val = as_trajectories(validation)
        seed_everything(model.seed)  # the lone fit's order: reseed, build, initialise
        model.net_ = model._build(model.dimension_)
        model._initialise(trajectories, model._validation_fn(val))
        data.append(torch.as_tensor(windows_of(trajectories, model.seq_len + 1, model.stride), dtype=torch.float32))
        vals.append(val)
    if len({d.shape for d in data}) != 1:
        raise ChaosbenchError(
            "models trained together need training data of one shape (systems of one dimension and length)"
        )
    windows = torch.stack(data)  # (K, items, seq_len + 1, n)
    logs = _train(models, _Stacked([m.net_ for m in models]), windows, _Validation(models, vals))
    for model, log in zip(models, logs):
        model.log_ = log
        model.fit_info_ = {**fit_info(log, model.seq_len), **model._family_info(), "trained_with": k_models}
    return models


def _train(models: list, net: _Stacked, windows: torch.Tensor, validate: _Validation) -> list[TrainLog]:
    """:func:`~chaosbench.models.training.train` for the stacked models, step for step."""
    lead = models[0]
    config = lead.config()
    k_models, n_items = windows.shape[0], windows.shape[1]
    rngs = [np.random.default_rng(m.config().seed) for m in models]
    params = [p for p in net.parameters() if p.requires_grad]
    optimizer = make_optimizer(params, config)
    logs = [TrainLog() for _ in models]
    best: list[dict | None] = [None] * k_models
    waited = [0] * k_models
    alive = np.ones(k_models, bool)
    # the safety net is each model's: the loop trains K of them, so it may take K times as long
    safety = config.safety_seconds * k_models
    t0 = time.perf_counter()
    planned = planned_steps(n_items, lead.batch_size, lead.batches_per_epoch, config.max_epochs)
    steps = 0

    def evaluate(epoch: int, first: bool = False) -> None:
        net.eval()
        scores = validate(net)
        for k in np.flatnonzero(alive):
            log, score = logs[k], float(scores[k])
            if first:
                log.initial_score = score
            else:
                log.val_score.append(score)
            if math.isfinite(score) and score < log.best_score:
                log.best_score, log.best_epoch, waited[k] = score, epoch, 0
                best[k] = copy.deepcopy(net.state_of(int(k)))
            elif not first:
                waited[k] += 1
                if config.patience and waited[k] >= config.patience:
                    log.stopped = f"no better validation score for {waited[k]} evaluations"
                    alive[k] = False

    evaluate(0, first=True)
    epochs = 0
    out_of_time = False
    while epochs < config.max_epochs and alive.any():
        net.train()
        orders = [batches(n_items, lead.batch_size, rng, lead.batches_per_epoch) for rng in rngs]
        totals, counts = np.zeros(k_models), np.zeros(k_models)
        for idx in zip(*orders):
            p = steps / planned
            for group in optimizer.param_groups:
                group["lr"] = config.lr_at(p)
            optimizer.zero_grad(set_to_none=True)
            x = torch.stack([windows[k, torch.as_tensor(i)] for k, i in enumerate(idx)])
            alpha = torch.tensor([m.alpha_ for m in models], dtype=torch.float32)
            if lead.forcing == "sparse":
                preds, _ = _forced_run(net, x, torch.ones(k_models), lead.tau)
            else:
                preds, states = _forced_run(net, x, alpha)
                if lead.alpha_method == "adaptive" and steps % lead.alpha_every == 0:
                    _update_alpha(models, net, states.detach(), x[:, :, 1:], alive)
            loss = ((preds - x[:, :, 1:]) ** 2).mean(dim=(1, 2, 3))  # (K,)
            finite = torch.isfinite(loss).numpy()
            for k in np.flatnonzero(alive & ~finite):
                logs[k].stopped = f"non-finite training loss at epoch {epochs}"
                alive[k] = False
            live = torch.as_tensor(alive)
            torch.where(live, loss, torch.zeros_like(loss)).sum().backward()
            if config.grad_clip > 0:
                _clip_each(params, config.grad_clip)
            optimizer.step()
            steps += 1
            for m in models:
                m._steps = steps
            values = loss.detach().numpy()
            for k in np.flatnonzero(alive):
                totals[k] += float(values[k]) * len(idx[k])
                counts[k] += len(idx[k])
                logs[k].steps += 1
                logs[k].samples += len(idx[k])
            if time.perf_counter() - t0 > safety:
                break
        epochs += 1
        for k in np.flatnonzero(alive):
            logs[k].epochs = epochs
            logs[k].train_loss.append(totals[k] / max(counts[k], 1))
        out_of_time = time.perf_counter() - t0 > safety
        evaluate(epochs)
        if out_of_time:
            for k in np.flatnonzero(alive):
                logs[k].stopped = (
                    f"safety limit of {safety:g} s ({config.safety_seconds:g} s for each of {k_models} models) "
                    f"reached after {epochs} of "
                    f"{config.max_epochs} epochs (this score depends on the machine's load)"
                )
                logs[k].safety_limit_hit = True
            break
    seconds = time.perf_counter() - t0
    for i, (model, log) in enumerate(zip(models, logs)):
        if not log.stopped:
            log.stopped = "max_epochs reached"
        log.seconds = seconds / k_models  # each model's share of the loop
        model.net_.load_state_dict(best[i] if best[i] is not None else net.state_of(i))
        model.net_.eval()
    return logs


@torch.no_grad()
def _update_alpha(models, net: _Stacked, states, x, alive) -> None:
    """Each live model's adaptive ``alpha`` (:meth:`_PLRNNForecaster._update_alpha`), from its batch."""
    n = x.shape[-1]
    inferred = torch.cat([x, states[..., n:]], dim=-1) if states.shape[-1] > n else x
    growth = net.jacobian_growth(inferred).numpy()
    for k in np.flatnonzero(alive):
        m = models[k]
        m.alpha_ = next_alpha(m.alpha_, float(growth[k]), m.alpha_decay)
        m.alpha_history_.append(m.alpha_)


@torch.no_grad()
def _clip_each(params, max_norm: float) -> None:
    """:func:`torch.nn.utils.clip_grad_norm_` for each model on its own slice of the stacked weights (the
    same arithmetic: the norm of the per-tensor norms, ``max_norm / (norm + 1e-6)`` capped at 1)."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    norms = torch.stack([torch.linalg.vector_norm(g.reshape(len(g), -1), dim=1) for g in grads])  # (tensors, K)
    total = torch.linalg.vector_norm(norms, dim=0)
    coef = torch.clamp(max_norm / (total + 1e-6), max=1.0)
    for g in grads:
        g.mul_(coef.reshape(-1, *([1] * (g.dim() - 1))))


__all__ = ["fit_together", "why_not_together"]
