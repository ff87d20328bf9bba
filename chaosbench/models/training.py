"""The one training loop every PyTorch model of chaosbench uses.

A model supplies a loss over a batch of training windows; this loop owns the rest: the optimiser
(AdamW, Loshchilov & Hutter 2019, or RAdam, Liu et al. 2020), a learning-rate schedule driven by
*progress* (the fraction of the planned optimiser steps done: a function of the step count only, so
a seed gives the same weights on any machine), gradient-norm clipping, early stopping on a
validation score with the best weights restored, a time budget that ends training early (the best
weights so far are kept, and the log says so), and a log of what happened.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np

from ..errors import ChaosbenchError

SCHEDULES = ("cosine", "exponential", "step", "constant")
OPTIMIZERS = ("adamw", "radam")


@dataclass(frozen=True)
class TrainConfig:
    """Settings of :func:`train`.

    Parameters
    ----------
    max_epochs : int
        Upper bound on passes over the training windows.
    lr : float
        Initial learning rate.
    final_lr_fraction : float
        Learning rate at the end of the schedule, as a fraction of ``lr`` (cosine and exponential).
    schedule : str
        ``"cosine"`` (Loshchilov & Hutter 2017), ``"exponential"``, ``"step"`` (x0.1 at 1/2 and 3/4 of
        progress) or ``"constant"``.
    optimizer : str
        ``"adamw"`` or ``"radam"``.
    weight_decay : float
        Decoupled weight decay.
    grad_clip : float
        Largest gradient norm (0: no clipping).
    patience : int
        Epochs without a better validation score before stopping (0: never stop early).
    safety_seconds : float
        A safety net, not a budget: the work is fixed by ``max_epochs`` (and the caller's batches per
        epoch), so a score does not depend on how busy the machine is. Only a runaway fit reaches
        this many seconds; the loop then stops after the step past it and the log says so
        (``safety_limit_hit``), since that score does depend on the machine's load.
    seed : int
        Seeds the batch order and ``torch``.
    """

    max_epochs: int = 100
    lr: float = 1e-3
    final_lr_fraction: float = 0.01
    schedule: str = "cosine"
    optimizer: str = "adamw"
    weight_decay: float = 1e-4
    grad_clip: float = 1.0
    patience: int = 10
    safety_seconds: float = 1500.0
    seed: int = 0

    def __post_init__(self):
        if self.schedule not in SCHEDULES:
            raise ChaosbenchError(f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ChaosbenchError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        v = self.max_epochs
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ChaosbenchError(f"max_epochs must be a positive integer, got {v!r}")
        if not isinstance(self.patience, int) or self.patience < 0:
            raise ChaosbenchError(f"patience must be a non-negative integer, got {self.patience!r}")
        for name in ("lr", "safety_seconds"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ChaosbenchError(f"{name} must be a positive number, got {v!r}")
        for name in ("weight_decay", "grad_clip"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise ChaosbenchError(f"{name} must be a non-negative number, got {v!r}")
        if not (0 < self.final_lr_fraction <= 1):
            raise ChaosbenchError(f"final_lr_fraction must be in (0, 1], got {self.final_lr_fraction!r}")

    def lr_at(self, progress: float) -> float:
        """The learning rate at ``progress`` in [0, 1]."""
        p, f = min(max(progress, 0.0), 1.0), self.final_lr_fraction
        if self.schedule == "cosine":
            return self.lr * (f + (1 - f) * 0.5 * (1 + math.cos(math.pi * p)))
        if self.schedule == "exponential":
            return self.lr * f**p
        if self.schedule == "step":
            return self.lr * (0.1 if p >= 0.5 else 1.0) * (0.1 if p >= 0.75 else 1.0)
        return self.lr


@dataclass
class TrainLog:
    """What :func:`train` did: losses per epoch, the best validation score and where it was."""

    train_loss: list[float] = field(default_factory=list)
    val_score: list[float] = field(default_factory=list)
    best_epoch: int = -1
    best_score: float = math.inf
    initial_score: float = math.nan
    epochs: int = 0
    steps: int = 0
    samples: int = 0
    seconds: float = 0.0
    stopped: str = ""
    safety_limit_hit: bool = False

    def summary(self) -> dict:
        """A JSON-ready digest for ``fit_info_``."""
        return {
            "epochs": self.epochs,
            "steps": self.steps,
            "best_epoch": self.best_epoch,
            "best_val_score": None if not math.isfinite(self.best_score) else self.best_score,
            "initial_val_score": None if not math.isfinite(self.initial_score) else self.initial_score,
            "final_train_loss": self.train_loss[-1] if self.train_loss else None,
            "first_train_loss": self.train_loss[0] if self.train_loss else None,
            "train_seconds": round(self.seconds, 3),
            "stopped": self.stopped,
            "safety_limit_hit": self.safety_limit_hit,
            "samples_per_second": round(self.samples / self.seconds, 1) if self.seconds > 0 else None,
        }


def seed_everything(seed: int) -> None:
    """Seed torch's global generator (weights, dropout)."""
    import torch

    torch.manual_seed(seed)


def batches(n_items: int, batch_size: int, rng: np.random.Generator, limit: int | None = None) -> Iterable[np.ndarray]:
    """Indices of one epoch in a random order, ``batch_size`` at a time (at most ``limit`` batches)."""
    order = rng.permutation(n_items)
    count = 0
    for start in range(0, n_items, batch_size):
        if limit is not None and count >= limit:
            return
        yield order[start : start + batch_size]
        count += 1


def make_optimizer(params: list, config: TrainConfig):
    """The optimiser of ``config`` over ``params``: AdamW, or RAdam with decoupled weight decay."""
    import torch

    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.RAdam(params, lr=config.lr, weight_decay=config.weight_decay, decoupled_weight_decay=True)


def planned_steps(n_items: int, batch_size: int, batches_per_epoch: int | None, max_epochs: int) -> int:
    """Optimiser steps of a whole training run: the denominator of the schedule's progress."""
    per_epoch = math.ceil(n_items / batch_size)
    if batches_per_epoch is not None:
        per_epoch = min(per_epoch, batches_per_epoch)
    return per_epoch * max_epochs


def train(
    module,
    loss_fn: Callable,
    n_items: int,
    config: TrainConfig,
    *,
    batch_size: int,
    val_fn: Callable[[], float] | None = None,
    batches_per_epoch: int | None = None,
    after_step: Callable[[], None] | None = None,
    name: str = "model",
) -> TrainLog:
    """Train ``module`` by minimising ``loss_fn(indices)`` over batches of item indices.

    Parameters
    ----------
    module : torch.nn.Module
        The network; its parameters are optimised in place and, with ``val_fn``, left at the
        best-scoring epoch.
    loss_fn : callable
        ``loss_fn(indices) -> scalar tensor`` for a batch of training-item indices.
    n_items : int
        Number of training items (windows) the indices refer to.
    val_fn : callable, optional
        ``val_fn() -> float``, lower is better; called in ``torch.no_grad`` with the module in eval mode.
    after_step : callable, optional
        Called after every optimiser step (e.g. to project parameters).
    """
    import torch

    if n_items < 1:
        raise ChaosbenchError(f"{name}: no training windows (the training data are shorter than one window)")
    rng = np.random.default_rng(config.seed)
    params = [p for p in module.parameters() if p.requires_grad]
    optimizer = make_optimizer(params, config)
    log, best_state, waited = TrainLog(), None, 0
    t0 = time.perf_counter()
    planned = planned_steps(n_items, batch_size, batches_per_epoch, config.max_epochs)

    if val_fn is not None:  # the starting weights are a candidate too (they may come from a fit of their own)
        module.eval()
        with torch.no_grad():
            score = float(val_fn())
        log.initial_score = score
        if math.isfinite(score):
            log.best_score, log.best_epoch = score, 0
            best_state = copy.deepcopy(module.state_dict())

    while log.epochs < config.max_epochs:
        module.train()
        total, count = 0.0, 0
        for idx in batches(n_items, batch_size, rng, batches_per_epoch):
            for group in optimizer.param_groups:
                group["lr"] = config.lr_at(log.steps / planned)
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(idx)
            if not torch.isfinite(loss):
                log.stopped = f"non-finite training loss at epoch {log.epochs}"
                break
            loss.backward()
            if config.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
            optimizer.step()
            if after_step is not None:
                after_step()
            total += float(loss.detach()) * len(idx)
            count += len(idx)
            log.steps += 1
            log.samples += len(idx)
            if time.perf_counter() - t0 > config.safety_seconds:
                break
        if log.stopped:
            break
        log.epochs += 1
        log.train_loss.append(total / max(count, 1))
        out_of_time = time.perf_counter() - t0 > config.safety_seconds
        if val_fn is not None:
            module.eval()
            with torch.no_grad():
                score = float(val_fn())
            log.val_score.append(score)
            if math.isfinite(score) and score < log.best_score:
                log.best_score, log.best_epoch, waited = score, log.epochs, 0
                best_state = copy.deepcopy(module.state_dict())
            else:
                waited += 1
                if config.patience and waited >= config.patience:
                    log.stopped = f"no better validation score for {waited} evaluations"
                    break
        if out_of_time:
            log.stopped = (
                f"safety limit of {config.safety_seconds:g} s reached after {log.epochs} of "
                f"{config.max_epochs} epochs (this score depends on the machine's load)"
            )
            log.safety_limit_hit = True
            break
    else:
        log.stopped = "max_epochs reached"
    log.seconds = time.perf_counter() - t0
    if best_state is not None:
        module.load_state_dict(best_state)
    elif val_fn is None and log.train_loss:
        log.best_epoch = log.epochs
    if not log.train_loss and not best_state:
        raise ChaosbenchError(f"{name}: training failed before one epoch ended ({log.stopped or 'no steps'})")
    module.eval()
    return log
