"""Two generic speed levers for the sequence models' training step, measured side by side: bfloat16
autocast and ``torch.compile``.

The sequence models' fits are compute-bound training steps (``benchmarks/torch_profile.py``), so the levers
left after the calibration are the ones that make a step itself cheaper without changing the model: running
its matrix products in bfloat16 (``torch.autocast("cpu", dtype=torch.bfloat16)``; this CPU has AVX512-BF16
but no AMX) or fusing its operations with the inductor compiler (``torch.compile``, default mode). For each
model at its defaults, an untrained network for 3 variables, random windows of the default batch and
length, one torch thread: the CPU milliseconds (``time.process_time``) of one training step (the model's own
loss, backward, AdamW), the best of three rounds that interleave the variants so load drifts touch them
alike; the compile time of the first compiled step beside it. A variant that fails is reported with its
error. The ratio is eager float32 over the variant (above 1: the variant is faster).

Writes ``results/perf/torch_levers.md`` and ``.json``.

usage: python benchmarks/torch_levers.py [--models lstm gru transformer lru mamba] [--repeats 10]
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from common import load_average, versions_line, write_report  # noqa: E402
from torch_profile import _network  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = ("float32", "bfloat16 autocast", "torch.compile")


def _steps(name: str) -> tuple[dict, dict, dict]:
    """One training-step function per variant of ``name``, the compile seconds and the errors."""
    import torch

    model, net, optimizer = _network(name)
    windows = torch.randn(model.batch_size, model.seq_len + 1, 3)
    compiled = torch.compile(lambda w: model._loss(net, w))

    def step(loss_of):
        def run():
            optimizer.zero_grad(set_to_none=True)
            loss_of(windows).backward()
            optimizer.step()

        return run

    def bf16_loss(w):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return model._loss(net, w)

    steps = {
        "float32": step(lambda w: model._loss(net, w)),
        "bfloat16 autocast": step(bf16_loss),
        "torch.compile": step(compiled),
    }
    seconds, errors = {}, {}
    for label in list(steps):
        t0 = time.perf_counter()
        try:
            steps[label]()  # the first step: compiles, and shows whether the variant runs at all
        except Exception as err:  # noqa: BLE001 - a variant that cannot run is a result
            errors[label] = f"{type(err).__name__}: {str(err).splitlines()[0][:160]}"
            del steps[label]
        else:
            seconds[label] = time.perf_counter() - t0
    return steps, seconds, errors


def measure(name: str, repeats: int) -> dict:
    """CPU ms of one training step per variant (best of three interleaved rounds of ``repeats`` steps)."""
    steps, first, errors = _steps(name)
    best = dict.fromkeys(steps, float("inf"))
    for _ in range(3):
        for label, run in steps.items():
            t0 = time.process_time()
            for _ in range(repeats):
                run()
            best[label] = min(best[label], (time.process_time() - t0) / repeats * 1e3)
    return {
        "model": name,
        "ms_per_step": best,
        "ratio": {k: best["float32"] / v for k, v in best.items() if k != "float32"},
        "compile_seconds": round(first.get("torch.compile", float("nan")), 1),
        "errors": errors,
    }


def markdown(rows: list[dict], command: str, load: list[str], versions: dict) -> list[str]:
    lines = [
        "# Speed levers for the sequence models' training step: bfloat16 autocast and torch.compile",
        "",
        f"Command: `{command}` (load average before {load[0]}, after {load[1]}; one torch thread, CPU ms of one "
        "training step at the model's default batch and window, best of three interleaved rounds). Ratio: eager "
        "float32 over the variant (above 1: faster).",
        "",
        "| model | float32 ms | bfloat16 autocast ms (ratio) | torch.compile ms (ratio) | compile s |",
        "|---|---:|---:|---:|---:|",
    ]

    def cell(r: dict, label: str) -> str:
        if label in r["errors"]:
            return "fails"
        return f"{r['ms_per_step'][label]:.1f} ({r['ratio'][label]:.2f}×)"

    for r in rows:
        lines.append(
            f"| {r['model']} | {r['ms_per_step']['float32']:.1f} | {cell(r, 'bfloat16 autocast')} | "
            f"{cell(r, 'torch.compile')} | {r['compile_seconds']:.0f} |"
        )

    def best(label: str) -> str:
        ok = [r for r in rows if label in r["ratio"]]
        if not ok:
            return "none (every model fails)"
        r = max(ok, key=lambda r: r["ratio"][label])
        return f"{r['ratio'][label]:.2f}× ({r['model']})"

    failures = [f"{r['model']} ({label}): {msg}" for r in rows for label, msg in r["errors"].items()]
    if failures:
        lines += ["", "Variants that do not run: " + "; ".join(failures) + "."]
    lines += [
        "",
        f"Best ratios: {best('bfloat16 autocast')} with bfloat16 autocast, {best('torch.compile')} with "
        "torch.compile. The cost goal asks for 3×. The steps are small matrix products and recurrences whose "
        "time is spread over many short operations: bfloat16's faster products are eaten by the casts around "
        "them, and fusion pays most where a step is many tiny operations (Mamba's selective scan) at a compile "
        "time each fit pays again. bfloat16 would also change what a model learns (8-bit mantissas in every "
        "training product), so either lever would need the calibration's skill checks before it could become "
        "a default; neither is one.",
        "",
        versions_line(versions),
    ]
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["lstm", "gru", "transformer", "lru", "mamba"])
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--out", default=str(ROOT / "results" / "perf"))
    args = ap.parse_args()

    import torch

    from chaosbench.bench.cell import dependency_versions

    torch.set_num_threads(1)
    command = "python benchmarks/torch_levers.py --models " + " ".join(args.models) + f" --repeats {args.repeats}"
    load = [load_average()]
    rows = []
    for name in args.models:
        rows.append(measure(name, args.repeats))
        print(rows[-1], flush=True)
    load.append(load_average())
    versions = dependency_versions()
    lines = markdown(rows, command, load, versions)
    path = write_report(
        Path(args.out), "torch_levers", lines, {"command": command, "load": load, "rows": rows, "versions": versions}
    )
    print("\n".join(lines))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
