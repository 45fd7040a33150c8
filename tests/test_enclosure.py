"""Rigorous flow enclosures: containment of independent high-precision solutions, and what they exclude."""

import mpmath as mp
import numpy as np
import pytest

import certsample as cs
from certsample.exact import gaussian_flow_map
from certsample.targets import ORTHONORMAL_TOLERANCE, MixtureTarget
from certsample.verify import enclose_flow


def _mpmath_flow(target, x0, t_from, t_to, dps=24):
    """The probability-flow ODE solved by mpmath's Taylor integrator, written from the score formula.

    Independent of certsample's enclosure code: it sums the mixture directly in the data coordinates.
    """
    assert target.basis is None
    with mp.workdps(dps):
        means = [[mp.mpf(float(v)) for v in row] for row in target.means]
        lams = [[mp.mpf(float(v)) for v in row] for row in target.variances]
        logw = [mp.log(mp.mpf(float(w))) for w in target.weights]
        t_from, t_to = mp.mpf(t_from), mp.mpf(t_to)
        d = target.dim

        def drift(s, y):  # reverse time s = t_from - t
            t = t_from - s
            a, e2 = mp.exp(-t), mp.exp(-2 * t)
            logs, grads = [], []
            for mu, lam, lw in zip(means, lams, logw):
                v = [1 + (l - 1) * e2 for l in lam]
                logs.append(lw - sum((y[i] - a * mu[i]) ** 2 / v[i] + mp.log(v[i]) for i in range(d)) / 2)
                grads.append([-(y[i] - a * mu[i]) / v[i] for i in range(d)])
            top = max(logs)
            u = [mp.exp(l - top) for l in logs]
            z = sum(u)
            return [y[i] + sum(uc * g[i] for uc, g in zip(u, grads)) / z for i in range(d)]

        sol = mp.odefun(drift, 0, [mp.mpf(float(v)) for v in x0], tol=mp.mpf(10) ** (-dps + 4), degree=dps)
        end = sol(t_from - t_to)
        return [mp.mpf(v) for v in end]


def _distance(center, exact):
    with mp.workdps(40):
        return mp.sqrt(sum((mp.mpf(float(c)) - e) ** 2 for c, e in zip(center, exact)))


@pytest.mark.parametrize("name", ["ring", "mixture"])
def test_enclosure_contains_independent_mpmath_solution(name):
    if name == "ring":
        target = cs.ring_mixture(n_modes=4, radius=3.0)
    else:  # unequal variances per component and per coordinate: the general drift path
        target = cs.gaussian_mixture([[1.5, 0.0], [-1.0, 1.0]], [[0.2, 0.5], [0.6, 0.3]], [0.4, 0.6])
    x0 = np.array([0.7, -0.4])
    T, delta = 1.0, 0.3
    exact = _mpmath_flow(target, x0, T, delta)
    enc = enclose_flow(target, x0, T, delta, tol=1e-14)
    assert enc.radius < 1e-12
    assert _distance(enc.center, exact) <= enc.radius


def test_shifted_center_is_excluded_and_tolerance_shrinks_radius():
    target = cs.ring_mixture(n_modes=4, radius=3.0)
    x0 = np.array([0.2, 0.9])
    loose = enclose_flow(target, x0, 2.0, 0.1, tol=1e-6)
    tight = enclose_flow(target, x0, 2.0, 0.1, tol=1e-14)
    assert tight.radius < loose.radius / 100
    assert np.linalg.norm(tight.center - loose.center) <= loose.radius + tight.radius
    shifted = tight.center + np.array([10 * tight.radius + 1e-13, 0.0])
    assert not tight.contains(shifted)
    assert tight.contains(tight.center)
    assert tight.error_bound(shifted) >= np.linalg.norm(shifted - tight.center)


def test_gaussian_and_subspace_closed_forms():
    gauss = cs.gaussian([0.5, -1.0], [[1.0, 0.3], [0.3, 0.5]])
    x0 = np.array([[0.3, -0.2]])
    enc = enclose_flow(gauss, x0[0], 5.0, 1e-3)
    exact = gaussian_flow_map(gauss, x0, 5.0, 1e-3)[0]
    assert np.linalg.norm(enc.center - exact) <= enc.radius + 1e-14
    assert enc.radius < 1e-14
    # a subspace target: the k-dimensional flow plus the exactly scaled orthogonal part
    sub = cs.make_target("subspace", dim=6)
    x0 = sub.law_at(3.0).sample(1, seed=3)[0]
    enc = enclose_flow(sub, x0, 3.0, 0.05, tol=1e-13)
    plane = sub.basis.T @ x0
    ring = cs.ring_mixture()
    inner = enclose_flow(ring, plane, 3.0, 0.05, tol=1e-13)
    perp = x0 - sub.basis @ plane
    scale = np.sqrt(-np.expm1(-0.1) / -np.expm1(-6.0))
    assert np.linalg.norm(enc.center - (sub.basis @ inner.center + scale * perp)) <= enc.radius + inner.radius + 1e-15


def test_enclosure_rejects_bad_input():
    target = cs.ring_mixture()
    with pytest.raises(ValueError, match="shape"):
        enclose_flow(target, np.zeros(3), 1.0, 0.1)
    with pytest.raises(ValueError, match="NaN"):
        enclose_flow(target, np.array([np.nan, 0.0]), 1.0, 0.1)
    with pytest.raises(ValueError, match="T > delta"):
        enclose_flow(target, np.zeros(2), 0.1, 0.2)
    with pytest.raises(ValueError, match="tol"):
        enclose_flow(target, np.zeros(2), 1.0, 0.1, tol=0.0)
    with pytest.raises(ValueError, match="max_steps must be an integer >= 1"):
        enclose_flow(target, np.zeros(2), 1.0, 0.1, max_steps=0)
    with pytest.raises(ValueError, match="prec must be an integer >= 53"):
        enclose_flow(target, np.zeros(2), 1.0, 0.1, prec=8)
    with pytest.raises(TypeError, match="MixtureTarget"):
        enclose_flow(lambda x, t: -x, np.zeros(2), 1.0, 0.1)


def _polar_factor(q):
    """``Q (Q^T Q)^{-1/2}`` in 60-digit arithmetic."""
    with mp.workdps(60):
        qm = mp.matrix(q.tolist())
        eigenvalues, vectors = mp.eigsy(qm.T * qm)
        inv_sqrt = vectors * mp.diag([1 / mp.sqrt(e) for e in eigenvalues]) * vectors.T
        return qm * inv_sqrt


def _rounded_basis():
    """A 5 x 2 basis orthonormal only to about 5e-15 (inside the stored tolerance, so kept as it is)."""
    rng = np.random.default_rng(11)
    q0 = np.linalg.qr(rng.standard_normal((5, 2)))[0]
    q = q0 + 2e-15 * rng.standard_normal((5, 2))
    assert 1e-15 < np.max(np.abs(q.T @ q - np.eye(2))) <= ORTHONORMAL_TOLERANCE
    return q


def test_the_basis_deviation_bound_covers_the_polar_factor():
    from certsample.verify.enclosure import basis_balls

    q = _rounded_basis()
    exact = _polar_factor(q)
    with mp.workdps(60):
        deviation = mp.sqrt(max(mp.eigsy((exact - mp.matrix(q.tolist())).T * (exact - mp.matrix(q.tolist())))[0]))
    beta = float(basis_balls(q)[2].upper())
    assert float(deviation) <= beta <= 2 * float(deviation)


def test_enclosures_hold_for_the_exactly_orthonormal_basis_of_a_rounded_one():
    """A start far out (|x0| = 1e6) magnifies the basis's rounding: the image under the polar factor of the stored
    basis, in 60-digit arithmetic, lies in the float64 and the Arb enclosures."""
    from certsample.verify.flows import enclose_flows

    q = _rounded_basis()
    target = MixtureTarget([[1.0, -0.5]], [[0.7, 1.3]], basis=q, lam_perp=0.5)
    assert target.basis is not None and np.array_equal(target.basis, q)
    T, delta = 2.0, 0.1
    x0 = np.array([1e6, -3e5, 2e5, 7e5, -4e5])
    with mp.workdps(60):
        qt = _polar_factor(q)
        x = mp.matrix(x0.tolist())
        a_T, a_d = mp.exp(-T), mp.exp(-delta)

        def ratio(lam):
            return mp.sqrt((1 + (lam - 1) * a_d**2) / (1 + (lam - 1) * a_T**2))

        y0 = qt.T * x
        y_end = mp.matrix(
            [a_d * m + ratio(lam) * (y0[i] - a_T * m) for i, (m, lam) in enumerate([(1.0, 0.7), (-0.5, 1.3)])]
        )
        exact = qt * y_end + ratio(mp.mpf(0.5)) * (x - qt * y0)
        exact = np.array([float(v) for v in exact])
    fast = enclose_flows(target, x0[None], T, delta, tol=1e-12)
    assert np.linalg.norm(fast.centers[0] - exact) <= fast.radii[0]
    arb = enclose_flow(target, x0, T, delta)
    assert np.linalg.norm(arb.center - exact) <= arb.radius
