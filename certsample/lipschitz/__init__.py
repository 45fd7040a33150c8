"""Lipschitz bounds of the score ``grad log q_t`` of the built-in targets: at one time, and over an interval.

This package is the one home of those bounds; everything that needs one asks here.

* At one time ``t``: :func:`hessian_range` (``lo I <= Hess log q_t <= hi I``, the proofs in
  :func:`~certsample.lipschitz.mixture.hessian_range_on`), :func:`score_lipschitz` (``max(-lo, hi)``),
  :func:`drift_one_sided_lipschitz` (``1 + hi``, for the probability-flow drift ``x + grad log q_t``),
  :func:`mass_radius` and :func:`working_score_lipschitz` (unequal variances have no global bound: the
  bound on a ball holding all but ``tail`` of ``q_t``).
* Over ``[t_lo, t_hi]``: :func:`sup_on` and :func:`working_sup_on`, proved upper bounds of the
  supremum of the pointwise bounds (proof in :func:`sup_on`); :func:`ball_sup_on` for the law class
  ``mu * N(0, sigma^2 I)``, ``mu`` on a ball of radius ``R`` (:func:`ball_lipschitz`).
* The numerical proofs behind the mixture bounds: :mod:`~certsample.lipschitz.tilted_covariance`
  (the covariance of the component posterior of isotropic equal-variance mixtures, over tilts and per
  temperature) and :mod:`~certsample.lipschitz.mixture_hessian` (a box branch and bound for unequal
  variances on a ball).

The functions take a :class:`~certsample.targets.MixtureTarget` (whose methods of the same names call
them). This package imports only :mod:`certsample.forward` of the rest of the library.
"""

from . import mixture, mixture_hessian, tilted_covariance
from .mixture import (
    drift_one_sided_lipschitz,
    hessian_range,
    mass_radius,
    needs_radius,
    posterior_spread_on,
    score_lipschitz,
    working_score_lipschitz,
)
from .supremum import KINDS, ball_lipschitz, ball_sup_on, shared_radius, sup_on, working_sup_on

__all__ = [
    "hessian_range",
    "score_lipschitz",
    "drift_one_sided_lipschitz",
    "mass_radius",
    "working_score_lipschitz",
    "needs_radius",
    "posterior_spread_on",
    "sup_on",
    "shared_radius",
    "working_sup_on",
    "ball_lipschitz",
    "ball_sup_on",
    "KINDS",
    "mixture",
    "mixture_hessian",
    "tilted_covariance",
]
