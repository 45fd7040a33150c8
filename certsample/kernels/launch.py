"""Launch geometry as data: how particles are laid out for a kernel, and how many threads and scratch rows it gets.

:func:`plan_launch` decides, from the solver, the target, the particle count, the dimension and the
backend, everything a launch needs that is not a number of the run: the layout (``'particle'``,
``'block'`` or ``'nodes'``, see :mod:`.loops`), the block width, the threads per particle, CUDA's grid
and block sizes, the CPU's scratch slots and the shapes of every scratch array. :class:`Launch` holds
the answer; :mod:`.runner` only allocates what it says and launches. Nothing here imports numba.cuda.

The constants are read when a launch is planned, so a test may shrink them to reach the
grid-stride and several-thread-block paths with a handful of particles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

__all__ = [
    "Launch",
    "plan_launch",
    "cuda_node_threads",
    "aligned_zeros",
    "to_blocks",
    "from_blocks",
    "CPU_LANES",
    "CPU_WIDE_LANES_FACTOR",
    "cpu_block_width",
    "CUDA_LANES",
    "CUDA_THREADS",
    "CUDA_MAX_THREADS",
    "CUDA_SCRATCH_BYTES",
    "SCRATCH_BLOCKS_PER_THREAD",
    "ALIGNMENT",
]

#: particles per block on the CPU: 8 AVX-512 or 16 AVX2 vectors of float64, and a ``64 x 64`` block of a
#: 64-d state is 32 KiB, the size of an L1 data cache
CPU_LANES = 64
#: the most a CPU block widens to (:func:`cpu_block_width`) when the components have their own variances
CPU_WIDE_LANES_FACTOR = 4
#: a widened CPU block's state (``width x d`` float64) stays within this many bytes, so that high-dimensional
#: targets keep the L1-sized block and the per-slot scratch that the memory estimate assumes
CPU_WIDE_BLOCK_BYTES = 2**19
#: particles per block on CUDA: a warp
CUDA_LANES = 32
#: threads per CUDA thread block (one thread per particle)
CUDA_THREADS = 128
#: resident threads of a large GPU (132 SMs x 2048), the grid-stride launch's cap
CUDA_MAX_THREADS = 2**18
#: device scratch of one launch: rows per resident thread, not per particle
CUDA_SCRATCH_BYTES = 2**30
#: CPU scratch slots per thread: load balance without per-particle memory
SCRATCH_BLOCKS_PER_THREAD = 4
#: byte alignment of the block kernels' arrays: a cache line, so that no vector load of a block's row
#: straddles two (NumPy promises 16 bytes)
ALIGNMENT = 64


def aligned_zeros(shape) -> np.ndarray:
    """Float64 zeros of ``shape`` whose first element starts at a multiple of :data:`ALIGNMENT` bytes.

    A block's rows are ``L`` float64 (512 bytes on the CPU), so every row of the array is aligned
    too, and no vector load of a row straddles two cache lines; the block score runs measurably
    faster on aligned rows than on NumPy's 16-byte ones (docs/performance.md, "Against peers").
    """
    size = int(np.prod(shape))
    raw = np.zeros(size + ALIGNMENT // 8)
    start = (-raw.ctypes.data % ALIGNMENT) // 8
    return raw[start : start + size].reshape(shape)


def to_blocks(x, width: int) -> np.ndarray:
    """Particles ``(n, columns)`` as blocks ``(ceil(n / width), columns, width)``, one particle per
    column; the last block is padded with copies of the last particle (finite, and discarded)."""
    n, columns = x.shape
    full = n // width
    blocks = aligned_zeros((-(-n // width), columns, width))
    blocks[:full] = x[: full * width].reshape(full, width, columns).transpose(0, 2, 1)
    if full < blocks.shape[0]:
        blocks[full] = x[-1][:, None]
        blocks[full, :, : n - full * width] = x[full * width :].T
    return blocks


def from_blocks(blocks, n: int) -> np.ndarray:
    """The first ``n`` particles of :func:`to_blocks`'s layout, as ``(n, columns)``."""
    return blocks.transpose(0, 2, 1).reshape(-1, blocks.shape[1])[:n]


def cuda_node_threads(solver, n: int) -> int:
    """Threads per particle on CUDA: the solver's ``kernel_node_threads`` (collocation: one per node,
    the parallel midpoint: one per midpoint) when ``n`` particles with that many threads each fit in
    :data:`CUDA_MAX_THREADS`, so that a sweep's evaluations run at once; otherwise 0, one thread per
    particle, which already fills the device (the threshold is reasoned, not measured on a GPU).

    The kernels sit below the solvers and do not import them: the capability is the ``kernel_node_step``
    that only :class:`~certsample.solvers.ParallelSolver` defines (None there when it has none)."""
    if getattr(solver, "kernel_node_step", None) is None:
        return 0
    group = int(solver.kernel_node_threads)
    return group if group > 1 and n * group <= CUDA_MAX_THREADS else 0


@dataclass(frozen=True)
class Launch:
    """Where ``n`` particles of dimension ``dim`` go in one kernel launch, and the scratch it needs.

    Attributes
    ----------
    backend : {'cpu', 'cuda'}
    layout : {'particle', 'block', 'nodes'}
        The driver's layout (:mod:`.loops`); ``'nodes'`` when ``group`` threads share a particle.
    blocked : bool
        Whether the solver's step takes blocks (with ``'nodes'``: blocks of one column).
    width : int
        Particles per block (1 when not ``blocked``).
    group : int
        Threads per particle on CUDA; 0 for one thread per particle.
    n, dim, carry : int
        Particles, state dimension, and the solver's carry vectors riding after the state in each row.
    slots : int
        CPU scratch slots, or the CUDA threads of the whole launch.
    cuda_grid : tuple of int or None
        ``(thread blocks, threads per block)`` of a CUDA launch.
    lane_rows : int
        Rows of a block step's per-lane scratch (1, unused, for a particle step).
    scratch_shapes : tuple of tuple of int
        The scratch arrays the driver takes after the parameters, in order.
    scratch_aligned : tuple of bool
        Which of them start on a cache line (:func:`aligned_zeros`); the others are plain zeros.
    """

    backend: str
    layout: str
    blocked: bool
    width: int
    group: int
    n: int
    dim: int
    carry: int
    slots: int
    cuda_grid: tuple | None
    lane_rows: int
    scratch_shapes: tuple
    scratch_aligned: tuple

    def pack(self, x) -> np.ndarray:
        """Particles ``(n, dim)`` in the kernel's layout: a zero carry after the state, then blocks."""
        n, d = x.shape
        carry = self.carry * d
        x = np.ascontiguousarray(np.concatenate([x, np.zeros((n, carry))], axis=1) if carry else x, dtype=float)
        return to_blocks(x, self.width) if self.blocked else x

    def unpack(self, packed) -> np.ndarray:
        """The ``(n, dim)`` states of :meth:`pack`'s layout (carry and padding dropped)."""
        return from_blocks(packed, self.n)[:, : self.dim] if self.blocked else packed[:, : self.dim]

    def scratch(self) -> tuple:
        """Fresh zeroed scratch arrays (zero: empty time caches)."""
        return tuple(
            aligned_zeros(shape) if aligned else np.zeros(shape)
            for shape, aligned in zip(self.scratch_shapes, self.scratch_aligned)
        )


def cpu_block_width(target, n: int) -> int:
    """Particles per CPU block: :data:`CPU_LANES`, doubled up to :data:`CPU_WIDE_LANES_FACTOR` times for a
    mixture whose components have their own variances while every thread keeps at least
    :data:`SCRATCH_BLOCKS_PER_THREAD` blocks and the block's state stays within :data:`CPU_WIDE_BLOCK_BYTES`.

    That score (:mod:`.components`) makes ``K d / 16`` passes of register-blocked multiply-adds over a
    block's lanes, each loading its constants and checking its rows apart before its vector loop; a
    wider block spreads that cost over more particles (docs/performance.md, issue 31), while the
    shared-variance scores keep the block that fits the L1 cache. No result depends on the width.
    """
    width = CPU_LANES
    if getattr(target, "equal_variances", True):
        return width
    threads = numba.get_num_threads()
    while (
        width < CPU_LANES * CPU_WIDE_LANES_FACTOR
        and n >= 2 * width * SCRATCH_BLOCKS_PER_THREAD * threads
        and 2 * width * target.dim * 8 <= CPU_WIDE_BLOCK_BYTES
    ):
        width *= 2
    return width


def plan_launch(solver, target, n: int, d: int, backend: str) -> Launch:
    """The :class:`Launch` of ``solver``'s kernel on ``target`` for ``n`` particles in ``d`` dimensions."""
    group = cuda_node_threads(solver, n) if backend == "cuda" else 0
    blocked = getattr(solver, "kernel_layout", "particle") == "block"
    layout = "nodes" if group else "block" if blocked else "particle"
    # a time slot per node on the CPU (a block of particles shares it); CUDA keeps two, as its scratch is
    # per resident thread and more would cut the resident threads (not measured on a GPU)
    slots_in_cache = solver.time_slots if backend == "cpu" else 2
    n_work = max(solver.n_work, 1)
    score_work = target.kernel_work_size(slots_in_cache)
    row_bytes = 8 * (n_work * d + score_work)
    lane_rows, width, rows = 1, 1, n  # a particle-layout step has no lane rows (the node drivers pass one unused)
    if blocked:
        # on CUDA a thread keeps its column over the grid stride, a multiple of the threads per block;
        # with threads sharing a particle, each particle is a block of one column
        width = 1 if group else math.gcd(CUDA_LANES, CUDA_THREADS) if backend == "cuda" else cpu_block_width(target, n)
        rows = -(-n // width)
        lane_rows = solver.n_lane_work + target.kernel_lane_rows()
        row_bytes += 8 * lane_rows
    if group:
        cuda_grid, shapes = _node_geometry(group, n, d, n_work, lane_rows, score_work, blocked)
        slots, aligned = cuda_grid[0] * cuda_grid[1], (True, True, False)
    else:
        if backend == "cuda":
            slots = (
                min(
                    -(-n // CUDA_THREADS),
                    CUDA_MAX_THREADS // CUDA_THREADS,
                    max(1, CUDA_SCRATCH_BYTES // (row_bytes * CUDA_THREADS)),
                )
                * CUDA_THREADS
            )  # threads
            cuda_grid = (slots // CUDA_THREADS, CUDA_THREADS)
        else:
            slots, cuda_grid = min(rows, SCRATCH_BLOCKS_PER_THREAD * numba.get_num_threads()), None
        if blocked:  # CUDA: a block's scratch serves its width of threads
            blocks = slots // width if backend == "cuda" else slots
            shapes = ((blocks, n_work, d, width), (blocks, lane_rows, width), (slots, score_work))
            aligned = (True, True, False)
        else:
            shapes, aligned = ((slots, n_work, d), (slots, score_work)), (False, False)
    return Launch(
        backend,
        layout,
        blocked,
        width,
        group,
        n,
        d,
        int(getattr(solver, "n_carry", 0)),
        slots,
        cuda_grid,
        lane_rows,
        shapes,
        aligned,
    )


def _node_geometry(group, n, d, n_work, lane_rows, score_work, blocked):
    """``((thread blocks, threads per block), scratch shapes)`` when ``group`` threads share a particle:
    thread blocks of whole groups, work per particle slot (shared by its group), lane rows and score
    scratch per thread."""
    block_threads = group * max(1, CUDA_THREADS // group)
    per_block = block_threads // group
    block_bytes = 8 * (per_block * n_work * d + block_threads * (lane_rows + score_work))
    grid_blocks = min(
        -(-n // per_block), max(1, CUDA_MAX_THREADS // block_threads), max(1, CUDA_SCRATCH_BYTES // block_bytes)
    )
    threads = grid_blocks * block_threads
    columns = (1,) if blocked else ()
    shapes = ((grid_blocks * per_block, n_work, d) + columns, (threads, lane_rows) + columns, (threads, score_work))
    return (grid_blocks, block_threads), shapes
