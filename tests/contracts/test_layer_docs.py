"""docs/layers.md states every kind's contract as its record does, and every kind's rates."""

from __future__ import annotations

import pytest

from gradcheck.core.layers import shapes
from gradcheck.core.layers.catalogue import CATALOGUE
from tests.conftest import ROOT

DOC = (ROOT / "docs" / "layers.md").read_text()


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_the_catalogue_table_is_the_records(name: str) -> None:
    kind = CATALOGUE[name]
    row = next(line for line in DOC.splitlines() if line.startswith(f"| `{name}` | `"))
    assert f"`{kind.forward_signature}` → `{kind.returns}`" in row
    if kind.backward_name is not None:
        assert f"`{kind.backward_signature}` → `{kind.backward_returns}`" in row
    dims, _ = shapes.configuration(kind)
    arrays = ", ".join(
        f"{a.name} {shapes.format_shape(shapes.shape_of(a, dims))}" for a in kind.arguments
    )
    assert f"| {arrays} |" in row
    for h in kind.hyper:
        assert f"{h.name}={h.default}" in row
    for probe in kind.probes:
        assert probe.note in row


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_every_kind_has_its_measured_rates(name: str) -> None:
    rows = [line for line in DOC.splitlines() if line.startswith(f"| `{name}` | ") and "%" in line]
    assert len(rows) == 1, name
