"""The JSON documents (``run``, ``explain``, ``sweep``, ``layer``): pure functions of the results,
no rich.

Every document carries ``"document"`` and ``schema_version`` and conforms to the shipped
``io/schema.json``. NaN and ±inf are written as the strings ``"NaN"``, ``"Infinity"`` and
``"-Infinity"``; the same result always gives the same bytes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gradcheck import __version__
from gradcheck.checks.diagnose import Finding
from gradcheck.checks.explain import Explanation, Step
from gradcheck.checks.layer_report import LayerProbe, LayerReport, LayerResult
from gradcheck.checks.oracle import RULE_ASCII as ORACLE_RULE_ASCII
from gradcheck.checks.oracle import OracleCheck
from gradcheck.checks.report import Probe, Report
from gradcheck.checks.sweep import TARGET_RANGE, X_RANGE, SweepReport, median
from gradcheck.core.compare import Comparison
from gradcheck.core.spec import NetSpec
from gradcheck.core.tolerance import NORM_RULE_ASCII, RULE_ASCII, norm_tolerance

SCHEMA_VERSION = 1

# JSON has no NaN or infinity; they are written as these strings (documented in the README).
_NONFINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def number(value: float) -> float | str:
    """A float for JSON: itself when finite (shortest round-trip repr), else a string."""
    if math.isfinite(value):
        return float(value)
    return _NONFINITE[str(float(value))]


def array(values: NDArray[np.generic]) -> Any:
    """A full-precision nested list (a bare number for 0-d arrays)."""
    arr = np.asarray(values)
    if arr.dtype.kind in "iub":
        return arr.tolist()
    arr = arr.astype(np.float64)
    if np.all(np.isfinite(arr)):
        return arr.tolist()
    flat = [number(v) for v in arr.reshape(-1).tolist()]
    if arr.ndim == 0:
        return flat[0]
    return np.array(flat, dtype=object).reshape(arr.shape).tolist()


#: Elements formatted at a time when an array is written in pieces (``iter_dumps``).
BLOCK_ELEMENTS = 1 << 16


class Deferred:
    """An array left as it is in the document dict, formatted block by block when written.

    A nested list of Python floats costs ~32 bytes a number, and the text ~24 more; formatted
    ``BLOCK_ELEMENTS`` at a time, a large document needs no more than one block's worth
    beyond the arrays the report already holds.
    """

    __slots__ = ("values",)

    def __init__(self, values: NDArray[np.generic]) -> None:
        self.values = np.asarray(values)

    def chunks(self) -> Iterator[str]:
        arr = self.values
        if arr.ndim == 0 or arr.size <= BLOCK_ELEMENTS:
            yield _leaf(array(arr))
            return
        rows = max(1, BLOCK_ELEMENTS // max(1, arr[0].size))
        yield "["
        for start in range(0, arr.shape[0], rows):
            # "[a, b]" of each block without its brackets: the pieces join into one list.
            yield (", " if start else "") + _leaf(array(arr[start : start + rows]))[1:-1]
        yield "]"


Encode = Callable[[NDArray[np.generic]], Any]


def comparison_to_dict(
    c: Comparison, *, arrays: bool = True, encode: Encode = array
) -> dict[str, Any]:
    """One comparison record of the JSON document."""
    record: dict[str, Any] = {"name": c.name}
    if c.torch_name is not None:
        record["torch_name"] = c.torch_name
    record["shape"] = list(c.shape)
    if arrays or not c.shape:
        record["autograd"] = encode(c.reference)
        record["hand"] = encode(c.candidate)
    record.update(
        max_abs_error=number(c.max_abs_error),
        max_rel_error=number(c.max_rel_error),
        worst_index=list(c.worst_index),
        error_ratio=number(c.error_ratio),
        n_failed=c.n_failed,
        n_nonfinite=c.n_nonfinite,
        passed=c.passed,
        norm_error=number(c.norm_error),
        n_at_kink=c.n_at_kink,
        n_unjudged=c.n_unjudged,
    )
    if c.norm_tol is not None:
        record.update(
            norm_ratio=number(c.norm_ratio),
            norm_rounding=number(c.rounding),
            norm_passed=c.norm_passed,
        )
    return record


def to_dict(report: Report, *, arrays: bool = True, encode: Encode = array) -> dict[str, Any]:
    """The JSON document as a dict (schema version 1, documented in docs/json.md).

    ``encode`` turns each array into its JSON value: nested lists by default, or ``Deferred``
    to leave the arrays for ``iter_dumps`` to write in pieces.
    """
    s = report.settings
    spec = s.spec
    doc = {
        "document": "run",
        "schema_version": SCHEMA_VERSION,
        "gradcheck_version": __version__,
        "passed": report.passed,
        "exit_code": report.exit_code,
        "settings": {
            "x": encode(s.x),
            "target": encode(s.target),
            "seed": s.seed,
            "weights": s.weights,
            "data": s.data,
            "candidate": s.candidate,
            "dtype": spec.dtype,
            "layers": list(spec.layers),
            "activation": spec.activation,
            "loss": spec.loss,
            "batch_size": s.batch_size,
            "atol": s.tolerance.atol,
            "rtol": s.tolerance.rtol,
            "rule": RULE_ASCII,
            **network_settings(spec),
            "layout": s.layout,
            "batch_axis": s.batch_axis,
            "model": s.model,
            "norm_tol": s.norm_tol,
            "norm_rule": NORM_RULE_ASCII,
            "probes": s.probes,
            "oracle_sample": s.oracle_sample,
        },
        "forward": {
            c.name: comparison_to_dict(c, arrays=arrays, encode=encode) for c in report.forward
        },
        "parameters": [
            comparison_to_dict(c, arrays=arrays, encode=encode) for c in report.parameters
        ],
        "deltas": [comparison_to_dict(c, arrays=arrays, encode=encode) for c in report.deltas],
        "failed": list(report.failed),
        "warnings": warnings_to_list(report),
        "at_kink": dict(report.at_kink),
        "unjudged": dict(report.unjudged),
        "probes": [probe_to_dict(p) for p in report.probes],
        "diagnosis": [finding_to_dict(f) for f in report.diagnosis],
    }
    if report.probe_note is not None:
        doc["probes_note"] = report.probe_note
    if report.oracle is not None:
        add_oracle(doc, report.oracle, arrays=arrays, encode=encode)
    return doc


def probe_to_dict(probe: Probe) -> dict[str, Any]:
    """One probe batch: its rows, verdict, worst quantity, the command that reproduces it and
    (when the user code answered) its comparison records without arrays."""
    record: dict[str, Any] = {
        "name": probe.name,
        "batch_size": probe.size,
        "x": array(probe.x),
        "target": array(probe.target),
        "passed": probe.passed,
        "failed": list(probe.report.failed) if probe.report is not None else [],
        "error": probe.error,
        "command": probe.command,
    }
    worst = probe.worst
    if worst is not None:
        record["worst"] = {
            "name": worst.name,
            "max_abs_error": number(worst.max_abs_error),
            "max_rel_error": number(worst.max_rel_error),
            "error_ratio": number(worst.error_ratio),
            "norm_error": number(worst.norm_error),
        }
    if probe.report is not None:
        r = probe.report
        record.update(
            forward={c.name: comparison_to_dict(c, arrays=False) for c in r.forward},
            parameters=[comparison_to_dict(c, arrays=False) for c in r.parameters],
            deltas=[comparison_to_dict(c, arrays=False) for c in r.deltas],
            diagnosis=[finding_to_dict(f) for f in r.diagnosis],
        )
    return record


def network_settings(spec: NetSpec) -> dict[str, Any]:
    """The settings keys that describe the network beyond --layers/--activation/--loss."""
    return {
        "activations": [a.label for a in spec.activations],
        "output_activation": spec.output_activation,
        "reduction": spec.reduction,
        "loss_scale": spec.loss_scale,
        "l2": None if spec.l2_parameters else spec.l2,
        "l2_parameters": dict(spec.l2_terms),
    }


def warnings_to_list(report: Report) -> list[dict[str, Any]]:
    """The report's warnings as JSON objects (kind, layer, message)."""
    return [{"kind": w.kind, "layer": w.layer, "message": w.message} for w in report.warnings]


def finding_to_dict(finding: Finding) -> dict[str, Any]:
    """One diagnosis entry of the JSON document."""
    record: dict[str, Any] = {
        "kind": finding.kind,
        "layer": finding.layer,
        "parameter": finding.parameter,
        "message": finding.message,
        "test": finding.test,
    }
    if finding.flags:
        record["flags"] = list(finding.flags)
    if finding.bug is not None:
        record["bug"] = finding.bug
    return record


def to_json(report: Report, *, arrays: bool = True) -> str:
    """Exactly one JSON document; same report ⇒ same bytes."""
    return "".join(iter_json(report, arrays=arrays))


def iter_json(report: Report, *, arrays: bool = True) -> Iterator[str]:
    """``to_json`` in pieces, for writing a large document without holding all of it."""
    return iter_dumps(to_dict(report, arrays=arrays, encode=Deferred))


def dumps(doc: Any, indent: int = 0) -> str:
    """JSON with objects indented and arrays of numbers kept on one line, for people and diffs."""
    return "".join(iter_dumps(doc, indent))


def iter_dumps(doc: Any, indent: int = 0) -> Iterator[str]:
    """``dumps`` in pieces; a ``Deferred`` array is formatted block by block."""
    if isinstance(doc, Deferred):
        yield from doc.chunks()
        return
    pad, inner = "  " * indent, "  " * (indent + 1)
    if isinstance(doc, dict) and doc:
        yield "{\n"
        for i, (key, value) in enumerate(doc.items()):
            yield (",\n" if i else "") + f"{inner}{json.dumps(key)}: "
            yield from iter_dumps(value, indent + 1)
        yield "\n" + pad + "}"
    elif isinstance(doc, list) and any(isinstance(v, dict) for v in doc):
        yield "[\n"
        for i, value in enumerate(doc):
            yield (",\n" if i else "") + inner
            yield from iter_dumps(value, indent + 1)
        yield "\n" + pad + "]"
    else:
        yield _leaf(doc)


def _leaf(value: Any) -> str:
    return json.dumps(value, allow_nan=False, separators=(", ", ": "))


def _errors(c: Comparison) -> dict[str, Any]:
    return {
        "max_abs_error": number(c.max_abs_error),
        "max_rel_error": number(c.max_rel_error),
        "worst_index": list(c.worst_index),
        "error_ratio": number(c.error_ratio),
        "n_failed": c.n_failed,
        "passed": c.passed,
    }


def add_oracle(
    doc: dict[str, Any],
    check: OracleCheck,
    *,
    arrays: bool = True,
    encode: Encode = array,
    records: str = "parameters",
) -> None:
    """Append the oracle to a report's JSON dict: per-parameter fields and an ``oracle`` section.

    Full methods: each parameter record gains ``oracle`` (the numerical gradient, a full
    nested list, unless ``arrays`` is false), ``oracle_vs_autograd`` and ``oracle_vs_hand``.
    The ``oracle`` section states method, tolerance, which sides disagree and the verdict;
    for ``directional`` it lists each direction's vᵀ∇L from the oracle and both sides.
    """
    section: dict[str, Any] = {
        "method": check.method,
        "atol": check.tolerance.atol,
        "rtol": check.tolerance.rtol,
        "rule": ORACLE_RULE_ASCII,
        "passed": check.passed,
        "disagreeing": list(check.disagreeing),
        "verdict": check.verdict,
        "checked": check.checked,
        "elements": check.elements,
        "compared": check.compared,
        "sampled": bool(check.samples),
    }
    pairs = list(zip(check.vs_autograd, check.vs_hand, strict=True))
    if not check.full:
        section["directions"] = [
            {
                "name": a.name,
                "oracle": number(float(a.reference)),
                "autograd": number(float(a.candidate)),
                "hand": number(float(h.candidate)),
                "vs_autograd": _errors(a),
                "vs_hand": _errors(h),
            }
            for a, h in pairs
        ]
    else:
        by_name = {r["name"]: r for r in doc[records]}
        for a, h in pairs:
            record = by_name[a.name]
            if arrays:
                record["oracle"] = encode(a.reference)
            if a.name in check.samples:
                # The sampled elements, in the order of ``oracle`` and of the comparisons.
                shape = tuple(record["shape"])
                flat = check.samples[a.name]
                record["oracle_indices"] = np.stack(np.unravel_index(flat, shape), axis=-1).tolist()
            record["oracle_vs_autograd"] = _errors(a)
            record["oracle_vs_hand"] = _errors(h)
            record["oracle_skipped"] = dict(check.skipped).get(a.name, 0)
    doc["oracle"] = section


def step_to_dict(index: int, step: Step, *, encode: Encode = array) -> dict[str, Any]:
    """One step of the JSON document; ``check`` is a run record without the arrays."""
    c = step.check
    return {
        "index": index,
        "phase": step.phase,
        "name": step.name,
        "title": step.title,
        "formula": step.formula,
        "where": step.where,
        "shapes": step.shapes,
        "shape": list(step.shape),
        "hand": encode(step.hand),
        "autograd": encode(c.reference) if c is not None else None,
        "check": comparison_to_dict(c, arrays=False) if c is not None else None,
    }


def explain_to_dict(explanation: Explanation, *, encode: Encode = array) -> dict[str, Any]:
    """The ``explain --json`` document (``"document": "explain"``, see ``schema.json``);
    ``encode`` as for ``to_dict``."""
    report = explanation.report
    return {
        "document": "explain",
        "schema_version": SCHEMA_VERSION,
        "gradcheck_version": __version__,
        "passed": report.passed,
        "exit_code": report.exit_code,
        "settings": to_dict(report, arrays=False)["settings"],
        "steps": [
            step_to_dict(i, s, encode=encode) for i, s in enumerate(explanation.steps, start=1)
        ],
        "failed": list(report.failed),
        "warnings": warnings_to_list(report),
    }


def explain_to_json(explanation: Explanation) -> str:
    """Exactly one JSON document; same explanation ⇒ same bytes."""
    return "".join(iter_explain_json(explanation))


def iter_explain_json(explanation: Explanation) -> Iterator[str]:
    """``explain_to_json`` in pieces: every step carries whole arrays (a weight gradient of
    millions of numbers), written a block at a time as ``iter_json`` does (held as lists, a
    16-million-parameter network takes 2.3× the memory estimate)."""
    return iter_dumps(explain_to_dict(explanation, encode=Deferred))


def sweep_to_dict(report: SweepReport) -> dict[str, Any]:
    """The sweep's JSON document: settings, pass rate, per-quantity errors, the worst case."""
    s = report.settings
    spec = s.spec
    worst = report.worst_case
    settings: dict[str, Any] = {
        "cases": s.cases,
        "seed": s.seed,
        "seeds": [s.seed, s.seed + s.cases - 1],
        "batch_size": s.batch_size,
        "candidate": s.candidate,
        "dtype": spec.dtype,
        "layers": list(spec.layers),
        "activation": spec.activation,
        "loss": spec.loss,
        "x_range": list(X_RANGE),
        "target_range": (
            [0, spec.n_out - 1] if spec.loss_record.takes_classes else list(TARGET_RANGE)
        ),
        "atol": s.tolerance.atol,
        "rtol": s.tolerance.rtol,
        "rule": RULE_ASCII,
        "norm_tol": norm_tolerance(spec.dtype, s.tolerance.rtol),
        "norm_rule": NORM_RULE_ASCII,
        "oracle": s.oracle,
        **network_settings(spec),
    }
    if report.oracle_tolerance is not None:
        settings["oracle_atol"] = report.oracle_tolerance.atol
        settings["oracle_rtol"] = report.oracle_tolerance.rtol
    return {
        "document": "sweep",
        "schema_version": SCHEMA_VERSION,
        "gradcheck_version": __version__,
        "passed": report.passed,
        "exit_code": report.exit_code,
        "settings": settings,
        "n_cases": s.cases,
        "n_passed": report.n_passed,
        "pass_rate": report.n_passed / s.cases,
        "quantities": [
            {
                "name": q.name,
                **({"torch_name": q.torch_name} if q.torch_name else {}),
                "kind": q.kind,
                "max_abs_error": number(float(np.max(q.max_abs))),
                "median_abs_error": number(median(q.max_abs)),
                "worst_case_seed": report.seed_of(int(np.argmax(q.ratio))),
                "max_error_ratio": number(float(np.max(q.ratio))),
                "n_failed_cases": int(np.count_nonzero(~q.passed)),
                "max_norm_ratio": number(float(np.max(q.norm_ratio))),
                "n_at_kink": int(np.sum(q.at_kink)),
                "n_unjudged": int(np.sum(q.unjudged)),
            }
            for q in report.quantities
        ],
        "worst_case": {
            "seed": report.seed_of(worst),
            "error_ratio": number(report.worst_ratio),
            "passed": bool(report.case_passed[worst]),
            "x": array(report.x[worst]),
            "target": array(np.asarray(report.target[worst])),
            "command": report.command(worst),
        },
        "failed_seeds": report.failed_seeds,
        "oracle_skipped": report.oracle_skipped,
        "at_kink": report.at_kink,
        "unjudged": report.unjudged,
    }


def sweep_to_json(report: SweepReport) -> str:
    """Exactly one JSON document; same arguments ⇒ same bytes."""
    return dumps(sweep_to_dict(report))


# ---------------------------------------------------------------------------------------------
# gradcheck layer


def layer_to_dict(
    report: LayerReport, *, arrays: bool = True, encode: Encode = array
) -> dict[str, Any]:
    """The ``layer --json`` document (``"document": "layer"``, see ``schema.json``)."""
    s = report.settings
    doc: dict[str, Any] = {
        "document": "layer",
        "schema_version": SCHEMA_VERSION,
        "gradcheck_version": __version__,
        "passed": report.passed,
        "exit_code": report.exit_code,
        "settings": {
            "kind": s.kind,
            "title": s.title,
            "reference": "oracle" if s.custom else "torch",
            "candidate": s.candidate,
            "dtype": s.dtype,
            "seed": s.seed,
            "shapes": {k: list(v) for k, v in s.shapes.items()},
            "params": {k: _param(v) for k, v in s.params.items()},
            "param_dict": s.param_dict,
            "calls": list(s.calls),
            "values": s.values or "normal",
            "atol": s.tolerance.atol,
            "rtol": s.tolerance.rtol,
            "rule": RULE_ASCII,
            "norm_tol": s.norm_tol,
            "norm_rule": NORM_RULE_ASCII,
            "probes": s.probes,
            "oracle": s.oracle,
        },
        **_layer_result(report.result, arrays=arrays, encode=encode),
        "failed": list(report.failed),
        "warnings": [
            {"kind": w.kind, "layer": w.layer, "message": w.message} for w in report.warnings
        ],
        "at_kink": dict(report.at_kink),
        "unjudged": dict(report.unjudged),
        "probes": [layer_probe_to_dict(p) for p in report.probes],
        "calls": dict(report.calls),
    }
    if report.oracle is not None:
        add_oracle(doc, report.oracle, arrays=arrays, encode=encode, records="gradients")
        doc["oracle"]["evaluations"] = report.oracle_evaluations
    elif s.custom:
        doc["oracle_evaluations"] = report.oracle_evaluations
    return doc


def _param(value: Any) -> Any:
    if isinstance(value, float):
        return number(value)
    return value


def _layer_result(
    result: LayerResult, *, arrays: bool = True, encode: Encode = array
) -> dict[str, Any]:
    return {
        "outputs": [comparison_to_dict(c, arrays=arrays, encode=encode) for c in result.outputs],
        "gradients": [
            comparison_to_dict(c, arrays=arrays, encode=encode) for c in result.gradients
        ],
        "problems": dict(result.problems),
        "diagnosis": [finding_to_dict(f) for f in result.diagnosis],
    }


def layer_probe_to_dict(probe: LayerProbe) -> dict[str, Any]:
    """One probe: its configuration, verdict, the command that reruns it and (when the user's
    code answered) its comparison records without arrays."""
    record: dict[str, Any] = {
        "name": probe.name,
        "note": probe.note,
        "shapes": {k: list(v) for k, v in probe.shapes.items()},
        "params": {k: _param(v) for k, v in probe.params.items()},
        "values": probe.values or "normal",
        "seed": probe.seed,
        "passed": probe.passed,
        "failed": list(probe.result.failed) if probe.result is not None else [],
        "error": probe.error,
        "command": probe.command,
    }
    if probe.result is not None:
        record.update(_layer_result(probe.result, arrays=False))
    return record


def layer_to_json(report: LayerReport, *, arrays: bool = True) -> str:
    """Exactly one JSON document; same report ⇒ same bytes."""
    return "".join(iter_layer_json(report, arrays=arrays))


def iter_layer_json(report: LayerReport, *, arrays: bool = True) -> Iterator[str]:
    return iter_dumps(layer_to_dict(report, arrays=arrays, encode=Deferred))
