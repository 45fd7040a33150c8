"""Exact score of a Gaussian mixture pushed through the forward process, per particle.

Every built-in target is a mixture ``sum_c w_c N(mu_c, Q diag(lam_c) Q^T + lam_perp (I - Q Q^T))``
with an orthonormal ``Q`` of shape ``(d, k)``: Gaussians, diagonal mixtures, point clouds
(``lam_c = 0``) and data on a k-dimensional subspace (``lam_perp = 0``). The forward process keeps
that form: at time ``t`` the means scale by ``a = e^{-t}`` and every variance ``v`` becomes
``a^2 v + sigma^2``, so the score is a responsibility-weighted sum computed in O(K k + d k).

``target_params`` is the tuple ``(means (K, k), variances (K, k), log_weights (K,), basis, lam_perp)``
where ``basis`` has shape ``(d, k)``, or ``(0, 0)`` to mean the identity (``k == d``).
``work`` needs ``2 k + K`` entries.
"""

import math

from .jit import device_function


@device_function
def target_score(x, t, target_params, out, work):
    """Write ``grad log q_t(x)`` into ``out`` for one particle ``x`` of shape ``(d,)``."""
    means, variances, log_weights, basis, lam_perp = target_params
    n_comp = means.shape[0]
    k = means.shape[1]
    d = x.shape[0]
    a = math.exp(-t)
    s2 = -math.expm1(-2.0 * t)
    y = work[:k]
    score_y = work[k:2 * k]
    resp = work[2 * k:2 * k + n_comp]
    identity = basis.shape[0] == 0
    if identity:
        for i in range(k):
            y[i] = x[i]
    else:
        for i in range(k):
            acc = 0.0
            for j in range(d):
                acc += basis[j, i] * x[j]
            y[i] = acc
    # log responsibilities, then a max-shifted softmax
    top = -math.inf
    for c in range(n_comp):
        quad = 0.0
        det = 1.0  # running product of variances: one log per component instead of one per axis
        log_det = 0.0
        for i in range(k):
            v = a * a * variances[c, i] + s2
            diff = y[i] - a * means[c, i]
            quad += diff * diff / v
            det *= v
            if det < 1e-150 or det > 1e150:
                log_det += math.log(det)
                det = 1.0
        acc = log_weights[c] - 0.5 * (quad + log_det + math.log(det))
        resp[c] = acc
        if acc > top:
            top = acc
    total = 0.0
    for c in range(n_comp):
        resp[c] = math.exp(resp[c] - top)
        total += resp[c]
    for i in range(k):
        score_y[i] = 0.0
    for c in range(n_comp):
        r = resp[c] / total
        for i in range(k):
            v = a * a * variances[c, i] + s2
            score_y[i] -= r * (y[i] - a * means[c, i]) / v
    if identity:
        for i in range(k):
            out[i] = score_y[i]
        return
    v_perp = a * a * lam_perp + s2
    has_complement = d > k  # a square basis spans R^d: no off-basis term (and v_perp may be 0)
    for j in range(d):
        lifted = 0.0
        projected = 0.0
        for i in range(k):
            lifted += basis[j, i] * score_y[i]
            projected += basis[j, i] * y[i]
        out[j] = lifted
        if has_complement:
            out[j] -= (x[j] - projected) / v_perp
