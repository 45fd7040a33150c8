"""Exact score of a Gaussian mixture pushed through the forward process, per particle.

Every built-in target is a mixture ``sum_c w_c N(mu_c, Q diag(lam_c) Q^T + lam_perp (I - Q Q^T))``
with an orthonormal ``Q`` of shape ``(d, k)``: Gaussians, diagonal mixtures, point clouds
(``lam_c = 0``) and data on a k-dimensional subspace (``lam_perp = 0``). The forward process keeps
that form: at time ``t`` the means scale by ``a = e^{-t}`` and every variance ``v`` becomes
``a^2 v + sigma^2``, so the score is a responsibility-weighted sum computed in O(K k + d k).

``target_params`` is the tuple ``(means (K, k), variances (K, k) or (1, k), log_weights (K,), basis,
lam_perp)`` where ``basis`` has shape ``(d, k)``, or ``(0, 0)`` to mean the identity (``k == d``); one
row of variances means every component shares them. ``work`` needs ``2 k + K +
time_constants_size(rows, k, slots)`` entries (``rows`` the variances' rows), zeroed before first use.
"""

import math

from .jit import device_function

#: log-responsibility (relative to the largest) below which a component is skipped: its weight
#: ``e^{-37} < 2^{-53}`` is under half an ulp of the total (at least 1, the largest term's), so the total
#: is unchanged to the bit and its share of the weighted sums is below ``1.2e-16`` of the largest
NEGLIGIBLE = -37.0


@device_function
def _slot_size(rows, k):
    """Entries of one :func:`time_constants` slot (``a mu`` is kept only for per-component variances)."""
    return 5 + rows * (k + 1) + (rows * k if rows > 1 else 0)


def time_constants_size(rows, k, slots=2):
    """Scratch entries of :func:`time_constants`: a clock and ``slots`` slots."""
    return 1 + slots * _slot_size(rows, k)


@device_function
def time_constants(t, means, variances, work, start):
    """Offset in ``work`` of the slot holding ``(last use, t, a, a^2, sigma^2, 1/v (rows x k), log det (rows))``
    and, when every component has its own variances (``rows == K``), the scaled means ``a mu`` (``K x k``).

    The cache occupies ``work[start:]``, a clock and as many slots as fit (on the CPU the kernel
    driver sizes the scratch for the distinct times one step visits: two for most solvers, ``D + 1``
    for collocation's nodes, ``2 (D + 1)`` when it is pipelined and also visits the next window's;
    CUDA keeps two). Every particle of a step asks for the same times, so these are computed once
    per step and scratch block, not per particle (the CPU driver runs a block step by step). A miss overwrites the
    least recently used slot, so a solver alternating between grid times and per-particle midpoint
    times keeps the grid time's. Each slot's first entry is the clock value of its last use, 0 while
    empty: scratch starts zeroed. A cache belongs to one target's parameters. Offsets into ``work``
    rather than array views here (measured 3% on the ring); the per-component path of
    :func:`target_score` reads the slot through 2-D views, which pay there.
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
    for row in range(rows):
        det = 1.0  # running product: one log per row instead of one per axis
        acc = 0.0
        for i in range(k):
            v = a2 * variances[row, i] + s2
            work[at + 5 + row * k + i] = 1.0 / v
            det *= v
            if det < 1e-150 or det > 1e150:
                acc += math.log(det)
                det = 1.0
        # a determinant shared by every component cancels in the softmax
        work[at + 5 + rows * k + row] = 0.0 if rows == 1 else acc + math.log(det)
    if rows > 1:
        scaled = at + 5 + rows * (k + 1)
        for c in range(rows):
            for i in range(k):
                work[scaled + c * k + i] = a * means[c, i]
    work[at] = clock
    return at


@device_function
def target_score(x, t, target_params, out, work):
    """Write ``grad log q_t(x)`` into ``out`` for one particle ``x`` of shape ``(d,)``.

    ``work`` layout: ``y`` (``k``), the plane score (``k``), responsibilities (``K``), then the
    time-constant cache of :func:`time_constants`.
    """
    means, variances, log_weights, basis, lam_perp = target_params
    n_comp = means.shape[0]
    k = means.shape[1]
    d = x.shape[0]
    rows = variances.shape[0]  # 1: every component shares the variances
    sy, rs = k, 2 * k  # offsets of the plane score and of the responsibilities
    at = time_constants(t, means, variances, work, 2 * k + n_comp)
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
        # chain of dependent additions. Measured on a 64-d, 16-component mixture: 1.6x.
        inverse = work[iv:iv + rows * k].reshape((rows, k))
        scaled = work[ld + rows:ld + rows + rows * k].reshape((rows, k))
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
