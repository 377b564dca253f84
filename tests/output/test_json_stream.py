"""The run and explain documents are written in pieces: the same bytes as when
built whole."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gradcheck.api import check
from gradcheck.output import documents
from gradcheck.output.documents import Deferred, dumps, iter_json, to_dict


@pytest.mark.parametrize("block", [1, 2, 3, 7, 1 << 16])
@pytest.mark.parametrize(
    "values",
    [
        np.arange(20, dtype=np.float64).reshape(5, 4) / 3,
        np.array([1.5, np.nan, -np.inf, np.inf, 2.0, 0.1, -0.0]),
        np.arange(24, dtype=np.int64).reshape(2, 3, 4),
        np.array(3.25),
        np.zeros((0, 3)),
        np.array([[np.nan, 1e-300], [5e-324, -1.7976931348623157e308], [2.0, 3.0]]),
    ],
    ids=["2d", "nonfinite", "3d-int", "scalar", "empty", "extremes"],
)
def test_a_deferred_array_writes_the_same_text_in_any_block_size(
    monkeypatch: pytest.MonkeyPatch, block: int, values: np.ndarray
) -> None:
    monkeypatch.setattr(documents, "BLOCK_ELEMENTS", block)
    whole = dumps({"a": documents.array(values)})
    assert "".join(documents.iter_dumps({"a": Deferred(values)})) == whole
    # …and it reads back as the values (NaN/±inf as the documented strings).
    back = np.array(json.loads(whole)["a"], dtype=object)
    assert back.size == values.size
    if values.size:
        assert back.shape == values.shape


@pytest.mark.parametrize("oracle", [None, "central"])
def test_the_streamed_run_document_equals_the_whole_one(
    monkeypatch: pytest.MonkeyPatch, oracle: str | None
) -> None:
    monkeypatch.setattr(documents, "BLOCK_ELEMENTS", 5)  # every array goes in several blocks
    x = np.random.default_rng(0).uniform(-1, 1, (9, 2))
    report = check(x, np.full((9, 1), 0.5), oracle=oracle)
    pieces = list(iter_json(report))
    assert len(pieces) > 200  # written in pieces, not as one string
    assert "".join(pieces) == dumps(to_dict(report))
    assert json.loads("".join(pieces))["settings"]["x"] == x.tolist()


def test_the_streamed_explain_document_equals_the_whole_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """explain's steps carry whole arrays too (a weight gradient of millions of numbers held
    as lists was 2.3× the memory estimate, found by the 30-minute hostile run)."""
    from gradcheck.checks.explain import explain_check

    monkeypatch.setattr(documents, "BLOCK_ELEMENTS", 5)
    x = np.random.default_rng(1).uniform(-1, 1, (4, 2))
    explanation = explain_check(x, np.full((4, 1), 0.5))
    pieces = list(documents.iter_explain_json(explanation))
    assert len(pieces) > 200
    whole = dumps(documents.explain_to_dict(explanation))
    assert "".join(pieces) == whole == documents.explain_to_json(explanation)
    steps = json.loads(whole)["steps"]
    assert any(np.shape(step["hand"]) == (10, 2) for step in steps)  # W1's gradient, whole


def test_the_memory_estimate_holds_one_block_of_the_document() -> None:
    from gradcheck.core.spec import OUTPUT_BYTES, NetSpec

    assert documents.BLOCK_ELEMENTS * (32 + 24) <= OUTPUT_BYTES
    spec = NetSpec()
    assert spec.working_bytes(0) >= OUTPUT_BYTES  # counted in every estimate
