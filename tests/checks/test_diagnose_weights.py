"""The diagnosis of gradients computed for other weights or inputs: it names them."""

from __future__ import annotations

from pathlib import Path

from gradcheck.io.usercode import load_backward
from tests.conftest import SAMPLES, invoke

SEED_X = ("--x", "0.974", "0.312")


def _grads_for_seed(tmp_path: Path, seed: int, keys: str) -> Path:
    import numpy as np

    from gradcheck.core.spec import NetSpec
    from gradcheck.torch_side.reference import init_state

    correct = load_backward(f"{SAMPLES / 'backward_seed.py'}:backward")
    grads = correct(init_state(NetSpec(), seed), np.array([[0.974, 0.312]]), np.array([[1.0]]))
    path = tmp_path / f"g{seed}.npz"
    np.savez(path, **{k: v for k, v in grads.items() if k in keys.split()})
    return path


def _diagnosis(path: Path) -> list[dict[str, object]]:
    import json

    result = invoke("run", *SEED_X, "--grads", str(path), "--json")
    assert result.exit_code == 1, result.stderr
    diagnosis: list[dict[str, object]] = json.loads(result.stdout)["diagnosis"]
    return diagnosis


ALL_GRADS = "W1 b1 W2 b2 W3 b3"


def test_grads_for_other_weights_blame_the_weights_not_delta3(tmp_path: Path) -> None:
    path = _grads_for_seed(tmp_path, 1, ALL_GRADS + " delta1 delta2 delta3 prediction loss")
    kinds = [f["kind"] for f in _diagnosis(path)]
    assert kinds == ["forward_mismatch", "forward_mismatch", "weights_or_inputs_differ"]
    text = invoke("run", *SEED_X, "--grads", str(path), env={"COLUMNS": "200"}).stdout
    words = " ".join(text.split())
    assert "your side most likely used other weights or inputs than this check" in words
    assert "another --seed or --weights file" in words and "δ3 = ∂L/∂ŷ" not in words


def test_grads_without_forward_values_keep_the_location_and_add_the_hint(tmp_path: Path) -> None:
    findings = _diagnosis(_grads_for_seed(tmp_path, 1, ALL_GRADS))
    assert [f["kind"] for f in findings] == ["layer", "weights_or_inputs_differ"]
    assert "return or save the prediction too" in str(findings[1]["message"])


def test_a_real_backward_bug_is_not_blamed_on_the_weights(tmp_path: Path) -> None:
    # Right forward values, one layer wrong: the usual location, no weights hint.
    import numpy as np

    from gradcheck.core.spec import NetSpec
    from gradcheck.torch_side.reference import init_state

    correct = load_backward(f"{SAMPLES / 'backward_seed.py'}:backward")
    grads = correct(init_state(NetSpec(), 0), np.array([[0.974, 0.312]]), np.array([[1.0]]))
    grads["W1"] = grads["W1"] + np.linspace(0.01, 0.2, 20).reshape(10, 2)
    path = tmp_path / "g.npz"
    np.savez(path, **grads)
    kinds = [f["kind"] for f in _diagnosis(path)]
    assert "weights_or_inputs_differ" not in kinds and kinds[0] == "layer"
