"""The catalog: ``systems.json`` (and user catalogs) read and validated into :class:`System` records.

Every fact about a system lives in the catalog; nothing about a particular system is written in
Python. Validation is strict and names the system and field of every problem.

An entry is a flow (``dx/dt = f(x)``, the default) or, with ``"kind": "map"``, a discrete map
(``x_{n+1} = f(x_n)``, its ``equations`` giving the next state). A map has no period: its time unit
is one iteration, so :attr:`System.period` is 1 and ``period``/``dt`` may not be given.
"""

from __future__ import annotations

import hashlib
import json
import keyword
import math
import os
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Mapping

from .errors import CatalogError
from .expressions import RESERVED, constant_value, delay_lag, parse

#: the catalog: package data (``chaosbench/systems.json``), so a wheel carries it. The repository's root
#: ``systems.json`` is a symbolic link to this file: a checkout, an editable install and a wheel all read,
#: and ``chaosbench annotate`` writes, the same bytes.
CATALOG_PATH = Path(str(resources.files(__package__) / "systems.json")).resolve()

REQUIRED = ("description", "citation", "variables", "equations", "parameters", "initial_conditions", "period")
OPTIONAL = (
    "doi",
    "flags",
    "delay",
    "observe",
    "invariants",
    "notes",
    "dt",
    "excluded",
    "forcing_phase",
    "kind",
    "provenance",
    "lyapunov_periods",
)
#: the fewest periods an entry's ``lyapunov_periods`` may ask the exponent runs to average over
LYAPUNOV_PERIODS_MIN = 100.0
#: what an entry's equations give: the time derivative (a flow) or the next state (a map)
KINDS = ("flow", "map")
#: fields a map may not have: it has no period (its time unit is one iteration), delay or forcing
NOT_FOR_MAPS = ("period", "dt", "delay", "forcing_phase", "lyapunov_periods")
FLAGS = ("nonautonomous", "hamiltonian", "conservative", "delay")
#: the index columns of a dataset file, so not available as variable names
COLUMN_NAMES = ("system", "trajectory", "step", "time")


@dataclass(frozen=True)
class System:
    """One chaotic system as the catalog describes it."""

    name: str
    description: str
    citation: str
    variables: tuple[str, ...]
    equations: tuple[str, ...]
    parameters: dict[str, float]
    initial_conditions: tuple[float, ...]
    period: float
    flags: dict[str, bool]
    observe: dict[str, str] = field(default_factory=dict)
    forcing_phase: tuple[str, ...] = ()
    invariants: dict[str, Any] = field(default_factory=dict)
    doi: str | None = None
    dt: float | None = None
    notes: str | None = None
    excluded: str | None = None
    kind: str = "flow"
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def dimension(self) -> int:
        return len(self.variables)

    @property
    def is_map(self) -> bool:
        """Whether the equations give the next state of a discrete map (time unit: one iteration)."""
        return self.kind == "map"

    @property
    def is_delay(self) -> bool:
        return self.flags["delay"]

    @property
    def is_nonautonomous(self) -> bool:
        return self.flags["nonautonomous"]

    @property
    def max_lyapunov(self) -> float | None:
        """The leading Lyapunov exponent, the first entry of the stored spectrum (if annotated)."""
        spectrum = self.invariants.get("lyapunov_spectrum")
        return float(spectrum[0]) if spectrum else None

    @property
    def lyapunov_time(self) -> float | None:
        lam = self.max_lyapunov
        return 1.0 / lam if lam and lam > 0 else None

    @property
    def clock_variables(self) -> tuple[int, ...]:
        """Indices of the variables whose equation is a constant rate (``dz/dt = w``): the phase of a
        forcing made autonomous, that is, time itself rather than a state."""
        import ast

        out = []
        for i, tree in enumerate(self.equation_trees()):
            if {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} <= set(self.parameters) | {"pi"}:
                out.append(i)
        return tuple(out)

    def equation_trees(self) -> list:
        """Each right-hand side parsed (checked) into a syntax tree, in the order of the variables."""
        names = set(self.variables) | set(self.parameters)
        return [
            parse(
                text,
                where=f"system '{self.name}', field 'equations.{v}'",
                names=names,
                variables=self.variables,
                allow_delay=self.is_delay,
            )
            for v, text in zip(self.variables, self.equations)
        ]

    @property
    def content_hash(self) -> str:
        """Hash of what in the entry determines numbers (:func:`numbers`); datasets, tasks and cells
        are keyed by it, so editing a description, a citation or the provenance of an invariant
        keeps them."""
        return _hash(numbers(self.raw))

    def equation_text(self) -> list[str]:
        if self.is_map:
            return [f"{v}[n+1] = {e}" for v, e in zip(self.variables, self.equations)]
        return [f"d{v}/dt = {e}" for v, e in zip(self.variables, self.equations)]


@dataclass(frozen=True)
class Catalog(Mapping[str, System]):
    """An ordered mapping of system names to :class:`System`, with a version and a hash of what in
    it determines numbers (:func:`numbers` of every entry)."""

    systems: dict[str, System]
    version: str
    sources: tuple[str, ...]
    hash: str

    def __getitem__(self, name: str) -> System:
        try:
            return self.systems[name]
        except KeyError:
            raise CatalogError(unknown_system_message(name, self.systems)) from None

    def __iter__(self):
        return iter(self.systems)

    def __len__(self) -> int:
        return len(self.systems)

    def chaotic(self, kind: str | None = "flow") -> list[str]:
        """Names of the systems in the chaotic catalog (those without an ``excluded`` reason) of one
        ``kind`` ("flow", the default, or "map"; None for both): maps never join flows' benchmarks unasked."""
        if kind is not None and kind not in KINDS:
            raise CatalogError(f"unknown kind '{kind}'; kinds are {', '.join(KINDS)}")
        return [name for name, s in self.systems.items() if s.excluded is None and (kind is None or s.kind == kind)]


def unknown_system_message(name: str, known: Iterable[str]) -> str:
    import difflib

    known = list(known)
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    lower = [k for k in known if k.lower() == name.lower()]
    hint = (
        f"; did you mean {' or '.join(repr(c) for c in (lower or close))}?"
        if lower or close
        else "; run 'chaosbench list' to see the names"
    )
    return f"unknown system '{name}'{hint}"


#: the fields of an entry that determine its trajectories (and so every dataset, task and score);
#: the others are prose (description, citation, notes) or membership (excluded)
NUMBER_FIELDS = (
    "kind",
    "variables",
    "equations",
    "parameters",
    "initial_conditions",
    "period",
    "dt",
    "flags",
    "delay",
    "observe",
    "forcing_phase",
)


def numbers(entry: dict) -> dict:
    """The part of a catalog entry that determines numbers, as hashed.

    :data:`NUMBER_FIELDS` as given (a ``kind`` that states the default and flags that are false are
    left out, so spelling them out changes nothing), plus the one invariant every task reads: the
    leading Lyapunov exponent, which sets the Lyapunov time forecasts are scored in. The other
    invariants, their error bars and the record of how they were computed are descriptions.
    """
    out = {k: entry[k] for k in NUMBER_FIELDS if k in entry}
    if out.get("kind") == "flow":
        del out["kind"]
    if isinstance(out.get("flags"), dict):
        out["flags"] = {k: v for k, v in out["flags"].items() if v is not False}
    spectrum = (entry.get("invariants") or {}).get("lyapunov_spectrum")
    if spectrum:
        out["max_lyapunov"] = spectrum[0]
    return out


def _hash(obj: Any) -> str:
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _identifier(name: object, where: str) -> str:
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise CatalogError(f"{where}: '{name}' is not a valid name (letters, digits, underscore)")
    if name in RESERVED:
        raise CatalogError(f"{where}: '{name}' is reserved (a function, 'pi' or the time 't')")
    return name


def validate_system(name: str, entry: object) -> System:
    """Check one catalog entry and build its :class:`System`; raises :class:`CatalogError`."""
    w = f"system '{name}'"
    if not isinstance(entry, dict):
        raise CatalogError(f"{w}: an entry must be a JSON object")
    kind = entry.get("kind", "flow")
    if kind not in KINDS:
        raise CatalogError(f"{w}, field 'kind': must be one of {', '.join(KINDS)}, got {kind!r}")
    if kind == "map":
        _check_map_fields(w, entry)
    for key in REQUIRED:
        if key not in entry and not (kind == "map" and key == "period"):
            raise CatalogError(f"{w}: missing field '{key}'")
    unknown = set(entry) - set(REQUIRED) - set(OPTIONAL)
    if unknown:
        raise CatalogError(f"{w}: unknown field(s) {sorted(unknown)}; allowed: {', '.join(REQUIRED + OPTIONAL)}")
    for key in ("description", "citation"):
        if not isinstance(entry[key], str) or not entry[key].strip():
            raise CatalogError(f"{w}, field '{key}': must be a non-empty string")

    variables = entry["variables"]
    if not isinstance(variables, list) or not variables:
        raise CatalogError(f"{w}, field 'variables': must be a non-empty list of names")
    variables = [_identifier(v, f"{w}, field 'variables'") for v in variables]
    clash = [v for v in variables if v in COLUMN_NAMES]
    if clash:
        raise CatalogError(f"{w}, field 'variables': '{clash[0]}' is a column of every dataset; rename it")
    if len(set(variables)) != len(variables):
        raise CatalogError(f"{w}, field 'variables': names must be unique")

    params = entry["parameters"]
    if not isinstance(params, dict):
        raise CatalogError(f"{w}, field 'parameters': must be an object of name -> value")
    values: dict[str, float] = {}
    for pname, ptext in params.items():
        _identifier(pname, f"{w}, field 'parameters'")
        if pname in variables:
            raise CatalogError(f"{w}, field 'parameters.{pname}': the name is also a variable")
        values[pname] = constant_value(ptext, where=f"{w}, field 'parameters.{pname}'")

    flags = entry.get("flags", {})
    if not isinstance(flags, dict) or set(flags) - set(FLAGS):
        raise CatalogError(f"{w}, field 'flags': an object with keys among {', '.join(FLAGS)}")
    for k, v in flags.items():
        if not isinstance(v, bool):
            raise CatalogError(f"{w}, field 'flags.{k}': must be true or false")
    flags = {k: bool(flags.get(k, False)) for k in FLAGS}

    equations = entry["equations"]
    if not isinstance(equations, dict) or set(equations) != set(variables):
        raise CatalogError(f"{w}, field 'equations': one expression per variable, keys {variables}")
    names = set(variables) | set(values)
    uses_t = uses_delay = False
    for v in variables:
        tree = parse(
            equations[v],
            where=f"{w}, field 'equations.{v}'",
            names=names,
            variables=variables,
            allow_delay=flags["delay"],
        )
        import ast

        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in variables:
                uses_delay = True
                lag = delay_lag(node)
                tau = values[lag] if isinstance(lag, str) else float(lag)
                if not tau > 0:
                    raise CatalogError(f"{w}, field 'equations.{v}': the delay must be positive, got {tau}")
            elif isinstance(node, ast.Name) and node.id == "t" and not _is_delay_time(tree, node):
                if kind == "map":
                    raise CatalogError(
                        f"{w}, field 'equations.{v}': a map's next state cannot depend on the "
                        "time t (maps are autonomous)"
                    )
                uses_t = True
    if flags["delay"] and not uses_delay:
        raise CatalogError(f"{w}, field 'flags.delay': true, but no equation has a delayed term x(t - tau)")
    if uses_t and not flags["nonautonomous"]:
        # the converse is allowed: a driven system written autonomously with a phase variable
        raise CatalogError(f"{w}, field 'flags.nonautonomous': must be true since the equations use the time t")
    delay = entry.get("delay")
    if flags["delay"]:
        if delay is not None and (
            not isinstance(delay, dict) or delay.get("history", "constant") != "constant" or set(delay) - {"history"}
        ):
            raise CatalogError(f'{w}, field \'delay\': only {{"history": "constant"}} is supported')
    elif delay is not None:
        raise CatalogError(f"{w}, field 'delay': given, but flags.delay is false")

    ic = entry["initial_conditions"]
    if not isinstance(ic, list) or len(ic) != len(variables) or not all(_finite_number(x) for x in ic):
        raise CatalogError(f"{w}, field 'initial_conditions': {len(variables)} finite numbers, one per variable")
    for key in ("period", "dt"):
        if key in entry and not (_finite_number(entry[key]) and entry[key] > 0):
            raise CatalogError(f"{w}, field '{key}': must be a positive number")

    observe = entry.get("observe", {})
    if not isinstance(observe, dict) or set(observe) - set(variables):
        raise CatalogError(f"{w}, field 'observe': an object mapping variables to bounded expressions")
    for v, text in observe.items():
        parse(text, where=f"{w}, field 'observe.{v}'", names=names)
    forcing = entry.get("forcing_phase", [])
    if not isinstance(forcing, list) or not all(isinstance(f, str) for f in forcing):
        raise CatalogError(
            f"{w}, field 'forcing_phase': a list of expressions of t and the variables giving "
            "the forcing's phase angles (radians)"
        )
    if forcing and not flags["nonautonomous"]:
        raise CatalogError(f"{w}, field 'forcing_phase': given, but flags.nonautonomous is false")
    for i, text in enumerate(forcing):
        parse(text, where=f"{w}, field 'forcing_phase[{i}]'", names=names | {"t"})
    if "excluded" in entry and (not isinstance(entry["excluded"], str) or not entry["excluded"].strip()):
        raise CatalogError(f"{w}, field 'excluded': the reason the system is out of the chaotic catalog")
    if "lyapunov_periods" in entry and not (
        _finite_number(entry["lyapunov_periods"]) and entry["lyapunov_periods"] >= LYAPUNOV_PERIODS_MIN
    ):
        raise CatalogError(
            f"{w}, field 'lyapunov_periods': how many periods each Lyapunov run averages over, "
            f"a number >= {LYAPUNOV_PERIODS_MIN:g}"
        )
    if not isinstance(entry.get("provenance", {}), dict):
        raise CatalogError(f"{w}, field 'provenance': must be an object (how a sampled system was made)")
    invariants = entry.get("invariants", {})
    if not isinstance(invariants, dict):
        raise CatalogError(f"{w}, field 'invariants': must be an object")

    return System(
        name=name,
        description=entry["description"],
        citation=entry["citation"],
        variables=tuple(variables),
        equations=tuple(str(equations[v]) for v in variables),
        parameters=values,
        initial_conditions=tuple(float(x) for x in ic),
        period=1.0 if kind == "map" else float(entry["period"]),
        flags=flags,
        observe=dict(observe),
        forcing_phase=tuple(forcing),
        invariants=dict(invariants),
        doi=entry.get("doi"),
        dt=float(entry["dt"]) if "dt" in entry else None,
        notes=entry.get("notes"),
        excluded=entry.get("excluded"),
        kind=kind,
        raw=entry,
    )


def _check_map_fields(w: str, entry: dict) -> None:
    """Refuse what a map cannot have: a period or dt (its step is one iteration), delays, time, forcing."""
    for key in NOT_FOR_MAPS:
        if key in entry:
            raise CatalogError(
                f"{w}, field '{key}': not allowed for a map (kind 'map': its time step is one "
                "iteration; no period, dt, delay, forcing or lyapunov_periods)"
            )
    flags = entry.get("flags", {})
    if isinstance(flags, dict):
        for key in ("delay", "nonautonomous"):
            if flags.get(key):
                raise CatalogError(
                    f"{w}, field 'flags.{key}': a map is autonomous and without delays; "
                    "the equations give the next state from the current one"
                )


def _is_delay_time(tree, name_node) -> bool:
    import ast

    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.BinOp):
            if node.args[0].left is name_node:
                return True
    return False


def _finite_number(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def read_json(path: str | os.PathLike) -> dict:
    """Read a catalog file, turning I/O and JSON problems into one-line errors."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise CatalogError(f"catalog '{path}': cannot read it ({exc.strerror})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CatalogError(f"catalog '{path}': not valid JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(data, dict) or not isinstance(data.get("systems"), dict):
        raise CatalogError(f"catalog '{path}': expected an object with a 'systems' object of name -> entry")
    return data


def default_catalog_path() -> Path:
    return CATALOG_PATH


def _stamp(path: str) -> str:
    """What a file holds, for the cache: a catalog edited in a running process is read again."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return ""  # read_json names the file and the problem


@lru_cache(maxsize=8)
def _load(paths: tuple[str, ...], stamps: tuple[str, ...] = ()) -> Catalog:
    merged: dict[str, Any] = {}
    version = "0"
    for i, path in enumerate(paths):
        data = read_json(path)
        if i == 0:
            version = str(data.get("version", "0"))
        for name, entry in data["systems"].items():
            _identifier(name, f"catalog '{path}', system name")
            merged[name] = entry
    systems = {name: validate_system(name, entry) for name, entry in merged.items()}
    return Catalog(
        systems=systems, version=version, sources=paths, hash=_hash({n: numbers(e) for n, e in merged.items()})
    )


def load_catalog(extra: str | os.PathLike | Iterable[str | os.PathLike] | None = None) -> Catalog:
    """The catalog: ``systems.json`` plus user catalog files that add or override systems by name."""
    if extra is None:
        extra = ()
    elif isinstance(extra, (str, os.PathLike)):
        extra = (extra,)
    paths = (str(default_catalog_path()),) + tuple(str(Path(p).resolve()) for p in extra)
    return _load(paths, tuple(_stamp(p) for p in paths))


def read_catalog(path: str | os.PathLike) -> Catalog:
    """A catalog made of one file alone, not merged into the packaged one (e.g. the ``systems.json`` of an
    earlier release, to compare with)."""
    path = str(Path(path).resolve())
    return _load((path,), (_stamp(path),))


def get_system(name: str, catalog: str | os.PathLike | None = None) -> System:
    """One system by name (with a did-you-mean for unknown names)."""
    return load_catalog(catalog)[name]


def list_systems(
    catalog: str | os.PathLike | None = None, *, dimension: int | None = None, kind: str | None = None, **flags: bool
) -> list[str]:
    """Names of the systems, optionally filtered by dimension, kind ("flow" or "map") and flags
    (e.g. ``delay=True``)."""
    for k in flags:
        if k not in FLAGS:
            raise CatalogError(f"unknown flag '{k}'; flags are {', '.join(FLAGS)}")
    if kind is not None and kind not in KINDS:
        raise CatalogError(f"unknown kind '{kind}'; kinds are {', '.join(KINDS)}")
    out = []
    for name, s in load_catalog(catalog).items():
        if dimension is not None and s.dimension != dimension:
            continue
        if kind is not None and s.kind != kind:
            continue
        if any(s.flags[k] != v for k, v in flags.items()):
            continue
        out.append(name)
    return out
