"""What the least-squares readout adds to a fit: CPU seconds of the refit alone (features along the training
data, the ridge path, one validation forecast per ridge) on the standard Lorenz task, for the LSTM and GRU
fitted by ``benchmarks/calibrate_torch.py`` (their saved weights; run that first). Best of three.

usage: python benchmarks/readout_cost.py
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_v] = "1"

import time  # noqa: E402

import calibrate_torch as ct  # noqa: E402
import torch  # noqa: E402

from chaosbench.models import make_model  # noqa: E402
from chaosbench.models.torch_base import increment_std  # noqa: E402


def main() -> None:
    torch.set_num_threads(1)
    task = ct.load_task(ct.SYSTEM, 0)
    for name in ("lstm", "gru"):
        model = type(make_model(name)).load(ct.SCRATCH / f"{name}-ls-{ct.SYSTEM}.pt")
        model.increment_std_ = increment_std([task.train])
        best = float("inf")
        for _ in range(3):
            t0 = time.process_time()
            model._least_squares_readout([task.train], [task.validation])
            best = min(best, time.process_time() - t0)
        print(f"{name}: least-squares readout {best:.2f} CPU s", flush=True)


if __name__ == "__main__":
    main()
