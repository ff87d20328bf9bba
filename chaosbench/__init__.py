"""chaosbench: chaotic systems as data, datasets at any resolution, forecasts scored in Lyapunov times."""

__version__ = "0.1.0"

from .catalog import get_system, list_systems, load_catalog  # noqa: E402
from .errors import CatalogError, ChaosbenchError, DamagedFileError, IntegrationError  # noqa: E402
from .store import generate, load, to_darts  # noqa: E402
from .sampler import sample  # noqa: E402

__all__ = [
    "__version__",
    "get_system",
    "list_systems",
    "load_catalog",
    "generate",
    "load",
    "to_darts",
    "sample",
    "ChaosbenchError",
    "CatalogError",
    "DamagedFileError",
    "IntegrationError",
]
