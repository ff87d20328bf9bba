"""User-facing errors: the CLI turns any of these into one line on stderr and exit code 2."""


class ChaosbenchError(ValueError):
    """A mistake in the user's input (system name, argument, file, catalog), with what would fix it."""


class CatalogError(ChaosbenchError):
    """A catalog entry is malformed; the message names the system and the field."""


class IntegrationError(ChaosbenchError):
    """A trajectory diverged, left its bounds or the integrator gave up; the message names the system."""


class DamagedFileError(ChaosbenchError):
    """A file chaosbench wrote is truncated or corrupted; the message names it and how to replace it."""

    def __init__(self, message: str, path=None):
        super().__init__(message)
        self.path = path
