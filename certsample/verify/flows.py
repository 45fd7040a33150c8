r"""Proved enclosures of the exact flow of many start points: the compiled float64 path, Arb where it falls short.

:func:`enclose_flows` encloses ``x0[p]`` (``p = 0 .. n-1``) from ``T`` to ``delta`` and returns a
:class:`FlowEnclosures`: for each start point a float64 center and a radius such that the exact
probability-flow image lies in the Euclidean ball (the same statement as
:func:`~certsample.verify.enclosure.enclose_flow`, proved by :mod:`.fast_enclosure`). A particle whose
float64 radius misses the requested ``tol (1 + |x0|)`` is retried with a local tolerance tightened by
the factor it missed (the radius is about the flow's growth times the local tolerance): first only up to a
checkpoint of its first pass after which the path adds little to the radius (:func:`_resume`), then whole, up to
:data:`RETRIES` times, then enclosed by the Arb path, the independent high-precision check (``method[p] ==
'arb'``). A particle the float64 integrator stops on is retried the same way, its local tolerance tightened by
the factor its radius had reached and at least by :data:`STOPPED_SHRINK` (where the flow expands fast a ball grown
far past ``tol`` widens every box and the steps collapse: every pass but the last stops after
:data:`FIRST_PASS_STEPS` steps or once its steps fall below :data:`STEP_FLOOR` times ``t``), and goes to Arb if every
pass stops.

The parts outside the integrator are exact maps evaluated in interval arithmetic (NumPy, every
operation rounded outward with ``nextafter``): the projection ``y = Q^T x`` on the target's basis, the
closed-form flow of a Gaussian, of the orthogonal part ``x_perp(delta) = sqrt(v_perp(delta) /
v_perp(T)) x_perp(T)``, and the lift back ``x = Q y + x_perp``; their constants (``e^{-t}``, the square
roots, ``||Q||_2``) are Arb balls rounded outward. The radius of a lifted ball is the Euclidean norm of
the interval half-widths plus ``||Q||_2 E`` for the integrator's radius ``E`` in the ``k`` coordinates. The
target's exact basis is the polar factor ``Q~`` of the stored ``Q`` (:func:`~.enclosure.basis_balls`: ``||Q~ -
Q||_2 <= beta``): the projection is widened by ``beta |x0|`` and the lifted radius by ``beta (|y| + |y0|
sqrt(v_perp(delta) / v_perp(T)))``.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from ..validation import check_int
from .enclosure import (
    TINY_NORM,
    Enclosure,
    _flint,
    _lower,
    _underflow,
    _upper,
    basis_balls,
    enclose_flow,
    proved_errors,
)
from .errors import EnclosureFailed
from .fast_enclosure import N_CHECK, N_OUT, STATUS, FastModel

__all__ = ["FlowEnclosures", "enclose_flows", "default_order", "proved_errors", "LOCAL_FRACTION", "ORDER_FRACTION"]

#: the float64 integrator's local tolerance per step, as a fraction of the requested radius (about a hundred
#: steps, and flows that expand). A particle whose radius misses the request is integrated again, since the retries
#: from a checkpoint (:func:`_resume`) mostly only up to where its radius stops growing, so the fraction trades steps
#: for every particle against partial passes for some; this one took the fewest steps of the fractions tried on
#: the benchmarks' targets (which, in ``docs/performance.md``)
LOCAL_FRACTION = 4e-4
#: the local tolerance, as the same fraction, that :func:`default_order` takes the Taylor order from (the orders were
#: measured fastest at this one, before the retries from a checkpoint made a looser local tolerance pay)
ORDER_FRACTION = 1e-4
#: float64 passes over the particles that missed ``tol`` before the Arb path takes the rest
RETRIES = 3
#: states the first pass keeps per particle, spread over its steps, so that a particle that missed ``tol`` is
#: integrated again only up to one of them where the rest of its path adds little (:func:`_resume`)
CHECKPOINTS = 12
#: the step budget per particle of the first pass and of every whole retry but the last (the last retry and the
#: passes to a checkpoint, :func:`_resume`, have ``max_steps``): a start whose ball has grown far past ``tol`` can
#: spend the whole ``max_steps`` and most of a batch's time, where a retry at the tighter tolerance takes a few
#: hundred steps (``docs/performance.md``)
FIRST_PASS_STEPS = 2000
#: every pass but the last stops once its next step falls below this fraction of ``t``, and the particle is retried
#: at a tighter local tolerance: a ball grown wide enough widens every box until the remainder allows no real step
#: (on the 64-d mixture at loose tolerances such first passes spent the whole :data:`FIRST_PASS_STEPS` near ``h =
#: 1e-6 t``, ``docs/performance.md``), while the smallest steps of finished passes on the benchmarks' targets average
#: ``0.008 t`` or more between checkpoints. The last pass has no floor: it runs to its end or to ``max_steps``.
STEP_FLOOR = 1e-4
#: the local tolerance of the next pass of a particle whose last pass stopped, at most this fraction of that one's
STOPPED_SHRINK = 0.1
#: particles integrated together, each chunk with its retries before the next: the first pass keeps
#: ``CHECKPOINTS (k + 5)`` floats per particle (a 64-d particle's 6.6 kB), which without chunks grow with the run
CHUNK = 8192


@dataclass
class FlowEnclosures:
    """Proved balls ``B(centers[p], radii[p])`` around the exact flow images of ``n`` start points.

    ``method[p]`` is ``'float64'`` (:mod:`.fast_enclosure`), ``'arb'`` (:func:`enclose_flow`) or ``'failed'``
    (not enclosed: ``radii[p]`` is ``inf``; see ``fallback='failed'`` of :func:`enclose_flows`); ``passes[p]`` the
    float64 integrations of particle ``p`` (0 for a closed form, 2 or more where it was retried, one to a
    checkpoint counted as one; ``steps[p]`` then counts its steps and the first pass's after the checkpoint);
    ``order`` the Taylor order of the float64 passes (``None`` where a closed form served).
    """

    centers: np.ndarray
    radii: np.ndarray
    steps: np.ndarray
    method: np.ndarray
    T: float
    delta: float
    tol: float
    passes: np.ndarray
    order: int | None = None

    def __len__(self) -> int:
        return len(self.radii)

    def __getitem__(self, p) -> Enclosure:
        return Enclosure(
            center=self.centers[p],
            radius=float(self.radii[p]),
            T=self.T,
            delta=self.delta,
            steps=int(self.steps[p]),
            growth=math.nan,
        )

    def error_bounds(self, samples, m: int | None = None):
        """Proved ``(lower, upper)`` bounds of ``|samples[p] - x_exact[p](delta)|`` for the first ``m`` rows
        (:func:`proved_errors`)."""
        m = len(self) if m is None else m
        return proved_errors(np.asarray(samples, dtype=float)[:m], self.centers[:m], self.radii[:m])


def default_order(tol_local_relative: float, model: FastModel | None = None) -> int:
    """Taylor order for a local tolerance relative to the particle's scale (about one per digit).

    Where ``model`` has per-component variances in more than three coordinates
    (:attr:`~.fast_enclosure.FastModel.box_limited`), the remainder over the a-priori box, not the point
    series, limits the steps: one order per digit less two there, 0.9 of an order per digit elsewhere (the
    fastest on the benchmarks' targets at the tolerances certify and the benchmarks ask for: ``docs/performance.md``).
    """
    digits = -math.log10(tol_local_relative)
    order = digits - 2.0 if model is not None and model.box_limited else 0.9 * digits
    return int(min(20, max(6, round(order))))


def enclose_flows(
    target,
    x0,
    T: float,
    delta: float,
    *,
    tol: float = 1e-10,
    order: int | None = None,
    max_steps: int = 20_000,
    fallback: bool | str = True,
    backend: str = "cpu",
    threads: int | None = None,
) -> FlowEnclosures:
    """Proved balls around the exact probability-flow images at ``delta`` of the rows of ``x0`` taken at ``T``.

    Parameters
    ----------
    target : MixtureTarget
        A built-in target (its score is the exact ``grad log q_t``).
    x0 : (n, d) array
        Start points at forward time ``T``.
    T, delta : float
        ``T > delta > 0``.
    tol : float
        Requested radius relative to ``1 + |x0[p]|``; the returned radii are proved whatever ``tol`` is.
    order : int, optional
        Taylor order of the float64 integrator (default from ``tol``).
    max_steps : int
        Steps per particle and pass before the float64 integrator stops (every whole pass but the last at most
        :data:`FIRST_PASS_STEPS`); a stopped particle is retried, and where every pass stops the Arb path takes it.
    fallback : {True, 'failed', False}
        True: enclose with Arb the particles the float64 path misses (it stops, or its radius is above ``tol``
        after the retries). ``'failed'``: only those where it stops; one above ``tol`` keeps its larger proved
        radius (the Arb path is far too slow for a 64-d trajectory, so a 64-d miss would stall the caller:
        ``docs/performance.md``), and where the model is box-limited
        (:attr:`~.fast_enclosure.FastModel.box_limited`: per-component variances in more than three coordinates,
        where one Arb trajectory outlasts any budget) one where it stops is left unproved: radius ``inf``,
        method ``'failed'``, as is one where the Arb path fails too. False: a particle the float64 path cannot
        validate raises :class:`~certsample.verify.errors.EnclosureFailed` (time, box and step), and one that
        misses ``tol`` keeps its larger proved radius.
    backend : {'cpu', 'cpu-parallel', 'cuda'}
        Where the float64 integrator runs (one process: ``'cpu'``; Numba threads: ``'cpu-parallel'``).
    threads : int, optional
        Concurrent particles on ``'cuda'`` (default: the particle count, at most 4096).

    Returns
    -------
    FlowEnclosures
    """
    x0 = _checked(target, x0, T, delta, tol)
    tol = float(tol)
    max_steps = check_int("max_steps", max_steps, 1)
    if order is not None:
        order = check_int("order", order, 1)
    if fallback not in (True, False, "failed"):
        raise ValueError(f"fallback must be True, False or 'failed', got {fallback!r}")
    arb_for_misses = bool(fallback) and fallback != "failed"
    n = x0.shape[0]
    T, delta = float(T), float(delta)
    tol_abs = tol * (1.0 + np.linalg.norm(x0, axis=1))
    maps = _Maps(target, T, delta)
    tol_local = tol_abs * LOCAL_FRACTION
    order = default_order(tol * ORDER_FRACTION, maps.model) if order is None else int(order)
    y_lo, y_hi = maps.project(x0)
    steps = np.zeros(n, dtype=np.int64)
    passes = np.zeros(n, dtype=np.int64)
    if maps.model is None:
        c_y, e_y = maps.gaussian_flow(y_lo, y_hi)
        status = np.zeros(n, dtype=np.int64)
        info = None
    else:
        c_y, info = _float64_passes(
            maps, y_lo, y_hi, T, delta, tol_abs, tol_local, order, max_steps, backend, threads, passes
        )
        e_y, steps, status = info[:, 0], info[:, 1].astype(np.int64), info[:, 2].astype(np.int64)
    centers, radii = maps.lift(c_y, e_y, x0, y_lo, y_hi)
    method = np.full(n, "float64", dtype="<U7")
    missed = np.flatnonzero((status != 0) | (~(radii <= tol_abs) if arb_for_misses else False))
    arb_too_slow = fallback == "failed" and maps.model is not None and maps.model.box_limited
    for p in missed:
        if arb_too_slow and status[p] != 0:
            radii[p], method[p] = math.inf, "failed"
        elif fallback:
            try:
                enc = enclose_flow(target, x0[p], T, delta, tol=tol)
            except EnclosureFailed:
                if fallback != "failed":
                    raise
                radii[p], method[p] = math.inf, "failed"  # only stopped particles reach Arb here
                continue
            if status[p] != 0 or enc.radius < radii[p]:
                centers[p], radii[p], steps[p], method[p] = enc.center, enc.radius, enc.steps, "arb"
        elif status[p] != 0:
            raise EnclosureFailed(
                f"the float64 integrator stopped: {STATUS[int(status[p])]}",
                info[p, 3],
                [f"center {list(c_y[p])}", f"radius {info[p, 5]:.3g}"],
                int(info[p, 4]),
            )
    return FlowEnclosures(centers, radii, steps, method, T, delta, tol, passes, None if maps.model is None else order)


def _checked(target, x0, T, delta, tol):
    from ..targets import MixtureTarget

    if not isinstance(target, MixtureTarget):
        raise TypeError("enclose_flows needs a built-in MixtureTarget (a score callable has no proved flow)")
    x0 = np.asarray(x0, dtype=float)
    if x0.ndim != 2 or x0.shape[1] != target.dim:
        raise ValueError(f"x0 must have shape (n, {target.dim}), got {x0.shape}")
    if not np.all(np.isfinite(x0)):
        raise ValueError("x0 contains NaN or inf")
    if not (math.isfinite(delta) and delta > 0 and math.isfinite(T) and T > delta):
        raise ValueError(f"need T > delta > 0, got T={T!r}, delta={delta!r}")
    if not (isinstance(tol, numbers.Real) and not isinstance(tol, bool) and math.isfinite(tol) and tol > 0):
        raise ValueError(f"tol must be a finite number > 0, got {tol!r}")
    return np.ascontiguousarray(x0)


def _float64_passes(maps, y_lo, y_hi, T, delta, tol_abs, tol_local, order, max_steps, backend, threads, passes):
    """The first pass and the retries of :func:`enclose_flows`, over at most :data:`CHUNK` particles at a time
    (``tol_local`` and ``passes`` updated in place): ``(centers, info)`` of the integrator in the ``k`` coordinates.
    Each particle's passes depend on it alone, so the chunks change no result; they bound the checkpoints' memory."""
    n, k = y_lo.shape
    c_y, info = np.empty((n, k)), np.empty((n, N_OUT))
    for start in range(0, n, CHUNK):
        rows = slice(start, min(n, start + CHUNK))

        def integrate(sel, ends, local, steps, checkpoints=0, last=False, rows=rows):
            lo, hi = y_lo[rows][sel], y_hi[rows][sel]
            floor = 0.0 if last else STEP_FLOOR
            return _integrate(maps.model, lo, hi, T, ends, local, order, steps, backend, threads, checkpoints, floor)

        # slices of tol_local and passes are views: the chunk's updates land in the caller's arrays
        c_y[rows], info[rows] = _chunk_passes(
            maps, integrate, delta, tol_abs[rows], tol_local[rows], max_steps, passes[rows]
        )
    return c_y, info


def _chunk_passes(maps, integrate, delta, tol_abs, tol_local, max_steps, passes):
    """:func:`_float64_passes` on one chunk, whose particles ``integrate(rows, ends, local, steps, checkpoints, last)``
    integrates (``rows`` indexes the chunk; ``last`` runs the pass without the step floor)."""
    everyone = np.arange(len(tol_abs))
    short = min(max_steps, FIRST_PASS_STEPS)  # the budget of every whole pass but the last retry
    c_y, info, ck_c, ck = integrate(everyone, delta, tol_local, short, CHECKPOINTS, RETRIES == 0)
    passes[:] = 1
    stopped_last = info[:, 2] != 0  # whether each particle's latest pass stopped (a finished one may be kept)
    for attempt in range(RETRIES):
        lifted = maps.radius_bound(info[:, 0])  # where the integrator stopped: the radius it had reached
        whole = lifted  # a whole pass's radius, which the tightening below divides by
        if attempt == 0:  # first only up to a checkpoint where one leaves room (_resume)
            missed = np.flatnonzero((info[:, 2] == 0) & ~(lifted <= tol_abs))
            passes[_resume(maps, integrate, missed, tol_abs, tol_local, max_steps, info, ck_c, ck)] += 1
            lifted = maps.radius_bound(info[:, 0])
        missed = (info[:, 2] == 0) & ~(lifted <= tol_abs)
        stopped = (info[:, 2] != 0) & (lifted > 0) & np.isfinite(lifted)
        retry = np.flatnonzero(missed | stopped)
        if not len(retry):
            break
        # at a given order the radius is about the flow's growth times the local tolerance: a retry with the
        # tolerance divided by the factor missed lands near that fraction of the request (docs/performance.md;
        # a higher order for the tighter tolerance moves it, so the order stays), aimed at half of it
        shrink = np.minimum(0.5, 0.5 * tol_abs[retry] / whole[retry])
        # a pass stopped on the way had a ball wide enough to collapse its steps (or ran out of them)
        tol_local[retry] *= np.where(stopped_last[retry], np.minimum(STOPPED_SHRINK, shrink), shrink)
        passes[retry] += 1
        last = attempt == RETRIES - 1
        c2, info2, _, _ = integrate(retry, delta, tol_local[retry], max_steps if last else short, last=last)
        stopped_last[retry] = info2[:, 2] != 0
        # the new pass replaces a stopped one wherever it got (stopped again: for the next retry and the error
        # report), and a finished one where it finished with a smaller ball
        take = (info[retry, 2] != 0) | ((info2[:, 2] == 0) & (info2[:, 0] < info[retry, 0]))
        c_y[retry[take]], info[retry[take]] = c2[take], info2[take]
    return c_y, info


def _resume(maps, integrate, rows, tol_abs, tol_local, max_steps, info, ck_c, ck):
    """Integrate the finished particles ``rows`` that missed their tolerance again from ``T`` to a checkpoint of their
    first pass only, and keep the first pass from there on: ``info``'s radius and steps are updated where that gives
    a smaller proved radius. Returns the rows integrated again.

    The first pass recorded, at its checkpoints ``t_q``, the center ``c_q``, the radius ``E_q`` and ``(A_q, B_q)``
    such that every solution within ``d <= E_q`` of ``c_q`` at ``t_q`` ends within ``A_q d + B_q`` of the first
    pass's final center (:func:`~.fast_enclosure.enclose_particle`). The new pass gives a ball ``B(c', E')`` holding
    the exact solution at ``t_q``, so ``d <= |c' - c_q| + E'``, bounded above by :func:`proved_errors`; where that is
    at most ``E_q`` the end radius is ``A_q d + B_q``, rounded up. The checkpoint taken is the earliest one whose
    tail ``B_q`` leaves half the tolerance (fewest steps to integrate again; a particle's radius mostly grows where
    the flow expands, late in the path), and the new pass's local tolerance is cut by the factor its part ``A_q
    E_q`` missed, aiming at a quarter of what the tail leaves (the radius falls more slowly than the local
    tolerance: the tighter pass takes more steps).
    """
    t_q, e_q, a_q, b_q, s_q = (ck[rows, :, j] for j in range(N_CHECK))
    room = tol_abs[rows, None] - maps.radius_bound(b_q)
    usable = (t_q > 0) & (room >= 0.5 * tol_abs[rows, None])
    has = usable.any(axis=1)
    rows, q = rows[has], np.argmax(usable[has], axis=1)  # the earliest usable checkpoint
    if not len(rows):
        return rows
    pick = (np.arange(len(rows)), q)
    t_q, e_q, a_q, b_q, s_q, room = (v[has][pick] for v in (t_q, e_q, a_q, b_q, s_q, room))
    part = maps.radius_bound(a_q * e_q)
    local = tol_local[rows] * np.minimum(0.5, 0.25 * room / part)
    c2, info2, _, _ = integrate(rows, t_q, local, max_steps)
    finished = info2[:, 2] == 0
    d = proved_errors(c2, ck_c[rows, q], info2[:, 0])[1]
    e_end = _up(_up(a_q * d) + b_q)
    take = finished & (d <= e_q) & (e_end < info[rows, 0])
    info[rows[take], 0] = info[rows[take], 5] = e_end[take]
    info[rows[take], 1] = info[rows[take], 4] = info2[take, 1] + info[rows[take], 1] - s_q[take]
    return rows


def _integrate(
    model,
    y_lo,
    y_hi,
    T,
    deltas,
    tol_local,
    order,
    max_steps,
    backend,
    threads,
    checkpoints=0,
    step_floor=0.0,
):
    """Run :func:`~.fast_enclosure.enclose_particle` on every start box, particle ``p`` from ``T`` to ``deltas[p]`` (or
    to ``deltas`` for a float), with ``checkpoints`` slots each, stopped once its next step falls below ``step_floor
    t``: ``(centers (n, k), info (n, N_OUT), checkpoint centers (n, checkpoints, k), checkpoints (n, checkpoints,
    N_CHECK))``."""
    from ..kernels.jit import compile_for
    from .fast_enclosure import enclose_slots

    n, k = y_lo.shape
    ck_c = np.zeros((n, checkpoints, k))
    ck = np.zeros((n, checkpoints, N_CHECK))
    out_c = np.zeros((n, k))
    out = np.zeros((n, N_OUT))
    args = (
        np.ascontiguousarray(y_lo),
        np.ascontiguousarray(y_hi),
        T,
        np.array(np.broadcast_to(np.asarray(deltas, dtype=float), (n,))),  # a writable copy: one compiled type
        np.ascontiguousarray(tol_local),
        float(step_floor),
        int(order),
        int(max_steps),
        *model.arrays,
    )
    if backend == "cuda":
        from .fast_cuda import run_cuda

        run_cuda(model, args, order, n, threads, ck_c, ck, out_c, out)
        return out_c, out, ck_c, ck
    if backend not in ("cpu", "cpu-parallel"):
        raise ValueError(f"backend must be 'cpu', 'cpu-parallel' or 'cuda', got {backend!r}")
    if backend == "cpu":
        slots = 1
    else:
        import numba

        slots = min(n, 2 * numba.get_num_threads())
    # the kernels allocate nothing and slice their scratch in every inner call: without reference counting a view
    # costs no atomic operations (the ring's enclosures 1.3-1.4 times as fast, docs/performance.md)
    run = compile_for(enclose_slots, backend, nrt=False)
    run(*args, *model.scratch(order, max(slots, 1)), ck_c, ck, out_c, out)
    return out_c, out, ck_c, ck


# ---------------------------------------------------------------- interval NumPy for the exact maps
def _down(x):
    return np.nextafter(x, -np.inf)


def _up(x):
    return np.nextafter(x, np.inf)


def _vadd(al, ah, bl, bh):
    return _down(al + bl), _up(ah + bh)


def _vmul(al, ah, bl, bh):
    p = np.stack(np.broadcast_arrays(al * bl, al * bh, ah * bl, ah * bh))
    return _down(p.min(axis=0)), _up(p.max(axis=0))


def _norm_up(half):
    """An upper bound of the row norms of the non-negative ``half`` (``d`` squares summed in float: relative
    error at most ``(d + 1) u``, covered by the margin ``2 (d + 4) u``, where no square underflows; squares below
    the normal range err by at most ``2^-1074`` each, so the norm by at most :func:`_underflow` absolutely)."""
    d = half.shape[1]
    norm = _up(np.sqrt(_up(np.sum(half * half, axis=1) * (1 + 2 * (d + 4) * 2.0**-53))))
    return np.where(norm < TINY_NORM, _up(norm + _underflow(d)), norm)


def _ball(arb_value):
    return _lower(arb_value), _upper(arb_value)


class _Maps:
    """The exact maps around the integrator for one target and ``(T, delta)``, with their Arb constants."""

    def __init__(self, target, T, delta):
        arb = _flint().arb
        self.target = target
        k = target.means.shape[1]
        Tb, db = arb(T), arb(delta)
        self.e2T, self.e2d = (-2 * Tb).exp(), (-2 * db).exp()
        self.aT, self.ad = (-Tb).exp(), (-db).exp()
        self.model = None if target.n_components == 1 else FastModel(target)
        q = target.basis
        self.q_norm = 1.0
        self.beta = 0.0  # ||Q~ - Q||_2 for the exactly orthonormal basis Q~ (enclosure.basis_balls)
        self.perp = None
        if q is not None:
            _, q_norm, beta = basis_balls(q)
            self.q_norm, self.beta = _upper(q_norm), _upper(beta)
            if target.dim > k:
                self.perp = _ball(self._ratio(target.lam_perp))

    def _ratio(self, lam):
        """``sqrt(v(delta) / v(T))``, ``v(t) = 1 + (lam - 1) e^{-2t}``, as an Arb ball."""
        arb = _flint().arb
        lam = arb(float(lam))
        return ((1 + (lam - 1) * self.e2d) / (1 + (lam - 1) * self.e2T)).sqrt()

    def project(self, x0):
        """``y = Q~^T x0`` as intervals ``(lo, hi)``, ``(n, k)``: ``Q^T x0`` widened by ``beta |x0|``."""
        q = self.target.basis
        if q is None:
            return x0.copy(), x0.copy()
        lo = np.zeros((x0.shape[0], q.shape[1]))
        hi = np.zeros_like(lo)
        for i in range(q.shape[0]):
            pl, ph = _vmul(x0[:, i : i + 1], x0[:, i : i + 1], q[i][None, :], q[i][None, :])
            lo, hi = _vadd(lo, hi, pl, ph)
        widen = _up(self.beta * _norm_up(np.abs(x0)))[:, None]
        return _vadd(lo, hi, -widen, widen)

    def gaussian_flow(self, y_lo, y_hi):
        """The closed-form flow of a Gaussian in its ``k`` coordinates: ``(center, radius)`` of the ball."""
        mean, lam = self.target.means[0], self.target.variances[0]
        lo, hi = y_lo, y_hi
        out_lo, out_hi = np.empty_like(lo), np.empty_like(hi)
        for i in range(len(mean)):
            shift = _ball(self.aT * float(mean[i]))
            target_mean = _ball(self.ad * float(mean[i]))
            ratio = _ball(self._ratio(lam[i]))
            dl, dh = _vadd(lo[:, i], hi[:, i], -shift[1], -shift[0])
            pl, ph = _vmul(dl, dh, ratio[0], ratio[1])
            out_lo[:, i], out_hi[:, i] = _vadd(pl, ph, target_mean[0], target_mean[1])
        center = 0.5 * out_lo + 0.5 * out_hi
        half = np.maximum(_up(out_hi - center), _up(center - out_lo))
        return center, _norm_up(half)

    def radius_bound(self, e_y):
        """The lifted radius's share from the integrator, ``||Q|| E`` (to compare with ``tol`` early)."""
        return _up(e_y * self.q_norm)

    def lift(self, c_y, e_y, x0, y_lo, y_hi):
        """``x = Q~ y + x_perp(delta)`` for the balls ``B(c_y, e_y)``, ``[y_lo, y_hi]`` the projection of ``x0``
        (:meth:`project`): ``(centers (n, d), radii (n,))``."""
        q = self.target.basis
        if q is None:
            return c_y, np.asarray(e_y, dtype=float)
        n, d = x0.shape
        lo, hi = np.zeros((n, d)), np.zeros((n, d))
        for j in range(q.shape[1]):
            pl, ph = _vmul(c_y[:, j : j + 1], c_y[:, j : j + 1], q[:, j][None, :], q[:, j][None, :])
            lo, hi = _vadd(lo, hi, pl, ph)
        if self.perp is not None:
            # x_perp(T) = x0 - Q Q~^T x0 with Q~^T x0 in [y_lo, y_hi]
            ql, qh = np.zeros((n, d)), np.zeros((n, d))
            for j in range(q.shape[1]):
                pl, ph = _vmul(y_lo[:, j : j + 1], y_hi[:, j : j + 1], q[:, j][None, :], q[:, j][None, :])
                ql, qh = _vadd(ql, qh, pl, ph)
            pl, ph = _vadd(x0, x0, -qh, -ql)
            pl, ph = _vmul(pl, ph, self.perp[0], self.perp[1])
            lo, hi = _vadd(lo, hi, pl, ph)
        center = 0.5 * lo + 0.5 * hi
        half = np.maximum(_up(hi - center), _up(center - lo))
        spread = _norm_up(half)
        e_y = np.asarray(e_y, dtype=float)
        # the basis Q~ instead of Q: Q~ y within beta |y| of Q y (|y| <= |c_y| + E), and in the perp part Q~ y0 within
        # beta |y0| of Q y0
        basis = _up(self.beta * _up(_norm_up(np.abs(c_y)) + e_y))
        if self.perp is not None:
            y0_size = _norm_up(np.maximum(np.abs(y_lo), np.abs(y_hi)))
            basis = _up(basis + _up(self.beta * _up(self.perp[1] * y0_size)))
        return center, _up(_up(spread + self.radius_bound(e_y)) + basis)
