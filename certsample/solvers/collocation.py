"""High-accuracy collocation solver (Gatmiry, Chen, Salim 2026) on the probability-flow ODE.

Each grid step is a *window* ``[t_k -> t_{k+1}]`` of length ``h`` (forward time decreases, reverse
time ``s`` runs from ``s_0`` to ``s_0 + h``). Write ``r in [0, 1]`` for the position in the window,
``g(r) = grad log q_{t_k - h r}(y(r))`` for the score along the path. Variation of constants on
``dy/ds = y + g`` gives, exactly,

    y(c) = e^{h c} y_0 + h int_0^c e^{h (c - r)} g(r) dr.

Collocation replaces ``g`` by its interpolant ``sum_i g(c_i) l_i(r)`` at the nodes ``c_0 .. c_D``
(Lagrange basis ``l_i``), so the node states ``X_j = y(c_j)`` solve the fixed point

    X_j = e^{h c_j} y_0 + h sum_i g_i(X_i) A[i, j],   A[i, j] = int_0^{c_j} e^{h (c_j - r)} l_i(r) dr,

found by Picard sweeps; every sweep evaluates the scores at all nodes at once (one parallel round).
The linear part ``y`` is integrated exactly, so only the score (the part with a small Lipschitz
constant relative to the window) is interpolated: that is the "better conditioned" form. The plain
form of Lee, Song and Vempala (2018) collocates the whole drift ``y + g`` with
``A0[i, j] = int_0^{c_j} l_i(r) dr``; it is kept as ``weights='plain'`` for comparison.

Nodes: Chebyshev-Gauss-Lobatto points ``c_j = (1 - cos(pi j / D)) / 2``. They contain both window
ends: ``c_0 = 0`` is the known start, so its score is evaluated once per window instead of once
per sweep, and ``c_D = 1`` is the window end, so no extrapolation row is needed. Their Lebesgue
constant grows like ``log D``, and interpolation of a function analytic on a Bernstein ellipse
converges geometrically in ``D`` -- the fact behind the solver's ``polylog(1/eps)`` cost.

``A`` is computed with Gauss-Legendre quadrature of ``e^{h(c_j - r)} l_i(r)`` on ``[0, c_j]`` (``D + 40``
points, barycentric ``l_i``): exact for the polynomial part and accurate to rounding for the
exponential with ``h`` of order one. The tests check it against an mpmath evaluation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from .. import lipschitz as bounds
from ..arrays import einsum, is_numpy, like, namespace
from ..forward import TimeGrid
from ..kernels.jit import device_function
from ..kernels.loops import sweep_barrier
from ..kernels.score import target_score
from ..precision import as_context
from ..targets import MixtureTarget
from ..validation import check_int
from .base import ODESolver, ParallelSolver, Plan, PlannedSolver, grid_steps

__all__ = [
    "Collocation",
    "CollocationState",
    "CollocationPlan",
    "collocation_plan",
    "check_contraction",
    "chebyshev_lobatto_nodes",
    "barycentric_weights",
    "lagrange_basis",
    "collocation_matrix",
    "picard_norm",
    "picard_sweep",
    "collocation_step",
    "anderson_mix",
    "reference_window",
    "gaussian_variance",
    "chebyshev_coefficients",
    "warm_start_matrix",
    "node_states",
    "overlapped_windows",
    "schedule_cost",
]

WEIGHTS = ("exponential", "plain")
#: largest factor by which a warm start's extrapolation may multiply rounding in the drifts
WARM_START_GAIN = 1e4


# ---------------------------------------------------------------------------- nodes and weights
def chebyshev_lobatto_nodes(degree: int, context=None) -> np.ndarray:
    """``c_j = (1 - cos(pi j / D)) / 2``, ``j = 0..D``: increasing from 0 to 1, in ``context``'s precision."""
    degree = check_int("degree", degree, 1)
    ctx = as_context(context)
    with ctx.working():
        # sin form: 1 - cos(x) = 2 sin^2(x / 2) keeps the nodes near 0 accurate to full relative precision
        return ctx.sin(ctx.pi * np.arange(degree + 1) / (2 * degree)) ** 2


def barycentric_weights(degree: int) -> np.ndarray:
    """Barycentric weights of the Chebyshev-Lobatto points: ``(-1)^j``, halved at both ends."""
    w = (-1.0) ** np.arange(check_int("degree", degree, 1) + 1)
    w[0] *= 0.5
    w[-1] *= 0.5
    return w


def lagrange_basis(nodes, r, context=None) -> np.ndarray:
    """``l_i(r)`` for all nodes, shape ``(len(r), D + 1)``, by the second barycentric formula."""
    ctx = as_context(context)
    with ctx.working():
        nodes = ctx.asarray(nodes)
        r = np.atleast_1d(ctx.asarray(r))
        w = ctx.asarray(barycentric_weights(nodes.size - 1))  # +-1 and +-1/2: exact in any precision
        diff = r[:, None] - nodes[None, :]
        hit = np.asarray(diff == 0, dtype=bool)
        rows = hit.any(axis=1)
        # r on a node: the basis is a unit vector there; those rows are set apart from the division
        q = w / np.where(rows[:, None], w, diff)  # ones in those rows: their sum is not zero
        out = q / q.sum(axis=1, keepdims=True)
        out[rows] = ctx.asarray(hit[rows].astype(float))
        return out


def collocation_matrix(
    degree: int, h: float = 0.0, weights: str = "exponential", quad_points: int | None = None, context=None
) -> np.ndarray:
    """``A[i, j] = int_0^{c_j} e^{h (c_j - r)} l_i(r) dr`` (``weights='plain'`` or ``h = 0``: no exponential).

    Row ``i`` is the node whose score is used, column ``j`` the node whose state is produced; column 0
    is zero (the start is not moved). ``sum_i p(c_i) A[i, j]`` is exact for polynomials ``p`` of
    degree ``<= D``.

    In an mpmath ``context`` the same quadrature runs at that precision (Gauss-Legendre nodes refined
    by Newton at the working precision); with ``h = 0`` it is exact. With the exponential it agrees
    with an independent construction (Lagrange polynomials in monomials against exact exponential
    moments) to about the working precision (docs/performance.md).
    """
    degree = check_int("degree", degree, 1)
    if weights not in WEIGHTS:
        raise ValueError(f"unknown weights {weights!r}; choose from {WEIGHTS}")
    if not (math.isfinite(h) and h >= 0):
        raise ValueError(f"window length h must be finite and >= 0, got {h!r}")
    ctx = as_context(context)
    with ctx.working():
        rate = ctx.asarray(h if weights == "exponential" else 0.0)[()]
        c = chebyshev_lobatto_nodes(degree, ctx)
        z, wq = ctx.leggauss(quad_points or degree + 40)
        out = ctx.asarray(np.zeros((degree + 1, degree + 1)))
        for j in range(1, degree + 1):
            r = c[j] * (1 + z) / 2
            kernel = c[j] * wq * ctx.exp(rate * (c[j] - r)) / 2
            out[:, j] = kernel @ lagrange_basis(c, r, ctx)
        return out


def chebyshev_coefficients(values) -> np.ndarray:
    """Chebyshev coefficients ``a_0 .. a_D`` of the interpolant through values at the Lobatto points.

    ``values`` has the node axis first (``c_j = (1 - cos(pi j / D)) / 2``, i.e. ``x_j = -cos(pi j / D)``
    on ``[-1, 1]``); the transform is the DCT-I written out (``D`` is small).
    """
    values = np.asarray(values, dtype=float)
    degree = values.shape[0] - 1
    j = np.arange(degree + 1)
    # T_m(x_j) = T_m(-cos(pi j / D)) = (-1)^m cos(pi m j / D)
    basis = np.cos(np.pi * np.outer(j, j) / degree) * ((-1.0) ** j)[:, None]
    weight = np.ones(degree + 1)
    weight[0] = weight[-1] = 0.5
    coef = (2.0 / degree) * np.tensordot(basis * weight[None, :], values, axes=(1, 0))
    coef[0] *= 0.5
    coef[-1] *= 0.5
    return coef


def warm_start_matrix(amat, h_previous: float, h: float, max_gain: float | None = None) -> np.ndarray:
    """``W[i, j]``: node state ``j`` of a window from the previous window's node drifts ``i``.

    The previous window's drift interpolant is extrapolated to this window's node times (position
    ``1 + c_m h / h_previous`` in the previous window's coordinate) and integrated with this window's
    matrix ``A``: ``X_j = e^{h c_j} y_0 + h sum_i W[i, j] g_i`` with ``W = E^T A``,
    ``E[m, i] = l_i(1 + c_m h / h_previous)``. ``E`` is built in the Chebyshev basis (values to
    coefficients by :func:`chebyshev_coefficients`, then ``T_m`` outside ``[-1, 1]``), because the
    barycentric formula loses digits to cancellation off the interval.

    Extrapolation multiplies rounding in the drifts by the gain ``max_m sum_i |E[m, i]|``, which
    grows like ``T_D(1 + 4 h / h_previous)``: 7e5 for ``D = 8`` and equal windows. So the interpolant
    is truncated to the highest Chebyshev degree whose gain is at most ``max_gain`` (default
    :data:`WARM_START_GAIN`); the start then carries at most ``1e4`` ulps of noise, which keeps the
    NumPy and compiled runs within the backends' tolerance (their measured agreement:
    docs/performance.md).
    """
    amat = np.asarray(amat, dtype=float)
    degree = amat.shape[0] - 1
    if not (math.isfinite(h_previous) and h_previous > 0 and math.isfinite(h) and h > 0):
        raise ValueError(f"window lengths must be positive, got {h_previous!r} and {h!r}")
    max_gain = WARM_START_GAIN if max_gain is None else float(max_gain)
    to_coef = chebyshev_coefficients(np.eye(degree + 1))  # (m, i): coefficient m of basis function l_i
    where = 2.0 * (1.0 + chebyshev_lobatto_nodes(degree) * (h / h_previous)) - 1.0
    vander = np.polynomial.chebyshev.chebvander(where, degree)
    for kept in range(degree, -1, -1):  # degree 0 (the last drift held constant) has gain 1
        extrapolate = vander[:, : kept + 1] @ to_coef[: kept + 1]
        if np.max(np.sum(np.abs(extrapolate), axis=1)) <= max_gain:
            break
    return extrapolate.T @ amat


def picard_norm(amat) -> float:
    """``max_j sum_i |A[i, j]|``: the Lipschitz factor of one sweep in the max-over-nodes norm, per ``h L``."""
    return float(np.max(np.sum(np.abs(amat), axis=0)))


def overlapped_windows(sweeps, pipeline: bool = False) -> np.ndarray:
    """Which windows take their first sweep in their predecessor's last round.

    With a pipeline, window ``k + 1`` starts from window ``k``'s states *before* its last sweep,
    which are known one round early; that needs a last sweep with a sweep before it, so a window
    overlaps its predecessor exactly when the predecessor has two sweeps or more.
    """
    sweeps = np.asarray(sweeps)
    out = np.zeros(sweeps.shape, dtype=bool)
    if pipeline:
        out[1:] = sweeps[:-1] >= 2
    return out


def schedule_cost(degree: int, sweeps, pipeline: bool = False) -> tuple[int, int]:
    """``(evaluations, rounds)`` per particle of windows with ``sweeps[k]`` sweeps of degree ``D``.

    A window costs ``D N + 1`` evaluations (the moving nodes in every sweep, the start node once)
    in ``N`` rounds. An overlapped window (:func:`overlapped_windows`) takes its first sweep in its
    predecessor's last round, so it adds ``N - 1`` rounds; its start node's drift in that sweep is
    its predecessor's end-node drift, so it still evaluates the start once -- in its second sweep,
    which a one-sweep window does not have (``D`` evaluations then).
    """
    sweeps = np.asarray(sweeps, dtype=np.int64)
    overlapped = overlapped_windows(sweeps, pipeline)
    nfe = degree * sweeps + 1 - (overlapped & (sweeps == 1))
    return int(np.sum(nfe)), int(np.sum(sweeps - overlapped))


def _window(degree, h, weights, context=None):
    """``(A, growth, shift)`` of one window: growth ``e^{h c_j}`` and drift shift (plain: ``g = y + s``)."""
    ctx = as_context(context)
    with ctx.working():
        c = chebyshev_lobatto_nodes(degree, ctx)
        amat = collocation_matrix(degree, h, weights, context=ctx)
        if weights == "exponential":
            return amat, ctx.exp(ctx.asarray(h)[()] * c), 0
        return amat, ctx.asarray(np.ones(c.shape)), 1


def _window_at(degree, t, h, weights, reference_variance, context=None):
    """``(A, growth, shift)`` of the window ``t -> t - h``: the linear part ``y`` (of its length alone,
    :func:`_window`), or the flow of ``N(0, reference_variance)`` (:func:`reference_window`)."""
    if reference_variance is None:
        return _window(degree, h, weights, context)
    return reference_window(degree, t, h, reference_variance, context=context)


def gaussian_variance(variance, t, context=None):
    """``V(t) = 1 + (v - 1) e^{-2t}``: the variance at forward time ``t`` of ``N(m, v)`` under the OU process."""
    ctx = as_context(context)
    with ctx.working():
        return 1 + (ctx.asarray(variance)[()] - 1) * ctx.exp(-2 * ctx.asarray(t))


def reference_window(degree, t, h, variance, quad_points=None, context=None):
    r"""``(A, growth, shift)`` of the window ``t -> t - h`` with the flow of ``N(0, v)`` as its exact linear part.

    Write ``w(t) = 1 / V(t)`` (:func:`gaussian_variance`) and split the drift as ``dy/ds = (1 - w) y + g``,
    ``g = s + w y``. The linear part is the probability flow of ``N(0, v)``, whose solution from ``t_1`` to
    ``t_2`` is ``y sqrt(V(t_2) / V(t_1))`` (``(d/ds) log sqrt(V) = -V'/(2V) = 1 - w`` with ``s = -t``). So
    variation of constants gives, exactly,

        X_j = sqrt(V(t_j) / V(t)) y_0 + h sum_i g_i A[i, j],
        A[i, j] = int_0^{c_j} sqrt(V(t_j) / V(t - h r)) l_i(r) dr,

    ``t_j = t - h c_j``, ``V > 0`` on the window (``v > 0``, or ``v = 0``, a point mass, and ``t - h > 0``), and
    the collocated part ``g`` is the score plus ``w`` times the state (``shift_j =
    w(t_j)``: a function of time alone, so drifts carried from one window to the next keep their meaning).
    For a target near ``N(m, v)`` the score's Jacobian is near ``-w I``, so ``g`` varies far less along the
    path than ``y + s`` and the Picard sweeps contract by ``h |grad s + w I|`` instead of ``h |grad s|``; for
    ``N(0, v)`` itself ``g = 0`` and one sweep is exact. ``A`` by Gauss-Legendre quadrature as in
    :func:`collocation_matrix` (``shift`` has shape ``(D + 1, 1, 1)`` to multiply node states).
    """
    degree = check_int("degree", degree, 1)
    if not (math.isfinite(variance) and variance >= 0):
        raise ValueError(f"reference variance must be a finite number >= 0, got {variance!r}")
    if not (math.isfinite(h) and h >= 0 and math.isfinite(t) and (t - h > 0 or (t - h == 0 and variance > 0))):
        raise ValueError(f"window t={t!r}, h={h!r} must end at t - h > 0 (or at 0 for a variance > 0)")
    ctx = as_context(context)
    with ctx.working():
        t, h = ctx.asarray(t)[()], ctx.asarray(h)[()]
        c = chebyshev_lobatto_nodes(degree, ctx)
        z, wq = ctx.leggauss(quad_points or degree + 40)
        v_nodes = gaussian_variance(variance, t - h * c, ctx)
        amat = ctx.asarray(np.zeros((degree + 1, degree + 1)))
        for j in range(1, degree + 1):
            r = c[j] * (1 + z) / 2
            kernel = c[j] * wq * ctx.sqrt(v_nodes[j] / gaussian_variance(variance, t - h * r, ctx)) / 2
            amat[:, j] = kernel @ lagrange_basis(c, r, ctx)
        growth = ctx.sqrt(v_nodes / v_nodes[0])
        return amat, growth, (1 / v_nodes)[:, None, None]


# ---------------------------------------------------------------------------- Lipschitz bounds
@dataclass(frozen=True)
class _LipschitzSource:
    """The Lipschitz bound a plan or a check reads: ``at(t)`` at one time (a first guess of a window's
    length) and ``over(t_lo, t_hi, enough)`` over a window (proved, or probed for a caller's callable),
    which may stop refining once it is known to be at most ``enough`` or above it."""

    at: object
    over: object


def _probed_max(at, t_lo, t_hi, probes=9):
    """Largest of ``at(t)`` at ``probes`` times of the window, both ends included. Not a proof: only
    for a caller's own ``t -> L``, whose behaviour between the probes this package cannot know."""
    return max(float(at(t)) for t in np.linspace(t_lo, t_hi, probes))


def _lipschitz_source(target=None, R=None, sigma=None, lipschitz=None) -> _LipschitzSource:
    given = [target is not None, R is not None, lipschitz is not None]
    if sum(given) != 1:
        raise ValueError("give exactly one of target=, R= (with sigma=), or lipschitz= (a callable t -> L)")
    if isinstance(target, MixtureTarget):
        # unequal variances have no global constant: the bound on the ball holding all but 1e-12 of q_t
        return _LipschitzSource(
            lambda t: bounds.working_score_lipschitz(target, t),
            lambda t_lo, t_hi, enough=None: bounds.working_sup_on(target, t_lo, t_hi, enough=enough),
        )
    if target is not None:
        if not hasattr(target, "score_lipschitz"):
            raise ValueError(f"target {target!r} has no score_lipschitz(t)")
        at = getattr(target, "working_score_lipschitz", target.score_lipschitz)
        return _LipschitzSource(at, lambda t_lo, t_hi, enough=None: _probed_max(at, t_lo, t_hi))
    if lipschitz is not None:
        if not callable(lipschitz):
            raise ValueError("lipschitz must be a callable t -> L")
        return _LipschitzSource(lipschitz, lambda t_lo, t_hi, enough=None: _probed_max(lipschitz, t_lo, t_hi))
    if not (math.isfinite(R) and R >= 0):
        raise ValueError(f"R must be a finite number >= 0, got {R!r}")
    sigma = 0.0 if sigma is None else float(sigma)
    if not (math.isfinite(sigma) and sigma >= 0):
        raise ValueError(f"sigma must be a finite number >= 0, got {sigma!r}")
    return _LipschitzSource(
        lambda t: bounds.ball_lipschitz(t, R, sigma),
        lambda t_lo, t_hi, enough=None: bounds.ball_sup_on(t_lo, t_hi, R, sigma, enough=enough),
    )


def check_contraction(
    grid,
    degree: int,
    target=None,
    *,
    R=None,
    sigma=None,
    lipschitz=None,
    weights: str = "exponential",
    rho_max: float = 0.5,
) -> np.ndarray:
    """Picard contraction factors ``q_k = h_k L_k ||A_k||`` of every window; raise if one is ``>= rho_max``.

    ``L_k`` bounds the Lipschitz constant of the collocated drift over window ``k`` (the score's,
    plus one for ``weights='plain'``, which also collocates the linear part). A sweep maps node-state
    errors ``e`` to at most ``q_k e`` (max over nodes), so ``q_k < 1`` makes the sweeps converge
    geometrically; ``rho_max = 1/2`` is the margin the error analysis uses.

    The score's bound over the window is proved for a :class:`~certsample.targets.MixtureTarget`
    (:func:`certsample.lipschitz.working_sup_on`) and for ``R``, ``sigma``
    (:func:`certsample.lipschitz.ball_sup_on`); a callable ``lipschitz`` (or a target of another
    class) is read at 9 times of the window, which proves nothing about the times between.

    Raises
    ------
    ValueError
        Naming the first window that does not contract, with its factor and a shorter length.
    """
    grid = grid if isinstance(grid, TimeGrid) else TimeGrid(grid)
    return _contraction_factors(grid, degree, _lipschitz_source(target, R, sigma, lipschitz), weights, rho_max)


def _contraction_factors(grid, degree, source, weights, rho_max):
    extra = 1.0 if weights == "plain" else 0.0
    factors = np.empty(len(grid))
    for k, (t, t_next, h) in enumerate(zip(grid.times[:-1], grid.times[1:], grid.steps)):
        lk = source.over(float(t_next), float(t)) + extra
        factors[k] = h * lk * picard_norm(collocation_matrix(degree, float(h), weights))
        if not factors[k] < rho_max:
            raise ValueError(
                f"Picard map of window {k} (t={t:g} -> {t_next:g}, h={h:g}) does not contract: "
                f"h*L*||A|| = {factors[k]:.3g} >= {rho_max} with L={lk:.3g}; use windows shorter than "
                f"{rho_max / (lk * picard_norm(collocation_matrix(degree, 0.0, weights))):.3g} "
                "(collocation_plan builds such a grid)"
            )
    return factors


# ---------------------------------------------------------------------------- the plan from eps
@dataclass
class CollocationPlan:
    """Windows and parameters chosen by :func:`collocation_plan`; unpacks as ``grid, degree, sweeps``."""

    grid: TimeGrid
    degree: int
    sweeps: int  # or an int64 array, one count per window
    factors: np.ndarray | None
    eps: float
    warm_start: bool = False
    pipeline: bool = False
    #: the proved a-priori bound of the plan (``proved=True``), else None
    bound: float | None = None
    #: variance of the Gaussian whose flow the windows integrate exactly (:class:`Collocation`), else None
    reference_variance: float | None = None
    #: largest rounding gain of the warm start's extrapolation (:func:`warm_start_matrix`), else the default
    warm_start_gain: float | None = None
    #: Anderson-accelerated sweeps (:class:`Collocation`)
    anderson: bool = False

    def __iter__(self):
        return iter((self.grid, self.degree, self.sweeps))

    @property
    def windows(self) -> int:
        return len(self.grid)

    def solver(self, **options) -> Collocation:
        options.setdefault("warm_start", self.warm_start)
        options.setdefault("pipeline", self.pipeline)
        options.setdefault("reference_variance", self.reference_variance)
        options.setdefault("warm_start_gain", self.warm_start_gain)
        options.setdefault("anderson", self.anderson)
        return Collocation(self.degree, self.sweeps, **options)

    @property
    def nfe(self) -> int:
        """Score evaluations per particle (:func:`schedule_cost`)."""
        return schedule_cost(self.degree, np.broadcast_to(self.sweeps, (self.windows,)), self.pipeline)[0]

    @property
    def rounds(self) -> int:
        """Sequential rounds of score evaluations (:func:`schedule_cost`)."""
        return schedule_cost(self.degree, np.broadcast_to(self.sweeps, (self.windows,)), self.pipeline)[1]


def _proved_plan(eps, target, T, delta) -> CollocationPlan:
    """:func:`collocation_plan` with ``proved=True``."""
    import proofs

    if target is None:
        raise ValueError("proved=True needs the target (the theorem is evaluated on it)")
    plan = proofs.get("collocation").plan(eps, target, T, delta)
    return CollocationPlan(
        plan.grid, plan.degree, plan.sweeps, None, float(eps), plan.warm_start, plan.pipeline, float(plan.bound.value)
    )


def collocation_plan(
    eps: float,
    target=None,
    *,
    R=None,
    sigma=None,
    lipschitz=None,
    T: float = 10.0,
    delta: float = 1e-3,
    rho: float = 0.25,
    h_max: float = 1.0,
    degree: int | None = None,
    sweeps: int | None = None,
    proved: bool = False,
) -> CollocationPlan:
    """Windows, degree ``D`` and sweeps ``N`` for pathwise accuracy ``eps``.

    ``proved=True`` returns instead the cheapest plan found whose error the collocation theorem proves at most
    ``eps`` (``proofs.get('collocation').plan``: every start in a set holding all but ``1e-6`` of ``q_T``; the
    bound in ``plan.bound``). It costs a search (seconds to minutes) and, the proof being worst-case over that
    set, many more evaluations than the default plan (docs/performance.md); it raises
    ``proofs.core.NotCovered`` where the theorem covers no plan. The default below is a plan from the
    Lipschitz bounds and observed rates, not a proof.

    Windows are marched down from ``T`` to ``delta``, each as long as possible (at most ``h_max``)
    with ``h L ||A|| <= rho``, ``L`` a bound of the score's Lipschitz constant over the window (the
    proved supremum of :func:`certsample.lipschitz.working_sup_on` for a target, of
    :func:`certsample.lipschitz.ball_sup_on` for the radius ``R`` and smoothing ``sigma`` of
    ``q = mu * N(0, sigma^2 I)``; a callable is only probed, see :func:`check_contraction`). That
    makes the count ``O((R/sigma)^2)``-like and free of the dimension. Then ``D`` and ``N`` grow like
    ``log(windows / eps)``: each sweep divides the error by at least ``1/rho = 4`` and each degree by
    the Chebyshev rate of the window; ``D ~ N - 1 ~ log(windows/eps) / 3 + 1`` asks ``e^{-3}`` of both,
    a rate chosen from the decay observed on the built-in targets (docs/performance.md), not proved:
    the tests check that the error is below ``eps``. Total cost ``windows * (D N + 1) = O~((R/sigma)^2
    log^2(1/eps))``.

    Parameters
    ----------
    eps : float
        Target pathwise error, ``0 < eps < 1``.
    target, R, sigma, lipschitz
        Exactly one source of the Lipschitz bound (``sigma`` goes with ``R``).
    T, delta : float
        Horizon and early-stopping time.
    rho : float
        Contraction factor per window, ``0 < rho < 1/2``.
    h_max : float
        Longest window.
    degree, sweeps : int, optional
        Override the choices of ``D`` and ``N``.

    Returns
    -------
    CollocationPlan
        ``grid, degree, sweeps = plan``; also ``plan.solver()``, ``plan.nfe``, ``plan.rounds`` and the
        per-window contraction ``plan.factors`` (all ``< 1/2``).

    Examples
    --------
    >>> import certsample
    >>> target = certsample.ring_mixture()
    >>> plan = collocation_plan(1e-8, target, T=5.0, delta=0.05)
    >>> res = certsample.sample(target, plan.solver(), 100, grid=plan.grid, progress=False)
    >>> res.nfe == plan.nfe and res.rounds == plan.rounds
    True
    """
    if not (isinstance(eps, (float, int)) and 0 < eps < 1):
        raise ValueError(f"eps must be in (0, 1), got {eps!r}")
    if proved:
        return _proved_plan(eps, target, T, delta)
    if not 0 < rho < 0.5:
        raise ValueError(f"rho must be in (0, 1/2) for a contraction with margin, got {rho!r}")
    if not (math.isfinite(h_max) and h_max > 0):
        raise ValueError(f"h_max must be a positive number, got {h_max!r}")
    if not (math.isfinite(delta) and delta > 0 and math.isfinite(T) and T > delta):
        raise ValueError(f"need T > delta > 0, got T={T!r}, delta={delta!r}")
    source = _lipschitz_source(target, R, sigma, lipschitz)

    # ||A|| <= (e^h - 1)/h * ||A0|| and ||A0|| = 1 for the Lobatto nodes: size windows with it,
    # the exact factors are checked below with the final degree.
    def fits(t, t_next):
        h = t - t_next
        growth = h * math.expm1(h) / h * 1.0001
        return growth * source.over(t_next, t, enough=rho / growth) <= rho

    times = [float(T)]
    t = float(T)
    while t > delta:
        h = min(h_max, t - delta, rho / max(float(source.at(t)), 1e-300))
        if t - h - delta < 1e-9 * delta:
            h = t - delta
        while not fits(t, max(t - h, delta)):
            h *= 0.8
        t = max(t - h, delta)
        times.append(t)
    grid = TimeGrid(np.array(times))
    log_term = math.log(len(grid) / eps)
    if degree is None:
        # e^{-3} per degree and per sweep against log(windows / eps), the per-window share of eps, plus
        # one degree and two sweeps (the observed rates: docs/performance.md); D is rounded up to even,
        # as even D, whose nodes include the midpoint, gain more.
        degree = max(2, math.ceil(log_term / 3.0) + 1)
        degree += degree % 2
    if sweeps is None:
        sweeps = max(2, math.ceil(log_term / 3.0) + 2)
    factors = _contraction_factors(grid, degree, source, "exponential", 0.5)
    return CollocationPlan(grid, check_int("degree", degree, 1), int(sweeps), factors, float(eps))


# ---------------------------------------------------------------------------- the solver
def _copies(x, count):
    """``count`` copies of the batch ``x`` stacked on a new first axis, in ``x``'s namespace."""
    if is_numpy(x):
        return np.repeat(x[None], count, axis=0)
    return namespace(x).stack([x] * count)


def picard_sweep(score, x, nodes, drift, times, amat, growth, shift, h, first_sweep):
    """One Jacobi sweep of a window on a batch, in place: node drifts from the node states (one
    round of :meth:`~certsample.oracle.ScoreOracle.evaluate_many`), then every moving node's state.

    ``nodes`` and ``drift`` are ``(D + 1, n, d)``; the start node's state is ``x`` in every sweep, so
    its drift is taken in the first sweep only.
    """
    first = 0 if first_sweep else 1
    evaluated = score.evaluate_many(nodes[first:, ...], times[first:])
    drift[first:, ...] = evaluated + _from(shift, first) * nodes[first:, ...]
    node_states(x, nodes, drift, amat, growth, h)


def _from(shift, first):
    """The drift shift of nodes ``first ..``: a number, or one per node (shape ``(D + 1, 1, 1)``)."""
    return shift if np.ndim(shift) == 0 else shift[first:]


def node_states(x, nodes, drift, matrix, growth, h):
    """The moving nodes' states from node drifts, in place: ``X_j = e^{h c_j} y_0 + h sum_i M[i, j] g_i``.

    With ``M = A`` and this window's drifts it is a Picard sweep's update; with ``M = W`` from
    :func:`warm_start_matrix` and the previous window's drifts, a warm start.
    """
    nodes[1:, ...] = growth[1:, None, None] * x + h * einsum("ij,ind->jnd", matrix[:, 1:], drift)


def anderson_mix(nodes, previous, memory):
    """Anderson acceleration of depth one of a Picard sweep, in place on the moving nodes; returns the memory.

    With ``X_k`` the node states a sweep evaluated (``previous``), ``P_k`` its image (``nodes`` on entry) and
    ``F_k = P_k - X_k``, the next states are ``P_k - gamma (P_k - P_{k-1})`` with ``gamma = <F_k, F_k - F_{k-1}> /
    |F_k - F_{k-1}|^2`` per particle (sums over the moving nodes and coordinates; ``gamma = 0`` where the
    denominator is 0): the iterate minimising the linearised residual over the last two images [1]_, [2]_.
    For a Picard map that is nearly linear across a window this is a secant step on its slowest mode, which the
    plain sweeps only shrink by the contraction factor. ``memory`` is ``(P_{k-1}, F_{k-1})`` or None (the first
    sweep of a window: nothing is mixed). The same arithmetic as the kernels' :func:`anderson_update`, summed in
    another order.

    References
    ----------
    .. [1] D. G. Anderson, "Iterative procedures for nonlinear integral equations", J. ACM 12 (1965) 547-560.
    .. [2] H. F. Walker, P. Ni, "Anderson acceleration for fixed-point iterations", SIAM J. Numer. Anal. 49
       (2011) 1715-1735.
    """
    xp = namespace(nodes)
    image = nodes[1:, ...] * 1  # a copy in any namespace
    residual = image - previous[1:, ...]
    if memory is not None:
        image_old, residual_old = memory
        change = residual - residual_old
        num = xp.sum(residual * change, axis=(0, 2))
        den = xp.sum(change * change, axis=(0, 2))
        positive = den > 0
        gamma = xp.where(positive, num / xp.where(positive, den, den * 0 + 1), num * 0)
        nodes[1:, ...] = image - gamma[None, :, None] * (image - image_old)
    return image, residual


@device_function
def anderson_update(work, n_nodes, memory, mix):
    """:func:`anderson_mix` for a block of particles: rows ``j < n_nodes`` of ``work`` hold the images ``P_k`` on
    entry and the mixed states on exit; from row ``memory`` on, ``n_nodes`` rows each of the evaluated ``X_k``, of
    ``P_{k-1}`` and of ``F_{k-1}`` (the last two rewritten), then two rows whose column 0 holds the sums per
    particle. ``mix`` False: the first sweep of a window, which only fills the memory."""
    d = work.shape[1]
    n_lanes = work.shape[2]
    states, previous, image_old, residual_old = 0, memory, memory + n_nodes, memory + 2 * n_nodes
    sums = memory + 3 * n_nodes
    if mix:
        for p in range(n_lanes):
            work[sums, 0, p] = 0.0
            work[sums + 1, 0, p] = 0.0
        for j in range(1, n_nodes):
            for c in range(d):
                for p in range(n_lanes):
                    residual = work[states + j, c, p] - work[previous + j, c, p]
                    change = residual - work[residual_old + j, c, p]
                    work[sums, 0, p] += residual * change
                    work[sums + 1, 0, p] += change * change
    for j in range(1, n_nodes):
        for c in range(d):
            for p in range(n_lanes):
                image = work[states + j, c, p]
                residual = image - work[previous + j, c, p]
                if mix:
                    den = work[sums + 1, 0, p]
                    gamma = work[sums, 0, p] / den if den > 0 else 0.0
                    work[states + j, c, p] = image - gamma * (image - work[image_old + j, c, p])
                work[image_old + j, c, p] = image
                work[residual_old + j, c, p] = residual


@device_function
def update_node_states(x, work, states, drifts, matrix, growth, h, node, stride):
    """:func:`node_states` for a block of particles: rows ``states + j`` of ``work`` (each ``(d, L)``),
    for the moving nodes ``j = node, node + stride, ...`` (all of them: ``node = 0``, ``stride = 1``),
    from the drifts in rows ``drifts .. drifts + D``, starting from ``x`` ``(d, L)``.
    Summed in place over ``i`` with the particles innermost: the same sums in the same order as a
    dot product per node, coordinate and particle, with independent additions that vectorise.
    """
    n_nodes = matrix.shape[0]
    d = work.shape[1]
    n_lanes = work.shape[2]
    for j in range(node, n_nodes, stride):
        if j == 0:
            continue  # the start node does not move
        row = states + j
        for c in range(d):
            for p in range(n_lanes):
                work[row, c, p] = 0.0
        for i in range(n_nodes):
            weight = matrix[i, j]
            for c in range(d):
                for p in range(n_lanes):
                    work[row, c, p] += weight * work[drifts + i, c, p]
        for c in range(d):
            for p in range(n_lanes):
                work[row, c, p] = growth[j] * x[c, p] + h * work[row, c, p]


@device_function
def node_drifts(states, t, target_params, drifts, shift, lanes, swork):
    """The collocated drift ``s(X, t) + shift X`` of a block of node states ``(d, L)``, into ``drifts``."""
    target_score(states, t, target_params, drifts, lanes, swork)
    for i in range(states.shape[0]):
        for p in range(states.shape[1]):
            drifts[i, p] += shift * states[i, p]


@device_function
def collocation_step(x, t, h, k, first, key0, key1, target_params, solver_params, work, lanes, swork):
    """One window for a block of particles (:func:`collocation_node_step` with every node)."""
    return collocation_node_step(x, t, h, k, first, key0, key1, target_params, solver_params, work, lanes, swork, 0, 1)


@device_function
def collocation_node_step(
    x, t, h, k, first, key0, key1, target_params, solver_params, work, lanes, swork, node, stride
):
    """One window for a block of particles, doing the work of nodes ``node, node + stride, ...``.

    Rows ``0..D`` of ``work`` hold node states, ``D+1..2D+1`` node drifts, and with a pipeline
    ``2D+2..3D+2`` the next window's first node states. With ``stride = 1`` one thread does every
    node (the CPU, and CUDA one thread per particle). On CUDA ``stride`` threads may share a
    particle (:func:`certsample.kernels.cuda_driver.cuda_run_nodes`): each evaluates and updates
    its own nodes, so a sweep's ``D + 1`` evaluations run at once, and :func:`sweep_barrier` (a
    no-op on one thread) separates the phases that read other nodes' rows. Returns the
    evaluations this thread made.

    With a warm start the block's state ``x`` has ``(D + 2) d`` rows: the state, then ``D + 1`` node
    drifts carried to the next window -- this window's last drifts, from which the next one starts,
    or, when the next window overlaps this one, the next window's own first-sweep drifts.
    """
    nodes, amat, growth, shift, sweeps_per_window, warm, warm_start, times, overlapped, anderson = solver_params
    sweeps = sweeps_per_window[k]
    n_nodes = nodes.shape[0]
    d = work.shape[1]
    n_lanes = work.shape[2]
    drifts, ahead = n_nodes, 2 * n_nodes
    memory = 3 * n_nodes  # Anderson's rows, after the pipeline's (allocated whenever Anderson is on)
    last = (n_nodes - 1) % stride == node  # this thread owns the end node and writes the state back
    state = x[:d]
    for j in range(node, n_nodes, stride):
        for i in range(d):
            for p in range(n_lanes):
                work[j, i, p] = x[i, p]
    done = 0
    if warm_start and k > 0:
        # the carried drifts go where the first sweep writes its own, then into the node states
        for m in range(node, n_nodes, stride):
            for i in range(d):
                for p in range(n_lanes):
                    work[drifts + m, i, p] = x[(m + 1) * d + i, p]
        sweep_barrier()
        if overlapped[k]:
            # they were this window's first sweep
            update_node_states(state, work, 0, drifts, amat[k], growth[k], h, node, stride)
            done = 1
        else:
            update_node_states(state, work, 0, drifts, warm[k], growth[k], h, node, stride)
    sweep_barrier()
    # the next window overlaps this one: its first sweep goes with this window's last
    overlap = k + 1 < overlapped.shape[0] and overlapped[k + 1]
    nfe = 0
    for sweep in range(done, sweeps):
        if overlap and sweep == sweeps - 1:
            t_next = times[k + 1]
            h_next = t_next - times[k + 2]
            # from this window's end state and drifts before its last sweep (x's carry is free:
            # loaded above), so that the drifts land in the carry
            update_node_states(work[n_nodes - 1], work, ahead, drifts, warm[k + 1], growth[k + 1], h_next, node, stride)
            for j in range(node, n_nodes, stride):
                if j == 0:
                    continue
                node_drifts(
                    work[ahead + j],
                    t_next - h_next * nodes[j],
                    target_params,
                    x[(j + 1) * d : (j + 2) * d],
                    shift[k + 1, j],
                    lanes,
                    swork,
                )
                nfe += 1
            sweep_barrier()  # that update read the drifts this sweep overwrites
        # the start node never moves: its score is taken once, in the first sweep from the final start
        first_node = 0 if sweep == done else 1
        for j in range(node, n_nodes, stride):
            if j < first_node:
                continue
            node_drifts(work[j], t - h * nodes[j], target_params, work[drifts + j], shift[k, j], lanes, swork)
            nfe += 1
        sweep_barrier()
        if anderson:  # one thread per particle (kernel_node_threads = 0): the sums run over every node
            for j in range(1, n_nodes):
                for i in range(d):
                    for p in range(n_lanes):
                        work[memory + j, i, p] = work[j, i, p]
        # Jacobi update: all node states from the drifts of the previous sweep (one parallel round)
        update_node_states(state, work, 0, drifts, amat[k], growth[k], h, node, stride)
        if anderson:
            anderson_update(work, n_nodes, memory, sweep > done)
        sweep_barrier()
    if last:
        for i in range(d):
            for p in range(n_lanes):
                x[i, p] = work[n_nodes - 1, i, p]
    if overlap:
        if last:
            # the next window's start is this window's end before its last sweep: that drift was just taken
            for i in range(d):
                for p in range(n_lanes):
                    x[d + i, p] = work[drifts + n_nodes - 1, i, p]
    elif warm_start:
        for m in range(node, n_nodes, stride):
            for i in range(d):
                for p in range(n_lanes):
                    x[(m + 1) * d + i, p] = work[drifts + m, i, p]
    sweep_barrier()  # the next window reads x
    return nfe


@dataclass(frozen=True)
class CollocationState:
    """Per-run state of :meth:`Collocation.step` (from :meth:`Collocation.init`)."""

    #: the grid's times: a pipelined window looks one window ahead
    times: np.ndarray
    #: :func:`overlapped_windows` of the grid's sweeps
    overlapped: np.ndarray
    #: ``(h, node drifts)`` of the last window for a warm start; ``h`` None when they are the next
    #: window's own first-sweep drifts (pipeline)
    carry: tuple | None = None


class Collocation(ODESolver, ParallelSolver, PlannedSolver):
    """Picard-iterated Chebyshev collocation on each window of the probability-flow ODE.

    Per window of length ``h`` (see the module docstring for the derivation)::

        X_j <- e^{h c_j} y_0 + h sum_i s(X_i, t - h c_i) A[i, j]      (N sweeps, all nodes at once)

    starting from ``X_j = y_0``; the window's output is ``X_D`` (``c_D = 1``). With
    ``warm_start=True`` every window after the first starts instead from the previous window's drift
    interpolant, extrapolated and integrated (:func:`warm_start_matrix`): the start is then off by
    the extrapolation error rather than by the window's whole motion, and fewer sweeps reach a given
    accuracy (docs/performance.md, "Collocation from eps alone").
    The price is memory: each particle carries its ``D + 1`` node drifts from window to window.

    Cost per window and particle: ``D N + 1`` score evaluations (the ``D`` moving nodes in each of
    the ``N`` sweeps, plus the start node once: its state is ``y_0`` in every sweep) in ``N``
    sequential rounds. So a run over ``n`` windows costs ``n (D N + 1)`` evaluations and
    ``n N`` rounds, which is what :class:`~certsample.integrate.SampleResult` reports.

    With ``pipeline=True`` a window's first sweep runs in its predecessor's last round: the
    predecessor's states and drifts before that sweep are known one round early, so the next window
    is warm-started from them (its start node's drift in that sweep is the predecessor's end-node
    drift, taken at the same state), and its node states are then updated from the true start once
    the last sweep is done. Its later sweeps are ordinary Picard sweeps, so with enough sweeps it
    converges to the same collocation solution (tested to 1e-12); only the first iterate starts off
    by the predecessor's last correction. Each window after one of two sweeps or more saves a
    round and costs the same evaluations (:func:`schedule_cost`); on the NumPy path the two
    windows' nodes go to the score in one batched call. This is pipelined (wavefront) Picard
    iteration in its shallowest form, a lag of one sweep, as in the sliding-window Picard
    iteration of Shih et al. [4]_.

    Accuracy: with ``h L ||A|| <= rho < 1`` each sweep contracts the node error by ``rho``, and the
    collocation solution (the sweeps' fixed point) is within the Chebyshev interpolation error of the
    score along the path, which falls geometrically in ``D`` when the path is analytic across the
    window (Gatmiry, Chen, Salim: high time derivatives of the drift are bounded). Use
    :func:`collocation_plan` to choose windows, ``D`` and ``N`` from a target accuracy.

    Parameters
    ----------
    degree : int
        Polynomial degree ``D >= 1`` (``D + 1`` Chebyshev-Lobatto nodes).
    sweeps : int or sequence of int
        Picard sweeps ``N >= 1`` per window, or one count per window of the grid (what
        :func:`certsample.solvers.collocation_adaptive.adapt_plan` chooses).
    weights : {'exponential', 'plain'}
        Integrate ``e^{h(c - r)}`` exactly and collocate the score (default), or collocate the whole
        drift ``y + s`` (Lee, Song, Vempala 2018).
    check : bool
        Check each window's contraction ``h L ||A|| < rho_max`` (needs ``lipschitz`` or an exact
        target: the oracle's on the NumPy path, the run's on the kernel path) and raise
        :class:`ValueError` if it fails.
    lipschitz : MixtureTarget or callable, optional
        Source of the score Lipschitz bound for ``check``.
    rho_max : float
        Largest contraction factor ``check`` accepts.
    warm_start : bool
        Start each window after the first from the previous window's extrapolated drifts instead of
        the constant ``y_0``. Off by default: the contraction analysis behind
        :func:`collocation_plan` bounds the error of ``N`` sweeps from a constant start.
    warm_start_gain : float, optional
        Largest factor by which the warm start's extrapolation may multiply rounding in the drifts
        (:func:`warm_start_matrix`; default :data:`WARM_START_GAIN`). Larger keeps more of the extrapolated
        interpolant (a closer start, fewer sweeps) and lets the backends' last-bit differences grow by as much
        before the sweeps damp them; the measured plans take :data:`~.collocation_adaptive.MEASURED_WARM_START_GAIN`.
    pipeline : bool
        Take each window's first sweep in the previous window's last round (needs ``warm_start``;
        see above). The sweeps a window needs are then measured with the pipeline, as
        :func:`~certsample.solvers.collocation_adaptive.adapt_plan` does.
    anderson : bool
        Mix every sweep after a window's first with the one before by Anderson acceleration of depth one
        (:func:`anderson_mix`): no more evaluations, usually fewer sweeps to a given accuracy (the measured
        plans use it; docs/performance.md). The proved theorem covers plain sweeps only. On CUDA it runs one
        thread per particle.
    reference_variance : float, optional
        Integrate the flow of ``N(0, v)`` exactly instead of the linear part ``y``, and collocate ``s + y / V(t)``
        (:func:`reference_window`): with ``v`` near the target's variances the sweeps contract much faster
        (:func:`~certsample.solvers.collocation_adaptive.adapt_plan` sets it from a mixture target's variances;
        docs/performance.md). The proved theorem covers ``None`` only.
    context : FLOAT64 or MPContext, optional
        Working precision of :meth:`step` (:mod:`certsample.precision`). The same step runs on
        float64 arrays or on object arrays of mpmath numbers, with nodes and ``A`` built at that
        precision: :mod:`certsample.highprec` drives it to errors of ``1e-30``. The compiled backends
        run float64 only. A warm start's extrapolation matrix is built in float64 in every context:
        it only moves the sweeps' starting point, not the collocation fixed point they converge to.

    References
    ----------
    .. [1] Y. T. Lee, Z. Song, S. S. Vempala, "Algorithmic theory of ODEs and sampling from
       well-conditioned logconcave densities", arXiv:1812.06243, 2018.
    .. [2] K. Gatmiry, S. Chen, A. Salim, "High-accuracy and dimension-free sampling with
       diffusions", arXiv:2601.10708, 2026.
    .. [3] L. N. Trefethen, "Approximation Theory and Approximation Practice", SIAM, 2013
       (Chebyshev points, barycentric interpolation).
    .. [4] A. Shih, S. Belkhale, S. Ermon, D. Sadigh, N. Anari, "Parallel sampling of diffusion
       models", NeurIPS 2023 (Picard iterations over a sliding window of time steps).
    """

    name = "collocation"
    theorem = "collocation"
    kernel_layout = "block"
    kernel_step = staticmethod(collocation_step)
    kernel_node_step = staticmethod(collocation_node_step)

    def __init__(
        self,
        degree: int = 8,
        sweeps: int = 8,
        weights: str = "exponential",
        check: bool = False,
        lipschitz=None,
        rho_max: float = 0.5,
        warm_start: bool = False,
        pipeline: bool = False,
        reference_variance: float | None = None,
        warm_start_gain: float | None = None,
        anderson: bool = False,
        context=None,
    ):
        self.degree = check_int("degree", degree, 1)
        self.context = as_context(context)
        per_window = np.ndim(sweeps) == 1
        for count in np.asarray(sweeps).tolist() if per_window else [sweeps]:
            check_int("sweeps", count, 1)
        if weights not in WEIGHTS:
            raise ValueError(f"unknown weights {weights!r}; choose from {WEIGHTS}")
        if not 0 < rho_max <= 1:
            raise ValueError(f"rho_max must be in (0, 1], got {rho_max!r}")
        if lipschitz is not None and not (callable(lipschitz) or hasattr(lipschitz, "score_lipschitz")):
            raise ValueError("lipschitz must be a target with score_lipschitz(t) or a callable t -> L")
        #: sweeps per window: an int, or an int64 array with one count per window of the grid
        self.sweeps = np.asarray(sweeps, dtype=np.int64) if per_window else int(sweeps)
        self.weights = weights
        self.check = bool(check)
        self.lipschitz = lipschitz
        self.rho_max = float(rho_max)
        self.nodes = chebyshev_lobatto_nodes(self.degree, self.context)
        # the most a window costs (exact counts: cost(), with the pipeline's overlaps)
        self.evals_per_step = self.degree * int(np.max(self.sweeps)) + 1
        self.rounds_per_step = int(np.max(self.sweeps))
        self.warm_start = bool(warm_start)
        self.pipeline = bool(pipeline)
        self.kernel_node_threads = self.degree + 1  # on CUDA: a thread per node when the particles are few
        if reference_variance is not None:
            reference_variance = float(reference_variance)
            if not (math.isfinite(reference_variance) and reference_variance >= 0):
                raise ValueError(f"reference_variance must be a finite number >= 0, got {reference_variance!r}")
            if weights != "exponential":
                raise ValueError("reference_variance sets the exact linear part of weights='exponential'")
        #: variance ``v`` of the Gaussian whose flow is the exact linear part, or None for ``y`` itself
        self.reference_variance = reference_variance
        if warm_start_gain is not None and not (math.isfinite(warm_start_gain) and warm_start_gain >= 1):
            raise ValueError(f"warm_start_gain must be a finite number >= 1, got {warm_start_gain!r}")
        #: largest rounding gain of the warm start's extrapolation (None: :data:`WARM_START_GAIN`)
        self.warm_start_gain = None if warm_start_gain is None else float(warm_start_gain)
        #: Anderson acceleration of depth one after every sweep but a window's first (:func:`anderson_mix`)
        self.anderson = bool(anderson)
        if weights != "exponential":  # the theorem is about the solver that integrates the linear part exactly
            self.theorem = None
            self.theorem_gap = "the proved collocation theorem covers weights='exponential' (the linear part exact)"
        elif reference_variance is not None:
            self.theorem = None
            self.theorem_gap = (
                "the proved collocation theorem covers the linear part y (reference_variance=None); this solver "
                "integrates the flow of N(0, v) exactly instead"
            )
        elif self.anderson:
            self.theorem = None
            self.theorem_gap = "the proved collocation theorem covers plain Picard sweeps (anderson=False)"
        if self.pipeline and not self.warm_start:
            raise ValueError(
                "pipeline=True starts each window from the previous one's extrapolated drifts: it needs warm_start=True"
            )
        # node states and drifts, and with a pipeline the next window's first node states
        self.n_work = (3 if self.pipeline else 2) * (self.degree + 1)
        if self.anderson:  # the evaluated states, the last image and residual, and two sums, after the pipeline's rows
            self.n_work = 6 * (self.degree + 1) + 2
            self.kernel_node_threads = 0  # its sums run over every node of a particle: one thread per particle
        # the nodes' times (the score's constants once per window), with a pipeline the next window's too
        self.time_slots = (2 if self.pipeline else 1) * (self.degree + 1)
        #: node drifts a particle carries from one window to the next (the warm start's memory)
        self.n_carry = self.degree + 1 if self.warm_start else 0
        self._cache: dict = {}  # window matrices by length: a cache of pure functions, not run state

    def order(self) -> float:
        """``min(N, 2D)`` as ``h -> 0`` at fixed ``D, N``: each sweep gains one power of ``h`` from a
        constant start, and Lobatto collocation with ``D + 1`` nodes is superconvergent of order ``2D``.
        The point of the method is the other limit: at fixed windows the error falls geometrically
        in ``D`` and ``N`` (spectral accuracy)."""
        return float(min(int(np.min(self.sweeps)), 2 * self.degree))

    def sweeps_of(self, k: int) -> int:
        """Sweeps of window ``k``."""
        return int(self.sweeps[k]) if np.ndim(self.sweeps) else self.sweeps

    def _windows_sweeps(self, n_steps: int) -> np.ndarray:
        if np.ndim(self.sweeps) and len(self.sweeps) != n_steps:
            raise ValueError(f"{len(self.sweeps)} sweep counts for a grid of {n_steps} windows")
        return self.sweeps if np.ndim(self.sweeps) else np.full(n_steps, self.sweeps, dtype=np.int64)

    def theorem_options(self) -> dict:
        """What ``proofs.get('collocation').run_bound`` needs of this solver."""
        return {
            "degree": self.degree,
            "sweeps": self.sweeps,
            "warm_start": self.warm_start,
            "pipeline": self.pipeline,
            "warm_start_gain": self.warm_start_gain,
        }

    def cost(self, grid, target=None) -> tuple[int, int]:
        """:func:`schedule_cost` of the grid's windows with their sweeps."""
        return schedule_cost(self.degree, self._windows_sweeps(grid_steps(grid)), self.pipeline)

    def init(self, grid, target=None) -> CollocationState:
        """The run's state: the grid's times and overlapped windows (a pipeline looks one window ahead),
        and no carried drifts yet."""
        times = np.asarray(grid.times, dtype=float)
        return CollocationState(times, overlapped_windows(self._windows_sweeps(len(times) - 1), self.pipeline))

    def plan(self, eps: float, target, T: float, delta: float) -> Plan:
        """:func:`collocation_plan` for ``eps`` on ``target``, run by this solver's weights and context."""
        plan = collocation_plan(eps, target, T=T, delta=delta)
        solver = plan.solver(weights=self.weights, context=self.context)
        return Plan(solver, plan.grid, {"windows": plan.windows, "degree": plan.degree, "sweeps": plan.sweeps})

    def measured_plan(self, eps: float, score, x_pilot, T: float, delta: float) -> Plan:
        """:func:`~certsample.solvers.collocation_adaptive.adapt_plan` on the pilot particles ``x_pilot``."""
        from .collocation_adaptive import adapt_plan, reference_variance_of

        before = score.evaluations
        plan = adapt_plan(eps, score, x_pilot, T, delta, reference_variance=reference_variance_of(score))
        info = {
            "eps": float(eps),
            "degree": plan.degree,
            "windows": plan.windows,
            "pilot": int(x_pilot.shape[0]),
            "pilot_evaluations_per_particle": (score.evaluations - before) / x_pilot.shape[0],
            "reference_variance": plan.reference_variance,
        }
        return Plan(plan.solver(), plan.grid, info)

    def _window(self, t, h):
        """``(A, growth, shift)`` of the window ``t -> t - h`` (with the linear part ``y``, of its length alone)."""
        v = self.reference_variance
        key = self.context.key(h) if v is None else (self.context.key(t), self.context.key(h))
        if key not in self._cache:
            if len(self._cache) > 4096:
                self._cache.clear()
            self._cache[key] = _window_at(self.degree, t, h, self.weights, v, self.context)
        return self._cache[key]

    def _warm(self, t, h_previous, h):
        key = ("warm", self.context.key(t), self.context.key(h_previous), self.context.key(h))
        if key not in self._cache:
            # from the float64 window in every context: the matrix proofs/collocation.py bounds (part 5)
            if self.context.is_float64:
                amat = self._window(t, h)[0]
            else:
                amat = _window_at(self.degree, float(t), float(h), self.weights, self.reference_variance)[0]
            warm = warm_start_matrix(amat, float(h_previous), float(h), self.warm_start_gain)
            self._cache[key] = self.context.asarray(warm)
        return self._cache[key]

    def _check_window(self, t, h, target=None):
        source = self.lipschitz if self.lipschitz is not None else target
        if source is None:
            raise ValueError("check=True needs lipschitz= (a target or a callable t -> L) or an exact target")
        kw = {"target": source} if hasattr(source, "score_lipschitz") else {"lipschitz": source}
        return check_contraction(TimeGrid([t, t - h]), self.degree, weights=self.weights, rho_max=self.rho_max, **kw)

    def step(self, x, t, h, k, score, noise, state):
        """One window; ``state`` from :meth:`init` carries the warm start's drifts between windows."""
        ctx = self.context
        if self.check:
            self._check_window(float(t), float(h), getattr(score, "target", None))
        sweeps = self.sweeps_of(k)
        ahead = None
        if k + 1 < state.overlapped.size and state.overlapped[k + 1]:
            ahead = (state.times[k + 1], state.times[k + 1] - state.times[k + 2])
        with ctx.working():
            x, t, h = self._operands(x, t, h)
            amat, growth, shift = (like(m, x) for m in self._window(t, h))
            times = t - h * self.nodes
            nodes = _copies(x, self.degree + 1)
            drift = namespace(x).empty_like(nodes)
            carry = state.carry if self.warm_start and k > 0 else None
            done = 0
            if carry is not None and carry[1].shape[1:] == x.shape:
                h_previous, drift_previous = carry
                if h_previous is None:  # this window's first sweep, taken in the previous window's last round
                    drift[...] = drift_previous
                    node_states(x, nodes, drift, amat, growth, h)
                    done = 1
                else:
                    node_states(x, nodes, drift_previous, like(self._warm(t, h_previous, h), x), growth, h)
            carry = memory = None
            for sweep in range(done, sweeps):
                previous = nodes * 1 if self.anderson else None  # a copy in any namespace
                if ahead is not None and sweep == sweeps - 1:
                    carry = (None, self._sweep_with_next(score, x, nodes, drift, times, t, h, ahead, sweep == done))
                else:
                    picard_sweep(score, x, nodes, drift, times, amat, growth, shift, h, sweep == done)
                if self.anderson:
                    memory = anderson_mix(nodes, previous, memory)
            if self.warm_start and carry is None:
                carry = (h, drift)
            return nodes[-1, ...], replace(state, carry=carry)

    def _sweep_with_next(self, score, x, nodes, drift, times, t, h, ahead, first_sweep):
        """This window's last sweep and the next window's first in one round; returns the latter's drifts.

        The next window starts from this one's end state and drifts before the sweep (warm start);
        its start node's drift is this window's end-node drift, taken at that same state.
        """
        _, t_next, h_next = self._operands(x, ahead[0], ahead[1])
        amat, growth, shift = (like(m, x) for m in self._window(t, h))
        _, next_growth, next_shift = (like(m, x) for m in self._window(t_next, h_next))
        next_nodes = _copies(nodes[-1, ...], self.degree + 1)
        node_states(nodes[-1, ...], next_nodes, drift, like(self._warm(t_next, h, h_next), x), next_growth, h_next)
        first = 0 if first_sweep else 1
        here = self.degree + 1 - first
        xp = namespace(x)
        both = score.evaluate_many(
            (np.concatenate if xp is np else xp.concat)([nodes[first:, ...], next_nodes[1:, ...]]),
            np.concatenate([times[first:], t_next - h_next * self.nodes[1:]]),
        )
        drift[first:, ...] = both[:here, ...] + _from(shift, first) * nodes[first:, ...]
        next_drift = xp.empty_like(drift)
        next_drift[1:, ...] = both[here:, ...] + _from(next_shift, 1) * next_nodes[1:, ...]
        next_drift[0, ...] = drift[-1, ...]
        node_states(x, nodes, drift, amat, growth, h)
        return next_drift

    def _operands(self, x, t, h):
        """``x, t, h`` in the step's precision: the context's on NumPy (float64 or mpmath object arrays);
        a batch of another namespace (a torch tensor) stays as it is, with ``t, h`` Python floats."""
        if is_numpy(x):
            ctx = self.context
            return ctx.asarray(x), ctx.asarray(t)[()], ctx.asarray(h)[()]
        if not self.context.is_float64:
            raise ValueError(f"a solver in {self.context!r} runs on NumPy object arrays, not on a {type(x).__name__}")
        return x, float(t), float(h)

    def kernel_params(self, grid, target=None) -> tuple:
        """``(nodes, A per window (n, D+1, D+1), growth per window (n, D+1), drift shift per window and node
        (n, D+1), sweeps,
        warm-start matrices (n, D+1, D+1; window 0 unused) or a (1, 1, 1) placeholder, warm_start,
        the grid's times, overlapped_windows (n,), anderson)``."""
        if not self.context.is_float64:
            raise ValueError(
                f"the compiled backends run in float64; a solver in {self.context!r} runs with "
                "backend='numpy' or through certsample.highprec"
            )
        steps = np.asarray(grid.steps, dtype=float)
        if self.check:
            for t, h in zip(grid.times[:-1], steps):
                self._check_window(float(t), float(h), target)
        times = np.asarray(grid.times, dtype=float)
        windows = [self._window(float(t), float(h)) for t, h in zip(times[:-1], steps)]
        amat = np.ascontiguousarray(np.stack([w[0] for w in windows]))
        growth = np.ascontiguousarray(np.stack([w[1] for w in windows]))
        # one shift per window and node (a number broadcast, or the reference flow's 1/V at the node times)
        shift = np.ascontiguousarray(np.stack([np.broadcast_to(np.ravel(w[2]), (self.degree + 1,)) for w in windows]))
        warm = np.zeros((len(steps), self.degree + 1, self.degree + 1)) if self.warm_start else np.zeros((1, 1, 1))
        if self.warm_start:
            for k in range(1, len(steps)):
                warm[k] = self._warm(times[k], steps[k - 1], steps[k])
        sweeps = np.ascontiguousarray(self._windows_sweeps(len(steps)))
        return (
            np.ascontiguousarray(self.nodes),
            amat,
            growth,
            shift.astype(float),
            sweeps,
            warm,
            self.warm_start,
            np.ascontiguousarray(grid.times, dtype=float),
            np.ascontiguousarray(overlapped_windows(sweeps, self.pipeline)),
            self.anderson,
        )

    def __repr__(self) -> str:
        extra = "" if self.weights == "exponential" else f", weights={self.weights!r}"
        sweeps = self.sweeps if not np.ndim(self.sweeps) else f"[{len(self.sweeps)} windows]"
        extra += ", warm_start=True" if self.warm_start else ""
        extra += ", pipeline=True" if self.pipeline else ""
        extra += "" if self.reference_variance is None else f", reference_variance={self.reference_variance:g}"
        extra += "" if self.warm_start_gain is None else f", warm_start_gain={self.warm_start_gain:g}"
        extra += ", anderson=True" if self.anderson else ""
        extra += "" if self.context.is_float64 else f", context={self.context!r}"
        return f"Collocation(degree={self.degree}, sweeps={sweeps}{extra})"
