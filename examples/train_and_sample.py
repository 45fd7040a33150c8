"""Train a small torch denoiser on the 8-mode ring, then sample it with certsample's solvers.

The model is what a diffusers or k-diffusion user brings: an MLP ``net(x, s)`` trained with the
usual denoising loss on a DDPM-style process (VP, cosine schedule, by default) in its own time ``s``
and its own prediction type (eps by default). ``cs.score_from_model`` maps it exactly onto
certsample's OU time, so the solvers run on it unchanged. Because the ring's exact score is known,
the script also reports what a user of a real model cannot see: the model's score error, and each
solver's error with the model next to its error with the exact score.

    pip install -e ".[torch]"        # or: pip install torch==2.13.0 (the CPU build)
    python examples/train_and_sample.py [--seconds 40] [--process vp-cosine|vp-linear|ve]
                                        [--prediction eps|x0|v] [--plot samples.png]

Everything runs on the CPU; nothing is downloaded.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

import certsample as cs
from certsample.evaluate import sample_errors

try:
    import torch
except ImportError:  # pragma: no cover - the example's own dependency
    raise SystemExit("this example needs torch: pip install -e '.[torch]' (or pip install torch==2.13.0)") from None

PROCESSES = {
    "vp-cosine": lambda: cs.VPProcess("cosine"),
    "vp-linear": lambda: cs.VPProcess("linear"),
    "ve": lambda: cs.VEProcess(0.002, 80.0),
}


class Denoiser(torch.nn.Module):
    """MLP on ``(x, Fourier features of the model time)``; ``s`` is log-scaled for VE (sigma)."""

    def __init__(self, dim=2, width=128, frequencies=8, log_time=False):
        super().__init__()
        self.log_time = log_time
        self.register_buffer("freq", torch.arange(1, frequencies + 1, dtype=torch.float32) * math.pi)
        self.net = torch.nn.Sequential(
            torch.nn.Linear(dim + 2 * frequencies + 1, width),
            torch.nn.SiLU(),
            torch.nn.Linear(width, width),
            torch.nn.SiLU(),
            torch.nn.Linear(width, width),
            torch.nn.SiLU(),
            torch.nn.Linear(width, dim),
        )

    def forward(self, x, s):
        u = (torch.log(s) / 4 if self.log_time else s)[:, None]
        return self.net(torch.cat([x, u, torch.sin(self.freq * u), torch.cos(self.freq * u)], dim=1))


def train(target, process, prediction, seconds, T, delta, seed):
    """Denoising loss on ``x_s = alpha x_0 + sigma eps``, OU times log-uniform on ``[delta, T]``."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = Denoiser(target.dim, log_time=isinstance(process, cs.VEProcess))
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    start, steps, losses = time.perf_counter(), 0, []
    while time.perf_counter() - start < seconds:
        x0 = target.sample(2048, rng)
        t = np.exp(rng.uniform(math.log(delta), math.log(T), 2048))
        s = process.model_time(t)
        a, g = process.alpha(s)[:, None], process.sigma(s)[:, None]
        eps = rng.standard_normal(x0.shape)
        x = a * x0 + g * eps
        want = {"eps": eps, "x0": x0, "v": (a * eps - g * x0) / np.hypot(a, g)}[prediction]
        out = net(torch.from_numpy(x).float(), torch.from_numpy(s).float())
        loss = torch.mean((out - torch.from_numpy(want).float()) ** 2)
        opt.zero_grad()
        loss.backward()
        opt.step()
        steps += 1
        losses.append(loss.item())
        if steps % 500 == 0:
            for group in opt.param_groups:
                group["lr"] *= 0.7
    return net, steps, float(np.mean(losses[-100:]))


def score_error(target, score, T, delta, seed, points=4000, times=12):
    """RMS of ``model score - exact score`` under ``q_t`` at log-spaced ``t``, absolute and relative."""
    rows = []
    for t in np.geomspace(delta, T, times):
        x = target.sample(points, seed, t=float(t))
        exact = target.score(x, float(t))
        err = score(x, np.full(points, t)) - exact
        rms = math.sqrt(np.mean(np.sum(err**2, axis=1)))
        rows.append((float(t), rms, rms / math.sqrt(np.mean(np.sum(exact**2, axis=1)))))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=40.0, help="training time budget")
    parser.add_argument("--process", choices=sorted(PROCESSES), default="vp-cosine")
    parser.add_argument("--prediction", choices=["eps", "x0", "v"], default="eps")
    parser.add_argument("--n", type=int, default=5000, help="samples per solver")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", help="write the samples of every solver to this PNG")
    args = parser.parse_args(argv)

    torch.set_num_threads(1)
    target = cs.ring_mixture()
    process = PROCESSES[args.process]()
    T, delta = min(10.0, 0.999 * process.t_max), max(1e-2, process.t_min)
    net, steps, loss = train(target, process, args.prediction, args.seconds, T, delta, args.seed)
    print(
        f"trained {process!r}, {args.prediction}-prediction: {steps} Adam steps in {args.seconds:g} s, "
        f"final loss {loss:.4f}"
    )

    @torch.no_grad()
    def model(x, s):
        return net(torch.from_numpy(x).float(), torch.from_numpy(s).float()).double().numpy()

    score = cs.score_from_model(model, process, args.prediction)
    rows = score_error(target, score, T, delta, args.seed)
    print("\nscore error of the model under q_t (RMS of model - exact):")
    print("  " + "  ".join(f"t={t:.3g}: {rms:.3f} ({rel:.1%})" for t, rms, rel in rows[::3]))
    print(
        f"  mean over {len(rows)} log-spaced times: {np.mean([r[1] for r in rows]):.3f} "
        f"({np.mean([r[2] for r in rows]):.1%} of the score's RMS)"
    )

    runs = [
        ("exponential-ode", 100, {}),
        ("randomized-midpoint", 50, {}),
        ("collocation", 8, {"degree": 8, "sweeps": 8}),
    ]
    print(f"\n{args.n} samples from N(0, I) at T={T:g} down to delta={delta:g}; errors against the exact q_delta")
    print("(path: RMS distance between the model's run and the exact score's run from the same starts)")
    print(
        f"{'solver':<20} {'NFE':>5} {'rounds':>6} {'score calls':>11} {'seconds':>8} "
        f"{'sliced W2 (model)':>18} {'sliced W2 (exact)':>18} {'path':>7}"
    )
    pictures = []
    for name, n_steps, options in runs:
        kw = dict(n=args.n, n_steps=n_steps, T=T, delta=delta, seed=args.seed, progress=False, solver_options=options)
        score.calls = 0
        mine = cs.sample(score, name, dim=target.dim, **kw)
        exact = cs.sample(target, name, **kw)
        err_model = sample_errors(target, mine.samples, delta, args.seed)
        err_exact = sample_errors(target, exact.samples, delta, args.seed)
        print(
            f"{name:<20} {mine.nfe:>5} {mine.rounds:>6} {score.calls:>11} {mine.wall_time:>8.2f} "
            f"{err_model['sliced_w2']:>18.4f} {err_exact['sliced_w2']:>18.4f} "
            f"{cs.metrics.pathwise_error(mine.samples, exact.samples)['rms']:>7.3f}"
        )
        pictures.append((name, mine.samples))
    print(f"{'(floor: two exact sample sets)':<53} {err_exact['sliced_w2_floor']:>18.4f}")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, len(pictures) + 1, figsize=(4 * (len(pictures) + 1), 4), sharex=True, sharey=True)
        panels = [("exact q_delta", target.sample(args.n, args.seed, t=delta))] + pictures
        for ax, (title, x) in zip(axes, panels):
            ax.scatter(x[:, 0], x[:, 1], s=1, alpha=0.3)
            ax.set_title(title)
            ax.set_aspect("equal")
        fig.tight_layout()
        fig.savefig(args.plot, dpi=100)
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
