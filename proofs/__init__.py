"""Theorems behind certsample, as SymPy expressions with rigorous evaluation.

Each module states one source's theorem (assumptions, symbols, explicit
constants, step count and error bound); :data:`THEOREMS` is the registry.

Examples
--------
>>> import proofs
>>> th = proofs.get("sde_ei_w2")
>>> th.error_bound(N=100, d=1, L=2, T=5, delta=0.01, alpha=1, W0=0, eps_s=0) < 1
True
"""

from __future__ import annotations

from .baselines import (
    ChenEtAl2023,
    ProbabilityFlowEIW2,
    ReverseSDEEIW2,
    ReverseSDEEulerW2,
)
from .collocation import CollocationTheorem
from .core import Theorem
from .gatmiry_chen_salim import GatmiryChenSalim2026
from .lee_song_vempala import LeeSongVempalaCollocation, lagrange_inf_norm
from .midpoint_ms import ParallelMidpointMS, RandomizedMidpointMS
from .randomized_midpoint import GuptaCaiChenParallel, GuptaCaiChenSequential
from .shen_lee import ShenLee2019

__all__ = ["THEOREMS", "get", "Theorem", "lagrange_inf_norm"]

THEOREMS: dict[str, Theorem] = {
    th.name: th
    for th in (
        GuptaCaiChenSequential(),
        GuptaCaiChenParallel(),
        RandomizedMidpointMS(),
        ParallelMidpointMS(),
        ShenLee2019(),
        CollocationTheorem(),
        GatmiryChenSalim2026(),
        LeeSongVempalaCollocation(),
        ChenEtAl2023(),
        ProbabilityFlowEIW2(),
        ReverseSDEEIW2(),
        ReverseSDEEulerW2(),
    )
}


def get(name: str) -> Theorem:
    """Return the registered theorem ``name``.

    Raises
    ------
    ValueError
        If ``name`` is unknown; the message lists the known names.
    """
    try:
        return THEOREMS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown theorem {name!r}; known: {sorted(THEOREMS)}") from None
