"""Where a torch model's fit spends its CPU time, phase by phase.

Each model is fitted at its defaults on the standard seed-0 Lorenz task with one torch thread, except that
training stops after ``--epochs`` epochs; the CPU seconds (``time.process_time``) of every phase are summed
by wrapping the calls the training loop makes, without changing them:

- *forward*: the training loss of a batch (``_loss``: the teacher-forced pass and any free-running part);
- *backward*: ``loss.backward()``;
- *optimiser*: gradient clipping and the optimiser step;
- *validation*: the early-stopping forecasts after every epoch;
- *readout*: the least-squares readout after training (its ridge path scored on validation);
- *other*: the rest (building the network, cutting windows, copying the best weights).

The training phases (forward, backward, optimiser) are scaled to the model's default number of epochs, and
the validation to one call before training and one after every epoch, to give the breakdown of a default
fit; the readout and the rest happen once. A second table times
the forward + backward + optimiser step of one training batch with and without the free-running part of the
loss (``rollout_steps``) for the gated RNNs. The point: if nearly all the time is in the training batches and
those are compute-bound, only fewer FLOPs (epochs, window length, width) cut the cost; batching several
systems into one process cannot (issue 16 measured a stacked LSTM 5-10x slower per system).

Writes ``results/perf/torch_profile.md`` and ``.json``.

usage: python benchmarks/torch_profile.py [--models lstm gru transformer lru mamba] [--epochs 3]
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import time  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from pathlib import Path  # noqa: E402

from calibrate_torch import load_task  # noqa: E402
from common import load_average, versions_line, write_report  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PHASES = ("forward", "backward", "optimiser", "validation", "readout", "other")
PER_EPOCH = ("forward", "backward", "optimiser")


class Clock:
    """CPU seconds per phase; ``with clock("name"):`` adds to a phase (nested phases are not double-counted)."""

    def __init__(self) -> None:
        self.seconds = dict.fromkeys(PHASES, 0.0)
        self.calls = dict.fromkeys(PHASES, 0)
        self._active = False

    @contextmanager
    def __call__(self, phase: str):
        if self._active:  # e.g. the validation forecasts inside the readout's ridge path
            yield
            return
        self._active, t0 = True, time.process_time()
        try:
            yield
        finally:
            self.seconds[phase] += time.process_time() - t0
            self.calls[phase] += 1
            self._active = False


def profile_fit(name: str, epochs: int) -> dict:
    """Fit ``name`` for ``epochs`` epochs with every phase timed; returns the phases and the fit's facts."""
    import torch

    from chaosbench.models import make_model
    from chaosbench.models import training

    task = load_task("Lorenz", 0)
    model = make_model(name, seed=0, max_epochs=epochs)
    default_epochs = make_model(name).get_params()["max_epochs"]
    clock = Clock()

    loss, validation_fn, readout = model._loss, model._validation_fn, model._least_squares_readout

    def timed_loss(net, windows):
        with clock("forward"):
            return loss(net, windows)

    def timed_validation_fn(validation):
        fn = validation_fn(validation)
        if fn is None:
            return None

        def timed():
            with clock("validation"):
                return fn()

        return timed

    def timed_readout(trajectories, validation):
        with clock("readout"):
            return readout(trajectories, validation)

    model._loss, model._validation_fn, model._least_squares_readout = timed_loss, timed_validation_fn, timed_readout
    backward, clip, make_optimizer = torch.Tensor.backward, torch.nn.utils.clip_grad_norm_, training.make_optimizer

    def timed_backward(self, *args, **kwargs):
        with clock("backward"):
            return backward(self, *args, **kwargs)

    def timed_clip(*args, **kwargs):
        with clock("optimiser"):
            return clip(*args, **kwargs)

    def timed_make_optimizer(params, config):
        optimizer = make_optimizer(params, config)
        step = optimizer.step

        def timed_step(*args, **kwargs):
            with clock("optimiser"):
                return step(*args, **kwargs)

        optimizer.step = timed_step
        return optimizer

    torch.Tensor.backward, torch.nn.utils.clip_grad_norm_ = timed_backward, timed_clip
    training.make_optimizer = timed_make_optimizer
    try:
        t0 = time.process_time()
        model.fit(task.train, dt=task.dt, validation=task.validation)
        total = time.process_time() - t0
    finally:
        torch.Tensor.backward, torch.nn.utils.clip_grad_norm_ = backward, clip
        training.make_optimizer = make_optimizer
    seconds = dict(clock.seconds)
    seconds["other"] = total - sum(v for k, v in seconds.items() if k != "other")
    # the default fit: the training phases scaled to the default epochs, the validation per call to one call
    # before training and one after every epoch
    scaled = {k: v * (default_epochs / epochs if k in PER_EPOCH else 1.0) for k, v in seconds.items()}
    if clock.calls["validation"]:
        scaled["validation"] = seconds["validation"] / clock.calls["validation"] * (default_epochs + 1)
    params = model.get_params()
    return {
        "model": name,
        "epochs": epochs,
        "default_epochs": default_epochs,
        "steps": model.fit_info_["steps"],
        "cpu_s": round(total, 2),
        "phases_s": {k: round(v, 3) for k, v in seconds.items()},
        "validation_calls": clock.calls["validation"],
        "default_fit_s": {k: round(v, 2) for k, v in scaled.items()},
        "batch_size": params["batch_size"],
        "seq_len": params["seq_len"],
        "n_parameters": model.n_parameters,
    }


def _network(name: str, **overrides):
    """``name`` at its defaults (with ``overrides``), its untrained network for 3 variables and an AdamW."""
    import numpy as np
    import torch

    from chaosbench.models import make_model

    model = make_model(name, seed=0, **overrides)
    model.increment_std_ = np.ones(3)
    net = model._build(3)
    return model, net, torch.optim.AdamW(net.parameters(), lr=1e-3)


def best_step_ms(setups: dict, repeats: int) -> dict:
    """CPU ms of one training step (forward + backward + AdamW) for each ``label -> (model, net, optimizer,
    windows)``, the best of three rounds that interleave the labels (so load drifts touch them alike)."""
    best = dict.fromkeys(setups, float("inf"))
    for _ in range(3):
        for label, (model, net, optimizer, windows) in setups.items():
            t0 = time.process_time()
            for _ in range(repeats):
                optimizer.zero_grad(set_to_none=True)
                model._loss(net, windows).backward()
                optimizer.step()
            best[label] = min(best[label], (time.process_time() - t0) / repeats * 1e3)
    return best


def rollout_share(name: str, repeats: int = 40) -> dict:
    """CPU ms of one training step with the model's ``rollout_steps`` and with 0, on random windows of the
    default shape."""
    import torch

    with_rollout, without = _network(name), _network(name, rollout_steps=0)
    windows = torch.randn(with_rollout[0].batch_size, with_rollout[0].seq_len + 1, 3)
    best = best_step_ms({"default": (*with_rollout, windows), "rollout_steps=0": (*without, windows)}, repeats)
    return {"model": name, "rollout_steps": with_rollout[0].rollout_steps, "ms_per_step": best}


def batch_scaling(name: str, factor: int = 4, repeats: int = 20) -> dict:
    """CPU ms of one training step at the default batch size and at ``factor`` times it (random windows of the
    default length). A step that costs ``factor`` times more is compute-bound; one that costs about the same
    is dominated by per-operation overhead, and training several systems' models in one stacked step would
    divide that overhead among them."""
    import torch

    model, net, optimizer = _network(name)
    sizes = {"default": model.batch_size, "larger": factor * model.batch_size}
    setups = {k: (model, net, optimizer, torch.randn(b, model.seq_len + 1, 3)) for k, b in sizes.items()}
    return {"model": name, "batch_sizes": sizes, "ms_per_step": best_step_ms(setups, repeats)}


def markdown(
    rows: list[dict], steps: list[dict], scaling: list[dict], command: str, load: list[str], versions: dict
) -> list[str]:
    lines = [
        "# Where the torch models' fit time goes (Lorenz, standard seed-0 task)",
        "",
        f"Command: `{command}` ({time.strftime('%Y-%m-%d')}; one torch thread; CPU seconds from "
        f"`time.process_time`; load average before / after: {load[0]} / {load[1]}).",
        "",
        "Each model at its defaults except the epochs, which stop early; the training phases (forward, backward, "
        "optimiser) are scaled to the default epochs and the validation to one call per epoch and one before. "
        "Shares of a default fit:",
        "",
        "| model | epochs run (default) | CPU s run | default fit CPU s (est.) | forward | backward | optimiser "
        "| validation | readout | other | training batches (forward+backward+optimiser) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        s = r["default_fit_s"]
        total = sum(s.values())
        share = {k: 100 * v / total for k, v in s.items()}
        train = share["forward"] + share["backward"] + share["optimiser"]
        lines.append(
            f"| {r['model']} | {r['epochs']} ({r['default_epochs']}) | {r['cpu_s']:.1f} | {total:.0f} | "
            + " | ".join(f"{share[k]:.0f}%" for k in PHASES)
            + f" | **{train:.0f}%** |"
        )
    if steps:
        lines += [
            "",
            "One training step (forward + backward + AdamW, random windows of the default shape), CPU ms, the best "
            "of three interleaved rounds:",
            "",
            "| model | with the free-running part | without (`rollout_steps=0`) | the free-running part's share |",
            "|---|---:|---:|---:|",
        ]
        for s in steps:
            a, b = s["ms_per_step"]["default"], s["ms_per_step"]["rollout_steps=0"]
            lines.append(
                f"| {s['model']} (rollout_steps={s['rollout_steps']}) | {a:.1f} | {b:.1f} | {100 * (a - b) / a:.0f}% |"
            )
    if scaling:
        lines += [
            "",
            "Is a training step compute-bound? CPU ms of one step (forward + backward + AdamW, random windows of "
            "the default length) at the default batch and at a larger one, the best of three interleaved rounds. "
            "*Per-window cost ratio* 1.0: compute-bound (training several systems' models in one stacked step "
            "saves nothing); near 1/4: overhead-bound. A larger batch is the best case for stacking: stacked "
            "models have a weight matrix per system and lose the fused kernels (issue 16 measured a stacked LSTM "
            "5-10x slower per system):",
            "",
            "| model | batch | ms per step | larger batch | ms per step | per-window cost ratio |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for s in scaling:
            b, ms = s["batch_sizes"], s["ms_per_step"]
            ratio = (ms["larger"] / b["larger"]) / (ms["default"] / b["default"])
            lines.append(
                f"| {s['model']} | {b['default']} | {ms['default']:.1f} | {b['larger']} | {ms['larger']:.1f} | "
                f"{ratio:.2f} |"
            )
    lines += ["", versions_line(versions)]
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["lstm", "gru", "transformer", "lru", "mamba"])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--out", default=str(ROOT / "results" / "perf"))
    args = ap.parse_args()

    import torch

    from chaosbench.bench.cell import dependency_versions

    torch.set_num_threads(1)
    torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))])  # torch's lazy imports, outside every phase
    command = "python benchmarks/torch_profile.py --models " + " ".join(args.models) + f" --epochs {args.epochs}"
    load = [load_average()]
    rows, steps, scaling = [], [], []
    for name in args.models:
        rows.append(profile_fit(name, args.epochs))
        print(rows[-1], flush=True)
        if name in ("lstm", "gru"):
            steps.append(rollout_share(name))
            print(steps[-1], flush=True)
        scaling.append(batch_scaling(name))
        print(scaling[-1], flush=True)
    load.append(load_average())
    versions = dependency_versions()
    lines = markdown(rows, steps, scaling, command, load, versions)
    record = {"command": command, "load": load, "rows": rows, "steps": steps, "scaling": scaling, "versions": versions}
    path = write_report(Path(args.out), "torch_profile", lines, record)
    print("\n".join(lines))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
