"""The block score of a mixture whose components have their own variances, as register-blocked multiply-adds.

With per-component variances ``v_c`` (``K x k`` numbers per time) the score at a point ``y`` is

.. math:: s(y) = \\sum_c r_c(y) (a \\mu_c - y) / v_c = \\sum_c r_c A_c - y \\sum_c r_c B_c ,
   \\qquad A_c = a \\mu_c / v_c,\\ B_c = 1 / v_c,

with responsibilities ``r_c`` the softmax of ``log w_c - (log det v_c + q_c) / 2`` and the quadratic
form ``q_c = sum_i t_{ci}^2``, ``t_{ci} = y_i sqrt(B_ci) - a mu_ci sqrt(B_ci)``: one fused multiply-add
per term, a scaled difference, so no cancellation between ``|y|^2 / v`` and the cross term as in the
expanded (matrix) form ``y . A_c - (y * y) . B_c / 2``. That is ``2 K k`` multiply-adds for the logits
and ``2 K k`` for the two weighted sums, the matrix form's count; what a matrix library adds -- the
``(L, K)`` logits and responsibilities written out and read back, a softmax in separate passes -- is
fused here, and every multiply-add runs on the block's lanes (particles) in vector registers:

* logits: two components and four coordinates per pass over the lanes, their sixteen constants
  held in registers (read once per pass, not once per lane);
* weighted sums: eight components per pass over the lanes (their weights read once per lane and
  coordinate), the components padded with zero weights to a multiple of :data:`GROUP`; the last pass
  forms the score ``(sum_c e_c A_c - y sum_c e_c B_c) / sum_c e_c`` as it goes (no pass of its own).

:func:`~.elementary.fma` rounds each multiply-add once, the same in the vectorised loop and its
scalar remainder, and no sum depends on the block's width, so a particle's result is the same bits in
any block.
"""

import math

from .elementary import exp_nonpositive, fma
from .jit import device_function

__all__ = ["NEGLIGIBLE", "GROUP", "padded_components", "component_constants", "components_block_score"]

#: log-responsibility (relative to the largest) below which a component is skipped: its weight
#: ``e^{-37} < 2^{-53}`` is under half an ulp of the total (at least 1, the largest term's), so the total
#: is unchanged to the bit and its share of the weighted sums is below ``1.2e-16`` of the largest
NEGLIGIBLE = -37.0
#: components per pass of the weighted sums
GROUP = 8


@device_function
def padded_components(n_comp):
    """``n_comp`` rounded up to a multiple of :data:`GROUP`: rows of the weights and of ``A``, ``B``."""
    return -(-n_comp // GROUP) * GROUP


@device_function
def component_constants(a, a2, s2, means, variances, work, iv, ld, scaled):
    """Fill a time slot's per-component constants (offsets into ``work``): ``1/v`` (``K x k``) at ``iv``, the
    log-determinants at ``ld``, then from ``scaled`` on ``a mu``, ``sqrt(1/v)`` and ``-a mu sqrt(1/v)``
    (``K x k`` each), then ``a mu / v`` and ``1/v`` again with zero rows up to :func:`padded_components`
    (``K' x k`` each), all row-major."""
    rows, k = variances.shape
    size, padded = rows * k, padded_components(rows) * k
    big_a, big_b = scaled + 3 * size, scaled + 3 * size + padded
    for row in range(rows):
        det = 1.0  # running product: one log per row instead of one per axis
        acc = 0.0
        for i in range(k):
            v = a2 * variances[row, i] + s2
            inv = 1.0 / v
            centre = a * means[row, i]
            root = math.sqrt(inv)
            at = row * k + i
            work[iv + at] = inv
            work[scaled + at] = centre
            work[scaled + size + at] = root
            work[scaled + 2 * size + at] = -(centre * root)
            work[big_a + at] = centre * inv
            work[big_b + at] = inv
            det *= v
            if det < 1e-150 or det > 1e150:
                acc += math.log(det)
                det = 1.0
        work[ld + row] = acc + math.log(det)
    for at in range(size, padded):
        work[big_a + at] = 0.0
        work[big_b + at] = 0.0


@device_function(inline=True)
def _terms4(acc, y0, y1, y2, y3, s0, s1, s2, s3, n0, n1, n2, n3):
    """``acc + t0^2 + t1^2 + t2^2 + t3^2`` (in that order, a multiply-add each) with ``t_j = y_j s_j + n_j``."""
    t0 = fma(y0, s0, n0)
    t1 = fma(y1, s1, n1)
    t2 = fma(y2, s2, n2)
    t3 = fma(y3, s3, n3)
    return fma(t3, t3, fma(t2, t2, fma(t1, t1, fma(t0, t0, acc))))


@device_function(inline=True)
def _dot8(w0, w1, w2, w3, w4, w5, w6, w7, c0, c1, c2, c3, c4, c5, c6, c7):
    """``sum_j w_j c_j`` as two chains of multiply-adds (even and odd ``j``), added."""
    return fma(w6, c6, fma(w4, c4, fma(w2, c2, w0 * c0))) + fma(w7, c7, fma(w5, c5, fma(w3, c3, w1 * c1)))


@device_function(inline=True)
def _coefficients4(work, roots, shifts, c, k, i):
    """Component ``c``'s ``sqrt(1/v)`` and ``-a mu sqrt(1/v)`` at coordinates ``i .. i + 3``."""
    at = c * k + i
    return (
        work[roots + at],
        work[roots + at + 1],
        work[roots + at + 2],
        work[roots + at + 3],
        work[shifts + at],
        work[shifts + at + 1],
        work[shifts + at + 2],
        work[shifts + at + 3],
    )


@device_function
def _quadratic_forms(y, work, roots, shifts, logits):
    """``logits[c] = q_c`` on every lane, its terms added in coordinate order (a multiply-add each): four
    coordinates of four components per pass over the lanes, their 32 constants read once per pass."""
    n_comp, n_lanes = logits.shape[0], y.shape[1]
    k = y.shape[0]
    k4 = k - k % 4
    for c in range(n_comp):
        for p in range(n_lanes):
            logits[c, p] = 0.0
    n4 = n_comp - n_comp % 4
    for c in range(0, n4, 4):
        for i in range(0, k4, 4):
            a0, a1, a2, a3, e0, e1, e2, e3 = _coefficients4(work, roots, shifts, c, k, i)
            b0, b1, b2, b3, f0, f1, f2, f3 = _coefficients4(work, roots, shifts, c + 1, k, i)
            c0, c1, c2, c3, g0, g1, g2, g3 = _coefficients4(work, roots, shifts, c + 2, k, i)
            d0, d1, d2, d3, h0, h1, h2, h3 = _coefficients4(work, roots, shifts, c + 3, k, i)
            for p in range(n_lanes):
                y0, y1, y2, y3 = y[i, p], y[i + 1, p], y[i + 2, p], y[i + 3, p]
                logits[c, p] = _terms4(logits[c, p], y0, y1, y2, y3, a0, a1, a2, a3, e0, e1, e2, e3)
                logits[c + 1, p] = _terms4(logits[c + 1, p], y0, y1, y2, y3, b0, b1, b2, b3, f0, f1, f2, f3)
                logits[c + 2, p] = _terms4(logits[c + 2, p], y0, y1, y2, y3, c0, c1, c2, c3, g0, g1, g2, g3)
                logits[c + 3, p] = _terms4(logits[c + 3, p], y0, y1, y2, y3, d0, d1, d2, d3, h0, h1, h2, h3)
    for c in range(n4, n_comp):
        for i in range(0, k4, 4):
            a0, a1, a2, a3, e0, e1, e2, e3 = _coefficients4(work, roots, shifts, c, k, i)
            for p in range(n_lanes):
                logits[c, p] = _terms4(
                    logits[c, p], y[i, p], y[i + 1, p], y[i + 2, p], y[i + 3, p], a0, a1, a2, a3, e0, e1, e2, e3
                )
    for c in range(n_comp):
        for i in range(k4, k):
            s0, n0 = work[roots + c * k + i], work[shifts + c * k + i]
            for p in range(n_lanes):
                t = fma(y[i, p], s0, n0)
                logits[c, p] = fma(t, t, logits[c, p])


@device_function(inline=True)
def _group_constants(work, at, k, i):
    """Coordinate ``i`` of :data:`GROUP` consecutive rows (``k`` apart) of ``work`` from ``at``."""
    return (
        work[at + i],
        work[at + k + i],
        work[at + 2 * k + i],
        work[at + 3 * k + i],
        work[at + 4 * k + i],
        work[at + 5 * k + i],
        work[at + 6 * k + i],
        work[at + 7 * k + i],
    )


@device_function
def _weighted_sums(weights, work, big_a, big_b, y, scale, plane, sum_b):
    """The plane score ``plane = (sum_c w_c A_c - y sum_c w_c B_c) scale`` on every lane, :data:`GROUP`
    components per pass (two chains of multiply-adds, even and odd components, added; the passes' sums
    added in order, ``sum_c w_c A_c`` kept in ``plane`` and ``sum_c w_c B_c`` in ``sum_b`` meanwhile). The
    last pass combines the sums as it makes them. ``weights`` has :func:`padded_components` rows, the
    padding zero, as are its ``A`` and ``B``."""
    padded, n_lanes = weights.shape
    k = y.shape[0]
    for c in range(0, padded, GROUP):
        w = weights[c : c + GROUP]
        first, last = c == 0, c + GROUP == padded
        for i in range(k):
            a0, a1, a2, a3, a4, a5, a6, a7 = _group_constants(work, big_a + c * k, k, i)
            b0, b1, b2, b3, b4, b5, b6, b7 = _group_constants(work, big_b + c * k, k, i)
            for p in range(n_lanes):
                w0, w1, w2, w3, w4, w5, w6, w7 = w[0, p], w[1, p], w[2, p], w[3, p], w[4, p], w[5, p], w[6, p], w[7, p]
                part_a = _dot8(w0, w1, w2, w3, w4, w5, w6, w7, a0, a1, a2, a3, a4, a5, a6, a7)
                part_b = _dot8(w0, w1, w2, w3, w4, w5, w6, w7, b0, b1, b2, b3, b4, b5, b6, b7)
                part_a = part_a if first else plane[i, p] + part_a
                part_b = part_b if first else sum_b[i, p] + part_b
                sum_b[i, p] = part_b
                plane[i, p] = fma(-y[i, p], part_b, part_a) * scale[p] if last else part_a


@device_function
def components_block_score(y, log_weights, work, iv, ld, scaled, logits, top, total, plane, inverse):
    """The plane score ``plane`` ``(k, L)`` at ``y`` ``(k, L)`` of a mixture with per-component variances.

    ``iv``, ``ld`` and ``scaled`` are the offsets in ``work`` of the time slot's ``1/v``, log-determinants
    and the constants of :func:`component_constants`; ``logits`` (:func:`padded_components` rows), ``top``,
    ``total`` and ``inverse`` ``(k, L)`` are scratch. The responsibilities are a max-shifted softmax whose
    components below :data:`NEGLIGIBLE` get weight zero (exactly: a select), divided by their total once.
    """
    n_comp, k = log_weights.shape[0], y.shape[0]
    n_lanes = y.shape[1]
    size, padded = n_comp * k, padded_components(n_comp)
    roots, shifts = scaled + size, scaled + 2 * size
    big_a = scaled + 3 * size
    big_b = big_a + padded * k
    forms = logits[:n_comp]
    _quadratic_forms(y, work, roots, shifts, forms)
    for p in range(n_lanes):
        top[p] = -math.inf
    for c in range(n_comp):
        const = log_weights[c] - 0.5 * work[ld + c]
        for p in range(n_lanes):
            logit = const - 0.5 * logits[c, p]
            logits[c, p] = logit
            top[p] = max(top[p], logit)
    for p in range(n_lanes):
        total[p] = 0.0
    for c in range(n_comp):
        for p in range(n_lanes):
            shifted = logits[c, p] - top[p]
            e = exp_nonpositive(max(shifted, NEGLIGIBLE))
            e = 0.0 if shifted < NEGLIGIBLE else e  # a select: the loop stays straight-line
            logits[c, p] = e
            total[p] += e
    for c in range(n_comp, padded):
        for p in range(n_lanes):
            logits[c, p] = 0.0
    for p in range(n_lanes):
        total[p] = 1.0 / total[p]
    _weighted_sums(logits[:padded], work, big_a, big_b, y, total, plane, inverse)
