"""A denoiser trained on real data (scikit-learn's 8x8 digits), sampled the way k-diffusion users sample.

    python examples/digits.py [--out plots/] [--train-steps 6000] [--per-class 50] [--quick]

Needs ``pip install -e ".[digits]"`` (torch and scikit-learn; the 1797 digits ship inside scikit-learn, nothing
is downloaded). Adds diffusers' DPM-Solver++ 2M and UniPC columns when diffusers is installed
(``pip install -e ".[diffusers]"``).

1. Data: the digits scaled to [-1, 1] (64-d); 1500 for training, 297 held out.
2. Model: a class-conditional EDM denoiser ``D(x, sigma, cond)`` (Karras et al. 2022 preconditioning) around a
   3x256 SiLU MLP, trained on the CPU with the EDM loss (log-normal sigmas) in float32, then run in float64.
3. Sampling, from ``sigma = 80`` to ``0.002`` and the final denoising step, the same starting noise for every
   solver: certsample's exponential integrator, randomized midpoint, parallel midpoint and collocation through
   :mod:`certsample.kdiffusion` at about 10, 20 and 50 evaluations, diffusers' schedulers at the same counts,
   and collocation planned from an accuracy ``eps`` (high accuracy).
4. Per run: the pathwise error against the model's own exact flow (scipy's DOP853 at tolerance 1e-12 on the
   same network's ODE in ``log sigma``, its own accuracy checked against tolerance 1e-14), the MMD to the
   held-out digits (Gaussian kernel, bandwidth the median pairwise distance of the held-out set: stated in the
   output), the sliced W2 to them, the accuracy of a logistic-regression classifier
   trained on the real training digits on the samples (each sample's label is its conditioning class), NFE,
   sequential rounds and wall time; a PNG grid of samples per solver.

The figures go in docs/performance.md; ``benchmarks/digits.py`` prints the table with ratios.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

import numpy as np

SIGMA_MIN, SIGMA_MAX = 0.002, 80.0
NFE_BUDGETS = (10, 20, 50)
HIGH_ACCURACY_EPS = 1e-5


# ------------------------------------------------------------------------------------------- data and model
def load_digits_split(seed: int = 0):
    """``(x_train, y_train, x_test, y_test)``: digits scaled to [-1, 1], 1500 for training, the rest held out."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = digits.data / 8.0 - 1.0
    order = np.random.default_rng(seed).permutation(len(x))
    train, test = order[:1500], order[1500:]
    return x[train], digits.target[train], x[test], digits.target[test]


def make_denoiser(sigma_data: float, width: int = 256, classes: int = 10):
    """The EDM-preconditioned denoiser ``D(x, sigma, cond) = c_skip x + c_out F(c_in x, c_noise, cond)``."""
    import torch
    from torch import nn

    class Denoiser(nn.Module):
        def __init__(self):
            super().__init__()
            self.sigma_data = sigma_data
            self.embed = nn.Embedding(classes, 32)
            self.register_buffer("freqs", torch.exp(torch.linspace(0.0, math.log(64.0), 16)))
            self.net = nn.Sequential(
                nn.Linear(64 + 32 + 32, width),
                nn.SiLU(),
                nn.Linear(width, width),
                nn.SiLU(),
                nn.Linear(width, width),
                nn.SiLU(),
                nn.Linear(width, 64),
            )

        def forward(self, x, sigma, cond):
            sigma = sigma.reshape(-1, 1).to(x.dtype)
            sd2 = self.sigma_data**2
            c_skip = sd2 / (sigma**2 + sd2)
            c_out = sigma * self.sigma_data / torch.sqrt(sigma**2 + sd2)
            c_in = 1.0 / torch.sqrt(sigma**2 + sd2)
            phase = torch.log(sigma) / 4.0 * self.freqs.to(x.dtype)
            features = torch.cat(
                [c_in * x, torch.sin(phase), torch.cos(phase), self.embed(cond.long()).to(x.dtype)], dim=1
            )
            return c_skip * x + c_out * self.net(features)

    return Denoiser()


def train(x_train, y_train, steps: int = 6000, batch: int = 512, seed: int = 0, log=print):
    """Train the denoiser with the EDM loss (``log sigma ~ N(-1.2, 1.2^2)``, weight ``1/c_out^2``); returns it
    in float64, in evaluation mode."""
    import torch

    torch.manual_seed(seed)
    sigma_data = float(np.std(x_train))
    model = make_denoiser(sigma_data)
    data = torch.tensor(x_train, dtype=torch.float32)
    labels = torch.tensor(y_train)
    optimiser = torch.optim.Adam(model.parameters(), lr=2e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, steps, eta_min=1e-5)
    start = time.perf_counter()
    for step in range(steps):
        pick = torch.randint(0, len(data), (batch,))
        x0, cond = data[pick], labels[pick]
        sigma = torch.exp(-1.2 + 1.2 * torch.randn(batch))
        noisy = x0 + sigma[:, None] * torch.randn_like(x0)
        weight = (sigma**2 + sigma_data**2) / (sigma * sigma_data) ** 2
        loss = (weight[:, None] * (model(noisy, sigma, cond) - x0) ** 2).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        if step % max(1, steps // 5) == 0 or step == steps - 1:
            log(f"  train step {step:6d}  loss {loss.item():.4f}  ({time.perf_counter() - start:.0f} s)")
    return model.double().eval()


class Model:
    """The trained network as every sampler here calls it: ``D(x, sigma, cond)`` on torch tensors (k-diffusion
    style), as an OU-time score on NumPy batches (certsample.sample, the reference), and as an epsilon
    prediction on the OU state (diffusers' VP schedulers, ``alphas_cumprod = e^{-2t}``)."""

    def __init__(self, net, labels):
        import torch

        self.net, self.torch = net, torch
        self.labels = torch.as_tensor(np.asarray(labels))
        self.calls = 0

    def __call__(self, x, sigma, cond):
        self.calls += 1
        with self.torch.no_grad():
            return self.net(x, sigma, cond)

    def score_for(self, labels):
        """``grad log q_t(y) = (D(x, sigma) - x) / (2 sinh t)``, ``x = e^t y``: the OU-time score on NumPy
        batches whose rows are stacked copies of a batch with these class ``labels`` (certsample.sample calls a
        score once per round on the stacked states, the batch's rows fastest)."""
        torch = self.torch
        labels = torch.as_tensor(np.asarray(labels))

        def score(y, t):
            if y.shape[0] % len(labels):
                raise ValueError(f"a batch of {y.shape[0]} rows is not copies of the {len(labels)} labelled ones")
            t = np.broadcast_to(np.asarray(t, dtype=float), (y.shape[0],))
            x = y * np.exp(t)[:, None]
            cond = labels.repeat(y.shape[0] // len(labels))
            denoised = self(torch.from_numpy(x), torch.from_numpy(np.sqrt(np.expm1(2 * t))), cond).numpy()
            return (denoised - x) / (2 * np.sinh(t))[:, None]

        return score


# ------------------------------------------------------------------------------------------- samplers
def certsample_runs(model, noise, budgets):
    """``{label: (samples, nfe, rounds, seconds)}`` of certsample's solvers through certsample.kdiffusion."""
    import torch

    from certsample.kdiffusion import (
        karras_sigmas,
        sample_collocation,
        sample_exponential,
        sample_parallel_midpoint,
        sample_randomized_midpoint,
    )

    x = torch.from_numpy(noise * SIGMA_MAX)
    extra = {"cond": model.labels}
    runs = {}
    for budget in budgets:
        plans = {  # (sampler, positive sigmas, options): about `budget` evaluations with the final denoising step
            "exponential-ode": (sample_exponential, budget, {}),
            "randomized-midpoint": (sample_randomized_midpoint, (budget - 1) // 2 + 1, {}),
            "parallel-midpoint": (sample_parallel_midpoint, (budget - 1) // 5 + 1, {"R": 2, "K": 1}),
            "collocation": (sample_collocation, max(1, (budget - 1) // 5) + 1, {"degree": 2, "sweeps": 2}),
        }
        for name, (sampler, points, options) in plans.items():
            stats = {}
            start = time.perf_counter()
            out = sampler(
                model,
                x,
                karras_sigmas(points, SIGMA_MIN, SIGMA_MAX),
                extra_args=extra,
                disable=True,
                stats=stats,
                **options,
            )
            runs[f"{name} @{budget}"] = (out.numpy(), stats["nfe"], stats["rounds"], time.perf_counter() - start)
    return runs


def planned_run(model, noise, eps):
    """Collocation planned for RMS pathwise accuracy ``eps`` (certsample's measured plan, on a pilot of the first
    particle of each class), run on the NumPy path, then the final denoising step. Returns ``(samples, nfe,
    rounds, seconds, plan info)``."""
    import torch

    import certsample as cs
    from certsample.integrate import plan_from_eps
    from certsample.kdiffusion import ou_times

    T, delta = (float(v) for v in ou_times([SIGMA_MAX, SIGMA_MIN]))
    y0 = noise * SIGMA_MAX * math.exp(-T)
    labels = model.labels.numpy()
    pilot = np.array([np.flatnonzero(labels == c)[0] for c in np.unique(labels)])
    start = time.perf_counter()
    solver, grid, info = plan_from_eps(
        model.score_for(labels[pilot]),
        "collocation",
        eps,
        T=T,
        delta=delta,
        x_init=y0[pilot],
        pilot=len(pilot),
        dim=noise.shape[1],
    )
    run = cs.sample(model.score_for(labels), solver, grid=grid, x_init=y0, dim=noise.shape[1], progress=False)
    x = run.samples * math.exp(delta)
    final = model(torch.from_numpy(x), torch.full((len(x),), SIGMA_MIN, dtype=torch.float64), model.labels).numpy()
    return final, run.nfe + 1, run.rounds + 1, time.perf_counter() - start, info


def diffusers_runs(model, noise, budgets):
    """DPM-Solver++ 2M and UniPC of diffusers at each budget, on the same network (epsilon prediction on the
    OU state; the scheduler's grid geometric in OU time from delta to T), or {} without diffusers."""
    try:
        import diffusers
    except ImportError:
        return {}
    import torch

    from certsample.kdiffusion import ou_times

    T, delta = (float(v) for v in ou_times([SIGMA_MAX, SIGMA_MIN]))
    schedulers = {
        "dpm-solver++ 2M": ("DPMSolverMultistepScheduler", {"solver_order": 2, "algorithm_type": "dpmsolver++"}),
        "unipc": ("UniPCMultistepScheduler", {"solver_order": 2}),
    }
    runs = {}
    for budget in budgets:
        for label, (cls_name, options) in schedulers.items():
            size = max(1000, 64 * budget)
            t_train = np.geomspace(delta, T, size)
            abar = np.exp(-2.0 * t_train)
            betas = 1.0 - abar / np.concatenate([[1.0], abar[:-1]])
            scheduler = getattr(diffusers, cls_name)(
                num_train_timesteps=size, trained_betas=betas, final_sigmas_type="zero", **options
            )
            scheduler.set_timesteps(budget)
            start = time.perf_counter()
            y = torch.from_numpy(noise * SIGMA_MAX * math.exp(-T))
            for i, timestep in enumerate(scheduler.timesteps):
                sigma = float(scheduler.sigmas[i])
                x = y * math.sqrt(1 + sigma * sigma)
                denoised = model(x, torch.full((len(x),), sigma, dtype=torch.float64), model.labels)
                y = scheduler.step((x - denoised) / sigma, timestep, y).prev_sample
            runs[f"{label} @{budget}"] = (
                y.numpy(),
                len(scheduler.timesteps),
                len(scheduler.timesteps),
                time.perf_counter() - start,
            )
    return runs


# ------------------------------------------------------------------------------------------- evaluation
def reference(model, noise, rtol=1e-12):
    """The model's exact flow from the same noise, and that reference's own accuracy.

    The flow in the variable ``s = log sigma`` is ``dx/ds = x - D(x, sigma)`` (Karras et al.'s ODE, not stiff
    down to ``sigma_min``), solved by scipy's DOP853 on the whole batch at relative and absolute tolerance
    ``rtol``, then the final denoising step: a method independent of every solver compared. Its accuracy is
    its distance to the same solve at ``rtol / 100``.
    """
    import torch
    from scipy.integrate import solve_ivp

    shape = noise.shape

    def flow(s, x):
        x = torch.from_numpy(x.reshape(shape))
        sigma = torch.full((shape[0],), math.exp(s), dtype=torch.float64)
        return (x - model(x, sigma, model.labels)).numpy().ravel()

    def solve(tol):
        out = solve_ivp(
            flow,
            (math.log(SIGMA_MAX), math.log(SIGMA_MIN)),
            (noise * SIGMA_MAX).ravel(),
            method="DOP853",
            rtol=tol,
            atol=tol,
        )
        x = torch.from_numpy(out.y[:, -1].reshape(shape))
        return model(x, torch.full((shape[0],), SIGMA_MIN, dtype=torch.float64), model.labels).numpy()

    ref = solve(rtol)
    finer = solve(rtol / 100)
    return ref, float(np.sqrt(np.mean(np.sum((ref - finer) ** 2, axis=1))))


def evaluate(samples, labels, ref, x_test, classifier, bandwidth):
    """The run's scores; a run that diverged (NaN or inf samples) is reported as such, not dropped."""
    from certsample.metrics import mmd, sliced_w2

    if not np.all(np.isfinite(samples)):
        return {"pathwise": math.inf, "mmd": math.nan, "sliced_w2": math.nan, "accuracy": 0.0}
    pathwise = float(np.sqrt(np.mean(np.sum((samples - ref) ** 2, axis=1))))
    return {
        "pathwise": pathwise,
        "mmd": math.sqrt(max(mmd(samples, x_test, bandwidth), 0.0)),
        "sliced_w2": sliced_w2(samples, x_test, seed=0),
        "accuracy": float(np.mean(classifier.predict(samples) == labels)),
    }


def median_distance(x):
    d2 = np.sum((x[:, None, :] - x[None, :, :]) ** 2, axis=2)
    return float(np.sqrt(np.median(d2[np.triu_indices(len(x), 1)])))


def write_grid(samples, labels, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    per_row = 10
    fig, axes = plt.subplots(10, per_row, figsize=(6, 6.4))
    for digit in range(10):
        rows = samples[labels == digit][:per_row]
        for j in range(per_row):
            ax = axes[digit, j]
            ax.axis("off")
            if j < len(rows):
                ax.imshow(np.clip((rows[j] + 1) * 8, 0, 16).reshape(8, 8), cmap="gray_r", vmin=0, vmax=16)
    fig.suptitle(title, fontsize=9)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def study(train_steps=6000, per_class=50, budgets=NFE_BUDGETS, out=None, seed=0, log=print, cache=None):
    """Train, sample with every solver, evaluate: returns ``(rows, facts)``."""
    import torch
    from sklearn.linear_model import LogisticRegression

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    x_train, y_train, x_test, y_test = load_digits_split(seed)
    start = time.perf_counter()
    if cache and os.path.exists(cache):
        net = make_denoiser(float(np.std(x_train))).double()
        net.load_state_dict(torch.load(cache))
        net.eval()
        log(f"  loaded the trained network from {cache}")
    else:
        net = train(x_train, y_train, train_steps, seed=seed, log=log)
        if cache:
            torch.save(net.state_dict(), cache)
    train_seconds = time.perf_counter() - start
    labels = np.repeat(np.arange(10), per_class)
    model = Model(net, labels)
    noise = np.random.default_rng(seed + 1).standard_normal((len(labels), 64))
    classifier = LogisticRegression(max_iter=5000).fit(x_train, y_train)
    bandwidth = median_distance(x_test)
    ref, ref_accuracy = reference(model, noise)
    runs = certsample_runs(model, noise, budgets)
    runs.update(diffusers_runs(model, noise, budgets))
    high = planned_run(model, noise, HIGH_ACCURACY_EPS)
    runs[f"collocation eps={HIGH_ACCURACY_EPS:g}"] = high[:4]
    runs.update(diffusers_runs(model, noise, (high[1],)))  # the peers at collocation's high-accuracy NFE
    rows = []
    for label, (samples, nfe, rounds, seconds) in runs.items():
        rows.append(
            {
                "solver": label,
                "nfe": int(nfe),
                "rounds": int(rounds),
                "seconds": seconds,
                **evaluate(samples, labels, ref, x_test, classifier, bandwidth),
            }
        )
        if out:
            write_grid(
                samples,
                labels,
                os.path.join(out, f"digits_{_slug(label)}.png"),
                f"{label}: NFE {nfe}, pathwise {rows[-1]['pathwise']:.2g}",
            )
    held_out = {
        "mmd": math.sqrt(max(_mmd_floor(x_train, x_test, bandwidth), 0.0)),
        "sliced_w2": _sw2(x_train[: len(x_test)], x_test),
        "accuracy": float(classifier.score(x_test, y_test)),
    }
    facts = {
        "train_seconds": train_seconds,
        "train_steps": train_steps,
        "reference_accuracy": ref_accuracy,
        "bandwidth": bandwidth,
        "samples": len(labels),
        "held_out": held_out,
        "plan": high[4],
    }
    return rows, facts


def _mmd_floor(x_train, x_test, bandwidth):
    from certsample.metrics import mmd

    return mmd(x_train[: len(x_test)], x_test, bandwidth)


def _sw2(a, b):
    from certsample.metrics import sliced_w2

    return sliced_w2(a, b, seed=0)


def _slug(label):
    return "".join(c if c.isalnum() else "_" for c in label).strip("_")


def print_table(rows, facts, file=sys.stdout):
    print(
        f"trained {facts['train_steps']} steps in {facts['train_seconds']:.0f} s; {facts['samples']} samples; "
        f"reference (DOP853, tolerance 1e-12) accurate to {facts['reference_accuracy']:.1g}; "
        f"MMD kernel: Gaussian, bandwidth {facts['bandwidth']:.3f} (median held-out distance)",
        file=file,
    )
    floor = facts["held_out"]
    print(
        f"real training digits vs held out: MMD {floor['mmd']:.3f}, sliced W2 {floor['sliced_w2']:.3f}; "
        f"classifier accuracy on held-out digits {floor['accuracy']:.3f}",
        file=file,
    )
    print(
        f"{'solver':<28s} {'NFE':>5s} {'rounds':>6s} {'pathwise':>9s} {'MMD':>7s} {'SW2':>7s} {'acc':>6s} "
        f"{'seconds':>7s}",
        file=file,
    )
    for r in rows:
        print(
            f"{r['solver']:<28s} {r['nfe']:5d} {r['rounds']:6d} {r['pathwise']:9.2e} {r['mmd']:7.4f} "
            f"{r['sliced_w2']:7.4f} {r['accuracy']:6.3f} {r['seconds']:7.2f}",
            file=file,
        )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="folder for the PNG grids")
    parser.add_argument("--train-steps", type=int, default=6000)
    parser.add_argument("--per-class", type=int, default=50)
    parser.add_argument("--quick", action="store_true", help="a short run (2000 training steps, 10 per class)")
    parser.add_argument("--cache", default=None, help="file of the trained network: loaded if it exists, else written")
    args = parser.parse_args(argv)
    if args.quick:
        args.train_steps, args.per_class = 2000, 10
    if args.out:
        os.makedirs(args.out, exist_ok=True)
    rows, facts = study(args.train_steps, args.per_class, out=args.out, cache=args.cache)
    print_table(rows, facts)
    return rows, facts


if __name__ == "__main__":
    main()
