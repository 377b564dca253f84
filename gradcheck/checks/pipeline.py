"""One check end to end: the problem → torch autograd and a hand side → a ``Report``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from gradcheck.checks import health
from gradcheck.checks.diagnose import Finding, diagnose, make_context
from gradcheck.checks.health import Notice
from gradcheck.checks.problem import Problem, Request, setup
from gradcheck.checks.report import Probe, Report, Settings
from gradcheck.core import replica
from gradcheck.core.answer import Answer, course_factor
from gradcheck.core.bounds import Bounds, TensorBounds, bounds, carried, inner
from gradcheck.core.compare import Comparison, compare
from gradcheck.core.errors import GradcheckError, UserCodeError
from gradcheck.io.usercode import Exchange

if TYPE_CHECKING:
    from gradcheck.checks.oracle import Progress


def replica_side(problem: Problem) -> Answer:
    """The built-in hand derivation (``core/replica.py``)."""
    params = {k: v.copy() for k, v in problem.params.items()}
    # Overflow is reported as a failed check (NaN/inf never pass), not as a numpy warning.
    with np.errstate(all="ignore"):
        return replica.answer(problem.spec, params, problem.x, problem.y)


def notices(problem: Problem, ref: Answer, hand: Answer) -> tuple[Notice, ...]:
    """Warnings that qualify a result: saturated units, zero gradients, NaN/inf forward values."""
    with np.errstate(all="ignore"):
        fwd = replica.forward(problem.spec, problem.params, problem.x, problem.y)
    found = health.saturation(problem.spec, fwd.zs)
    found += health.zero_gradients(ref.grads)
    for side, answer in (("autograd", ref), ("hand", hand)):
        forward = {"prediction": answer.prediction, "loss": answer.loss}
        found += health.nonfinite({k: v for k, v in forward.items() if v is not None}, side)
    return tuple(found)


def evaluate(
    problem: Problem,
    settings: Settings,
    hand: Answer | None = None,
    *,
    progress: Progress | None = None,
) -> Report:
    """Run autograd and the hand side (default: the replica) on ``problem``; compare all.
    ``progress`` hears how far the oracle has got, if there is one."""
    from gradcheck.io.guest import Guest, source_of
    from gradcheck.torch_side import reference

    run = None
    if problem.model is not None:
        run = Guest("--model", settings.model or "model", source=source_of(problem.model))
    ref = reference.autograd(
        problem.spec, problem.params, problem.x, problem.y, problem.model, run=run
    )
    if hand is None:
        hand = replica_side(problem)
    tol = settings.tolerance
    with np.errstate(all="ignore"):
        limits = bounds(problem.spec, problem.params, problem.x, problem.y)
    ntol = settings.norm_tol
    forward = tuple(
        compare(name, ref_value, np.asarray(hand_value), tol, kind="forward", bounds=limits[name])
        for name, ref_value, hand_value in (
            ("prediction", ref.prediction, hand.prediction),
            ("loss", ref.loss, hand.loss),
        )
        if ref_value is not None and hand_value is not None
    )
    parameters = tuple(
        compare(
            p.name,
            ref.grads[p.name],
            hand.grads[p.name],
            tol,
            torch_name=p.torch_name,
            norm_tol=ntol,
            bounds=limits[p.name],
        )
        for p in problem.spec.parameters()
    )
    deltas: tuple[Comparison, ...] = tuple(
        compare(
            name,
            ref.deltas[name],
            hand.deltas[name],
            tol,
            kind="delta",
            norm_tol=ntol,
            bounds=limits[name],
        )
        for name in ref.deltas
        if name in hand.deltas
    )
    deltas += tuple(
        compare(
            name,
            ref.course[name],
            hand.course[name],
            tol,
            kind="course",
            norm_tol=ntol,
            bounds=course_bounds(problem, limits, name),
        )
        for name in ref.course
        if name in hand.course
    )
    oracle_check = None
    if settings.oracle is not None:
        from gradcheck.checks.oracle import judge, oracle_numbers

        numbers = oracle_numbers(
            problem.spec,
            problem.params,
            problem.x,
            problem.y,
            settings.oracle,
            sample=settings.oracle_sample,
            # The sample always holds each parameter's worst hand-vs-autograd element.
            focus={c.name: c.worst_index for c in parameters},
            autograd=ref.grads,
            seed=settings.seed or 0,
            budget=settings.oracle_budget,
            progress=progress,
        )
        loss = float(np.asarray(ref.loss))
        oracle_check = judge(
            numbers, problem.spec, autograd=ref.grads, hand=hand.grads, loss=loss, limits=limits
        )
    findings: tuple[Finding, ...] = ()
    if not all(c.passed for c in forward + parameters + deltas):
        # Overflowing inputs are a reported failure, not a numpy warning on stderr.
        with np.errstate(all="ignore"):
            context = make_context(problem.spec, problem.params, problem.x, problem.y, ref.deltas)
            findings = diagnose(forward, parameters, deltas, context)
    found = notices(problem, ref, hand)
    found += tuple(health.tiny_gradients(parameters + deltas, problem.spec.dtype))
    found += tuple(health.loose_bounds(parameters, problem.spec.dtype))
    if oracle_check is not None:
        found += tuple(Notice("oracle", message) for message in oracle_check.warnings)
    return Report(
        settings, forward, parameters, deltas, found, diagnosis=findings, oracle=oracle_check
    )


def course_bounds(problem: Problem, limits: Bounds, name: str) -> TensorBounds | None:
    """Where a correct course dZ_l or dA_l lies: δ_l's bounds, or δ_(l+1)'s through W_(l+1)
    (∂L/∂a_l = δ_(l+1)·W_(l+1), one more product rounded), times ``course_factor``; for ŷ of a
    linear output δL's own. None where neither holds."""
    spec = problem.spec
    factor = course_factor(spec.reduction, int(problem.x.shape[0]))
    layer = int(name[2:])
    if name.startswith("dZ") or layer == spec.depth:
        if name.startswith("dA") and not spec.linear_output:
            return None
        d = limits[f"delta{layer}"]
        return TensorBounds(factor * d.center, factor * d.radius, factor * d.rounding)
    d = limits[f"delta{layer + 1}"]
    w = np.asarray(problem.params[f"W{layer + 1}"], dtype=np.float64)
    aw = np.abs(w)
    u = float(np.finfo(np.dtype(spec.dtype)).eps)
    size = np.abs(d.center) + d.radius
    rounding = carried(d.rounding, w) + inner(spec.layers[layer + 1], u) * (size @ aw)
    return TensorBounds(factor * (d.center @ w), factor * (d.radius @ aw), factor * rounding)


def user_side(
    problem: Problem,
    *,
    backward: Callable[..., object] | None = None,
    impl: str | None = None,
    grads: str | Mapping[str, object] | None = None,
    exchange: Exchange | None = None,
    loaded: dict[str, Callable[..., object]] | None = None,
) -> tuple[str, Answer] | None:
    """The user's hand side (a callable, ``--impl FILE.py:FUNC``, ``--grads FILE`` or a dict
    of gradients) and its label for ``Settings.candidate``; ``None`` when none is given (the
    built-in replica). Arrays are exchanged as ``exchange`` says (W's layout, the batch axis).
    ``loaded`` keeps the ``--impl`` function once loaded, so that probe batches call the same
    function (a pipe is read only once)."""
    from gradcheck.io import gradsfile, usercode

    one_candidate(backward, impl, grads)
    ex = exchange or Exchange()
    orient = {"layout": ex.layout, "batch_axis": ex.batch_axis}
    batch = int(problem.x.shape[0])
    if backward is not None:
        label = f"python:{usercode.describe_function(backward)}"
        found = usercode.call_backward(
            backward,
            problem.spec,
            problem.params,
            problem.x,
            problem.y,
            option="--backward",  # API-only: its messages read "backward: …"
            **orient,
        )
    elif impl is not None:
        if loaded is not None and impl in loaded:
            fn = loaded[impl]
        else:
            fn = usercode.load_backward(impl)
            if loaded is not None:
                loaded[impl] = fn
        label = f"impl:{impl}"
        found = usercode.call_backward(
            fn, problem.spec, problem.params, problem.x, problem.y, label=impl, **orient
        )
    elif isinstance(grads, Mapping):
        label = "python:grads"
        found = usercode.validate(
            _arrays(grads), problem.spec, batch=batch, option="--grads", what="grads", **orient
        )
    elif grads is not None:
        label = f"grads:{grads}"
        found = gradsfile.load_grads(grads, problem.spec, batch=batch, **orient)
    else:
        return None
    return label, found


def _arrays(grads: Mapping[str, object]) -> dict[str, object]:
    """Tensors (with or without grad) as numpy arrays; anything else left for validation."""
    out: dict[str, object] = {}
    for key, value in grads.items():
        if hasattr(value, "detach"):
            try:
                value = value.detach().cpu().numpy()
            except Exception as exc:  # a meta tensor has no values; a subclass may refuse
                raise GradcheckError(
                    f"--grads: {key}: cannot read the tensor ({type(exc).__name__}: "
                    f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''})"
                ) from None
        out[key] = value
    return out


def one_candidate(
    backward: Callable[..., object] | None,
    impl: str | None,
    grads: str | Mapping[str, object] | None,
) -> None:
    """At most one user hand side: ``backward``, ``--impl`` or ``--grads``."""
    given = [name for name, v in (("--impl", impl), ("--grads", grads)) if v is not None]
    if backward is not None:
        given.insert(0, "--backward")
    if len(given) > 1:
        raise GradcheckError(f"{given[0]}: give only one of {' and '.join(given)}")


def run_check(
    request: Request,
    *,
    backward: Callable[..., object] | None = None,
    impl: str | None = None,
    grads: str | Mapping[str, object] | None = None,
    progress: Progress | None = None,
) -> Report:
    """The check ``request`` asks for, with the hand side given (default: the replica);
    ``progress`` hears how far the oracle has got.

    The whole check is one hosting span (``io/guest.py``): whatever the user's code prints
    goes to stderr, torch's global state is gradcheck's, and what the user's code changed is
    restored and reported in the warnings."""
    from gradcheck.io import guest

    with guest.hosting() as notices:
        report = _run_check(request, backward=backward, impl=impl, grads=grads, progress=progress)
        return with_notices(report, notices)


def with_notices(report: Report, notices: list[str]) -> Report:
    """``report`` with the hosting span's notices among its warnings (kind ``user_code``)."""
    if not notices:
        return report
    found = tuple(Notice("user_code", message) for message in notices)
    return replace(report, warnings=report.warnings + found)


def _run_check(
    request: Request,
    *,
    backward: Callable[..., object] | None,
    impl: str | None,
    grads: str | Mapping[str, object] | None,
    progress: Progress | None,
) -> Report:
    one_candidate(backward, impl, grads)
    from gradcheck.checks import probes as probing

    n_probes = probing.validate_count(request.probes)
    problem, settings = setup(request)
    exchange = Exchange(request.layout, request.batch_axis)
    loaded: dict[str, Callable[..., object]] = {}

    def hand_for(other: Exchange) -> Answer | None:
        """The user's answer exchanged as ``other``; None if it does not fit."""
        try:
            found = user_side(
                problem, backward=backward, impl=impl, grads=grads, exchange=other, loaded=loaded
            )
        except GradcheckError:
            return None
        return found[1] if found is not None else None

    try:
        user = user_side(
            problem, backward=backward, impl=impl, grads=grads, exchange=exchange, loaded=loaded
        )
    except GradcheckError as err:
        raise with_exchange_hint(err, exchange, hand_for) from None
    if user is None:
        return evaluate(problem, settings, progress=progress)
    candidate, hand = user
    probed = n_probes if backward is not None or impl is not None else 0
    settings = replace(settings, candidate=candidate, probes=probed)
    report = evaluate(problem, settings, hand, progress=progress)
    report = with_convention(report, problem, hand, exchange, hand_for)
    if grads is not None:
        if n_probes:
            note = (
                "--grads holds gradients for the given batch only, so no probe batches were "
                "checked; give your backward as --impl FILE.py:FUNC to also check batches of "
                f"{', '.join(str(k + 1) for k in range(1, n_probes + 1))} rows"
            )
            report = replace(report, probe_note=note)
        return report
    found = tuple(
        run_probe(request, problem, settings, k, backward=backward, impl=impl, loaded=loaded)
        for k in range(1, probed + 1)
    )
    report = replace(report, probes=found)
    failing = [p for p in found if p.report is not None and not p.passed]
    if all(c.passed for c in report.comparisons) and failing:
        # The given batch passed, so its diagnosis is empty; the largest failing probe is
        # where a batch-reduction bug shows most plainly (×3 is the batch size, ×2 is also 2).
        shown = failing[-1]
        assert shown.report is not None
        prefix = f"{shown.name} (batch {shown.size}): "
        report = replace(
            report,
            diagnosis=tuple(replace(f, message=prefix + f.message) for f in shown.report.diagnosis),
        )
    return report


def with_exchange_hint(
    err: GradcheckError, exchange: Exchange, hand_for: Callable[[Exchange], Answer | None]
) -> GradcheckError:
    """``err`` (the user's code raised, or its answer did not fit) with the options under which
    it runs and fits, when another layout or batch axis does: transposed arrays are the usual
    cause of a shape error."""
    other = next((e for e in exchange.others() if hand_for(e) is not None), None)
    if other is None:
        return err
    changed = " ".join(exchange.changes_to(other))
    if other.batch_axis != exchange.batch_axis:
        to = "columns" if other.batch_axis == "last" else "rows"
        hint = (
            f"; your arrays look transposed: examples as {to}? use {changed} (with it, your "
            "code runs and its shapes fit)"
        )
    else:
        hint = f"; with {changed} it runs and its shapes fit: add {changed}"
    if isinstance(err, UserCodeError):
        return UserCodeError(err.cli_message + hint, err.traceback_text)
    return GradcheckError(err.cli_message + hint, field=err.field)


def with_convention(
    report: Report,
    problem: Problem,
    hand: Answer,
    exchange: Exchange,
    hand_for: Callable[[Exchange], Answer | None],
) -> Report:
    """``report`` with a convention finding added when the failing ``hand`` is right for a
    network that differs by a convention (``checks/conventions.py``)."""
    if report.passed:
        return report
    from gradcheck.checks.conventions import RESTATED_KINDS, find_convention

    found = find_convention(problem, hand, exchange, report.settings.tolerance, hand_for)
    if found is None:
        return report
    # The derivation is right for a network that differs by a convention. A global scale or
    # an L2 term the diagnosis already named (a factor 2, a sum for a mean, λ/2) is the same
    # fact seen as a bug: both are kept. Otherwise its hypotheses about this network would
    # mislead, and the convention replaces them.
    restated = {f.kind for f in report.diagnosis} & set(RESTATED_KINDS)
    kept = report.diagnosis if restated else ()
    return replace(report, diagnosis=(*kept, found))


def run_probe(
    request: Request,
    problem: Problem,
    settings: Settings,
    index: int,
    *,
    backward: Callable[..., object] | None,
    impl: str | None,
    loaded: dict[str, Callable[..., object]] | None = None,
) -> Probe:
    """The user's backward on probe batch ``index`` (``checks/probes.py``), fully compared.

    The user code raising or returning wrong shapes on a batch it was not given is a failed
    probe (its message kept), not an error of the whole check: that is what a probe is for.
    """
    from gradcheck.checks import probes as probing

    x, y = probing.draw(settings, index)
    command = probing.command(request, probing.impl_argument(impl, backward), x, y)
    small = probing.probe_problem(problem, x, y)
    probe_settings = replace(settings, x=x, target=y, probes=0)
    exchange = Exchange(request.layout, request.batch_axis)

    def hand_for(other: Exchange) -> Answer | None:
        try:
            found = user_side(small, backward=backward, impl=impl, exchange=other, loaded=loaded)
        except GradcheckError:
            return None
        return found[1] if found is not None else None

    try:
        user = user_side(small, backward=backward, impl=impl, exchange=exchange, loaded=loaded)
    except GradcheckError as err:
        # in the words of whoever called: backward= is the API's, --impl the command line's
        text = (str(err) if backward is not None else err.cli_message).strip()
        message = text.splitlines()[0] if text else ""
        return Probe(index, x, y, None, command, error=message or type(err).__name__)
    assert user is not None
    report = evaluate(small, probe_settings, user[1])
    report = with_convention(report, small, user[1], exchange, hand_for)
    return Probe(index, x, y, report, command)
