"""The catalogue: every layer kind by name, in the order the docs list them."""

from __future__ import annotations

from gradcheck.core.errors import GradcheckError
from gradcheck.core.layers import dense, elementwise, losses, norms, recurrent, spatial
from gradcheck.core.layers.kind import LayerKind

#: ``gradcheck layer custom``: any layer, judged against the numerical oracle alone.
CUSTOM = "custom"

CATALOGUE: dict[str, LayerKind] = {
    k.name: k
    for k in (
        dense.AFFINE,
        *elementwise.ACTIVATION_KINDS,
        spatial.CONV,
        spatial.MAX_POOL,
        spatial.AVG_POOL,
        norms.BATCHNORM,
        norms.SPATIAL_BATCHNORM,
        norms.LAYERNORM,
        norms.GROUPNORM,
        elementwise.DROPOUT,
        losses.SOFTMAX_LOSS,
        losses.SVM_LOSS,
        recurrent.RNN_STEP,
        recurrent.LSTM_STEP,
        dense.WORD_EMBEDDING,
        dense.TEMPORAL_AFFINE,
        losses.TEMPORAL_SOFTMAX_LOSS,
    )
}

#: What ``gradcheck layer KIND`` takes: the catalogue and ``custom``.
KIND_NAMES: tuple[str, ...] = (*CATALOGUE, CUSTOM)


def kind_named(name: str) -> LayerKind:
    """The record of ``name`` (a catalogue kind), or a ``GradcheckError`` listing them."""
    found = CATALOGUE.get(name)
    if found is None:
        raise GradcheckError(
            f"KIND: unknown layer kind {name!r}; choose from {', '.join(KIND_NAMES)}",
            field="kind",
        )
    return found
