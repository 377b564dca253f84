"""The convention finder: when the user's gradients fail, are they right for a network that
differs only by a convention (output activation, reduction, a scale of ½ or 2, W's layout)?

Every alternative alone and in combination is tried, fewest changes first: the expected
gradients come from the replica (tested against torch for every convention), compared with
the user's under the check's own pass rule; the first alternative under which every gradient
(and every forward value the user gave) passes is confirmed once with torch autograd and
reported with the exact flags that select it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from gradcheck.checks.diagnose import Finding
from gradcheck.checks.problem import Problem
from gradcheck.core import replica
from gradcheck.core.answer import Answer
from gradcheck.core.compare import compare
from gradcheck.core.errors import GradcheckError
from gradcheck.core.functions import ACTIVATIONS, LAYOUTS, LINEAR, OUTPUT_ACTIVATIONS, REDUCTIONS
from gradcheck.core.spec import NetSpec
from gradcheck.core.tolerance import Tolerance, norm_tolerance

#: The loss scales tried: ½ (½‖ŷ − y‖²), 2, and none.
SCALES = (0.5, 2.0, 1.0)
#: Alternatives with more changed flags than this are not tried (they explain too much).
MAX_CHANGES = 3
#: Networks bigger than this (parameters × rows) are not searched: each try is a full pass.
MAX_WORK = 2_000_000

#: Diagnosis kinds that say "the whole gradient is off by a constant": a convention finding
#: restates them rather than replacing them.
SCALE_KINDS = ("scale_factor_2", "batch_sum_vs_mean", "scale_factor", "sign_flipped")

HandFor = Callable[[str], Answer | None]  # layout → the user's answer in that layout, or None


def find_convention(
    problem: Problem, hand: Answer, layout: str, tolerance: Tolerance, hand_for: HandFor
) -> Finding | None:
    """A ``convention`` finding naming the flags under which ``hand`` passes, or None."""
    spec = problem.spec
    if spec.n_parameters * int(problem.x.shape[0]) > MAX_WORK:
        return None
    answers: dict[str, Answer | None] = {layout: hand}
    for alt_spec, alt_layout, flags in _alternatives(spec, layout):
        if alt_layout not in answers:
            answers[alt_layout] = hand_for(alt_layout)
        candidate = answers[alt_layout]
        if candidate is None or not _passes(
            alt_spec, problem, candidate, tolerance, autograd=False
        ):
            continue
        if not _passes(alt_spec, problem, candidate, tolerance, autograd=True):
            continue
        shown = " ".join(flags)
        return Finding(
            "convention",
            None,
            None,
            f"your gradients are those of the same network with `{shown}`: every check passes "
            "under that convention, so the derivation is right for that network; rerun with "
            "those flags if it is the one you mean, or change the code to this one",
            f"every gradient within atol + rtol·|autograd| of torch autograd's for the network "
            f"with {shown} (atol={tolerance.atol:g}, rtol={tolerance.rtol:g})",
            flags=tuple(flags),
        )
    return None


def _alternatives(spec: NetSpec, layout: str) -> list[tuple[NetSpec, str, list[str]]]:
    """Every fitting alternative network and layout with its flags, fewest changes first."""
    # Over a single unit, a row-wise output is constant (softmax ≡ 1, log_softmax ≡ 0): every
    # gradient is zero under it, so it would "explain" any gradients that are all zero.
    outputs = [
        o
        for o in OUTPUT_ACTIVATIONS
        if o in spec.loss_record.fits and (spec.n_out > 1 or o == LINEAR or o in ACTIVATIONS)
    ]
    scales = [spec.loss_scale, *(s for s in SCALES if s != spec.loss_scale)]
    found = []
    for out, reduction, scale, lay in itertools.product(outputs, REDUCTIONS, scales, LAYOUTS):
        flags = []
        if out != spec.output_activation:
            flags.append(f"--output-activation {out}")
        if reduction != spec.reduction:
            flags.append(f"--reduction {reduction}")
        if scale != spec.loss_scale:
            flags.append(f"--loss-scale {scale:g}")
        if lay != layout:
            flags.append(f"--layout {lay}")
        if not flags or len(flags) > MAX_CHANGES:
            continue
        try:
            alt = replace(
                spec, output_activation=out, reduction=reduction, loss_scale=scale, dtype="float64"
            )
        except GradcheckError:
            continue
        found.append((alt, lay, flags))
    return sorted(found, key=lambda f: len(f[2]))


def _passes(
    spec: NetSpec, problem: Problem, hand: Answer, tolerance: Tolerance, *, autograd: bool
) -> bool:
    params = {k: np.asarray(v, dtype=np.float64) for k, v in problem.params.items()}
    x = np.asarray(problem.x, dtype=np.float64)
    y = problem.y if problem.y.dtype.kind == "i" else np.asarray(problem.y, dtype=np.float64)
    with np.errstate(all="ignore"):
        if autograd:
            from gradcheck.torch_side import reference

            expected = reference.autograd(spec, params, x, y)
        else:
            expected = replica.answer(spec, params, x, y)
    pairs = [(expected.grads[k], hand.grads[k]) for k in expected.grads]
    for name in ("prediction", "loss"):
        mine, theirs = getattr(hand, name), getattr(expected, name)
        if mine is not None and theirs is not None:
            pairs.append((theirs, mine))
    pairs += [(expected.deltas[k], v) for k, v in hand.deltas.items() if k in expected.deltas]
    # The check's own verdict: the elementwise rule and the per-tensor norm rule, so that a
    # convention is never credited for gradients too small for the elementwise rule to judge.
    ntol = norm_tolerance(spec.dtype, tolerance.rtol)
    return all(
        compare("convention", ref, got, tolerance, norm_tol=ntol).passed for ref, got in pairs
    )
