"""Helpers shared by the benchmark scripts (run as ``python benchmarks/<script>.py``)."""

from __future__ import annotations

import json
import os
from pathlib import Path


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, for the record of a timing."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def parse_sets(items: list[str]) -> dict[str, dict]:
    """``--set model.key=value`` (value parsed as JSON, else kept as text) -> {model: {key: value}}."""
    out: dict[str, dict] = {}
    for item in items:
        target, _, value = item.partition("=")
        model, _, key = target.partition(".")
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = value
        out.setdefault(model, {})[key] = parsed
    return out


def versions_line(versions: dict) -> str:
    """The package versions of a run as one sentence for a report (names sorted)."""
    return "Versions: " + ", ".join(f"{k} {v}" for k, v in sorted(versions.items())) + "."


def write_report(out: Path, name: str, lines: list[str], record: dict) -> Path:
    """Write ``out/name.md`` (``lines``) and ``out/name.json`` (``record``); returns the markdown's path."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.md").write_text("\n".join(lines) + "\n")
    (out / f"{name}.json").write_text(json.dumps(record, indent=1, default=str))
    return out / f"{name}.md"
