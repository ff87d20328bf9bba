"""The numbers the chaos tests compare their measurements with, and the record of one test.

Every upper-case number here is part of the sampler's spec (:mod:`chaosbench.sampler` records them
all, through :mod:`chaosbench.validate`), so changing one invalidates the sampled datasets built
with the old value, as it should.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# -- the integration ---------------------------------------------------------------------------------
TRANSIENT_PERIODS = 100.0
RECORD_PERIODS = 256.0
PTS_PER_PERIOD = 64
RTOL = ATOL = 1e-9
MAX_STEPS_PER_PERIOD = 20_000
# -- the tests -------------------------------------------------------------------------------------
MAX_EXCURSION = 100.0
MIN_MOTION = 1e-5
MIN_CROSSINGS = 20
MIN_SECTION_SPREAD = 1e-4
SPECTRUM_SEGMENT = 2048
BROADBAND_HALF_WIDTH = 4
MIN_BROADBAND = 1e-3
LYAPUNOV_STARTS = 4
LYAPUNOV_Z = 3.0
MIN_LYAPUNOV_GROWTH = 5.0
#: each tangent run: at least this many periods, and as many as this many reference Lyapunov times
LYAPUNOV_PERIODS = 100.0
LYAPUNOV_TIMES = 30.0
LYAPUNOV_TRANSIENT_PERIODS = 10.0
MAX_LYAPUNOV_STEPS = 200_000
MAX_LYAPUNOV_PERIODS = 2000.0
#: RK4 step of the tangent runs: period / STEPS_PER_PERIOD, at most STIFFNESS / max |eigenvalue of J|
STEPS_PER_PERIOD = 100
STIFFNESS = 0.5
#: exponents computed (all of them for flows up to this dimension); delay equations: the leading ones
MAX_EXPONENTS = 10
DELAY_EXPONENTS = 3
DELAY_GRID = 200
#: test 6: the long runs (as long as the 2000-period runs that exposed transient chaos), their late part
PERSISTENCE_STARTS = 4
PERSISTENCE_PERIODS = 2000.0
PERSISTENCE_LATE_PERIODS = 200.0
PERSISTENCE_KICK = 1e-3
#: the long runs decide where an orbit ends up, not its path: a looser tolerance halves their cost
PERSISTENCE_RTOL = PERSISTENCE_ATOL = 1e-6
PERSISTENCE_MIN_GROWTH = 5.0
PERSISTENCE_SEED = 0

TESTS = ("bounded", "fixed_point", "periodic", "broadband", "lyapunov", "persistence")
THRESHOLDS = {
    "bounded": f"excursion <= {MAX_EXCURSION:g} reference stds",
    "fixed_point": f"motion > {MIN_MOTION:g} reference stds",
    "periodic": f"section spread > {MIN_SECTION_SPREAD:g} stds with >= {MIN_CROSSINGS} crossings",
    "broadband": f"continuum fraction > {MIN_BROADBAND:g}",
    "lyapunov": f"lambda_max > {LYAPUNOV_Z:g} standard errors and lambda_max T > {MIN_LYAPUNOV_GROWTH:g}",
    "persistence": f"every one of {PERSISTENCE_STARTS} starts bounded after {PERSISTENCE_PERIODS:g} periods "
    f"with lambda T > {PERSISTENCE_MIN_GROWTH:g} over the last {PERSISTENCE_LATE_PERIODS:g}",
}


@dataclass
class Check:
    """One test: its measured value, whether it passed, and why in words."""

    name: str
    value: float | None
    passed: bool
    detail: str = ""

    def as_dict(self) -> dict:
        v = None if self.value is None or not math.isfinite(self.value) else float(f"{self.value:.6g}")
        return {
            "test": self.name,
            "value": v,
            "passed": self.passed,
            "threshold": THRESHOLDS[self.name],
            "detail": self.detail,
        }
