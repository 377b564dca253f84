"""Sparsity patterns the oracle groups perturbations by (``kind.Structure``), by shape of layer.

An argument's element reaches some output elements; two elements whose reaches never meet can
be perturbed in the same forward pass (Curtis, Powell and Reid, *On the estimation of sparse
Jacobian matrices*, 1974), and each output's change is credited to the one that reached it.
The patterns here are the common ones: elementwise, whole rows (an element reaches every output
of its own sample), whole columns (every sample's output at its feature), and a parameter
reaching every sample at its output unit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from gradcheck.core.layers.kind import Case, Structure

Array = NDArray[np.float64]
Maps = Mapping[str, Array]


def summed(maps: Maps) -> Array:
    """The outputs' maps added up (the LSTM's next_h and next_c reach the same elements)."""
    values = list(maps.values())
    out = np.asarray(values[0], dtype=np.float64)
    for v in values[1:]:
        out = out + v
    return out


def flat_index(shape: tuple[int, ...], axes: Sequence[int]) -> NDArray[np.intp]:
    """Each element's flat position over ``axes`` (its color when those axes must differ)."""
    grids = np.indices(shape, sparse=True)
    color = np.zeros(shape, dtype=np.intp)
    for axis in axes:
        color = color * shape[axis] + np.broadcast_to(grids[axis], shape)
    return color


def elementwise() -> Structure:
    """Each element reaches its own output element only: one color."""
    return Structure(
        colors=lambda shape, case: np.zeros(shape, dtype=np.intp),
        gather=lambda maps, case: summed(maps),
    )


def rows(arg: str, lead: int = 1) -> Structure:
    """An element of sample (the first ``lead`` axes) reaches every output of that sample: the
    colors are the positions within a sample."""

    def colors(shape: tuple[int, ...], case: Case) -> NDArray[np.intp]:
        return flat_index(shape, range(lead, len(shape)))

    def gather(maps: Maps, case: Case) -> Array:
        m = summed(maps)
        per = m.reshape(*m.shape[:lead], -1).sum(axis=-1) if m.ndim > lead else m
        shape = np.shape(case.inputs[arg])
        return np.broadcast_to(per.reshape(*per.shape, *([1] * (len(shape) - lead))), shape)

    return Structure(colors, gather)


def along(
    arg: str,
    axis_of: Callable[[tuple[int, ...]], tuple[int, ...]],
    reach: Callable[[Array, Case], Array],
) -> Structure:
    """Elements that differ in ``axis_of(shape)`` may meet; ``reach`` gives each element its
    sum over the outputs it reaches (broadcast to the argument's shape)."""

    def colors(shape: tuple[int, ...], case: Case) -> NDArray[np.intp]:
        return flat_index(shape, axis_of(shape))

    def gather(maps: Maps, case: Case) -> Array:
        return np.broadcast_to(reach(summed(maps), case), np.shape(case.inputs[arg]))

    return Structure(colors, gather)


def units(arg: str) -> Structure:
    """A weight ``(…, M)`` (or a bias ``(M,)``) whose element at unit m reaches every sample's
    output at unit m (the last axis of the outputs): elements at the same unit must differ in
    color, so the colors are the positions before the unit axis."""

    def colors(shape: tuple[int, ...], case: Case) -> NDArray[np.intp]:
        return flat_index(shape, range(len(shape) - 1))

    def gather(maps: Maps, case: Case) -> Array:
        m = summed(maps)
        per_unit = m.reshape(-1, m.shape[-1]).sum(axis=0)
        return np.broadcast_to(per_unit, np.shape(case.inputs[arg]))

    return Structure(colors, gather)
