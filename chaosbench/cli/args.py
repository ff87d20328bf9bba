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
