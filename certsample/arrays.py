"""The array namespace of a solver's NumPy step: NumPy, or any Array API library (torch on its device).

A solver's reference step is written once against ``xp = namespace(x)``, as mpmath's functions run in
its ``mp`` and ``fp`` contexts: on NumPy arrays it is the NumPy code it always was (NumPy itself, not a
wrapper, so float64 runs keep their bits and object arrays of mpmath numbers keep working), and on a
torch tensor every operation on the state stays on the tensor's device. Small coefficient arrays that
come from the host (the Philox noise and what is computed from it, window matrices) are moved to the
state's device with :func:`like`.

References
----------
.. [1] Consortium for Python Data API Standards, "Python array API standard", 2023.12,
   https://data-apis.org/array-api/ (and ``array-api-compat``, the adapter used here).
"""

from __future__ import annotations

import numpy as np

__all__ = ["namespace", "like", "to_numpy", "einsum", "is_numpy"]


def is_numpy(x) -> bool:
    return isinstance(x, (np.ndarray, np.generic, float, int))


def namespace(*arrays):
    """The namespace of ``arrays``: ``numpy`` itself for NumPy arrays (and Python numbers), else the
    Array API namespace that ``array_api_compat`` finds (e.g. torch's)."""
    others = [a for a in arrays if not is_numpy(a)]
    if not others:
        return np
    from array_api_compat import array_namespace

    return array_namespace(*others)


def like(values, x):
    """``values`` (a host array or number) as an array of ``x``'s namespace, dtype and device."""
    if is_numpy(x):
        return values
    from array_api_compat import device

    xp = namespace(x)
    return xp.asarray(np.asarray(values, dtype=float), dtype=x.dtype, device=device(x))


def to_numpy(x) -> np.ndarray:
    """A host NumPy copy of ``x`` (for checks and small reductions that the host decides on)."""
    if is_numpy(x):
        return np.asarray(x)
    from array_api_compat import is_torch_array

    if is_torch_array(x):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def einsum(subscripts: str, *operands):
    """``einsum`` of the operands' namespace: NumPy's own on NumPy arrays (the order of the sums the float64
    runs always had), the namespace's where it has one (torch), else products broadcast over the union of
    the indices and summed (the Array API has no ``einsum``). Explicit subscripts without ellipses, and no
    index twice in one operand (no diagonals), only."""
    xp = namespace(*operands)
    if xp is np or hasattr(xp, "einsum"):
        return xp.einsum(subscripts, *operands)
    inputs, output = subscripts.replace(" ", "").split("->")
    inputs = inputs.split(",")
    if "." in subscripts or any(len(set(names)) != len(names) for names in inputs):
        raise ValueError(f"einsum {subscripts!r}: this fallback takes no ellipses and no index twice in one operand")
    letters = sorted(set("".join(inputs)), key=lambda c: (c not in output, "".join(inputs).index(c)))
    product = None
    for names, operand in zip(inputs, operands):
        order = sorted(range(len(names)), key=lambda i: letters.index(names[i]))
        term = xp.permute_dims(operand, tuple(order))
        shape, kept = [], [names[i] for i in order]
        for c in letters:
            shape.append(operand.shape[names.index(c)] if c in kept else 1)
        term = xp.reshape(term, tuple(shape))
        product = term if product is None else product * term
    summed = tuple(i for i, c in enumerate(letters) if c not in output)
    out = xp.sum(product, axis=summed) if summed else product
    remaining = [c for c in letters if c in output]
    return xp.permute_dims(out, tuple(remaining.index(c) for c in output))
