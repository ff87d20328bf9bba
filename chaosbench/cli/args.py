"""Argument types shared by the CLI's commands: numbers checked at parse time, with one-line errors."""

from __future__ import annotations

import argparse
import math


def number(kind: type = float, *, allow_zero: bool = False):
    """An argparse type accepting a finite ``kind`` value > 0 (or >= 0 with ``allow_zero``)."""
    what = f"{'non-negative' if allow_zero else 'positive'} {'integer' if kind is int else 'number'}"

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a {what}, got '{text}'") from None
        if not (math.isfinite(value) and (value >= 0 if allow_zero else value > 0)):
            raise argparse.ArgumentTypeError(f"must be a {what}, got {text}")
        return value

    return parse


def add_dask_options(parser, what: str) -> None:
    """Add ``--scheduler`` and ``--dask-workers`` (at most one of them): run ``what`` on Dask."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="tcp://HOST:PORT", help=f"{what} on this Dask scheduler")
    where.add_argument(
        "--dask-workers", type=number(int), metavar="N", help=f"{what} on a local Dask cluster of N workers"
    )


def dask_options(args) -> dict:
    """The options of :func:`add_dask_options` as the library's keyword arguments."""
    return {"scheduler": args.scheduler, "dask_workers": args.dask_workers}
