"""Pictures people would rather look at than read (matplotlib, imported only when asked for)."""

from __future__ import annotations

import numpy as np


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("plots need matplotlib: pip install 'certsample[plot]'") from err
    return plt


def _plane(target, x):
    """The two coordinates to draw: the data plane for embedded targets, else the first two axes."""
    if target.basis is not None:
        x = x @ target.basis
    return x[:, :2] if x.shape[1] >= 2 else np.column_stack([x[:, 0], np.zeros(len(x))])


def plot_samples(target, samples, t: float, path: str, title: str = ""):
    """Samples (left) next to exact samples of ``q_t`` (right), on shared axes."""
    plt = _pyplot()
    exact = target.law_at(t).sample(len(samples), 12345)
    a, b = _plane(target, np.asarray(samples)), _plane(target, exact)
    both = np.vstack([a, b])
    lo, hi = np.percentile(both, 0.5, axis=0), np.percentile(both, 99.5, axis=0)
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.3), sharex=True, sharey=True)
    for ax, pts, label in ((axes[0], a, title or "samples"), (axes[1], b, f"exact q_t, t={t:g}")):
        ax.hist2d(pts[:, 0], pts[:, 1], bins=120, range=[[lo[0], hi[0]], [lo[1], hi[1]]], cmap="magma")
        ax.set_title(label)
        ax.set_aspect("equal")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
