"""``gradcheck layer custom``: a layer outside the catalogue, known only by its inputs' names.

Its record has no numerics of its own: the user's forward is the only forward there is, so the
oracle differentiates it (one element at a time: its structure is unknown) and judges the
user's backward against that alone.
"""

from __future__ import annotations

from typing import Any

from gradcheck.core.errors import GradcheckError
from gradcheck.core.layers.kind import Argument, LayerKind, Setup


def _none(*args: Any) -> Any:
    raise GradcheckError("a custom layer has no reference: its oracle runs your own forward")


def custom_kind(names: tuple[str, ...], with_params: bool) -> LayerKind:
    """The record of a custom layer whose forward takes ``names`` (and a dict of parameters)."""
    return LayerKind(
        name="custom",
        title="your own layer, judged against the numerical oracle alone",
        family="custom",
        forward_name="FORWARD",
        backward_name="BACKWARD",
        arguments=tuple(Argument(n, (f"{n}_shape*",)) for n in names),
        outputs=("out",),
        hyper=(),
        param_dict="params" if with_params else None,
        default=Setup({}),
        probes=(),
        forward=_none,
        backward=_none,
        output_shapes=lambda dims, p: {},
        structure={},
    )
