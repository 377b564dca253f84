"""`--junit FILE`: a JUnit XML report that CI parsers read, written atomically."""

from __future__ import annotations

import dataclasses
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from gradcheck.core import functions
from tests.conftest import assert_usage_error, invoke

SEED_X = ("--x", "0.974", "0.312")
CASES = [
    ("gradcheck.forward", "prediction"),
    ("gradcheck.forward", "loss"),
    ("gradcheck.parameters", "W1 (dense.0.weight)"),
    ("gradcheck.parameters", "b1 (dense.0.bias)"),
    ("gradcheck.parameters", "W2 (dense.2.weight)"),
    ("gradcheck.parameters", "b2 (dense.2.bias)"),
    ("gradcheck.parameters", "W3 (dense.4.weight)"),
    ("gradcheck.parameters", "b3 (dense.4.bias)"),
    ("gradcheck.deltas", "delta1"),
    ("gradcheck.deltas", "delta2"),
    ("gradcheck.deltas", "delta3"),
]


def _parse(path: Path) -> ET.Element:
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert len(suites) == 1
    return root


def test_passing_check_writes_one_testcase_per_quantity(tmp_path: Path) -> None:
    report = tmp_path / "report.xml"
    result = invoke("run", *SEED_X, "--junit", str(report))
    assert result.exit_code == 0 and "PASSED" in result.stdout
    root = _parse(report)
    suite = root.find("testsuite")
    assert suite is not None
    for element in (root, suite):
        assert (element.get("tests"), element.get("failures"), element.get("errors")) == (
            "11",
            "0",
            "0",
        )
    cases = suite.findall("testcase")
    assert [(c.get("classname"), c.get("name")) for c in cases] == CASES
    assert suite.findall(".//failure") == [] and suite.findall(".//error") == []
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["atol"] == "0.0" and props["dtype"] == "float64" and props["weights"] == "seed 0"
    assert report.read_bytes().startswith(b"<?xml version='1.0' encoding='utf-8'?>")


def test_failing_check_carries_the_numbers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = dataclasses.replace(functions.ACTIVATIONS["sigmoid"], df=np.ones_like)
    monkeypatch.setitem(functions.ACTIVATIONS, "sigmoid", broken)
    report = tmp_path / "report.xml"
    result = invoke("run", *SEED_X, "--junit", str(report), "--quiet")
    assert result.exit_code == 1 and result.stdout == ""
    root = _parse(report)
    suite = root.find("testsuite")
    assert suite is not None
    assert (root.get("tests"), root.get("failures")) == ("11", "6")
    assert (suite.get("tests"), suite.get("failures")) == ("11", "6")
    failed = [c.get("name") for c in suite.findall("testcase") if c.find("failure") is not None]
    assert failed == [
        "W1 (dense.0.weight)",
        "b1 (dense.0.bias)",
        "W2 (dense.2.weight)",
        "b2 (dense.2.bias)",
        "delta1",
        "delta2",
    ]
    doc = json.loads(invoke("run", *SEED_X, "--json").stdout)
    w2 = next(p for p in doc["parameters"] if p["name"] == "W2")
    i, j = w2["worst_index"]
    case = next(c for c in suite.findall("testcase") if c.get("name") == "W2 (dense.2.weight)")
    failure = case.find("failure")
    assert failure is not None and failure.get("type") == "OutOfTolerance"
    message = failure.get("message") or ""
    assert message.startswith(f"W2: max_abs_error={w2['max_abs_error']:.6g} > tolerance")
    assert "atol=0, rtol=1e-07, rounding bound 4E" in message
    assert f"at [{i}, {j}]: autograd={w2['autograd'][i][j]!r} hand={w2['hand'][i][j]!r}" in message
    assert "100 of 100 elements out" in message
    assert "rule: |hand - autograd| <= atol + rtol*|autograd|" in (failure.text or "")


def test_same_check_same_bytes_and_replaces_atomically(tmp_path: Path) -> None:
    report = tmp_path / "report.xml"
    report.write_text("old")
    invoke("run", *SEED_X, "--junit", str(report))
    first = report.read_bytes()
    invoke("run", *SEED_X, "--junit", str(report))
    assert report.read_bytes() == first and first != b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.xml"]


@pytest.mark.parametrize("where", ["missing_dir", "directory"])
def test_unwritable_junit_path_exits_2(tmp_path: Path, where: str) -> None:
    path = tmp_path / "missing" / "r.xml" if where == "missing_dir" else tmp_path
    assert_usage_error(invoke("run", *SEED_X, "--junit", str(path)), "--junit: ", str(path))
    assert not (tmp_path / "missing").exists()


def test_failed_write_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    def refuse(src: str, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    target = tmp_path / "r.xml"
    result = invoke("run", *SEED_X, "--junit", str(target))
    assert_usage_error(result, f"--junit: {target}: cannot write (No space left on device)")
    assert list(tmp_path.iterdir()) == []
