"""Exact score of a Gaussian mixture pushed through the forward process, on a block of particles.

Every built-in target is a mixture ``sum_c w_c N(mu_c, Q diag(lam_c) Q^T + lam_perp (I - Q Q^T))``
with an orthonormal ``Q`` of shape ``(d, k)``: Gaussians, diagonal mixtures, point clouds
(``lam_c = 0``) and data on a k-dimensional subspace (``lam_perp = 0``). The forward process keeps
that form: at time ``t`` the means scale by ``a = e^{-t}`` and every variance ``v`` becomes
``a^2 v + sigma^2``, so the score is a responsibility-weighted sum computed in O(K k + d k).

``target_params`` is the tuple ``(means (K, k), variances (K, k) or (1, k), log_weights (K,), basis,
lam_perp)`` where ``basis`` has shape ``(d, k)``, or ``(0, 0)`` to mean the identity (``k == d``); one
row of variances means every component shares them. :func:`target_score` takes a block of
particles (particle-minor); :func:`particle_score` one particle. A block of a mixture whose components
have their own variances goes through :func:`~.components.components_block_score`.
"""

import math

from .components import NEGLIGIBLE, component_constants, components_block_score, padded_components
from .elementary import exp_nonpositive, expm1_nonpositive
from .jit import device_function

__all__ = [
    "NEGLIGIBLE",
    "exp_nonpositive",
    "expm1_nonpositive",
    "time_constants",
    "time_constants_size",
    "score_lane_rows",
    "target_score",
    "target_score_at",
    "particle_score",
]


@device_function
def _slot_size(rows, k):
    """Entries of one :func:`time_constants` slot (the constants of
    :func:`~.components.component_constants` are kept only for per-component variances)."""
    return 5 + rows * (k + 1) + ((3 * rows + 2 * padded_components(rows)) * k if rows > 1 else 0)


def time_constants_size(rows, k, slots=2):
    """Scratch entries of :func:`time_constants`: a clock and ``slots`` slots."""
    return 1 + slots * _slot_size(rows, k)


@device_function
def time_constants(t, means, variances, work, start):
    """Offset in ``work`` of the slot holding ``(last use, t, a, a^2, sigma^2, 1/v (rows x k), log det (rows))``
    and, when every component has its own variances (``rows == K``), the scaled means ``a mu`` and the
    block score's ``sqrt(1/v)``, ``-a mu sqrt(1/v)``, ``a mu / v`` and ``1/v`` (the last two padded with
    zero rows, :func:`~.components.component_constants`).

    The cache occupies ``work[start:]``, a clock and as many slots as fit (on the CPU the kernel
    driver sizes the scratch for the distinct times one step visits: two for most solvers, ``D + 1``
    for collocation's nodes, ``2 (D + 1)`` when it is pipelined and also visits the next window's;
    CUDA keeps two). Every particle of a step asks for the same times, so these are computed once
    per step and scratch block, not per particle (the CPU driver runs a block step by step). A miss overwrites the
    least recently used slot, so a solver alternating between grid times and per-particle midpoint
    times keeps the grid time's. Each slot's first entry is the clock value of its last use, 0 while
    empty: scratch starts zeroed. A cache belongs to one target's parameters. Offsets into ``work``
    rather than array views here (views were slower on the ring; docs/performance.md); the
    per-component path of :func:`target_score` reads the slot through 2-D views, which pay there.
    """
    rows, k = variances.shape
    size = _slot_size(rows, k)
    clock = work[start] + 1.0
    work[start] = clock
    oldest, at = math.inf, start + 1
    for which in range((work.shape[0] - start - 1) // size):
        slot = start + 1 + which * size
        if work[slot] > 0.0 and work[slot + 1] == t:
            work[slot] = clock
            return slot
        if work[slot] < oldest:
            oldest, at = work[slot], slot
    a = math.exp(-t)
    a2 = a * a
    s2 = -math.expm1(-2.0 * t)
    work[at + 1], work[at + 2], work[at + 3], work[at + 4] = t, a, a2, s2
    if rows > 1:
        component_constants(a, a2, s2, means, variances, work, at + 5, at + 5 + rows * k, at + 5 + rows * (k + 1))
    else:
        # a determinant shared by every component cancels in the softmax
        for i in range(k):
            work[at + 5 + i] = 1.0 / (a2 * variances[0, i] + s2)
        work[at + 5 + k] = 0.0
    work[at] = clock
    return at


@device_function
def score_lane_rows(n_components, k):
    """Rows of the block scores' per-lane scratch: ``y``, the plane score and ``1/v`` (``k`` each),
    the log-responsibilities (``K`` rounded up to :func:`~.components.padded_components`), their maximum
    and total, ``a`` and the off-plane variance."""
    return 3 * k + padded_components(n_components) + 4


@device_function
def _project(x, basis, y):
    """``y = Q^T x`` per column; the first ``k`` rows of ``x`` for the identity basis (``basis`` ``(0, 0)``)."""
    k, n_lanes = y.shape
    identity = basis.shape[0] == 0
    for i in range(k):
        for p in range(n_lanes):
            y[i, p] = x[i, p] if identity else 0.0
    if not identity:
        for j in range(x.shape[0]):
            for i in range(k):
                q = basis[j, i]
                for p in range(n_lanes):
                    y[i, p] += q * x[j, p]


@device_function
def _plane_score(y, target_params, scale, inverse, logits, top, total, plane):
    """Plane score ``grad log`` at ``y`` ``(k, L)`` of a k-dimensional mixture whose components share their
    variances, into ``plane``.

    Per lane, ``scale`` is ``a = e^{-t}`` and ``inverse`` ``(k, L)`` holds ``1/v``; the score is
    ``-(y - a sum_c r_c mu_c) / v`` and the shared log-determinant cancels in the softmax. ``logits``
    ``(K, L)``, ``top`` and ``total`` are scratch rows.
    """
    means, log_weights = target_params[0], target_params[2]
    n_comp, k = means.shape
    n_lanes = y.shape[1]
    # log responsibilities, then a max-shifted softmax
    for p in range(n_lanes):
        top[p] = -math.inf
    for c in range(n_comp):
        for p in range(n_lanes):
            logits[c, p] = 0.0
        for i in range(k):
            mu = means[c, i]
            for p in range(n_lanes):
                diff = y[i, p] - scale[p] * mu
                logits[c, p] += diff * diff * inverse[i, p]
        weight = log_weights[c]
        for p in range(n_lanes):
            acc = weight - 0.5 * logits[c, p]
            logits[c, p] = acc
            top[p] = max(top[p], acc)
    # the unnormalised responsibilities weight the sums as they are taken, and the sum is divided by
    # their total once
    for i in range(k):
        for p in range(n_lanes):
            plane[i, p] = 0.0
    for p in range(n_lanes):
        total[p] = 0.0
    for c in range(n_comp):
        for p in range(n_lanes):
            shifted = logits[c, p] - top[p]
            e = exp_nonpositive(max(shifted, NEGLIGIBLE))
            e = 0.0 if shifted < NEGLIGIBLE else e  # a select: the loop stays straight-line
            logits[c, p] = e
            total[p] += e
        for i in range(k):
            mu = means[c, i]
            for p in range(n_lanes):
                plane[i, p] += logits[c, p] * mu
    for p in range(n_lanes):
        total[p] = scale[p] / total[p]
    for i in range(k):
        for p in range(n_lanes):
            plane[i, p] = -(y[i, p] - total[p] * plane[i, p]) * inverse[i, p]


@device_function
def _lift(x, basis, y, plane, v_perp, projected, out):
    """``out = Q plane - (x - Q y) / v_perp`` per column: the plane score lifted to ``R^d`` plus the
    off-plane Gaussian's; ``out = plane`` for the identity basis. ``projected`` is one free row."""
    k, n_lanes = y.shape
    if basis.shape[0] == 0:
        for i in range(k):
            for p in range(n_lanes):
                out[i, p] = plane[i, p]
        return
    has_complement = x.shape[0] > k  # a square basis spans R^d: no off-basis term (and v_perp may be 0)
    for j in range(x.shape[0]):
        for p in range(n_lanes):
            out[j, p] = 0.0
            projected[p] = 0.0
        for i in range(k):
            q = basis[j, i]
            for p in range(n_lanes):
                out[j, p] += q * plane[i, p]
                projected[p] += q * y[i, p]
        if has_complement:
            for p in range(n_lanes):
                out[j, p] -= (x[j, p] - projected[p]) / v_perp[p]


@device_function
def target_score(x, t, target_params, out, lanes, work):
    """Write ``grad log q_t`` into ``out`` for a block of particles ``x`` of shape ``(d, L)``, one per column.

    The particles are the minor (contiguous) axis, and every loop over them is innermost and
    straight-line arithmetic: on the CPU a block of ``L`` particles runs in vector registers
    (:func:`exp_nonpositive` in place of ``math.exp``); on CUDA each thread passes its own column
    (``L = 1``) of a block whose neighbouring columns belong to its neighbouring threads, so their
    loads coalesce. All particles share ``t`` (:func:`target_score_at` gives each its own).
    ``lanes`` is ``(score_lane_rows(K, k), L)`` scratch; ``work`` is :func:`particle_score`'s
    scratch, whose time cache (:func:`time_constants`, after ``score_lane_rows(K, k)`` entries,
    zeroed before first use) both share.
    """
    means, variances, log_weights, basis, lam_perp = target_params
    n_comp = means.shape[0]
    k = means.shape[1]
    n_lanes = x.shape[1]
    rows = variances.shape[0]  # 1: every component shares the variances
    at = time_constants(t, means, variances, work, score_lane_rows(n_comp, k))
    a, a2, s2 = work[at + 2], work[at + 3], work[at + 4]
    iv, ld = at + 5, at + 5 + rows * k  # offsets of 1/v (row-major) and of the log-determinants
    y, plane, inverse = lanes[:k], lanes[k : 2 * k], lanes[2 * k : 3 * k]
    rows_k = padded_components(n_comp)
    logits = lanes[3 * k : 3 * k + rows_k]
    top, total = lanes[3 * k + rows_k], lanes[3 * k + rows_k + 1]
    scale, v_perp = lanes[3 * k + rows_k + 2], lanes[3 * k + rows_k + 3]
    for p in range(n_lanes):
        scale[p] = a
        v_perp[p] = a2 * lam_perp + s2
    if rows > 1 and basis.shape[0] == 0:
        # identity basis: the block is its own plane coordinates, the plane score the score (no copies)
        components_block_score(x[:k], log_weights, work, iv, ld, ld + rows, logits, top, total, out[:k], inverse)
        return
    _project(x, basis, y)
    if rows == 1:
        for i in range(k):
            inv = work[iv + i]
            for p in range(n_lanes):
                inverse[i, p] = inv
        _plane_score(y, target_params, scale, inverse, logits, top, total, plane)
    else:
        components_block_score(y, log_weights, work, iv, ld, ld + rows, logits, top, total, plane, inverse)
    _lift(x, basis, y, plane, v_perp, top, out)  # top is free once the responsibilities are taken


@device_function
def target_score_at(x, times, target_params, out, lanes, work):
    """:func:`target_score` for a block whose particles each have their own time ``times[p]``.

    When the components share their variances (the ring, Gaussians, point clouds) the block runs
    as in :func:`target_score` with the time constants ``a = e^{-t}``, ``sigma^2 = 1 - e^{-2t}``
    and ``1/v`` per lane, from :func:`exp_nonpositive` and :func:`expm1_nonpositive`, so the block
    still vectorises. For ``t > 88`` the lane takes ``a = e^{-88}`` (``< 7e-39``) in place of
    ``e^{-t}``: ``a`` only scales the means, so the score moves by less than ``7e-39 |mu| / v``.
    With per-component variances (``K k`` constants, each row its log-determinant) the block goes
    column by column through :func:`particle_score`.
    """
    means, variances, log_weights, basis, lam_perp = target_params
    n_comp = means.shape[0]
    k = means.shape[1]
    n_lanes = x.shape[1]
    if variances.shape[0] > 1:
        for p in range(n_lanes):
            particle_score(x[:, p], times[p], target_params, out[:, p], work)
        return
    y, plane, inverse = lanes[:k], lanes[k : 2 * k], lanes[2 * k : 3 * k]
    rows_k = padded_components(n_comp)
    logits = lanes[3 * k : 3 * k + rows_k]
    top, total = lanes[3 * k + rows_k], lanes[3 * k + rows_k + 1]
    scale, v_perp = lanes[3 * k + rows_k + 2], lanes[3 * k + rows_k + 3]
    s2 = total  # sigma^2 per lane, until the responsibilities are taken
    for p in range(n_lanes):
        a = exp_nonpositive(max(-times[p], -88.0))
        scale[p] = a
        s2[p] = -expm1_nonpositive(-2.0 * times[p])
        v_perp[p] = a * a * lam_perp + s2[p]
    for i in range(k):
        v = variances[0, i]
        for p in range(n_lanes):
            inverse[i, p] = 1.0 / (scale[p] * scale[p] * v + s2[p])
    _project(x, basis, y)
    _plane_score(y, target_params, scale, inverse, logits, top, total, plane)
    _lift(x, basis, y, plane, v_perp, top, out)


@device_function
def particle_score(x, t, target_params, out, work):
    """:func:`target_score` for one particle ``x`` of shape ``(d,)`` (any stride), in scalar loops.

    The same arithmetic as one column of :func:`target_score` (``math.exp`` for
    :func:`exp_nonpositive`; both are tested against NumPy at 1e-12), for the steps that take one
    particle at a time: a block of one column pays a loop set-up per component and coordinate and
    is about twice as slow on the ring (docs/performance.md). ``work`` layout: ``y`` (``k``),
    the plane score (``k``), responsibilities (``K``), unused entries up to
    ``score_lane_rows(K, k)`` (the block scores' row count), then the time-constant cache of
    :func:`time_constants`.
    """
    means, variances, log_weights, basis, lam_perp = target_params
    n_comp = means.shape[0]
    k = means.shape[1]
    d = x.shape[0]
    rows = variances.shape[0]  # 1: every component shares the variances
    sy, rs = k, 2 * k  # offsets of the plane score and of the responsibilities
    at = time_constants(t, means, variances, work, score_lane_rows(n_comp, k))
    a, a2, s2 = work[at + 2], work[at + 3], work[at + 4]
    iv, ld = at + 5, at + 5 + rows * k  # offsets of 1/v (row-major) and of the log-determinants
    identity = basis.shape[0] == 0
    if identity:
        for i in range(k):
            work[i] = x[i]
    else:
        for i in range(k):
            acc = 0.0
            for j in range(d):
                acc += basis[j, i] * x[j]
            work[i] = acc
    # log responsibilities, then a max-shifted softmax
    top = -math.inf
    if rows == 1:
        for c in range(n_comp):
            quad = 0.0
            for i in range(k):
                diff = work[i] - a * means[c, i]
                quad += diff * diff * work[iv + i]
            acc = log_weights[c] - 0.5 * (quad + work[ld])
            work[rs + c] = acc
            if acc > top:
                top = acc
    else:
        # Per-component variances (the heavy case, K k terms): 2-D views of the cache, so the loops
        # index without offset arithmetic, and four partial sums, so the quadratic form is not one
        # chain of dependent additions (the speed-up on the 64-d mixture: docs/performance.md).
        inverse = work[iv : iv + rows * k].reshape((rows, k))
        scaled = work[ld + rows : ld + rows + rows * k].reshape((rows, k))
        for c in range(n_comp):
            q0 = 0.0
            q1 = 0.0
            q2 = 0.0
            q3 = 0.0
            i = 0
            while i + 4 <= k:
                d0 = work[i] - scaled[c, i]
                d1 = work[i + 1] - scaled[c, i + 1]
                d2 = work[i + 2] - scaled[c, i + 2]
                d3 = work[i + 3] - scaled[c, i + 3]
                q0 += d0 * d0 * inverse[c, i]
                q1 += d1 * d1 * inverse[c, i + 1]
                q2 += d2 * d2 * inverse[c, i + 2]
                q3 += d3 * d3 * inverse[c, i + 3]
                i += 4
            while i < k:
                d0 = work[i] - scaled[c, i]
                q0 += d0 * d0 * inverse[c, i]
                i += 1
            acc = log_weights[c] - 0.5 * ((q0 + q1) + (q2 + q3) + work[ld + c])
            work[rs + c] = acc
            if acc > top:
                top = acc
    # the unnormalised responsibilities weight the sums as they are taken (one pass over the
    # components), and the sum is divided by their total once
    for i in range(k):
        work[sy + i] = 0.0
    total = 0.0
    if rows == 1:
        # shared variances: score = -(y - a sum_c r_c mu_c) / v
        for c in range(n_comp):
            shifted = work[rs + c] - top
            if shifted < NEGLIGIBLE:
                continue
            e = math.exp(shifted)
            total += e
            for i in range(k):
                work[sy + i] += e * means[c, i]
        scale = a / total
        for i in range(k):
            work[sy + i] = -(work[i] - scale * work[sy + i]) * work[iv + i]
    else:
        for c in range(n_comp):
            shifted = work[rs + c] - top
            if shifted < NEGLIGIBLE:
                continue
            e = math.exp(shifted)
            total += e
            for i in range(k):
                work[sy + i] -= e * (work[i] - scaled[c, i]) * inverse[c, i]
        inv_total = 1.0 / total
        for i in range(k):
            work[sy + i] *= inv_total
    if identity:
        for i in range(k):
            out[i] = work[sy + i]
        return
    v_perp = a2 * lam_perp + s2
    has_complement = d > k  # a square basis spans R^d: no off-basis term (and v_perp may be 0)
    for j in range(d):
        lifted = 0.0
        projected = 0.0
        for i in range(k):
            lifted += basis[j, i] * work[sy + i]
            projected += basis[j, i] * work[i]
        out[j] = lifted
        if has_complement:
            out[j] -= (x[j] - projected) / v_perp
