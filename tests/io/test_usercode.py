"""The user's own backward (io/usercode.py: --impl, check(backward=…), assert_backward): loading,
the contract, user code that raises, exits or leaves state behind, every bad-input path (exit 2
naming the key and shapes), and isolation."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gradcheck.api import check
from gradcheck.core import replica
from gradcheck.core.errors import GradcheckError, UserCodeError
from gradcheck.core.spec import NetSpec
from gradcheck.io.usercode import load_backward
from gradcheck.testing import assert_backward
from tests.checks.test_classic_bugs import correct, transposed_w2
from tests.conftest import SAMPLES, SEED_X, assert_usage_error, invoke, run_json, run_process

SAMPLE = SAMPLES / "backward_seed.py"
GOOD = f"{SAMPLES / 'backward_seed.py'}:backward"
BUGGY = f"{SAMPLES / 'backward_buggy.py'}:backward"

HEADER = "import numpy as np\n"
CORRECT_BODY = """
def sig(z):
    return 1 / (1 + np.exp(-z))

def grads(p, x, y):
    z1 = x @ p["W1"].T + p["b1"]; a1 = sig(z1)
    z2 = a1 @ p["W2"].T + p["b2"]; a2 = sig(z2)
    z3 = a2 @ p["W3"].T + p["b3"]
    d3 = 2 * (z3 - y) / z3.size
    d2 = (d3 @ p["W3"]) * a2 * (1 - a2)
    d1 = (d2 @ p["W2"]) * a1 * (1 - a1)
    return {"W1": d1.T @ x, "b1": d1.sum(0), "W2": d2.T @ a1, "b2": d2.sum(0),
            "W3": d3.T @ a2, "b3": d3.sum(0)}
"""


def user_file(tmp_path: Path, body: str, name: str = "mine.py") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + CORRECT_BODY + body)
    return path


def run_impl(path: Path | str, func: str = "backward", *extra: str) -> Any:
    return invoke("run", *SEED_X, "--impl", f"{path}:{func}", *extra)


# --- the samples: exit 0 and exit 1 -----------------------------------------------------------


def test_sample_correct_backward_exits_0() -> None:
    result = invoke("run", *SEED_X, "--impl", GOOD)
    assert result.exit_code == 0, result.stderr
    assert "autograd vs impl:" in result.stdout and "backward_seed.py:backward" in result.stdout
    assert "yours[worst]" in result.stdout
    assert "PASSED: all 11 checks within tolerance" in result.stdout
    assert result.stderr == ""


def test_sample_buggy_backward_exits_1_with_diagnosis() -> None:
    result = invoke("run", *SEED_X, "--impl", BUGGY)
    assert result.exit_code == 1
    out = result.stdout
    assert "diagnosis:" in out
    assert "layer 2 is the failing layer closest to the output" in out
    assert "W2 equals the transpose of autograd's W2 gradient" in out
    assert "FAILED: 1 of 6 out of tolerance: W2" in out


def test_json_names_the_candidate_and_carries_the_diagnosis() -> None:
    result = invoke("run", *SEED_X, "--impl", BUGGY, "--json")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["settings"]["candidate"] == f"impl:{BUGGY}"
    assert list(doc)[-1] == "diagnosis"
    assert doc["forward"] == {}  # the buggy sample returns no prediction/loss
    kinds = [(d["kind"], d["layer"], d["parameter"]) for d in doc["diagnosis"]]
    assert kinds == [("layer", 2, None), ("transposed", 2, "W2")]
    assert "atol=0, rtol=1e-07" in doc["diagnosis"][1]["test"]
    again = invoke("run", *SEED_X, "--impl", BUGGY, "--json")
    assert again.stdout == result.stdout  # byte-identical


def test_passing_json_has_an_empty_diagnosis_and_compares_returned_forward_values() -> None:
    doc = json.loads(invoke("run", *SEED_X, "--impl", GOOD, "--json").stdout)
    assert doc["passed"] is True and doc["diagnosis"] == []
    assert set(doc["forward"]) == {"prediction", "loss"}
    assert [d["name"] for d in doc["deltas"]] == ["delta1", "delta2", "delta3"]


def test_replica_run_still_has_empty_diagnosis() -> None:
    doc = json.loads(invoke("run", *SEED_X, "--json").stdout)
    assert doc["settings"]["candidate"] == "replica" and doc["diagnosis"] == []


def test_help_states_the_contract() -> None:
    out = " ".join(invoke("run", "--help").stdout.split())
    assert "--impl FILE.py:FUNC" in out and "FUNC(params, x, y) -> dict of gradients" in out
    assert "(batch,) int64 classes for a loss over classes" in out
    assert "(in, out) with --layout in_out" in out
    assert "--grads FILE" in out


# --- loading: one clear line each --------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    assert_usage_error(run_impl(tmp_path / "nope.py"), "--impl:", "nope.py: no such file")


def test_not_a_python_file(tmp_path: Path) -> None:
    path = tmp_path / "grads.txt"
    path.write_text("x = 1\n")
    assert_usage_error(run_impl(path), "--impl:", "grads.txt: not a .py file")


def test_missing_function_part() -> None:
    result = invoke("run", *SEED_X, "--impl", "samples/backward_seed.py")
    assert_usage_error(result, "--impl: samples/backward_seed.py: expected FILE.py:FUNC")
    result = invoke("run", *SEED_X, "--impl", "samples/backward_seed.py:")
    assert_usage_error(result, "--impl:", "missing the function name after ':'")


def test_no_such_function(tmp_path: Path) -> None:
    path = user_file(tmp_path, "")
    assert_usage_error(run_impl(path, "backwards"), "--impl:", "no function 'backwards'", "grads")


def test_not_callable(tmp_path: Path) -> None:
    path = user_file(tmp_path, "backward = 3\n")
    assert_usage_error(run_impl(path), "--impl:", "'backward' is a int, not a function")


def test_impl_and_grads_are_exclusive(tmp_path: Path) -> None:
    result = invoke("run", *SEED_X, "--impl", GOOD, "--grads", str(tmp_path / "g.npz"))
    assert_usage_error(result, "--impl: give only one of --impl and --grads")
    with pytest.raises(GradcheckError, match="backward: give only one of backward and impl"):
        check([0.974, 0.312], backward=correct, impl=GOOD)


# --- user code raising: their traceback, then one Error line, exit 2 ---------------------------


def assert_user_error(result: Any, *fragments: str) -> list[str]:
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.rstrip().splitlines()
    assert lines[-1].startswith("Error: --impl: ")
    assert sum(line.startswith("Error:") for line in lines) == 1
    for fragment in fragments:
        assert fragment in lines[-1], (fragment, lines[-1])
    assert "gradcheck/userimpl.py" not in result.stderr  # only the user's frames
    return lines


def test_syntax_error_shows_the_line(tmp_path: Path) -> None:
    path = user_file(tmp_path, "def backward(params, x, y):\n    return {\n")
    lines = assert_user_error(run_impl(path), "mine.py: importing it raised SyntaxError")
    assert any("mine.py" in line and "line" in line for line in lines[:-1])


def test_import_error(tmp_path: Path) -> None:
    path = user_file(tmp_path, "import no_such_module_here\n")
    lines = assert_user_error(run_impl(path), "importing it raised ModuleNotFoundError")
    assert lines[0] == "Traceback (most recent call last):"
    assert any("import no_such_module_here" in line for line in lines)


def test_exception_in_backward_shows_the_users_traceback(tmp_path: Path) -> None:
    path = user_file(
        tmp_path,
        "def backward(params, x, y):\n    return helper()\n\ndef helper():\n    return 1 / 0\n",
    )
    lines = assert_user_error(run_impl(path), "backward raised ZeroDivisionError: division by zero")
    text = "\n".join(lines)
    assert lines[0] == "Traceback (most recent call last):"
    assert "in backward" in text and "in helper" in text and "return 1 / 0" in text
    assert "ZeroDivisionError: division by zero" in lines[-2]


def test_loading_leaves_sys_path_and_modules_alone(tmp_path: Path) -> None:
    (tmp_path / "helper_mod_for_gc.py").write_text("FACTOR = 1.0\n")
    path = user_file(
        tmp_path, "import helper_mod_for_gc\ndef backward(p, x, y):\n    return grads(p, x, y)\n"
    )
    before_path, before_modules = list(sys.path), set(sys.modules)
    fn = load_backward(f"{path}:backward")
    assert sys.path == before_path
    assert not any(m.startswith("_gradcheck_user_") for m in set(sys.modules) - before_modules)
    assert callable(fn)
    assert check([0.974, 0.312], backward=fn).passed
    sys.modules.pop("helper_mod_for_gc", None)


# --- user code of every kind: exceptions, exits, and the state it leaves ---------------------


USER = """\
from collections.abc import Mapping
import numpy as np
import sys
sys.path.insert(0, {samples!r})
from backward_seed import backward as right


def generator_exit(params, x, y):
    raise GeneratorExit("closing")


def system_exit(params, x, y):
    sys.exit(0)


class Custom(BaseException):
    pass


def base_exception(params, x, y):
    raise Custom("odd")


def huge_loss(params, x, y):
    out = right(params, x, y)
    out["loss"] = 10**400
    return out


def seterr_raise(params, x, y):
    np.seterr(all="raise")
    return right(params, x, y)


class Unprintable(Exception):
    def __str__(self):
        raise RuntimeError("no")


def unprintable(params, x, y):
    raise Unprintable()


class Weird(Mapping):
    def __init__(self, inner):
        self.inner = inner

    def __iter__(self):
        return iter(self.inner)

    def __len__(self):
        return len(self.inner)

    def __getitem__(self, key):
        raise ValueError("items exploded")


def weird_mapping(params, x, y):
    return Weird(right(params, x, y))
"""


@pytest.fixture
def user(tmp_path: Path) -> Path:
    path = tmp_path / "user.py"
    path.write_text(USER.format(samples=str(SAMPLE.parent)))
    return path


@pytest.mark.parametrize(
    ("func", "fragment"),
    [
        ("generator_exit", "raised GeneratorExit: closing"),
        ("system_exit", "called sys.exit(0) (reported, not obeyed)"),
        ("base_exception", "raised Custom: odd"),
        ("unprintable", "raised Unprintable"),
        ("weird_mapping", "raised ValueError: items exploded"),
        ("huge_loss", "too large for a float64"),
    ],
)
def test_user_exceptions_of_every_kind_are_exit_2(user: Path, func: str, fragment: str) -> None:
    result = invoke("run", *SEED_X, "--impl", f"{user}:{func}")
    assert result.exit_code == 2, (result.exit_code, result.stderr)
    assert result.stdout == ""
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: --impl") and fragment in last, last
    if func not in ("huge_loss",):
        assert "Traceback (most recent call last)" in result.stderr
        assert str(user) in result.stderr  # the user's frames
        assert "gradcheck/io" not in result.stderr  # not ours


def test_user_numpy_error_state_is_restored(user: Path) -> None:
    before = np.geterr()
    doc = run_json(*SEED_X, "--impl", f"{user}:seterr_raise", "--oracle", "central")
    assert doc["passed"] is True
    assert np.geterr() == before


def test_import_time_system_exit_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "bye.py"
    path.write_text("import sys\nsys.exit(3)\n")
    result = invoke("run", *SEED_X, "--impl", f"{path}:backward")
    assert_usage_error_last(result.exit_code, result.stderr, "called sys.exit(3)")


def assert_usage_error_last(code: int, stderr: str, fragment: str) -> None:
    assert code == 2, stderr
    assert fragment in stderr.strip().splitlines()[-1]


@pytest.mark.slow
def test_user_writes_to_fd_1_do_not_reach_stdout(tmp_path: Path) -> None:
    path = tmp_path / "noisy.py"
    path.write_text(
        "import os, sys\n"
        f"sys.path.insert(0, {str(SAMPLE.parent)!r})\n"
        "from backward_seed import backward as right\n"
        "os.write(1, b'IMPORT NOISE\\n')\n"
        "sys.__stdout__.write('buffered noise\\n')\n"
        "def backward(p, x, y):\n"
        "    os.write(1, b'CALL NOISE\\n')\n"
        "    print('printed noise')\n"
        "    return right(p, x, y)\n"
    )
    proc = run_process("run", *SEED_X, "--json", "--impl", f"{path}:backward")
    assert proc.returncode == 0, proc.stderr.decode()
    doc = json.loads(proc.stdout)  # exactly one document, nothing else
    assert doc["passed"] is True
    err = proc.stderr.decode()
    for noise in ("IMPORT NOISE", "CALL NOISE", "printed noise", "buffered noise"):
        assert noise in err


def test_user_chdir_does_not_move_relative_output(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    path = tmp_path / "wander.py"
    path.write_text(
        "import os, sys\n"
        f"sys.path.insert(0, {str(SAMPLE.parent)!r})\n"
        "from backward_seed import backward as right\n"
        "def backward(p, x, y):\n"
        f"    os.chdir({str(elsewhere)!r})\n"
        "    return right(p, x, y)\n"
    )
    monkeypatch.chdir(tmp_path)
    result = invoke("run", *SEED_X, "--impl", f"{path}:backward", "--junit", "j.xml", "-q")
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "j.xml").exists() and not (elsewhere / "j.xml").exists()
    assert Path.cwd() == tmp_path


# --- what the function returns -------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "fragments"),
    [
        ("return [1, 2]", ("the result is a list, expected a dict of gradients",)),
        ("g = grads(p, x, y); del g['b3']; return g", ("the result is missing b3",)),
        ("g = grads(p, x, y); g['W4'] = g['W3']; return g", ("unexpected key 'W4'",)),
        (
            "g = grads(p, x, y); g['W1'] = g['W1'].tolist(); return g",
            ("W1 in the result is a list, expected a numpy array of shape (10, 2)",),
        ),
        (
            "g = grads(p, x, y); g['W1'] = g['W1'].T; return g",
            ("W1 in the result has shape (2, 10), expected (10, 2) (transposed?",),
        ),
        (
            "g = grads(p, x, y); g['b2'] = np.stack([g['b2'], g['b2']]); return g",
            ("b2 in the result has shape (2, 10), expected (10,) (or (n, 1), (1, n))",),
        ),
        (
            "g = grads(p, x, y); g['delta2'] = np.zeros((10, 1)); return g",
            (
                "delta2 in the result has shape (10, 1), expected (1, 10) (your arrays look "
                "transposed: examples as columns? use --batch-axis last)",
            ),
        ),
        (
            "g = grads(p, x, y); g['b1'] = g['b1'].astype(complex); return g",
            ("b1 in the result has dtype complex128, expected real numbers",),
        ),
        (
            "g = grads(p, x, y); g['W1'] = None; return g",
            ("W1 in the result is a NoneType, expected a numpy array",),
        ),
        (
            "import torch; g = grads(p, x, y); g['W3'] = torch.tensor(g['W3']); return g",
            (
                "W3 in the result is a Tensor, expected a numpy array of shape (1, 10) (convert "
                "with .detach().numpy())",
            ),
        ),
        (
            "g = grads(p, x, y); g['dense.0.weight'] = g['W1']; return g",
            ("gives W1 twice",),
        ),
    ],
    ids=[
        "list",
        "missing",
        "extra",
        "nested-list",
        "shape-T",
        "bias-2d",
        "delta",
        "complex",
        "none",
        "tensor",
        "twice",
    ],
)
def test_bad_results_exit_2_naming_key_and_shapes(
    tmp_path: Path, body: str, fragments: tuple[str, ...]
) -> None:
    path = user_file(tmp_path, f"def backward(p, x, y):\n    {body}\n")
    assert_usage_error(run_impl(path), "--impl: ", *fragments)


def test_torch_names_are_accepted(tmp_path: Path) -> None:
    body = (
        "def backward(p, x, y):\n    g = grads(p, x, y)\n"
        "    names = ['dense.0.weight', 'dense.0.bias', 'dense.2.weight', 'dense.2.bias',"
        " 'dense.4.weight', 'dense.4.bias']\n"
        "    return dict(zip(names, g.values()))\n"
    )
    assert run_impl(user_file(tmp_path, body)).exit_code == 0


def test_nan_in_a_gradient_is_a_failed_check_not_bad_input(tmp_path: Path) -> None:
    body = "def backward(p, x, y):\n    g = grads(p, x, y)\n    g['b1'][3] = np.nan\n    return g\n"
    path = user_file(tmp_path, body)
    result = run_impl(path)
    assert result.exit_code == 1, result.stderr
    assert "(NaN/inf in b1)" in result.stdout
    assert "b1 has 1 NaN/inf value of 10: a failed check" in result.stdout
    doc = json.loads(run_impl(path, "backward", "--json").stdout)
    assert doc["exit_code"] == 1
    assert doc["diagnosis"][0]["kind"] == "nonfinite" and doc["diagnosis"][0]["parameter"] == "b1"
    b1 = next(r for r in doc["parameters"] if r["name"] == "b1")
    assert b1["hand"][3] == "NaN" and b1["n_nonfinite"] == 1


def test_user_prints_go_to_stderr_so_json_stays_one_document(tmp_path: Path) -> None:
    body = (
        "print('loading my backward')\n"
        "def backward(p, x, y):\n    print('debug: x =', x)\n    return grads(p, x, y)\n"
    )
    result = run_impl(user_file(tmp_path, body), "backward", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["passed"] is True
    assert "loading my backward" in result.stderr and "debug: x =" in result.stderr


# --- isolation: the function gets copies --------------------------------------------------------


def test_in_place_mutation_cannot_change_what_autograd_sees() -> None:
    seen: dict[str, Any] = {}

    def vandal(params: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
        g = correct(params, x, y)
        seen["dtypes"] = {k: v.dtype for k, v in params.items()} | {"x": x.dtype, "y": y.dtype}
        for value in (*params.values(), x, y):
            value[...] = 1e6  # scribble over everything it was given
        params["W1"] = np.zeros((10, 2))
        return g

    clean = check([[0.974, 0.312], [0.1, -0.4]], [[0.5], [1.0]], seed=3)
    report = check([[0.974, 0.312], [0.1, -0.4]], [[0.5], [1.0]], seed=3, backward=vandal)
    assert report.exit_code == 0, report.failed
    for ours, theirs in zip(clean.parameters, report.parameters, strict=True):
        assert np.array_equal(ours.reference, theirs.reference)
    assert set(seen["dtypes"].values()) == {np.dtype(np.float64)}
    np.testing.assert_array_equal(report.settings.x, [[0.974, 0.312], [0.1, -0.4]])


def test_float32_check_hands_over_float64_copies() -> None:
    def backward(params: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> Any:
        assert all(v.dtype == np.float64 for v in params.values()) and x.dtype == np.float64
        return correct(params, x, y)

    assert check([0.974, 0.312], dtype="float32", backward=backward).exit_code == 0


def test_cross_entropy_gets_int64_class_indices() -> None:
    spec = NetSpec((3, 4, 3), "tanh", "cross_entropy")

    def backward(params: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> Any:
        assert y.dtype == np.int64 and y.shape == (x.shape[0],)
        _, bwd = replica.gradients(spec, params, x, y)
        return bwd.grads

    report = check(
        [[0.1, 0.2, 0.3], [0.4, -0.5, 0.6]],
        [[2], [0]],
        layers=spec.layers,
        activation="tanh",
        loss="cross_entropy",
        backward=backward,
    )
    assert report.exit_code == 0


def test_user_exception_through_the_api_is_a_user_code_error() -> None:
    def broken(params: Any, x: Any, y: Any) -> Any:
        raise ValueError("shapes do not align")

    with pytest.raises(
        UserCodeError, match=r"backward: .*broken raised ValueError: shapes"
    ) as info:
        check([0.974, 0.312], backward=broken)
    assert "raise ValueError" in info.value.traceback_text


def test_callable_from_elsewhere_keeps_its_traceback_without_gradchecks_frames() -> None:
    import functools

    def fails(params: Any, x: Any, y: Any, scale: float) -> Any:
        return {"W1": np.zeros((10, 2)) / scale}["W9"]

    with pytest.raises(UserCodeError, match="raised KeyError: 'W9'") as info:
        check([0.974, 0.312], backward=functools.partial(fails, scale=1.0))
    text = info.value.traceback_text
    assert "in fails" in text and "gradcheck/userimpl.py" not in text


# --- assert_backward ---------------------------------------------------------------------------


def test_assert_backward_passes_and_returns_the_report() -> None:
    report = assert_backward(correct, x=[[0.974, 0.312], [0.2, 0.7]], target=[[0.5], [1.0]])
    assert report.passed and report.settings.batch_size == 2


def test_assert_backward_failure_message_is_the_plain_table() -> None:
    with pytest.raises(AssertionError) as info:
        assert_backward(transposed_w2, x=[0.974, 0.312], seed=2)
    message = str(info.value)
    assert "W2 · dense.2.weight" in message and "yours[worst]" in message
    assert "diagnosis:" in message
    assert "W2 equals the transpose of autograd's W2 gradient" in message
    assert "FAILED: 1 of 6 out of tolerance: W2" in message
    assert "\x1b[" not in message


def test_assert_backward_first_line_summarises() -> None:
    import importlib.util

    from tests.conftest import SAMPLES

    spec = importlib.util.spec_from_file_location("buggy", SAMPLES / "backward_buggy.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from gradcheck.testing import assert_backward

    with pytest.raises(AssertionError) as info:
        assert_backward(module.backward, x=[0.974, 0.312])
    first, *rest = str(info.value).splitlines()
    assert first.startswith("gradcheck: 1 of 6 out of tolerance: W2 (max abs err "), first
    assert first.endswith(")") and "e-" in first
    assert any("W2" in line and "✗" in line for line in rest)  # the table follows
    assert any(line.startswith("FAILED: 1 of 6") for line in rest)
