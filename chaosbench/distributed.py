"""Work spread over processes or a Dask cluster: the client, and dataset generation one system per task.

``dask_client`` gives a ``dask.distributed.Client`` on a running scheduler (e.g. started by
dask-jobqueue on Slurm) or on a LocalCluster; the benchmark (:mod:`chaosbench.bench.runner`), the sampler
and :func:`generate_distributed` use it. The ``dask`` extra provides it.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from .catalog import load_catalog
from .errors import ChaosbenchError
from .models import EXTRA_MODULES, missing_extra_message


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


@contextlib.contextmanager
def dask_client(scheduler: str | None = None, n_workers: int | None = None):
    """A ``dask.distributed.Client`` on ``scheduler`` or on a LocalCluster of ``n_workers`` workers."""
    try:
        from dask.distributed import Client, LocalCluster
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] in EXTRA_MODULES["dask"]:
            raise ChaosbenchError(missing_extra_message("running on Dask", "dask")) from None
        raise
    if scheduler:
        client = Client(scheduler)
        cluster = None
    else:
        cluster = LocalCluster(
            n_workers=n_workers or default_workers(), threads_per_worker=1, processes=True, dashboard_address=None
        )
        client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _generate_one(name: str, out: str, catalog, options: dict) -> str | None:
    from .store import generate

    try:
        generate([name], out=out, catalog=catalog, **options)
    except ChaosbenchError as exc:
        return str(exc)
    return None


def generate_distributed(
    systems="all",
    *,
    out=None,
    catalog=None,
    overwrite: bool = False,
    scheduler: str | None = None,
    dask_workers: int | None = None,
    progress: bool = True,
    **options,
) -> Path:
    """:func:`chaosbench.store.generate` with one Dask task per system.

    The dataset directory is prepared once here; each worker then writes its system's file
    atomically, so the result is the same dataset a local run writes. Workers must see ``out``
    (a shared disk, as on a Slurm cluster)."""
    from tqdm.auto import tqdm

    from .store import GenerationFailed, generate, resolve_systems

    names = resolve_systems(systems, load_catalog(catalog))
    path = generate([], out=out, catalog=catalog, overwrite=overwrite, **options)
    failures = []
    with dask_client(scheduler, dask_workers) as client:
        from dask.distributed import as_completed as dask_completed

        futures = [
            client.submit(_generate_one, n, str(path), catalog, options, key=f"chaosbench-generate-{n}", pure=False)
            for n in names
        ]
        with tqdm(total=len(futures), desc="generate", unit="system", disable=not progress) as bar:
            for fut in dask_completed(futures):
                why = fut.result()
                if why:
                    failures.append(why)
                bar.update()
    if failures:
        raise GenerationFailed(failures, path)
    return path
