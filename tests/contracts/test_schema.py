"""``schema.json``: a valid draft 2020-12 schema that every JSON document conforms to."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest

from gradcheck.core import functions
from gradcheck.io.schema import load_schema, schema_text
from tests.conftest import assert_valid_document, invoke

SEED_X = ("--x", "0.974", "0.312")


def _doc(*args: str) -> dict[str, Any]:
    result = invoke(*args, "--json")  # invoke validates the document against the schema
    assert result.exit_code in (0, 1), result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def _errors(doc: Any) -> list[str]:
    validator = jsonschema.Draft202012Validator(load_schema())
    return [e.message for e in validator.iter_errors(doc)]


def test_schema_is_valid_draft_2020_12() -> None:
    schema = load_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_schema_command_prints_the_shipped_file() -> None:
    result = invoke("schema")
    assert result.exit_code == 0 and result.stderr == ""
    assert result.stdout == schema_text()
    assert json.loads(result.stdout) == load_schema()


def test_the_oracle_methods_come_from_their_records() -> None:
    from gradcheck.core.oracle_methods import METHODS

    schema = load_schema()
    assert schema["$defs"]["oracle_section"]["properties"]["method"] == {"enum": list(METHODS)}
    section = {"$defs": schema["$defs"], "$ref": "#/$defs/oracle_section"}
    validator = jsonschema.Draft202012Validator(section)
    for name in METHODS:
        oracle = _doc("run", *SEED_X, "--oracle", name)["oracle"]
        assert not list(validator.iter_errors(oracle))
    messages = [e.message for e in validator.iter_errors({**oracle, "method": "secant"})]
    assert messages == [f"'secant' is not one of {list(METHODS)}"]


MULTICLASS = ("--x", "0.1", "0.2", "--layers", "2,3,4", "--loss", "cross_entropy", "--target", "3")
MULTICLASS += ("--activation", "tanh")


@pytest.mark.parametrize(
    "args",
    [
        ("run", *SEED_X),
        ("run", *SEED_X, "--no-arrays"),
        ("run", *SEED_X, "--dtype", "float32", "--atol", "0", "--rtol", "0"),  # exit 1
        ("run", *MULTICLASS),
        ("run", "--x", "0.1", "0.2", "--x", "0.3", "0.4", "--loss", "bce_logits"),
        ("explain", *SEED_X),
        ("explain", *MULTICLASS),
    ],
)
def test_documents_validate(args: tuple[str, ...]) -> None:
    doc = _doc(*args)
    assert_valid_document(doc)
    assert ("steps" in doc) == (args[0] == "explain")


def test_nonfinite_values_validate_as_strings(monkeypatch: pytest.MonkeyPatch) -> None:
    broken = dataclasses.replace(
        functions.ACTIVATIONS["sigmoid"], df=lambda z: np.full_like(z, np.nan)
    )
    monkeypatch.setitem(functions.ACTIVATIONS, "sigmoid", broken)
    for command in ("run", "explain"):
        doc = _doc(command, *SEED_X)
        assert doc["exit_code"] == 1
        assert '"NaN"' in json.dumps(doc)


@pytest.mark.slow
def test_diagnosis_and_warnings_are_typed() -> None:
    buggy = str(Path(__file__).resolve().parents[2] / "samples" / "backward_buggy.py")
    doc = _doc("run", *SEED_X, "--impl", f"{buggy}:backward")
    assert doc["exit_code"] == 1 and doc["diagnosis"]
    assert _errors(doc) == []
    doc["diagnosis"] = {"summary": "δ2 lacks ⊙ σ′(z2)"}
    assert _errors(doc) != []
    warned = _doc("run", "--x", "1e300", "1")
    assert warned["warnings"] and _errors(warned) == []
    warned["warnings"] = ["a bare string"]
    assert _errors(warned) != []


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.update(passed="yes"),
        lambda d: d.update(exit_code=2),
        lambda d: d.pop("parameters"),
        lambda d: d["parameters"][0].pop("torch_name"),
        lambda d: d["parameters"][0].update(max_abs_error="big"),
        lambda d: d["parameters"][0].pop("hand"),  # autograd without hand
        lambda d: d["forward"]["loss"].update(worst_index=[-1]),
        lambda d: d["settings"].update(dtype="float16"),
        lambda d: d.update(schema_version=2),
    ],
)
def test_schema_rejects_broken_run_documents(mutate: Any) -> None:
    doc = copy.deepcopy(_doc("run", *SEED_X))
    mutate(doc)
    assert _errors(doc)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.pop("document"),
        lambda d: d.update(steps=[]),
        lambda d: d["steps"][0].update(phase="sideways"),
        lambda d: d["steps"][0].pop("formula"),
        lambda d: d["steps"][6]["check"].pop("passed"),
    ],
)
def test_schema_rejects_broken_explain_documents(mutate: Any) -> None:
    doc = copy.deepcopy(_doc("explain", *SEED_X))
    mutate(doc)
    assert _errors(doc)
