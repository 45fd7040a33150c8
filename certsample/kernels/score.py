"""Exact score of a Gaussian mixture pushed through the forward process, per particle.

Every built-in target is a mixture ``sum_c w_c N(mu_c, Q diag(lam_c) Q^T + lam_perp (I - Q Q^T))``
with an orthonormal ``Q`` of shape ``(d, k)``: Gaussians, diagonal mixtures, point clouds
(``lam_c = 0``) and data on a k-dimensional subspace (``lam_perp = 0``). The forward process keeps
that form: at time ``t`` the means scale by ``a = e^{-t}`` and every variance ``v`` becomes
``a^2 v + sigma^2``, so the score is a responsibility-weighted sum computed in O(K k + d k).

``target_params`` is the tuple ``(means (K, k), variances (K, k) or (1, k), log_weights (K,), basis,
lam_perp)`` where ``basis`` has shape ``(d, k)``, or ``(0, 0)`` to mean the identity (``k == d``); one
row of variances means every component shares them. ``work`` needs ``2 k + K +
time_constants_size(rows, k)`` entries (``rows`` the variances' rows), zeroed before first use.
"""

import math

from .jit import device_function


@device_function
def _slot_size(rows, k):
    """Entries of one :func:`time_constants` slot."""
    return 5 + rows * (k + 1)


def time_constants_size(rows, k):
    """Scratch entries of :func:`time_constants`: a pointer and two slots."""
    return 1 + 2 * _slot_size(rows, k)


@device_function
def time_constants(t, variances, work, start):
    """Offset in ``work`` of the slot holding ``(filled, t, a, a^2, sigma^2, 1/v (rows x k), log det (rows))``.

    The cache occupies ``work[start:start + time_constants_size(rows, k)]``. Every particle of a step
    asks for the same ``t``, so these are computed once per step and scratch block, not per particle
    (the CPU driver runs a block step by step). Two slots, so a solver alternating between grid
    times and per-particle midpoint times keeps the grid time's; ``work[start]`` names the slot
    written last, and a miss overwrites the other. Scratch starts zeroed, which marks both slots
    empty. A cache belongs to one target's parameters. Offsets into ``work`` rather than array views
    (measured 3% on the ring).
    """
    rows, k = variances.shape
    size = _slot_size(rows, k)
    for which in range(2):
        at = start + 1 + which * size
        if work[at] == 1.0 and work[at + 1] == t:
            return at
    which = 1 if work[start] == 0.0 else 0
    work[start] = which
    at = start + 1 + which * size
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
    work[at] = 1.0
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
    at = time_constants(t, variances, work, 2 * k + n_comp)
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
    for c in range(n_comp):
        row = 0 if rows == 1 else c
        quad = 0.0
        for i in range(k):
            diff = work[i] - a * means[c, i]
            quad += diff * diff * work[iv + row * k + i]
        acc = log_weights[c] - 0.5 * (quad + work[ld + row])
        work[rs + c] = acc
        if acc > top:
            top = acc
    total = 0.0
    for c in range(n_comp):
        e = math.exp(work[rs + c] - top)
        work[rs + c] = e
        total += e
    inv_total = 1.0 / total
    for i in range(k):
        work[sy + i] = 0.0
    if rows == 1:
        # shared variances: score = -(y - a sum_c r_c mu_c) / v
        for c in range(n_comp):
            r = work[rs + c] * inv_total
            for i in range(k):
                work[sy + i] += r * means[c, i]
        for i in range(k):
            work[sy + i] = -(work[i] - a * work[sy + i]) * work[iv + i]
    else:
        for c in range(n_comp):
            r = work[rs + c] * inv_total
            for i in range(k):
                work[sy + i] -= r * (work[i] - a * means[c, i]) * work[iv + c * k + i]
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
