"""Forecasters by name. ``REGISTRY`` maps a name to ``(module:Class, extra)``: the class is imported
only when the model is used, and a missing optional dependency gives one line naming the extra.

Adding a model: write a :class:`~chaosbench.models.base.Model` subclass in its own module and add
one line here, e.g. ``"esn": ("chaosbench.models.esn:EchoStateNetwork", None)`` or
``"lstm": ("chaosbench.models.rnn:LSTM", "torch")``.
"""

from __future__ import annotations

import importlib

from ..errors import ChaosbenchError
from .base import Model, as_trajectories

REGISTRY: dict[str, tuple[str, str | None]] = {
    "persistence": ("chaosbench.models.baselines:Persistence", None),
    "climatology": ("chaosbench.models.baselines:Climatology", None),
    "var": ("chaosbench.models.baselines:VAR", None),
    "parrot": ("chaosbench.models.analogues:ContextParroting", None),
    "analogue": ("chaosbench.models.analogues:Analogues", None),
    "esn": ("chaosbench.models.esn:EchoStateNetwork", None),
    "ngrc": ("chaosbench.models.ngrc:NextGenerationRC", None),
    "darts-linear": ("chaosbench.models.darts_adapter:LinearRegression", "darts"),
    "darts-nbeats": ("chaosbench.models.darts_adapter:NBEATS", "darts"),
    "darts-nhits": ("chaosbench.models.darts_adapter:NHiTS", "darts"),
    "darts-tcn": ("chaosbench.models.darts_adapter:TCN", "darts"),
    "darts-transformer": ("chaosbench.models.darts_adapter:Transformer", "darts"),
    "darts-rnn": ("chaosbench.models.darts_adapter:RNN", "darts"),
    "shplrnn": ("chaosbench.models.plrnn:ShallowPLRNN", "torch"),
    "alrnn": ("chaosbench.models.plrnn:ALRNN", "torch"),
    "plrnn": ("chaosbench.models.plrnn:PLRNN", "torch"),
    "lstm": ("chaosbench.models.rnn:LSTM", "torch"),
    "gru": ("chaosbench.models.rnn:GRU", "torch"),
    "transformer": ("chaosbench.models.transformer:Transformer", "torch"),
    "lru": ("chaosbench.models.ssm:LRU", "torch"),
    "mamba": ("chaosbench.models.ssm:Mamba", "torch"),
}

#: the family of each registered model: the report compares families by their best member
FAMILIES: dict[str, str] = {
    "persistence": "baselines",
    "climatology": "baselines",
    "var": "baselines",
    "parrot": "baselines",
    "analogue": "baselines",
    "darts-linear": "baselines",
    "esn": "reservoir computing",
    "ngrc": "reservoir computing",
    "shplrnn": "PLRNN family",
    "alrnn": "PLRNN family",
    "plrnn": "PLRNN family",
    "lstm": "gated RNNs",
    "gru": "gated RNNs",
    "darts-rnn": "gated RNNs",
    "lru": "state-space models",
    "mamba": "state-space models",
    "transformer": "transformers",
    "darts-transformer": "transformers",
    "darts-nbeats": "deep MLP/CNN",
    "darts-nhits": "deep MLP/CNN",
    "darts-tcn": "deep MLP/CNN",
}


def family(name: str) -> str:
    """The family of model ``name`` (a model of your own, ``module:Class``: "other")."""
    return FAMILIES.get(name, "other")


#: top-level modules each extra provides: a ModuleNotFoundError for one of them means "install the extra"
EXTRA_MODULES: dict[str, tuple[str, ...]] = {
    "darts": ("darts", "torch", "pytorch_lightning", "lightning", "sklearn"),
    "torch": ("torch",),
    "dask": ("dask", "distributed"),
}


def missing_extra_message(what: str, extra: str) -> str:
    return f"{what} needs the optional '{extra}' dependencies: pip install 'chaosbench[{extra}]'"


def model_class(name: str) -> type[Model]:
    """The class registered under ``name`` (imported now), or a one-line error.

    A name of the form ``package.module:Class`` imports that class directly: a model of your own
    runs in the harness without being registered."""
    if ":" in name and name not in REGISTRY:
        module, _, cls = name.partition(":")
        try:
            found = getattr(importlib.import_module(module), cls)
        except (ImportError, AttributeError) as exc:
            raise ChaosbenchError(f"model '{name}': cannot import it ({exc})") from None
        if not (isinstance(found, type) and issubclass(found, Model)):
            raise ChaosbenchError(f"model '{name}' is not a chaosbench.models.base.Model subclass")
        return found
    try:
        reference, extra = REGISTRY[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, list(REGISTRY), n=2)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise ChaosbenchError(f"unknown model '{name}'{hint} (models: {', '.join(REGISTRY)})") from None
    module, _, cls = reference.partition(":")
    try:
        return getattr(importlib.import_module(module), cls)
    except ModuleNotFoundError as exc:
        root = (exc.name or "").split(".")[0]
        if extra and root in EXTRA_MODULES.get(extra, ()):
            raise ChaosbenchError(missing_extra_message(f"model '{name}'", extra)) from None
        raise


def is_available(name: str) -> bool:
    """Whether the model's optional dependencies are installed (without importing them)."""
    import importlib.util

    _, extra = REGISTRY.get(name, (None, None))
    if extra is None:
        return True
    first = {"darts": ("darts", "torch", "pytorch_lightning"), "torch": ("torch",)}.get(extra, (extra,))
    return all(importlib.util.find_spec(m) is not None for m in first)


def make_model(name: str, **hyperparameters) -> Model:
    """An instance of the model ``name`` with its defaults updated by ``hyperparameters``."""
    cls = model_class(name)
    unknown = set(hyperparameters) - set(cls.defaults())
    if unknown:
        raise ChaosbenchError(
            f"model '{name}' has no hyperparameter(s) {sorted(unknown)}; it has {', '.join(cls.defaults())}"
        )
    return cls(**hyperparameters)


__all__ = ["REGISTRY", "FAMILIES", "family", "Model", "as_trajectories", "make_model", "model_class", "is_available"]
