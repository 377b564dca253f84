"""A ``Report`` as JUnit XML: one testcase per forward value, parameter and δ, and per probe.

The layout is the common denominator that CI systems parse (Jenkins, GitLab, GitHub
actions that publish test results, pytest's own ``--junitxml``): ``<testsuites>`` with one
``<testsuite>``, a ``<testcase>`` per comparison, and a ``<failure>`` carrying the numbers.
No timestamps or timings, so the same check gives the same bytes.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np

from gradcheck.checks.layer_report import LayerProbe, LayerReport
from gradcheck.checks.report import Probe, Report
from gradcheck.core.compare import Comparison
from gradcheck.core.errors import printable
from gradcheck.core.tolerance import RULE_ASCII

_CLASSNAMES = {
    "forward": "gradcheck.forward",
    "parameter": "gradcheck.parameters",
    "delta": "gradcheck.deltas",
    "course": "gradcheck.deltas",
    "gradient": "gradcheck.gradients",
}


def failure_message(c: Comparison) -> str:
    """One line with every number needed to judge the failure."""
    tol = c.tolerance
    where = f" at {list(c.worst_index)}" if c.worst_index else ""
    ref = float(np.asarray(c.reference, dtype=np.float64)[c.worst_index])
    cand = float(np.asarray(c.candidate, dtype=np.float64)[c.worst_index])
    message = (
        f"{c.name}: max_abs_error={c.max_abs_error:.6g} > tolerance "
        f"(atol={tol.atol:g}, rtol={tol.rtol:g}, rounding bound 4E; {c.error_ratio:.3g}x){where}: "
        f"autograd={ref!r} hand={cand!r}; {c.n_failed} of {c.reference.size} elements out"
    )
    if c.n_nonfinite:
        message += f", {c.n_nonfinite} NaN/inf"
    return message


def _testcase(c: Comparison) -> ET.Element:
    name = c.name if c.torch_name is None else f"{c.name} ({c.torch_name})"
    case = ET.Element("testcase", classname=_CLASSNAMES.get(c.kind, "gradcheck"), name=name)
    if not c.passed:
        message = failure_message(c)
        failure = ET.SubElement(case, "failure", message=message, type="OutOfTolerance")
        failure.text = (
            f"{message}\nrule: {RULE_ASCII}\nmax_rel_error={c.max_rel_error:.6g} "
            f"shape={list(c.shape)}"
        )
    return case


def _probe_testcase(probe: Probe) -> ET.Element:
    """A probe batch as one testcase; a failure names what failed and how to reproduce it."""
    case = ET.Element(
        "testcase", classname="gradcheck.probes", name=f"{probe.name} (batch {probe.size})"
    )
    if probe.passed:
        return case
    if probe.report is None:
        message = (
            f"{probe.name}: your code gave no answer on a batch of {probe.size}: {probe.error}"
        )
    else:
        failed = ", ".join(probe.report.failed)
        message = f"{probe.name} (batch {probe.size}): out of tolerance: {failed}"
        worst = probe.worst
        if worst is not None:
            message += f"; worst: {failure_message(worst)}"
    failure = ET.SubElement(case, "failure", message=printable(message), type="OutOfTolerance")
    failure.text = f"{printable(message)}\nreproduce: {printable(probe.command)}"
    return case


def to_junit(report: Report) -> bytes:
    """The JUnit XML document (UTF-8, with an XML declaration)."""
    s = report.settings
    cases = report.comparisons
    counts = {
        "tests": str(len(cases) + len(report.probes)),
        "failures": str(sum(not c.passed for c in cases) + len(report.failed_probes)),
        "errors": "0",
        "skipped": "0",
    }
    root = ET.Element("testsuites", {"name": "gradcheck", **counts})
    suite = ET.SubElement(root, "testsuite", {"name": f"gradcheck {s.spec.describe()}", **counts})
    properties = ET.SubElement(suite, "properties")
    for key, value in (
        ("layers", ",".join(map(str, s.spec.layers))),
        ("activation", s.spec.activation),
        ("loss", s.spec.loss),
        ("dtype", s.spec.dtype),
        ("weights", s.weights or f"seed {s.seed}"),
        ("candidate", s.candidate),
        ("atol", repr(s.tolerance.atol)),
        ("rtol", repr(s.tolerance.rtol)),
        ("rule", RULE_ASCII),
    ):
        ET.SubElement(properties, "property", name=key, value=printable(value))
    for c in cases:
        suite.append(_testcase(c))
    for probe in report.probes:
        suite.append(_probe_testcase(probe))
    ET.indent(root)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document + b"\n"


def layer_to_junit(report: LayerReport) -> bytes:
    """A layer check as JUnit XML: a testcase per output and gradient (a problem, such as a
    returned shape, is its failure), per probe, and per side against the oracle."""
    s = report.settings
    cases: list[ET.Element] = []
    for c in report.comparisons:
        case = _testcase(c)
        if c.passed and c.name in report.problems:
            text = printable(report.problems[c.name])
            failure = ET.SubElement(case, "failure", message=f"{c.name}: {text}", type="Problem")
            failure.text = text
        cases.append(case)
    compared = {c.name for c in report.comparisons}
    for name, text in report.problems.items():
        if name not in compared:
            case = ET.Element("testcase", classname="gradcheck.gradients", name=name)
            failure = ET.SubElement(
                case, "failure", message=f"{name}: {printable(text)}", type="Problem"
            )
            failure.text = printable(text)
            cases.append(case)
    if report.oracle is not None:
        for side, comparisons in (
            ("autograd", report.oracle.vs_autograd),
            ("hand", report.oracle.vs_hand),
        ):
            for c in comparisons:
                case = ET.Element(
                    "testcase",
                    classname=f"gradcheck.oracle.{side}",
                    name=f"{c.name} (oracle vs {side})",
                )
                if not c.passed:
                    message = failure_message(c)
                    ET.SubElement(
                        case, "failure", message=message, type="OutOfTolerance"
                    ).text = message
                cases.append(case)
    cases += [_layer_probe_testcase(p) for p in report.probes]
    failures = sum(1 for case in cases if case.find("failure") is not None)
    counts = {"tests": str(len(cases)), "failures": str(failures), "errors": "0", "skipped": "0"}
    root = ET.Element("testsuites", {"name": "gradcheck", **counts})
    suite = ET.SubElement(root, "testsuite", {"name": f"gradcheck layer {s.kind}", **counts})
    properties = ET.SubElement(suite, "properties")
    for key, value in (
        ("kind", s.kind),
        ("shapes", "; ".join(f"{k}={'x'.join(map(str, v))}" for k, v in s.shapes.items())),
        ("params", "; ".join(f"{k}={v}" for k, v in s.params.items())),
        ("dtype", s.dtype),
        ("seed", str(s.seed)),
        ("candidate", s.candidate),
        ("atol", repr(s.tolerance.atol)),
        ("rtol", repr(s.tolerance.rtol)),
        ("rule", RULE_ASCII),
    ):
        ET.SubElement(properties, "property", name=key, value=printable(value))
    for case in cases:
        suite.append(case)
    ET.indent(root)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document + b"\n"


def _layer_probe_testcase(probe: LayerProbe) -> ET.Element:
    case = ET.Element("testcase", classname="gradcheck.probes", name=f"{probe.name} ({probe.note})")
    if probe.passed:
        return case
    if probe.result is None:
        message = f"{probe.name}: your code gave no answer: {probe.error}"
    else:
        message = f"{probe.name} ({probe.note}): out of tolerance: {', '.join(probe.result.failed)}"
    failure = ET.SubElement(case, "failure", message=printable(message), type="OutOfTolerance")
    failure.text = f"{printable(message)}\nreproduce: {printable(probe.command)}"
    return case
