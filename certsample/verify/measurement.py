"""How a run's accuracy is measured: three strategies, each an object that knows where its runs start,
what it measures and what its numbers can prove.

* :class:`ExactLaw` -- linear schemes on Gaussian targets: the exact Gaussian output law, W2 in closed form.
* :class:`VerifiedEnclosures` -- ODE solvers from exact ``q_T`` starts: each checked particle's pathwise
  error is proved against an enclosure of the exact flow (:mod:`.flows`: float64 intervals, Arb where they
  fall short, through a :class:`~.Verifier`); when every particle of the run is checked, the certificate
  states the proved W-infinity coupling of the output to an i.i.d. sample of ``q_delta``.
* :class:`SampleStatistics` -- everything else: statistics that are lower bounds of the metric, which can
  refute (a test against their simulated null distribution) but never confirm.

:func:`choose_measurement` picks the strongest that applies.
"""

from __future__ import annotations

import decimal
import math
from dataclasses import dataclass, field

import numpy as np

from proofs.balls import bound_text

from ..confidence import StoppedCount, clopper_pearson_upper, confidence_text, empirical_bernstein_upper
from ..exact import linear_scheme_law, linear_scheme_rounding
from ..metrics import gaussian_w2, sliced_w2
from ..solvers import ODESolver

__all__ = ["Measurement", "ExactLaw", "VerifiedEnclosures", "SampleStatistics", "choose_measurement", "TAIL_FACTOR"]

TAIL_FACTOR = 4.0  # the empirical-Bernstein statement clips squared errors at (TAIL_FACTOR eps)^2


@dataclass
class Measurement:
    """A run's measured error and what kind of statement it is."""

    value: float  # the estimate, or the proved upper bound
    lower: float  # proved lower bound (verified), else the estimate
    uncertainty: float
    floor: float
    how: str
    kind: str  # 'verified', 'exact', 'lower' or 'none'
    reference: str
    checked: int = 0
    population: dict = field(default_factory=dict)
    null_quantile: float = 0.0  # statistical kinds: (1 - alpha) quantile of the statistic on exact samples
    per_particle: np.ndarray | None = None  # verified: each checked particle's proved error, upper bound
    per_particle_lower: np.ndarray | None = None  # and lower bound

    def verdict(self, threshold: float) -> str:
        """``PASS``/``FAIL``/``INCONCLUSIVE`` against ``threshold``.

        Verified: PASS when the proved upper bound is at most the threshold, FAIL when the proved lower
        bound exceeds it. Exact: a closed form in float64, judged with a relative margin of ``1e-9`` and its
        ``uncertainty`` (the rounding allowance of :func:`~certsample.exact.linear_scheme_rounding`).
        Lower-bound statistics: FAIL only beyond the threshold plus ``null_quantile`` (the larger of the exact
        replicates' and the run's bootstrap quantile, their sum for sliced W2: :meth:`SampleStatistics.measure`),
        else INCONCLUSIVE.
        """
        if self.kind == "verified":  # an upper bound of inf (a particle not enclosed) leaves a proved FAIL possible
            if self.value <= threshold:
                return "PASS"
            return "FAIL" if self.lower > threshold else "INCONCLUSIVE"
        if not math.isfinite(self.value):
            return "INCONCLUSIVE"
        if self.kind == "exact":
            if self.value - self.uncertainty > threshold * (1 + 1e-9) + 1e-15:
                return "FAIL"
            return "PASS" if self.value + self.uncertainty <= threshold * (1 - 1e-9) - 1e-15 else "INCONCLUSIVE"
        return "FAIL" if self.value > threshold + self.null_quantile else "INCONCLUSIVE"


def _rotated_diagonal_twin(target):
    """The same Gaussian expressed in its eigenbasis (W2 and the linear schemes are rotation-equivariant)."""
    from ..targets import gaussian

    if target.basis is None:
        return target
    lam = target.variances[0]
    if target.dim > target.basis.shape[1]:
        lam = np.append(lam, np.full(target.dim - target.basis.shape[1], target.lam_perp))
    mean = np.zeros(target.dim)
    mean[: target.means.shape[1]] = target.means[0]
    return gaussian(mean, lam)


class ExactLaw:
    """W2 between the exact Gaussian output law of a linear scheme and ``q_delta`` (closed form)."""

    kind = "exact"
    init = "standard"

    @staticmethod
    def applies(solver, target, exact_score: bool) -> bool:
        return exact_score and target.is_gaussian and solver.linear_in_noise and not isinstance(solver, ODESolver)

    def __init__(self, solver, target):
        self.solver, self.target = solver, target

    def measure(self, result) -> Measurement:
        twin = _rotated_diagonal_twin(self.target)
        mean, var = linear_scheme_law(self.solver, twin, result.grid)
        law = twin.law_at(result.grid.delta)
        w2 = gaussian_w2(mean, var, law.means[0], law.variances[0])
        # the scheme's variances move between N(0, I)'s and q_delta's (the forward marginals' are monotone in t)
        largest = max(1.0, float(np.max(var)), float(np.max(law.variances[0])))
        rounding = linear_scheme_rounding(law.means[0], len(result.grid.steps), largest)
        return Measurement(
            w2,
            w2,
            rounding,
            0.0,
            "W2 between the exact Gaussian output law of the scheme and q_delta (closed form evaluated in float64, "
            "judged with a rounding allowance estimated from its operation count: not a proof)",
            "exact",
            "the exact marginal q_delta (closed form)",
        )


class VerifiedEnclosures:
    """The RMS of proved per-particle pathwise errors, with distribution-free population statements."""

    kind = "verified"
    init = "exact"

    @staticmethod
    def applies(solver, target, exact_score: bool) -> bool:
        return isinstance(solver, ODESolver)

    def __init__(self, verifier, checked: int, eps: float, confidence: float, steered: int = 0, stopping=None):
        self.verifier, self.checked, self.eps, self.confidence = verifier, checked, eps, confidence
        #: the first ``steered`` checked particles chose the step count (a tuning pilot): their errors are not
        #: independent of the run, so the confidence statements leave them out
        self.steered = int(steered)
        #: ``(least, planned)``: a time budget chose ``checked`` in this range while enclosing (a stopping time of
        #: the draws), so the statements are made on a prefix fixed in advance (:class:`StoppedCount`); None: fixed
        self.stopping = stopping

    def _statistical_sample(self, upper):
        """``(values, level, where)``: the particles the confidence statements use, their level, and the text."""
        m, steered = self.checked, min(self.steered, self.checked)
        sample = upper[steered:m]
        where = f", on the {len(sample)} not in the tuning pilot" if steered else ""
        if self.stopping is None or len(sample) < 1:
            return sample, self.confidence, where
        least, planned = self.stopping
        stopped = StoppedCount(len(sample), max(1, least - steered), max(1, planned - steered), self.confidence)
        which = f"the {len(sample)}{' not in the tuning pilot' if steered else ''}"
        if stopped.prefix < len(sample):
            which = f"the first {stopped.prefix} of {which}"
        where = (
            f", on {which}, at {confidence_text(stopped.level)}: a union over the counts the time budget could stop at"
        )
        return sample[: stopped.prefix], stopped.level, where

    def measure(self, result) -> Measurement:
        m, eps, confidence = self.checked, self.eps, self.confidence
        lower, upper = self.verifier.errors(result.samples, m)
        # RMS of proved bounds, rounded outward (a few ulps cover the float64 sums)
        rms_up = float(np.sqrt(np.mean(upper**2))) * (1 + 1e-12)
        rms_lo = float(np.sqrt(np.mean(lower**2))) * (1 - 1e-12)
        worst = float(np.max(upper))
        population = {
            "checked particles": m,
            "max proved error": worst,
            # a proved count, not a statistic: the balls below eps, above it, and those across it
            "checked particles with error above eps (proved: at least)": int(np.sum(lower > eps)),
            "checked particles with error above eps (proved: at most)": int(np.sum(upper > eps)),
        }
        # the confidence statements treat their particles as an i.i.d. sample given the run: not the pilot's
        sample, level, where = self._statistical_sample(upper)
        if len(sample) >= 1:
            population[
                f"fraction of trajectories with error > eps (upper bound, {confidence_text(confidence)} confidence, "
                f"Clopper-Pearson{where})"
            ] = clopper_pearson_upper(int(np.sum(sample > eps)), len(sample), level)
        cap = (TAIL_FACTOR * eps) * (TAIL_FACTOR * eps)  # inf, not OverflowError, for an eps past 1e153
        if len(sample) >= 2 and math.isfinite(cap):
            ucb = empirical_bernstein_upper(list(np.minimum(sample**2, cap)), cap, level)
            population[
                f"sqrt E min(e^2, ({TAIL_FACTOR:g} eps)^2) (upper bound, {confidence_text(confidence)} confidence, "
                f"empirical Bernstein{where})"
            ] = math.sqrt(ucb)
        unproved = self.verifier.unproved(m)
        if m == len(result.samples) and not unproved:
            population[
                "every particle proved: largest proved error, a W-infinity coupling of the output to an "
                "i.i.d. sample of q_delta (the exact flow images of the exact q_T starts)"
            ] = worst
        radius = float(np.max(self.verifier.radii[:m]))
        by_arb = int(np.sum(self.verifier.methods[:m] == "arb"))
        failed = (
            f"; {unproved} of {m} not enclosed (the float64 integrator stopped, and Arb is too slow for "
            "this model or failed too): their errors count as unbounded above (and 0 below) in every statement"
            if unproved
            else ""
        )
        return Measurement(
            rms_up,
            rms_lo,
            0.0,
            0.0,
            f"RMS pathwise error of {m} particles from exact q_T starts against the exact flow, each proved in "
            "[|x - c| - r, |x - c| + r] (a coupling: an upper bound of W2; largest enclosure radius "
            f"{bound_text(radius, 2)})",
            "verified",
            "enclosures of the exact probability-flow map: closed forms or a validated Taylor method in compiled "
            f"float64 interval arithmetic (certsample.verify.fast_enclosure), Arb ball arithmetic for {by_arb} of "
            f"{m} (certsample.verify.enclosure){failed}; no code shared with the solver judged",
            checked=m,
            population=population,
            per_particle=upper,
            per_particle_lower=lower,
        )


class SampleStatistics:
    """A lower-bound statistic of the metric, refuted only beyond its simulated null distribution."""

    kind = "lower"
    init = "standard"

    @staticmethod
    def applies(solver, target, exact_score: bool) -> bool:
        return True

    def __init__(self, target, seed: int, metric: str, alpha: float, replicates: int):
        self.target, self.seed, self.metric, self.alpha, self.replicates = target, seed, metric, alpha, replicates

    def measure(self, result) -> Measurement:
        law = self.target.law_at(result.grid.delta)
        stat, how, deviation, own_reference = self._statistic(law, len(result.samples))
        if stat is None:
            return Measurement(math.nan, math.nan, math.nan, math.nan, how, "none", "none")
        value = float(stat(result.samples))
        q_exact, rank, floor, spread = self._null_quantile(stat, law, len(result.samples))
        q_run = self._bootstrap_quantile(deviation, result.samples, rank)
        q = q_exact + q_run if own_reference else max(q_exact, q_run)
        rate = 1 - rank / (self.replicates + 1)
        return Measurement(
            value,
            value,
            spread,
            floor,
            f"{how}; refuted only above the threshold plus {q:.3g}: "
            + ("the sum" if own_reference else "the larger")
            + f" of the {rank}-th smallest of the statistic on {self.replicates} exact sample sets ({q_exact:.3g}) "
            f"and of its deviation over as many resamples of the run ({q_run:.3g}) (false-FAIL rate at most "
            f"{_rate_text(self.replicates + 1 - rank, self.replicates + 1)} for a run of exact samples"
            f"{'' if rate <= self.alpha else ', too few replicates'}, and "
            "about that, by the bootstrap, for a run whose error is at the threshold)",
            "lower",
            "exact samples of q_delta",
            null_quantile=q,
        )

    def _statistic(self, law, n):
        """``(statistic, description, deviation, own_reference)``, or ``(None, why, None, False)`` when the metric
        has no estimator here.

        ``deviation(a, b)`` is the same distance between two sample sets' estimates. The statistic of a run from a
        law ``p`` whose metric to ``q_delta`` is at most ``eps`` is at most ``eps`` plus its estimate's distance to
        ``p``'s own (the triangle inequality, and each statistic a lower bound of the metric between the laws),
        plus, for a statistic with its own exact reference sample (``own_reference``: sliced W2), that sample's
        distance to ``q_delta``. The first depends on ``p``, not on ``q_delta``: exact samples' replicates alone
        miss it where ``p`` spreads more (``docs/performance.md``, "A statistical refutation at the threshold").
        :meth:`measure` adds a bootstrap of it."""
        metric, seed = self.metric, self.seed
        if metric == "W2" and law.is_gaussian and n <= law.dim:
            why = f"W2 of moment-matched Gaussians needs more samples than dimensions (n = {n}, d = {law.dim})"
            return None, why, None, False
        if metric == "W2" and law.is_gaussian:

            def moments(s):
                return s.mean(0), np.atleast_2d(np.cov(s.T))

            # a resample (and a run with repeated points) may hold d or fewer distinct points: a singular covariance,
            # for which Gelbrich's bound and the formula hold as well
            def stat(s):
                return gaussian_w2(*moments(s), law.mean(), law.covariance(), semidefinite=True)

            def deviation(a, b):
                return gaussian_w2(*moments(a), *moments(b), semidefinite=True)

            return stat, "W2 between moment-matched Gaussians (Gelbrich: a lower bound of W2)", deviation, False
        if metric == "W2":
            ref = law.sample(n, np.random.default_rng([seed, 8]))

            def stat(s):
                return sliced_w2(s, ref, seed=seed)

            def deviation(a, b):
                return sliced_w2(a, b, seed=seed)

            return stat, "sliced W2 against exact samples (a lower bound of W2)", deviation, True
        if metric == "TV" and law.dim <= 2 and law.is_diagonal:
            from ..evaluate import histogram_edges
            from ..metrics import gaussian_mixture_bin_probability, tv_histogram

            edges = histogram_edges(law)
            grid_edges = edges[0] if law.dim == 1 else edges

            def exact(e):
                return gaussian_mixture_bin_probability(law.means, law.variances, law.weights, e)

            def stat(s):
                return tv_histogram(s, exact, grid_edges)

            def deviation(a, b):
                return tv_histogram(a, lambda e: _bin_fractions(b, e), grid_edges)

            return (
                stat,
                "TV between the sample histogram and exact bin probabilities (a lower bound of TV)",
                deviation,
                False,
            )
        return None, f"no {metric} estimator for this target", None, False

    def _null_quantile(self, statistic, law, n):
        """``(value, rank, mean, spread)`` of ``statistic(exact sample)`` over ``R`` Monte-Carlo replicates: the
        ``k``-th smallest, ``k = ceil((R + 1)(1 - alpha))`` (at most ``R``). The run's statistic, were the run
        exact sampling, is exchangeable with the replicates, so it exceeds their ``k``-th smallest with probability
        at most ``1 - k / (R + 1)``: at most ``alpha`` when ``k <= R``, else ``1 / (R + 1)`` (too few replicates)."""
        values = np.sort(
            [statistic(law.sample(n, np.random.default_rng([self.seed, 100, r]))) for r in range(self.replicates)]
        )
        rank = min(math.ceil((self.replicates + 1) * (1 - self.alpha) - 1e-9), self.replicates)
        return float(values[rank - 1]), rank, float(values.mean()), float(values.std(ddof=1))

    def _bootstrap_quantile(self, deviation, samples, rank):
        """The ``rank``-th smallest of ``deviation(resample, samples)`` over ``R`` resamples of the run (drawn with
        replacement): the bootstrap estimate of the run's own estimation error at that quantile."""
        n = len(samples)
        values = np.sort(
            [
                deviation(samples[np.random.default_rng([self.seed, 200, r]).integers(0, n, n)], samples)
                for r in range(self.replicates)
            ]
        )
        return float(values[rank - 1])


def _rate_text(numerator: int, denominator: int) -> str:
    """``numerator / denominator`` to two significant digits rounded up (an upper bound stays one when printed)."""
    with decimal.localcontext() as ctx:
        ctx.prec, ctx.rounding = 2, decimal.ROUND_CEILING
        return str(decimal.Decimal(numerator) / decimal.Decimal(denominator))


def _bin_fractions(samples, edges):
    """The fraction of ``samples`` in each bin of ``edges`` (1-D edges, or a pair in 2-D), as ``numpy.histogram``
    counts them: the bin probabilities of the sample's empirical law."""
    samples = np.asarray(samples, dtype=float).reshape(len(samples), -1)
    if samples.shape[1] == 1:
        return np.histogram(samples[:, 0], bins=np.asarray(edges, dtype=float))[0] / len(samples)
    return np.histogram2d(samples[:, 0], samples[:, 1], bins=[np.asarray(e, dtype=float) for e in edges])[0] / len(
        samples
    )


def choose_measurement(solver, target, exact_score: bool):
    """The strongest strategy class that applies: exact law, then verified enclosures, then statistics."""
    for strategy in (ExactLaw, VerifiedEnclosures, SampleStatistics):
        if strategy.applies(solver, target, exact_score):
            return strategy
    raise AssertionError("SampleStatistics applies to every run")
