"""Where the bug most likely is: from the failed comparisons to findings a person can act on.

Backprop errors flow from the output toward the input (δ_{l−1} is computed from δ_l), so the
failing layer closest to the output is where to look first. On top of that location, known bug
shapes are recognised from the numbers. A shape is claimed only when the hand values satisfy the
shape's formula under the check's own pass rule, ``|hand − formula| ≤ atol + rtol·|formula| +
4E`` elementwise with the check's atol/rtol and the rounding bound E of the tensor; each
``Finding.test`` says which formula was tested. Nothing is claimed from shapes or signs alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from gradcheck.core import replica
from gradcheck.core.bounds import TensorBounds
from gradcheck.core.compare import Comparison, compare
from gradcheck.core.functions import ACTIVATIONS
from gradcheck.core.spec import NetSpec
from gradcheck.core.tolerance import NORM_TOLERANCES, Tolerance

Array = NDArray[np.floating]

#: Stable machine-readable ids of ``Finding.kind``.
KINDS = (
    "nonfinite",
    "nonfinite_autograd",
    "forward_mismatch",
    "layer",
    "rounding_level",
    "float32_rounding",
    "sign_flipped",
    "scale_factor_2",
    "batch_sum_vs_mean",
    "scale_factor",
    "transposed",
    "bias_from_other_layer",
    "missing_activation_derivative",
    "derivative_at_activation",
    "derivative_formula_at_pre_activation",
    "wrong_activation_derivative",
    "weight_not_transposed_in_backprop",
    "pre_activation_in_weight_gradient",
    "l2_missing",
    "l2_factor",
    "l2_on_bias",
    "l2_wrong_layers",
    "l2_undeclared",
    "l2_in_loss",
    "convention",
    "weights_or_inputs_differ",
    "classic_bug",
    "returned_shape",
    "returned_in_wrong_place",
    "zeros",
)


@dataclass(frozen=True)
class Finding:
    """One statement about where the bug is or what it looks like."""

    kind: str  # one of KINDS
    layer: int | None  # the layer the bug is placed in (L = the loss gradient's layer)
    parameter: str | None  # "W2", "b1", "delta2"; None for a whole-network finding
    message: str  # for people
    test: str = ""  # the formula and tolerance that established it ("" for the location)
    #: For a ``convention`` finding: the command-line flags under which every check passes.
    flags: tuple[str, ...] = ()
    #: For a ``classic_bug`` finding: the bug's id in its layer kind's record.
    bug: str | None = None


@dataclass(frozen=True)
class Context:
    """The expected side's internals, from which bug hypotheses are recomputed (float64)."""

    spec: NetSpec
    params: Mapping[str, Array]  # W1, b1, …
    zs: tuple[Array, ...]  # z1 … zL, (B, n_l)
    activations: tuple[Array, ...]  # a0 = x, a1 … a_{L−1}
    expected_deltas: Mapping[str, Array]  # autograd's δ_l = ∂L/∂z_l, (B, n_l)

    @property
    def batch_size(self) -> int:
        return int(self.zs[0].shape[0])


def make_context(
    spec: NetSpec,
    params: Mapping[str, Array],
    x: Array,
    y: NDArray[np.generic],
    expected_deltas: Mapping[str, Array],
) -> Context:
    """Run the (tested) replica forward in float64 to get every z and a."""
    p64 = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    y64 = np.asarray(y) if np.asarray(y).dtype.kind == "i" else np.asarray(y, dtype=np.float64)
    fwd = replica.forward(spec, p64, np.asarray(x, dtype=np.float64), y64)
    deltas = {k: np.asarray(v, dtype=np.float64) for k, v in expected_deltas.items()}
    return Context(spec, p64, fwd.zs, fwd.activations, deltas)


def diagnose(
    forward: Sequence[Comparison],
    parameters: Sequence[Comparison],
    deltas: Sequence[Comparison] = (),
    context: Context | None = None,
) -> tuple[Finding, ...]:
    """Findings for a failed check, most useful first; ``()`` when everything passed.

    Without a ``context`` only the tests that need nothing but the two sides' arrays run
    (location, NaN/inf, scale factors, transposes, bias from another layer).
    """
    grads = list(parameters) + list(deltas)
    failing = [c for c in grads if not c.passed]
    findings: list[Finding] = []
    for c in list(forward) + grads:
        if c.n_nonfinite:
            findings.append(_nonfinite(c))
    for c in forward:
        if not c.passed and not c.n_nonfinite:
            findings.append(
                Finding(
                    "forward_mismatch",
                    None,
                    c.name,
                    f"your {c.name} differs from autograd's (max abs err {c.max_abs_error:.1e}): "
                    "the forward pass, the weights or the inputs it used are not the network's",
                    _rule("autograd", c.tolerance),
                )
            )
    if not failing:
        return tuple(findings)
    if all(_rounding_level(c) for c in failing):
        findings.append(
            Finding(
                "rounding_level",
                None,
                None,
                "every difference is at rounding level (within "
                f"{ROUNDING_ULPS}·eps of each array's largest value): floating-point rounding, "
                "not a bug; the tolerance is tighter than the dtype can deliver",
                f"max|hand − autograd| ≤ {ROUNDING_ULPS}·eps(dtype)·max|autograd| per array",
            )
        )
        return tuple(findings)
    if all(_rounding_level(c, np.float32) for c in failing):
        # float64 references, float32-sized differences: the hand side computed in float32
        findings.append(
            Finding(
                "float32_rounding",
                None,
                None,
                "every difference is at float32's rounding level (within "
                f"{ROUNDING_ULPS}·eps(float32) of each array's largest value): your side "
                "computed in float32 (weights taken from a float32 model, float32 arrays), "
                "so float64's tolerance cannot hold; check it with --dtype float32 "
                "(dtype='float32'), or compute in float64",
                f"max|hand − autograd| ≤ {ROUNDING_ULPS}·eps(float32)·max|autograd| per array",
            )
        )
        return tuple(findings)
    depth = max((_layer(c.name) for c in parameters), default=1)
    top = min(max(_layer(c.name) for c in failing), depth)
    location = _location(top, failing, grads, depth)
    findings.append(location)
    if context is not None:
        # Bug shapes are matched on the data part of each gradient: the L2 term's exact share
        # (2λp, or what the hand side's own L2 term was found to be) is taken out first.
        decay, parameters, extra = _without_l2(parameters, context)
        findings.extend(decay)
        explained = _loss_is_l2(forward, extra)
        if explained is not None:
            # the returned loss carries the same L2 terms: the forward pass itself is right
            findings = [f for f in findings if f.parameter != "loss"]
            findings.append(explained)
        grads = list(parameters) + list(deltas)
        failing = [c for c in grads if not c.passed]
        if not failing:
            # Each failure is an L2 term, named with its parameter: no other place to look.
            findings.remove(location)
            return tuple(findings)
        top = min(max(_layer(c.name) for c in failing), depth)
    chain = _chain_scale(top, parameters, failing, context)
    if chain is not None:
        findings.append(chain)
        return tuple(findings)
    batch = context.batch_size if context is not None else None
    by_name = {c.name: c for c in parameters}
    shapes: list[Finding] = []
    for c in sorted(failing, key=lambda c: -_layer(c.name)):
        if c.n_nonfinite:
            continue
        found = _transposed(c) or _bias_from_other_layer(c, by_name)
        if found is None:
            found = _scaled(c, _factors(batch, context))
        if found is not None:
            shapes.append(found)
    if context is not None:
        shapes.extend(_layer_hypotheses(top, by_name, {c.name: c for c in deltas}, context))
    unrelated = _everything_differs(forward, parameters) if not shapes else None
    if unrelated is not None and any(not c.passed for c in forward):
        findings.remove(location)  # not δ{top}: the forward values already differ
        findings.append(unrelated)
    elif unrelated is not None:
        findings.append(unrelated)
    return tuple(findings + shapes)


def _everything_differs(
    forward: Sequence[Comparison], parameters: Sequence[Comparison]
) -> Finding | None:
    """Every gradient off by unrelated amounts: most likely other weights or inputs, not δL.

    A bug in the backward pass leaves the forward values right; a side that ran on other
    weights, another batch or another dtype (a ``--grads`` file made with another seed) gets
    the forward values and every gradient wrong, with no common factor or known bug shape.
    """
    if not parameters or any(c.passed or c.n_nonfinite for c in parameters):
        return None
    names = f"{parameters[0].name} … {parameters[-1].name}"
    causes = "another --seed or --weights file, other --x/--target/--data rows, or another --dtype"
    differing = [c.name for c in forward if not c.passed]
    if differing:
        return Finding(
            "weights_or_inputs_differ",
            None,
            None,
            f"every gradient ({names}) and the {' and '.join(differing)} differ from "
            "autograd's by unrelated amounts (no common factor, transpose or known bug shape): "
            "your side most likely used other weights or inputs than this check — "
            f"{causes}. A bug in the backward pass alone leaves the forward values right",
            "every parameter and forward value out of tolerance; no factor, transpose or bug "
            "shape above matches any",
        )
    if forward:
        return None  # the forward values agree: the weights and inputs are the same
    return Finding(
        "weights_or_inputs_differ",
        None,
        None,
        f"every gradient ({names}) differs from autograd's by unrelated amounts (no common "
        "factor, transpose or known bug shape): if your gradients were computed for other "
        f"weights or inputs ({causes}), every one fails like this; return or save the "
        "prediction too, and the check tells which",
        "every parameter out of tolerance; no factor, transpose or bug shape above matches any",
    )


# ---------------------------------------------------------------------------------------------
# Location and NaN/inf


def _layer(name: str) -> int:
    """The layer a quantity belongs to; a course's dA_l (∂L/∂a_l) is made in layer l + 1's
    backward, its dZ_l is δ_l's."""
    if name.startswith(("dA", "dZ")):
        return int(name[2:]) + (name[1] == "A")
    return int(name.lstrip("Wbdelta"))


def _location(
    top: int, failing: Sequence[Comparison], grads: Sequence[Comparison], depth: int
) -> Finding:
    names = [c.name for c in failing if min(_layer(c.name), depth) == top]
    above = sorted({_layer(c.name) for c in grads if top < _layer(c.name) <= depth})
    if above:
        passing = f"; layer{'s' if len(above) > 1 else ''} {', '.join(map(str, above))} pass"
        passing += "es" if len(above) == 1 else ""
        where = f"how δ{top} is made from δ{top + 1}, and at layer {top}'s gradients"
    else:
        passing = ""
        where = f"the loss gradient δ{top} = ∂L/∂ŷ, and at layer {top}'s gradients"
    return Finding(
        "layer",
        top,
        None,
        f"layer {top} is the failing layer closest to the output ({', '.join(names)} "
        f"fail{'s' if len(names) == 1 else ''}{passing}): errors flow from the output toward the "
        f"input, so look first at {where}",
    )


#: Differences up to this many machine epsilons of an array's largest value are rounding.
ROUNDING_ULPS = 64


def _rounding_level(c: Comparison, dtype: type[np.floating] | None = None) -> bool:
    """Whether every difference is within ``ROUNDING_ULPS`` eps (of ``dtype``, default the
    reference's own) of the array's largest value."""
    ref = np.asarray(c.reference)
    if c.n_nonfinite or ref.dtype.kind != "f" or ref.size == 0:
        return False
    if dtype is not None and np.finfo(dtype).eps <= np.finfo(ref.dtype).eps:
        return False  # only a narrower dtype than the check's tells more than rounding_level
    eps = float(np.finfo(dtype if dtype is not None else ref.dtype).eps)
    scale = float(np.max(np.abs(ref)))
    return c.max_abs_error <= ROUNDING_ULPS * eps * scale


def _nonfinite(c: Comparison) -> Finding:
    if not np.all(np.isfinite(np.asarray(c.reference, dtype=np.float64))):
        return Finding(
            "nonfinite_autograd",
            _layer_or_none(c.name),
            c.name,
            f"autograd's {c.name} has NaN/inf: the network itself overflows at these weights "
            "and inputs; not a bug of the backward pass",
        )
    bad = int(
        np.size(c.candidate) - np.count_nonzero(np.isfinite(np.asarray(c.candidate, np.float64)))
    )
    return Finding(
        "nonfinite",
        _layer_or_none(c.name),
        c.name,
        f"{c.name} has {bad} NaN/inf value{'s' if bad != 1 else ''} of {np.size(c.candidate)}: a "
        "failed check (a division by zero, log(0), overflow or uninitialised memory)",
        "np.isfinite",
    )


def _layer_or_none(name: str) -> int | None:
    return None if name in ("prediction", "loss") else _layer(name)


# ---------------------------------------------------------------------------------------------
# The L2 term


def _loss_is_l2(forward: Sequence[Comparison], extra: float) -> Finding | None:
    """A finding when the returned loss differs from autograd's by exactly ``extra``, the L2
    terms the gradients were found to carry beyond the declared ones (Σ(λ_hand − λ)·Σp²)."""
    loss = next((c for c in forward if c.name == "loss" and not c.passed), None)
    if loss is None or not extra or loss.n_nonfinite:
        return None
    expected = np.asarray(loss.reference, dtype=np.float64) + extra
    if not _matches(loss.candidate, expected, loss.tolerance, _e(loss, 1.0)):
        return None
    return Finding(
        "l2_in_loss",
        None,
        "loss",
        f"your loss differs from autograd's by exactly the L2 terms named above ({extra:+.6g}): "
        "it carries the same L2 term as your gradients, and the forward pass is right",
        _rule(f"(autograd {extra:+.6g})", loss.tolerance),
    )


def _without_l2(
    parameters: Sequence[Comparison], ctx: Context
) -> tuple[list[Finding], tuple[Comparison, ...], float]:
    """L2 findings, every parameter's comparison with the L2 term's share taken out, and how
    much the hand side's own L2 terms add to the loss beyond the declared ones.

    A gradient that fails only because its L2 term differs from the declared one (missing,
    missing its factor 2, on a bias, on a layer that has none) differs from autograd's by
    exactly a multiple of the parameter itself: hand − autograd = 2(λ_hand − λ)·p. That is
    tested first (a few structured values of λ_hand, then the least-squares one for tensors of
    3 or more numbers); what remains (hand − 2λ_hand·p against autograd − 2λ·p) is the data
    gradient the other bug shapes are matched on.
    """
    spec = ctx.spec
    declared = dict((p.name, spec.l2_of(p.name)) for p in spec.parameters())
    found: list[Finding] = []
    out: list[Comparison] = []
    extra = 0.0
    for c in parameters:
        lam = declared.get(c.name, 0.0)
        p = np.asarray(ctx.params[c.name], dtype=np.float64)
        ref = np.asarray(c.reference, dtype=np.float64)
        hand = np.asarray(c.candidate, dtype=np.float64)
        if c.passed or c.n_nonfinite:
            if lam and not c.n_nonfinite:
                c = replace(c, reference=ref - 2.0 * lam * p, candidate=hand - 2.0 * lam * p)
            out.append(c)
            continue
        own = _hand_l2(c, p, lam, declared)
        if own is not None:
            found.append(_l2_finding(c.name, lam, own, declared, c.tolerance))
            extra += (own - lam) * float(np.sum(p * p))
        if own is None and not lam:
            out.append(c)
            continue
        own = lam if own is None else own
        out.append(
            compare(
                c.name,
                ref - 2.0 * lam * p,
                hand - 2.0 * own * p,
                c.tolerance,
                torch_name=c.torch_name,
                norm_tol=c.norm_tol,
            )
        )
    return found, tuple(out), extra


def _hand_l2(c: Comparison, p: Array, lam: float, declared: Mapping[str, float]) -> float | None:
    """λ of the hand side's own L2 term on ``c``, when it differs from the declared ``lam``
    and explains the whole difference; None otherwise."""
    ref = np.asarray(c.reference, dtype=np.float64)
    pp = float(np.sum(p * p))
    if pp == 0.0 or not np.all(np.isfinite(ref)):
        return None
    layer_w = declared.get(f"W{_layer(c.name)}", 0.0)
    others = sorted({v for v in declared.values() if v > 0})
    tries = [0.0, lam / 2, 2 * lam, lam / 4] if lam else []
    if not lam:
        tries += [layer_w, layer_w / 2, *others, *(v / 2 for v in others)]
    if p.size >= 3:  # fewer numbers are proportional to anything: no fitted λ
        residual = np.asarray(c.candidate, dtype=np.float64) - ref
        tries.append(lam + float(np.sum(residual * p)) / (2.0 * pp))
    for own in tries:
        if own == lam or not np.isfinite(own):
            continue
        if _matches(c.candidate, ref + 2.0 * (own - lam) * p, c.tolerance, _e(c, 1.0)):
            return own
    return None


def _l2_finding(
    name: str, lam: float, own: float, declared: Mapping[str, float], tol: Tolerance
) -> Finding:
    """What the hand side's L2 term on ``name`` (λ_hand = ``own``) says about the bug."""
    test = _rule(f"(autograd + 2·({own:.6g} − {lam:g})·{name})", tol)
    layer = _layer(name)
    where = ", ".join(f"{k}={v:g}" for k, v in declared.items() if v > 0)
    pairs = "".join(f"{k}={v:g}," for k, v in declared.items() if v > 0)
    if lam and own == 0:
        return Finding(
            "l2_missing",
            layer,
            name,
            f"{name} has no L2 term: it is the data gradient alone, without the declared "
            f"2λ·{name} (λ = {lam:g}, so 2λ = {2 * lam:g}); add 2·{lam:g}·{name} to it, or "
            f"leave {name} out of --l2",
            test,
        )
    if lam:
        factor = own / lam
        head = f"{name}'s L2 term is ×{factor:.6g} the declared one"
        if factor == 0.5:
            meaning = (
                f"{head}: λ·{name} where ∂(λ·Σ{name}²)/∂{name} = 2λ·{name} (λ = {lam:g}): the "
                f"factor 2 of the square's derivative is missing, or the code's penalty is "
                f"(λ/2)·Σ{name}², which is --l2 {name}={lam / 2:g}"
            )
        elif factor == 0.25:
            meaning = (
                f"{head}: (λ/2)·{name} where 2λ·{name} belongs (λ = {lam:g}): the factor 2 is "
                "missing and λ halved"
            )
        elif factor == 2:
            meaning = (
                f"{head}: 4λ·{name} where 2λ·{name} belongs (λ = {lam:g}): a factor 2 too many"
            )
        else:
            meaning = f"{head}: 2·{own:.6g}·{name} where 2·{lam:g}·{name} belongs"
        return Finding("l2_factor", layer, name, meaning, test)
    if name.startswith("b"):
        return Finding(
            "l2_on_bias",
            layer,
            name,
            f"{name} has an L2 term 2λ·{name} with λ = {own:.6g}, but the check puts none on "
            f"{name}: L2 is applied to a bias (usually the weights only); remove it, or declare "
            f"it (--l2 {pairs}{name}={own:.6g})",
            test,
        )
    if where:
        return Finding(
            "l2_wrong_layers",
            layer,
            name,
            f"{name} has an L2 term 2λ·{name} with λ = {own:.6g}, but --l2 puts none on "
            f"{name} (it has {where}): the L2 term is on the wrong layers",
            test,
        )
    return Finding(
        "l2_undeclared",
        layer,
        name,
        f"{name} has an L2 term 2λ·{name} with λ = {own:.6g} that the check does not declare: "
        f"add --l2 {own:.6g} (every weight) or --l2 {name}={own:.6g}, or remove it from the code",
        test,
    )


# ---------------------------------------------------------------------------------------------
# Scale factors


def _factors(batch: int | None, context: Context | None) -> list[tuple[float, str, str]]:
    """Candidate constants: (factor, kind, meaning), tried in this order."""
    up = " (with a batch of 2, also: a sum where the mean belongs)" if batch == 2 else ""
    down = " (with a batch of 2, also: divided by the batch size once too often)" * (batch == 2)
    out: list[tuple[float, str, str]] = [
        (-1.0, "sign_flipped", "sign flipped"),
        (2.0, "scale_factor_2", f"a factor 2 too many{up}"),
        (0.5, "scale_factor_2", f"a factor 2 missing (e.g. (ŷ − y) where 2(ŷ − y) belongs){down}"),
    ]
    if batch is not None and batch >= 2:
        n = batch * (context.spec.n_out if context is not None else 1)
        sizes = {batch: "the batch size"}
        over_elements = context is not None and context.spec.loss_record.mean_over == "elements"
        if over_elements and n != batch:
            sizes[n] = "the number of output elements (batch × units)"
        for size, what in sizes.items():
            both = " (also a factor 2)" if size == 2 else ""
            out.append(
                (
                    float(size),
                    "batch_sum_vs_mean",
                    f"×{size}, {what}: a sum where the mean belongs{both}",
                )
            )
            out.append(
                (
                    1.0 / size,
                    "batch_sum_vs_mean",
                    f"×1/{size}, {what}: divided by it once too "
                    f"often (a mean where a sum belongs){both}",
                )
            )
    return out


def _fit(c: Comparison) -> float | None:
    """Least-squares factor ``k`` in ``hand ≈ k·autograd``, if it is finite and not 0 or 1."""
    r = np.asarray(c.reference, dtype=np.float64).reshape(-1)
    h = np.asarray(c.candidate, dtype=np.float64).reshape(-1)
    rr = float(r @ r)
    # One or two numbers are proportional to anything: too few to establish a scale.
    if r.size < 3 or rr == 0.0 or not np.all(np.isfinite(h)):
        return None
    k = float(h @ r) / rr
    # a factor that prints as ×1 (or ×0) says nothing a person can act on
    return k if np.isfinite(k) and f"{k:.6g}" not in ("1", "0", "-0") else None


def _scale_of(
    c: Comparison, factors: Iterable[tuple[float, str, str]]
) -> tuple[float, str, str] | None:
    """The first candidate factor (or else the fitted one) with ``hand ≈ k·autograd``."""
    for k, kind, meaning in factors:
        if _matches(c.candidate, k * np.asarray(c.reference, np.float64), c.tolerance, _e(c, k)):
            return k, kind, meaning
    fitted = _fit(c)
    if fitted is not None and _matches(
        c.candidate, fitted * np.asarray(c.reference, np.float64), c.tolerance, _e(c, fitted)
    ):
        return fitted, "scale_factor", f"a uniform factor ×{fitted:.6g}"
    return None


def _scaled(c: Comparison, factors: list[tuple[float, str, str]]) -> Finding | None:
    found = _scale_of(c, factors)
    if found is None:
        return None
    k, kind, meaning = found
    return Finding(
        kind,
        _layer(c.name),
        c.name,
        f"{c.name} is exactly ×{k:.6g} autograd's: {meaning}",
        _rule(f"{k:.6g}·autograd", c.tolerance),
    )


def _chain_scale(
    top: int,
    parameters: Sequence[Comparison],
    failing: Sequence[Comparison],
    context: Context | None,
) -> Finding | None:
    """Every gradient of layers 1…top off by one same factor: δ_top is scaled where it is made."""
    lower = [c for c in parameters if _layer(c.name) <= top]
    if not lower or any(c.passed for c in lower):
        return None
    factors = _factors(context.batch_size if context is not None else None, context)
    first = _scale_of(failing[0], factors)
    if first is None:
        return None
    k, kind, meaning = first
    if not all(
        _matches(c.candidate, k * np.asarray(c.reference, np.float64), c.tolerance, _e(c, k))
        for c in failing
    ):
        return None
    depth = max(_layer(c.name) for c in parameters)
    tol = failing[0].tolerance
    if top == depth:
        what = (
            f"all gradients (every layer) are ×{k:.6g} autograd's: {meaning}, in the loss "
            f"gradient δ{top} = ∂L/∂ŷ that every other gradient is built from"
        )
    else:
        what = (
            f"the gradients of {'layer 1' if top == 1 else f'layers 1…{top}'} are ×{k:.6g} "
            "autograd's (layers above pass): "
            f"{meaning}, where δ{top} is computed"
        )
    return Finding(kind, top, None, what, _rule(f"{k:.6g}·autograd", tol))


# ---------------------------------------------------------------------------------------------
# Per-parameter shapes


def _transposed(c: Comparison) -> Finding | None:
    r = np.asarray(c.reference, dtype=np.float64)
    if r.ndim != 2 or r.shape[0] != r.shape[1] or c.kind != "parameter":
        return None
    e = _e(c)
    if not _matches(c.candidate, r.T, c.tolerance, None if e is None else e + e.T):
        return None
    return Finding(
        "transposed",
        _layer(c.name),
        c.name,
        f"{c.name} equals the transpose of autograd's {c.name} gradient: the outer product is "
        f"the wrong way round (dW{_layer(c.name)} = δᵀ·a_prev is (out, in), as torch stores W)",
        _rule(f"autograd({c.name})ᵀ", c.tolerance),
    )


def _bias_from_other_layer(c: Comparison, by_name: Mapping[str, Comparison]) -> Finding | None:
    if not c.name.startswith("b") or c.kind != "parameter":
        return None
    for other in by_name.values():
        if other.name == c.name or not other.name.startswith("b") or other.shape != c.shape:
            continue
        e, e_other = _e(c), _e(other)
        both = None if e is None or e_other is None else e + e_other
        if _matches(c.candidate, np.asarray(other.reference, np.float64), c.tolerance, both):
            k = _layer(other.name)
            return Finding(
                "bias_from_other_layer",
                _layer(c.name),
                c.name,
                f"{c.name} equals autograd's gradient of {other.name} (Σ over the batch of δ{k}): "
                f"the bias gradient of layer {_layer(c.name)} is taken from layer {k}'s δ",
                _rule(f"autograd({other.name})", c.tolerance),
            )
    return None


# ---------------------------------------------------------------------------------------------
# Hypotheses recomputed at the top failing layer


def _layer_hypotheses(
    top: int,
    params: Mapping[str, Comparison],
    deltas: Mapping[str, Comparison],
    ctx: Context,
) -> list[Finding]:
    """Recompute layer ``top``'s gradients under each classic mistake; keep those that match."""
    findings: list[Finding] = []
    w, b = params.get(f"W{top}"), params.get(f"b{top}")
    if w is None or b is None:
        return findings
    tol = w.tolerance
    a_prev = ctx.activations[top - 1]
    if top >= 2 and not w.passed and b.passed:
        # dW_l = δ_lᵀ · a_{l−1}; with z_{l−1} in place of a_{l−1}:
        wrong = ctx.expected_deltas[f"delta{top}"].T @ ctx.zs[top - 2]
        if _matches(w.candidate, wrong, tol, _e(w, 1.0)):
            findings.append(
                Finding(
                    "pre_activation_in_weight_gradient",
                    top,
                    w.name,
                    f"{w.name} equals δ{top}ᵀ·z{top - 1}: the pre-activation z{top - 1} is used "
                    f"where the activation a{top - 1} = f(z{top - 1}) belongs",
                    _rule(f"δ{top}ᵀ·z{top - 1}", tol),
                )
            )
    if top >= ctx.spec.depth or w.passed or b.passed:
        return findings
    for kind, message, delta in _delta_hypotheses(top, ctx):
        dw, db = delta.T @ a_prev, delta.sum(axis=0)
        given = deltas.get(f"delta{top}")
        if (
            _matches(w.candidate, dw, tol, _e(w, 1.0))
            and _matches(b.candidate, db, tol, _e(b, 1.0))
            and (given is None or _matches(given.candidate, delta, tol, _e(given, 1.0)))
        ):
            findings.append(
                Finding(
                    kind,
                    top,
                    f"delta{top}",
                    message,
                    f"W{top}, b{top} recomputed from that δ{top} (δ{top}ᵀ·a{top - 1}, "
                    f"Σ_batch δ{top}): " + _rule("recomputed", tol),
                )
            )
    return findings


def _delta_hypotheses(layer: int, ctx: Context) -> list[tuple[str, str, Array]]:
    """(kind, message, δ_layer as the mistake computes it) from the correct δ_{layer+1}."""
    fn = ctx.spec.activation_at(layer)
    name = fn.name
    z, a = ctx.zs[layer - 1], ctx.activations[layer]
    w_next = ctx.params[f"W{layer + 1}"]
    d_next = ctx.expected_deltas[f"delta{layer + 1}"]
    upstream = d_next @ w_next  # ∂L/∂a_l = δ_{l+1} · W_{l+1}
    k, n = layer, layer + 1
    out: list[tuple[str, str, Array]] = [
        (
            "missing_activation_derivative",
            f"δ{k} is missing the activation derivative: it matches δ{n}·W{n} without ⊙ f′(z{k})",
            upstream,
        ),
        (
            "derivative_at_activation",
            f"δ{k} takes f′ at the activation a{k} = f(z{k}) instead of the pre-activation z{k} "
            f"(e.g. sigmoid_gradient(z{k}_act))",
            upstream * fn.df(a),
        ),
    ]
    if fn.df_from_output is not None:
        out.append(
            (
                "derivative_formula_at_pre_activation",
                f"δ{k} evaluates f′ written in terms of the output ({fn.df_from_output_formula}) "
                f"at the pre-activation z{k} instead of at a{k}",
                upstream * fn.df_from_output(z),
            )
        )
    for other, other_fn in ACTIVATIONS.items():
        other_df = other_fn.df(z)
        # A derivative that is 1 everywhere here is the missing-derivative hypothesis again.
        if other != name and not np.all(other_df == 1.0):
            out.append(
                (
                    "wrong_activation_derivative",
                    f"δ{k} uses {other}′ where the network's activation is {name}",
                    upstream * other_df,
                )
            )
    if w_next.shape[0] == w_next.shape[1]:
        out.append(
            (
                "weight_not_transposed_in_backprop",
                f"δ{k} is propagated with W{n} where W{n}ᵀ belongs (in the seed's column "
                f"form: np.dot(W{n}, δ{n}) instead of np.dot(W{n}.T, δ{n}))",
                (d_next @ w_next.T) * fn.df(z),
            )
        )
    return out


# ---------------------------------------------------------------------------------------------


def _e(c: Comparison, k: float = 0.0) -> NDArray[np.float64] | None:
    """The rounding a formula built from ``c``'s side may carry: ``c``'s own bound E (the hand
    side's), plus |k|·E for a formula that scales the other side's values by k."""
    if c.bounds is None:
        return None
    return np.asarray((1.0 + abs(k)) * np.asarray(c.bounds.rounding, dtype=np.float64))


def _matches(
    hand: NDArray[np.generic],
    expected: NDArray[np.generic],
    tol: Tolerance,
    rounding: NDArray[np.float64] | None = None,
) -> bool:
    """Whether ``hand`` passes the check's rule against ``expected`` (which must be finite),
    with ``rounding`` the rounding bound of the two (``_e``), as the verdict itself allows.

    The norm rule applies too (ntol of float32, the loosest default, or rtol): where every
    value is within the allowance of 0 the elementwise rule alone would match any formula —
    zeros would "match" a flipped sign."""
    h, e = np.asarray(hand), np.asarray(expected, dtype=np.float64)
    if h.shape != e.shape or not np.all(np.isfinite(e)):
        return False
    ntol = max(NORM_TOLERANCES["float32"], tol.rtol)
    limits = None
    if rounding is not None and np.shape(rounding) == e.shape:
        limits = TensorBounds(e, np.zeros_like(e), np.asarray(rounding, dtype=np.float64))
    return compare("hypothesis", e, h, tol, norm_tol=ntol, bounds=limits).passed


def _rule(formula: str, tol: Tolerance) -> str:
    return (
        f"|hand − {formula}| ≤ atol + rtol·|{formula}| + 4E elementwise, "
        f"atol={tol.atol:g}, rtol={tol.rtol:g}"
    )
