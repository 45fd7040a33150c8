"""Where the enclosure kernel's Taylor remainder loses step length: the box, the time interval, or the solution.

    python benchmarks/remainder_sources.py [--target mixture64] [--times 3 2 1 0.3] [--n 3] [--tol 1e-10]
                                           [--order 0] [--T 10] [--seed 7]

For each time ``t`` and each of ``n`` exact ``q_T`` start points carried from ``T`` to ``t`` by the compiled
enclosures (``certsample.verify.fast_enclosure``, the local tolerance ``enclose_flows`` uses), one step from ``t``
at Taylor order ``m`` (``--order 0``: ``enclose_flows``' default for ``--tol``):

- ``h proved``: the longest step (bisection) whose proved remainder -- the kernel's a-priori box, then its series of
  order ``m + 1`` over that box and the step's time interval, every component kept -- is at most ``TARGET`` times
  the local tolerance: the step the kernel aims at;
- ``h point``: the step at which the same aim is met by the coefficient ``m + 1`` at the start point and time
  alone. Every proved remainder contains that coefficient, so ``h proved <= h point``; their ratio bounds what any
  tighter remainder enclosure of this order could gain in step length here;
- at ``h proved``, the largest coefficient ``m + 1`` over the coordinates, as a multiple of its value at the start
  point and time: sampled at 21 times of the step (the start point fixed: the true range over the time interval);
  enclosed over the time interval at the start point; over the box at the start time; over both (what the kernel
  bounds). Each enclosure is the kernel's own series code (``_series``), centred in time where the kernel centres.

A diagnostic of the kernel's private functions, for whoever changes its remainder; figures in docs/performance.md.
Each run pins itself to one CPU; the bisection evaluates about 30 remainders per row.
"""

from __future__ import annotations

import argparse
import os

import numpy as np
from enclosures import build_target

SAMPLED_TIMES = 21
BISECTIONS = 30


def _kernels():
    from certsample.kernels.jit import compile_for
    from certsample.verify import fast_enclosure as fe

    names = ("_a_priori_box", "_reference_component", "_series", "_taylor_step")
    return {name: compile_for(getattr(fe, name), "cpu", nrt=False) for name in names}


class _Step:
    """One particle at time ``t``: its enclosure's center and radius, and the kernel's pieces to probe a step."""

    def __init__(self, model, kernels, center, radius, t, order, tol_local):
        from certsample.verify import fast_enclosure as fe

        self.fe, self.model, self.k = fe, model, len(center)
        self.kernels, self.center, self.radius, self.t = kernels, center, radius, t
        self.order, self.tol_local = order, tol_local
        means, vidx, lams, _, logw, _, _ = model.arrays
        self.star = kernels["_reference_component"](center, t, means, vidx, lams, logw)
        self.centre = self.k > 3  # as _taylor_step: in few coordinates the kernel does not centre in time

    def _scratch(self, order):
        LO, HI, off, vec, jmask, active = self.model.scratch(order, 1)
        return LO[0], HI[0], off, vec[0], jmask[0], active[0]

    def coefficient(self, y_lo, y_hi, t_lo, t_hi) -> float:
        """The largest ``|coefficient m + 1|`` over the coordinates of the series through the box ``[y_lo, y_hi]``
        and the times ``[t_lo, t_hi]`` (every component kept); inf where the series is not finite."""
        means, vidx, lams, lwd, _, shared, gj = self.model.arrays
        LO, HI, off, vec, jmask, active = self._scratch(self.order + 1)
        active[:] = 1
        row = off[self.fe.R_Y]
        LO[0, row : row + self.k], HI[0, row : row + self.k] = y_lo, y_hi
        centre = self.centre and t_lo < t_hi
        args = (self.star, active, means, vidx, lams, lwd, shared, gj, LO, HI, off, vec, jmask, centre)
        if not self.kernels["_series"](self.order + 1, t_lo, t_hi, *args):
            return np.inf
        top = self.order + 1
        return float(np.max(np.maximum(np.abs(LO[top, row : row + self.k]), np.abs(HI[top, row : row + self.k]))))

    def box(self, h):
        """The kernel's a-priori box for a step ``h`` from the enclosure (None where it does not validate) and the
        proved remainder over it (the largest coordinate's)."""
        means, vidx, lams, lwd, _, shared, gj = self.model.arrays
        LO, HI, off, vec, jmask, active = self._scratch(self.order)
        fe, k = self.fe, self.k
        vec[fe.V_C, :k] = self.center
        vec[fe.V_XL, :k] = np.nextafter(self.center - self.radius, -np.inf)
        vec[fe.V_XH, :k] = np.nextafter(self.center + self.radius, np.inf)
        active[:] = 1
        rest = (self.star, active, means, vidx, lams, lwd, shared, gj, LO, HI, off, vec, jmask)
        if not self.kernels["_a_priori_box"](h, self.t - h, self.t, *rest):
            return None, np.inf
        box = vec[fe.V_YL, :k].copy(), vec[fe.V_YH, :k].copy()
        return box, self.kernels["_taylor_step"](self.order, h, h, self.t - h, self.t, *rest)[0]

    def longest(self, remainder) -> float:
        """The longest step in ``[1e-6, t]`` (geometric bisection) whose ``remainder(h)`` meets the kernel's aim."""
        aim = self.fe.TARGET * self.tol_local
        lo, hi = 1e-6, self.t
        for _ in range(BISECTIONS):
            mid = (lo * hi) ** 0.5
            lo, hi = (mid, hi) if remainder(mid) <= aim else (lo, mid)
        return lo

    def row(self) -> dict:
        c, t, m = self.center, self.t, self.order
        point = self.coefficient(c, c, t, t)
        h_proved = self.longest(lambda h: self.box(h)[1])
        h_point = self.longest(lambda h: h ** (m + 1) * point)
        box, _ = self.box(h_proved)
        if box is None:
            raise SystemExit(f"no a-priori box validates a step of {h_proved:.3g} from t = {t}")
        (box_lo, box_hi), h = box, h_proved
        sampled = max(self.coefficient(c, c, s, s) for s in np.linspace(t - h, t, SAMPLED_TIMES))
        return {
            "h proved": h_proved,
            "h point": h_point,
            "sampled": sampled / point,
            "time interval": self.coefficient(c, c, t - h, t) / point,
            "box": self.coefficient(box_lo, box_hi, t, t) / point,
            "both": self.coefficient(box_lo, box_hi, t - h, t) / point,
        }


def rows(name, times, n, tol, order, T, seed):
    """One dict per time and start point (see the module docstring)."""
    from certsample.verify.flows import LOCAL_FRACTION, ORDER_FRACTION, _integrate, _Maps, default_order

    target = build_target(name)
    x0 = target.law_at(T).sample(n, seed=seed)
    kernels = _kernels()
    tol_local = tol * (1 + np.linalg.norm(x0, axis=1)) * LOCAL_FRACTION
    found = []
    for t in times:
        maps = _Maps(target, T, t)
        if maps.model is None:
            raise SystemExit(f"{name} has a closed-form flow: the kernel does not integrate it")
        m = order or default_order(tol * ORDER_FRACTION, maps.model)
        y_lo, y_hi = maps.project(x0)
        centers, info, _, _ = _integrate(maps.model, y_lo, y_hi, T, t, tol_local.copy(), m, 100_000, "cpu", 1)
        for p in range(n):
            if info[p, 2] != 0:
                raise SystemExit(f"start {p} was not enclosed to t = {t} (status {int(info[p, 2])})")
            step = _Step(maps.model, kernels, centers[p], info[p, 0], t, m, tol_local[p])
            found.append({"t": t, "start": p, "order": m, **step.row()})
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="mixture64")
    parser.add_argument("--times", type=float, nargs="+", default=[3.0, 2.0, 1.0, 0.3])
    parser.add_argument("--n", type=int, default=3, help="start points per time")
    parser.add_argument("--tol", type=float, default=1e-10, help="enclose_flows' relative tolerance")
    parser.add_argument("--order", type=int, default=0, help="Taylor order (0: enclose_flows' default)")
    parser.add_argument("--T", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    if not all(0 < t < args.T for t in args.times):
        parser.error(f"--times must lie in (0, T = {args.T}), got {args.times}")
    if args.n < 1 or args.order < 0 or not args.tol > 0:
        parser.error("need --n >= 1, --order >= 0 and --tol > 0")
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    print(
        f"{args.target}, tol {args.tol:g}, T = {args.T}; coefficient m + 1 at h proved, as a multiple of its value at"
        " the start point and time"
    )
    print("| t | start | order | h proved | h point | ratio | sampled in time | time interval | box | both |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows(args.target, args.times, args.n, args.tol, args.order, args.T, args.seed):
        print(
            f"| {r['t']:g} | {r['start']} | {r['order']} | {r['h proved']:.4f} | {r['h point']:.4f} | "
            f"{r['h point'] / r['h proved']:.2f} | {r['sampled']:.3g} | {r['time interval']:.3g} | {r['box']:.3g} | "
            f"{r['both']:.3g} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
