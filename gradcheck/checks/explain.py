"""The derivation step by step: every z, a, δ and gradient of the replica, with its formula.

``explain`` walks the forward pass (z_l, a_l, ŷ, L) and the backward pass (δL … δ1 and each
layer's ∂L/∂W, ∂L/∂b) as the seed wrote them, for the chosen activation and loss. Every value
that torch autograd also produces (prediction, loss, each δ and each gradient) carries its
``Comparison`` from the same ``Report`` that ``gradcheck run`` would print.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gradcheck.checks.pipeline import evaluate, with_notices
from gradcheck.checks.problem import Problem, Request, Rows, setup
from gradcheck.checks.report import Report, Settings
from gradcheck.core import replica
from gradcheck.core.answer import Answer
from gradcheck.core.compare import Comparison


@dataclass(frozen=True)
class Step:
    """One line of the derivation: a formula, the shapes it combines, and its hand value."""

    phase: str  # "forward" | "backward"
    name: str  # "z1", "a1", "loss", "delta3", "W3", "b3"
    title: str  # "layer 1 pre-activation"
    formula: str  # "δ2 = (δ3·W3) ⊙ σ′(z2)"
    where: str | None  # the definition the formula uses, e.g. "σ′(z) = σ(z)(1−σ(z))"
    shapes: str  # "δ3 (1×1) · W3 (1×10) ⊙ σ′(z2) (1×10) → 1×10"
    hand: NDArray[np.generic]
    check: Comparison | None  # autograd's counterpart and the error, where autograd has one

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(np.shape(self.hand))


@dataclass(frozen=True)
class Explanation:
    """The derivation's steps and the report of every compared value."""

    report: Report
    steps: tuple[Step, ...]

    @property
    def passed(self) -> bool:
        return self.report.passed

    @property
    def exit_code(self) -> int:
        """0 when every compared step is within tolerance, 1 otherwise (as ``Report``)."""
        return self.report.exit_code


def explain(problem: Problem, settings: Settings) -> Explanation:
    """Run the replica once, compare it with autograd, and lay out the derivation."""
    spec = problem.spec
    params = {k: v.copy() for k, v in problem.params.items()}
    # Overflow is reported as a failed step (NaN/inf never pass), not as a numpy warning.
    with np.errstate(all="ignore"):
        fwd, bwd = replica.gradients(spec, params, problem.x, problem.y)
    hand = Answer(fwd.prediction, fwd.loss, bwd.grads, bwd.deltas)
    report = evaluate(problem, settings, hand=hand)
    checks = {c.name: c for c in report.comparisons}
    with np.errstate(all="ignore"):
        steps = _forward_steps(problem, fwd, checks) + _backward_steps(problem, fwd, bwd, checks)
    return Explanation(report, steps)


def explain_check(x: Rows | None = None, target: Rows | None = None, **options: Any) -> Explanation:
    """``gradcheck explain`` as a function: ``check``'s arguments (a ``Request``), steps out.

    Raises ``GradcheckError`` on bad input.
    """
    return explain_request(Request(x, target, **options))


def explain_request(request: Request) -> Explanation:
    """The explanation ``request`` asks for, in one hosting span (``run_check``'s): the
    user's model runs guarded, and what it changed is in the warnings."""
    from gradcheck.io import guest

    with guest.hosting() as notices:
        explanation = explain(*setup(request))
        return replace(explanation, report=with_notices(explanation.report, notices))


def _forward_steps(
    problem: Problem, fwd: replica.Forward, checks: dict[str, Comparison]
) -> tuple[Step, ...]:
    spec = problem.spec
    linear_out = spec.linear_output
    steps: list[Step] = []
    for layer in range(1, spec.depth + 1):
        prev = "x" if layer == 1 else f"a{layer - 1}"
        a_prev = fwd.activations[layer - 1]
        w = problem.params[f"W{layer}"]
        z = fwd.zs[layer - 1]
        last = layer == spec.depth and linear_out
        steps.append(
            Step(
                phase="forward",
                name=f"z{layer}",
                title=f"layer {layer} pre-activation" + (" = prediction ŷ" if last else ""),
                formula=("ŷ = " if last else "") + f"z{layer} = {prev}·W{layer}ᵀ + b{layer}",
                where="the output layer is linear" if last else None,
                shapes=f"{prev} ({_dims(a_prev)}) · W{layer}ᵀ ({_dims(w.T)}) + b{layer} "
                f"({_dims(problem.params[f'b{layer}'])}) → {_dims(z)}",
                hand=z,
                check=checks["prediction"] if last else None,
            )
        )
        if layer < spec.depth:
            a = fwd.activations[layer]
            act = spec.activation_at(layer)
            steps.append(
                Step(
                    phase="forward",
                    name=f"a{layer}",
                    title=f"layer {layer} activation",
                    formula=f"a{layer} = {act.symbol}(z{layer})",
                    where=_definition(act.formula),
                    shapes=f"elementwise on z{layer} ({_dims(z)}) → {_dims(a)}",
                    hand=a,
                    check=None,
                )
            )
        elif not linear_out:
            out = spec.output_record
            steps.append(
                Step(
                    phase="forward",
                    name="prediction",
                    title="output activation = prediction ŷ",
                    formula=f"ŷ = {out.symbol}(z{layer})",
                    where=_definition(out.formula),
                    shapes=f"row by row on z{layer} ({_dims(z)}) → {_dims(fwd.output)}",
                    hand=fwd.output,
                    check=checks["prediction"],
                )
            )
    loss_formula = spec.loss_record.formula
    if spec.reduction == "sum":
        loss_formula = loss_formula.replace("mean", "sum")
    if spec.loss_scale != 1.0:
        loss_formula = f"L = {spec.loss_scale:g}·[{loss_formula.removeprefix('L = ')}]"
    if spec.l2_parameters:
        loss_formula += "".join(f" + {lam:g}·Σ{name}²" for name, lam in spec.l2_terms)
    elif spec.l2:
        loss_formula += f" + {spec.l2:g}·Σ_l ΣW_l²"
    steps.append(
        Step(
            phase="forward",
            name="loss",
            title=f"loss ({spec.loss}, {spec.reduction} reduction)",
            formula=loss_formula,
            where=_loss_where(problem),
            shapes=f"ŷ ({_dims(fwd.prediction)}), y ({_dims(problem.y)}) → scalar",
            hand=np.asarray(fwd.loss),
            check=checks["loss"],
        )
    )
    return tuple(steps)


def _backward_steps(
    problem: Problem, fwd: replica.Forward, bwd: replica.Backward, checks: dict[str, Comparison]
) -> tuple[Step, ...]:
    spec = problem.spec
    L = spec.depth
    dloss_formula = spec.loss_record.derivative_formula
    steps: list[Step] = []
    for layer in range(L, 0, -1):
        delta = bwd.deltas[f"delta{layer}"]
        if layer == L:
            # The output layer is linear, so ∂L/∂zL is the loss's own derivative at ŷ.
            formula = f"δ{L} = ∂L/∂z{L} = " + dloss_formula
            if not spec.linear_output:
                formula = (
                    f"δ{L} = ∂L/∂z{L}: "
                    + spec.output_record.derivative_formula.removeprefix("∂L/∂zL = ")
                    + f", with {dloss_formula}"
                )
            where = _loss_where(problem)
            if spec.reduction == "sum" or spec.loss_scale != 1.0:
                count = "B" if spec.loss_record.mean_over == "batch" else "N"
                factor = f"{spec.loss_scale:g}·" if spec.loss_scale != 1.0 else ""
                where += f"; times {factor}{count if spec.reduction == 'sum' else ''}".rstrip("·")
                where += " (--reduction sum, --loss-scale)"
            shapes = f"ŷ ({_dims(fwd.prediction)}) → {_dims(delta)}"
        else:
            # δl = (δ_{l+1}·W_{l+1}) ⊙ f′(zl): back through the linear map, then the activation.
            up = bwd.deltas[f"delta{layer + 1}"]
            w = problem.params[f"W{layer + 1}"]
            f = spec.activation_at(layer).symbol
            formula = f"δ{layer} = (δ{layer + 1}·W{layer + 1}) ⊙ {f}′(z{layer})"
            where = spec.activation_at(layer).derivative_formula
            shapes = (
                f"δ{layer + 1} ({_dims(up)}) · W{layer + 1} ({_dims(w)}) ⊙ {f}′(z{layer}) "
                f"({_dims(fwd.zs[layer - 1])}) → {_dims(delta)}"
            )
        steps.append(
            Step(
                phase="backward",
                name=f"delta{layer}",
                title=f"layer {layer} error signal δ{layer} = ∂L/∂z{layer}",
                formula=formula,
                where=where,
                shapes=shapes,
                hand=delta,
                check=checks.get(f"delta{layer}"),
            )
        )
        prev = "x" if layer == 1 else f"a{layer - 1}"
        a_prev = fwd.activations[layer - 1]
        grad_w = bwd.grads[f"W{layer}"]
        lam_w, lam_b = spec.l2_of(f"W{layer}"), spec.l2_of(f"b{layer}")
        l2 = f" + {2 * lam_w:g}·W{layer}" if lam_w else ""
        steps.append(
            Step(
                phase="backward",
                name=f"W{layer}",
                title=f"gradient of W{layer}",
                formula=f"∂L/∂W{layer} = δ{layer}ᵀ·{prev}{l2}",
                where="sums the outer products over the batch",
                shapes=f"δ{layer}ᵀ ({_dims(delta.T)}) · {prev} ({_dims(a_prev)}) → {_dims(grad_w)}",
                hand=grad_w,
                check=checks[f"W{layer}"],
            )
        )
        grad_b = bwd.grads[f"b{layer}"]
        steps.append(
            Step(
                phase="backward",
                name=f"b{layer}",
                title=f"gradient of b{layer}",
                formula=f"∂L/∂b{layer} = Σ_batch δ{layer}"
                + (f" + {2 * lam_b:g}·b{layer}" if lam_b else ""),
                where=None,
                shapes=f"δ{layer} ({_dims(delta)}) summed over rows → {_dims(grad_b)}",
                hand=grad_b,
                check=checks[f"b{layer}"],
            )
        )
    return tuple(steps)


def _definition(formula: str) -> str | None:
    """A function's definition, or None when its text only names it (no '=' in it)."""
    return formula if "=" in formula else None


def _loss_where(problem: Problem) -> str:
    """What N (or B) is in the loss's formulas for this batch."""
    batch, n_out = int(problem.x.shape[0]), problem.spec.n_out
    if problem.spec.loss_record.mean_over == "batch":
        return f"B = {batch} (batch size), y = class indices"
    return f"N = B·n = {batch}·{n_out} = {batch * n_out} (elements of ŷ)"


def _dims(values: NDArray[np.generic]) -> str:
    shape = np.shape(values)
    return "×".join(map(str, shape)) if shape else "scalar"
