"""The forecasting benchmark, built on the catalog and its trajectories; models never import it.

A run flows one way through its modules:

- :mod:`~chaosbench.bench.tasks`: the protocol, a system at a resolution for a seed as training data,
  test windows and certified truth (and the named presets);
- :mod:`~chaosbench.bench.cell`: one model on one task in its own process (fit, forecast, record);
- :mod:`~chaosbench.bench.scoring`: the scores of a cell's forecasts against its task;
- :mod:`~chaosbench.bench.results`: the results table, one parquet file per finished cell;
- :mod:`~chaosbench.bench.report` and :mod:`~chaosbench.bench.plots`: leaderboard and figures.

:mod:`~chaosbench.bench.runner` plans the cells and runs them locally or on Dask;
:mod:`~chaosbench.bench.leakage` checks that test windows are independent of the training data.
Nothing is re-exported: import the module you need.
"""
