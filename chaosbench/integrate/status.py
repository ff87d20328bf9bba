"""Status codes that the compiled integrators and tangent kernels return, and what they mean in words."""

OK, MAX_STEPS, STEP_UNDERFLOW, NOT_FINITE = 0, 1, 2, 3
STATUS_TEXT = {
    OK: "ok",
    MAX_STEPS: "too many steps (stiff or exploding?)",
    STEP_UNDERFLOW: "step size underflow",
    NOT_FINITE: "the state became NaN or infinite",
}
