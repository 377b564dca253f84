"""The user's code on the command line (--model, --impl, run, explain, sweep): whatever it does
(exit, raise, print, change torch), the verdict is gradcheck's and honest - exit 2 with one
``Error:`` line naming where, or a check whose warnings say what was restored; never exit 0
without a verdict, never exit 3, never a broken --json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import SAMPLES, assert_valid_document, invoke

SEED_X = ("--x", "0.974", "0.312")
MODEL = """import sys
import torch


class M(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(2, 4)
        self.fc2 = torch.nn.Linear(4, 1)
{init}

    def forward(self, x):
{forward}
        return self.fc2(torch.tanh(self.fc1(x)))


def factory():
{factory}
    return M()
"""
IMPL = """import sys
import numpy as np
import torch

sys.path.insert(0, {samples!r})
from backward_seed import backward as right


def backward(params, x, y):
{body}
    return right(params, x, y)
"""


def model_file(tmp_path: Path, *, init: str = "", forward: str = "", factory: str = "") -> str:
    path = tmp_path / "m.py"
    path.write_text(
        MODEL.format(
            init=f"        {init}" if init else "",
            forward=f"        {forward}" if forward else "",
            factory=f"    {factory}" if factory else "",
        )
    )
    return str(path)


def impl_file(tmp_path: Path, body: str) -> str:
    path = tmp_path / "mine.py"
    path.write_text(IMPL.format(samples=str(SAMPLES), body=f"    {body}"))
    return f"{path}:backward"


def assert_user_error(result: object, line: str) -> None:
    """Exit 2, nothing on stdout, the user's frames at most, then ``line``; never exit 3."""
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)  # type: ignore[attr-defined]
    assert result.stdout == ""  # type: ignore[attr-defined]
    stderr = result.stderr  # type: ignore[attr-defined]
    assert stderr.strip().splitlines()[-1] == line, stderr
    assert "internal error" not in stderr and "gradcheck/" not in stderr


def test_a_model_whose_init_calls_sys_exit_0_is_not_a_silent_pass(tmp_path: Path) -> None:
    path = model_file(tmp_path, init="sys.exit(0)")
    junit = tmp_path / "report.xml"
    result = invoke("run", *SEED_X, "--model", f"{path}:M", "--junit", str(junit))
    assert_user_error(
        result, f"Error: --model: {path}:M: M() called sys.exit(0) (reported, not obeyed)"
    )
    assert not junit.exists()


def test_a_model_file_calling_sys_exit_at_import(tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_text("import sys\nsys.exit(0)\n")
    assert_user_error(
        invoke("run", *SEED_X, "--model", f"{path}:M"),
        f"Error: --model: {path}: importing it called sys.exit(0) (reported, not obeyed)",
    )


@pytest.mark.parametrize("where", ["init", "factory"])
def test_a_model_init_or_factory_that_raises_is_the_users_error(tmp_path: Path, where: str) -> None:
    path = model_file(tmp_path, **{where: "raise ValueError('not today')"})
    name, call = ("M", "M()") if where == "init" else ("factory", "factory()")
    result = invoke("run", *SEED_X, "--model", f"{path}:{name}")
    assert_user_error(result, f"Error: --model: {path}:{name}: {call} raised ValueError: not today")
    assert "raise ValueError('not today')" in result.stderr


def test_a_forward_that_raises_when_run_names_forward(tmp_path: Path) -> None:
    # Traced with proxies it passes; run on numbers it raises.
    path = model_file(tmp_path, forward="if not isinstance(x, torch.fx.Proxy): raise KeyError('k')")
    assert_user_error(
        invoke("run", *SEED_X, "--model", f"{path}:M"),
        f"Error: --model: {path}:M: M.forward raised KeyError: 'k'",
    )


def test_a_frozen_parameter_is_checked_with_a_warning(tmp_path: Path) -> None:
    path = model_file(tmp_path, init="self.fc1.weight.requires_grad_(False)")
    result = invoke("run", *SEED_X, "--model", f"{path}:M")
    assert result.exit_code == 0, result.stderr
    assert "fc1.weight is frozen (requires_grad=False) in the model; checked all the same" in (
        " ".join(result.stdout.split())
    )


def test_a_model_on_the_meta_device_is_exit_2(tmp_path: Path) -> None:
    path = model_file(tmp_path, init="self.to('meta')")
    result = invoke("run", *SEED_X, "--model", f"{path}:M")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.strip() == (
        "Error: --model: M: fc1.weight is on the meta device, which holds no values to check; "
        "build the model on the CPU, or give --weights with its state_dict"
    )


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ("torch.set_grad_enabled(False)", "changed torch's grad mode (to off)"),
        ("torch.set_default_device('meta')", "changed torch's default device (to meta)"),
        # (pytest runs deeper than 50 frames: 50 itself is tested in a process of its own)
        ("sys.setrecursionlimit(400)", "changed Python's recursion limit (to 400)"),
        ("torch.set_default_dtype(torch.float64)", "changed torch's default dtype (to float64)"),
        ("torch.autograd.set_detect_anomaly(True)", "changed torch's anomaly mode (to on"),
        ("torch.use_deterministic_algorithms(True)", "changed torch's deterministic algorithms"),
    ],
)
@pytest.mark.parametrize("command", ["run", "sweep"])
def test_impl_changing_torch_is_restored_and_reported(
    tmp_path: Path, body: str, said: str, command: str
) -> None:
    impl = impl_file(tmp_path, body)
    if command == "run":
        result = invoke("run", *SEED_X, "--impl", impl, "--json")
        assert result.exit_code == 0, result.stderr
        doc = json.loads(result.stdout)
        messages = [w["message"] for w in doc["warnings"] if w["kind"] == "user_code"]
    else:
        result = invoke("sweep", "--cases", "3", "--impl", impl, "--json")
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout)["pass_rate"] == 1.0
        messages = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(messages) == 1 and f"{impl} {said}" in messages[0], messages
    assert "restored it after the call" in messages[0]


@pytest.mark.slow
def test_impl_setting_the_recursion_limit_to_50_in_a_real_process(tmp_path: Path) -> None:
    import subprocess
    import sys

    gradcheck = str(Path(sys.executable).with_name("gradcheck"))
    impl = impl_file(tmp_path, "sys.setrecursionlimit(50)")
    proc = subprocess.run(
        [gradcheck, "run", *SEED_X, "--impl", impl, "--json"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    (warning,) = [w for w in json.loads(proc.stdout)["warnings"] if w["kind"] == "user_code"]
    assert warning["message"] == (
        f"--impl: {impl} changed Python's recursion limit (to 50); gradcheck restored it after "
        "the call."
    )


def test_a_returned_loss_whose_float_raises_is_the_users_error(tmp_path: Path) -> None:
    path = tmp_path / "mine.py"
    path.write_text(
        f"import sys\nsys.path.insert(0, {str(SAMPLES)!r})\n"
        "from backward_seed import backward as right\n\n\n"
        "class Loss(float):\n    def __float__(self):\n        raise ValueError('no float')\n\n\n"
        "def backward(params, x, y):\n    g = right(params, x, y)\n    g['loss'] = Loss(1.0)\n"
        "    return g\n"
    )
    for command in (["run", *SEED_X], ["sweep", "--cases", "2"]):
        result = invoke(*command, "--impl", f"{path}:backward")
        assert_user_error(result, f"Error: --impl: {path}:backward raised ValueError: no float")
        assert "raise ValueError('no float')" in result.stderr


@pytest.mark.parametrize("body", ["sys.exit(0)", "raise SystemExit('bye')", "raise MemoryError"])
def test_sweep_impl_that_exits_or_raises_is_exit_2(tmp_path: Path, body: str) -> None:
    impl = impl_file(tmp_path, body)
    result = invoke("sweep", "--cases", "2", "--impl", impl)
    assert result.exit_code == 2 and result.stdout == "", result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(f"Error: --impl: {impl} ")


@pytest.mark.parametrize("command", ["run", "explain"])
def test_prints_in_a_models_init_and_forward_do_not_break_json(
    tmp_path: Path, command: str
) -> None:
    path = model_file(
        tmp_path,
        init="print('from init'); import os; os.write(1, b'fd one\\n')",
        forward="print('from forward')",
    )
    result = invoke(command, *SEED_X, "--model", f"{path}:M", "--json")
    assert result.exit_code == 0, result.stderr
    assert_valid_document(json.loads(result.stdout))
    assert "from init" in result.stderr and "from forward" in result.stderr


def test_a_bare_linear_is_linear_regression(tmp_path: Path) -> None:
    path = tmp_path / "lin.py"
    path.write_text(
        "import torch\n\ndef linear():\n    return torch.nn.Linear(2, 1)\n\n"
        "def logistic():\n"
        "    return torch.nn.Sequential(torch.nn.Linear(2, 1), torch.nn.Sigmoid())\n"
    )
    result = invoke("run", *SEED_X, "--model", f"{path}:linear")
    assert result.exit_code == 0, result.stderr
    assert "2→1, mse" in result.stdout and "PASSED" in result.stdout
    result = invoke(
        "run", *SEED_X, "--model", f"{path}:logistic", "--loss", "bce", "--target", "0.3"
    )
    assert result.exit_code == 0, result.stderr
    assert "2→1 → sigmoid, bce" in result.stdout


def test_a_linear_without_bias_names_the_layer(tmp_path: Path) -> None:
    path = model_file(tmp_path, init="self.fc2 = torch.nn.Linear(4, 1, bias=False)")
    result = invoke("run", *SEED_X, "--model", f"{path}:M")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.strip() == (
        "Error: --model: M.fc2 is Linear(4, 1, bias=False); gradcheck checks networks with a "
        "bias in every layer (W and b): give the layer its bias"
    )


def test_init_with_a_model_that_exits_is_exit_2(tmp_path: Path) -> None:
    path = model_file(tmp_path, init="sys.exit(0)")
    result = invoke("init", str(tmp_path / "start.py"), "--model", f"{path}:M")
    assert result.exit_code == 2
    assert not (tmp_path / "start.py").exists()


def test_a_sys_exit_escaping_everything_is_still_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    # The last net, in cli/guard.py: whatever called it, exit 0 would read as a pass.
    from gradcheck.cli import commands

    def exits(**_: object) -> None:
        raise SystemExit(0)

    monkeypatch.setattr(commands, "check_output_flags", exits)
    result = invoke("run", *SEED_X)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.strip() == (
        "Error: sys.exit(0) was called during the check (reported, not obeyed)"
    )


def test_ctrl_c_in_user_code_is_an_interrupt_and_torch_is_put_back(tmp_path: Path) -> None:
    import torch

    impl = impl_file(tmp_path, "torch.set_grad_enabled(False); raise KeyboardInterrupt")
    result = invoke("run", *SEED_X, "--impl", impl)
    assert result.exit_code == 130 and result.stderr.strip() == "Interrupted."
    assert torch.is_grad_enabled()
