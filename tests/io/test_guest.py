"""The guest guard (io/guest.py): user code's exits, exceptions, output and global state."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from gradcheck.core.errors import GradcheckError, UserCodeError
from gradcheck.io import guest


def _state() -> dict[str, Any]:
    return guest._capture()


def test_sys_exit_is_reported_not_obeyed() -> None:
    with pytest.raises(UserCodeError) as caught:
        guest.run("--impl: mine.py:backward", lambda: sys.exit(0))
    assert caught.value.cli_message == (
        "--impl: mine.py:backward called sys.exit(0) (reported, not obeyed)"
    )


class Custom(BaseException):
    pass


def _raise(exc: BaseException) -> Callable[[], None]:
    def fn() -> None:
        raise exc

    return fn


@pytest.mark.parametrize(
    ("exc", "said"),
    [
        (ValueError("bad"), "raised ValueError: bad"),
        (GeneratorExit(), "raised GeneratorExit"),
        (StopIteration(), "raised StopIteration"),
        (Custom(), "raised Custom"),
        (SystemExit("bye"), "called sys.exit('bye') (reported, not obeyed)"),
        (RecursionError(), "raised RecursionError"),
    ],
)
def test_every_exception_of_user_code_is_a_user_code_error(exc: BaseException, said: str) -> None:
    with pytest.raises(
        UserCodeError, match="^where " + said.replace("(", r"\(").replace(")", r"\)")
    ):
        guest.run("where", _raise(exc))


def test_ctrl_c_and_gradchecks_own_errors_pass_unchanged() -> None:
    with pytest.raises(KeyboardInterrupt):
        guest.run("where", _raise(KeyboardInterrupt()))
    with pytest.raises(GradcheckError, match=r"^x: mine$") as caught:
        guest.run("where", _raise(GradcheckError("--x: mine")))
    assert not isinstance(caught.value, UserCodeError)


def _grad_off() -> None:
    torch.set_grad_enabled(False)


def _meta_device() -> None:
    torch.set_default_device("meta")


def _float64() -> None:
    torch.set_default_dtype(torch.float64)


def _one_thread() -> None:
    torch.set_num_threads(1 if torch.get_num_threads() != 1 else 2)


def _anomaly() -> None:
    torch.autograd.set_detect_anomaly(True)


def _deterministic() -> None:
    torch._C._set_deterministic_algorithms(True, warn_only=True)


def _matmul() -> None:
    torch.set_float32_matmul_precision("medium")


def _recursion() -> None:
    sys.setrecursionlimit(max(sys.getrecursionlimit() // 2, len(_stack()) + 60))


def _stack() -> list[Any]:
    import inspect

    return inspect.stack(0)


class _Passing(torch.overrides.TorchFunctionMode):
    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        return func(*args, **(kwargs or {}))


_KEPT: list[Any] = []  # a leaked mode stays referenced, as in a user's module


def _function_mode() -> None:
    mode = _Passing()
    mode.__enter__()
    _KEPT.append(mode)


def _fake_tensors() -> None:
    from torch._subclasses.fake_tensor import FakeTensorMode

    mode = FakeTensorMode()
    mode.__enter__()
    _KEPT.append(mode)


def _inference() -> None:
    mode = torch.inference_mode()
    mode.__enter__()
    _KEPT.append(mode)


def _global_hook() -> None:
    torch.nn.modules.module.register_module_forward_hook(lambda m, i, o: o * 2)


def _cudnn() -> None:
    torch.backends.cudnn.deterministic = True


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (_grad_off, "torch's grad mode (to off)"),
        (_meta_device, "torch's default device (to meta)"),
        (_float64, "torch's default dtype (to float64)"),
        (_one_thread, "torch's thread count"),
        (_anomaly, "torch's anomaly mode (to on, checking NaN)"),
        (_deterministic, "torch's deterministic algorithms (to on, warn only)"),
        (_matmul, "torch's float32 matmul precision (to medium)"),
        (_recursion, "Python's recursion limit"),
        (_function_mode, "torch's function modes (to _Passing)"),
        (_fake_tensors, "torch's dispatch modes (to FakeTensorMode)"),
        (_inference, "torch's grad mode (to off) and torch's inference mode (to on)"),
        (_global_hook, "torch's global module hooks (to 1 hook)"),
        (_cudnn, "torch's cudnn/mkldnn deterministic flags (to cudnn on, mkldnn off)"),
    ],
)
def test_global_state_is_restored_after_each_call_and_reported(
    change: Callable[[], None], said: str
) -> None:
    before = _state()
    with guest.hosting() as notices:
        inside = _state()
        guest.run("--impl: mine.py:backward", change)
        assert _state() == inside  # restored at once, before gradcheck's own code runs on
        # gradcheck's own torch work is unharmed
        x = torch.ones(2, 3, requires_grad=True)
        (x * 2).sum().backward()
        assert x.grad is not None and x.grad.device.type == "cpu"
        assert torch.zeros(1).dtype == torch.float32
    _KEPT.clear()
    assert _state() == before
    assert len(notices) == 1, notices
    assert notices[0].startswith("--impl: mine.py:backward changed " + said), notices
    assert notices[0].endswith(
        ("gradcheck restored it after the call", "restored them after the call")
    )


def test_a_change_made_twice_is_noted_once() -> None:
    with guest.hosting() as notices:
        for _ in range(3):
            guest.run("where", _grad_off)
    assert notices == [
        "where changed torch's grad mode (to off); gradcheck restored it after the call"
    ]


def test_state_the_caller_set_is_put_aside_for_the_check_and_given_back() -> None:
    # A notebook that set torch's defaults its own way: the check runs under torch's defaults
    # (so that a seed builds the same weights as on the command line), the caller's come back.
    torch.set_default_dtype(torch.float64)
    torch.set_grad_enabled(False)
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(len(_stack()) + 100, 400))
    try:
        with guest.hosting():
            assert torch.get_default_dtype() == torch.float32
            assert torch.is_grad_enabled()
            assert sys.getrecursionlimit() >= guest.MIN_RECURSION_LIMIT
        assert torch.get_default_dtype() == torch.float64
        assert not torch.is_grad_enabled()
    finally:
        torch.set_default_dtype(torch.float32)
        torch.set_grad_enabled(True)
        sys.setrecursionlimit(old)


def test_numpy_state_warnings_and_path_are_restored() -> None:
    import warnings

    def change() -> None:
        np.seterr(all="raise")
        warnings.simplefilter("error")
        sys.path.insert(0, "/nowhere")

    path = list(sys.path)
    errors = np.geterr()
    with warnings.catch_warnings():
        filters = list(warnings.filters)
        guest.run("where", change)
        assert warnings.filters == filters
    assert np.geterr() == errors and sys.path == path


def test_fd_1_and_sys_stdout_point_at_stderr_while_a_check_runs(
    capfd: pytest.CaptureFixture[str],
) -> None:
    with guest.hosting():
        print("printed")
        os.write(1, b"written\n")
        sys.stdout.flush()
    print("after")
    out, err = capfd.readouterr()
    assert out == "after\n"
    assert "printed" in err and "written" in err


def test_replaced_streams_are_put_back() -> None:
    import io

    stderr = sys.stderr

    def change() -> None:
        sys.stderr = io.StringIO()

    guest.run("where", change)
    assert sys.stderr is stderr


def _user_file(tmp_path: Path, body: str) -> Any:
    """A function defined in a file of its own (the user's), calling numpy."""
    path = tmp_path / "mine.py"
    path.write_text("import numpy as np\n\n\ndef f():\n" + body + "\n")
    namespace: dict[str, Any] = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    return namespace["f"], str(path)


def test_tracebacks_show_the_users_frames_only(tmp_path: Path) -> None:
    f, path = _user_file(tmp_path, "    return np.linalg.inv(np.zeros((2, 3)))")
    with pytest.raises(UserCodeError) as caught:
        guest.run("where", f)
    text = caught.value.traceback_text
    assert f'File "{path}", line 5, in f' in text
    assert "site-packages" not in text and "gradcheck" not in text  # not numpy's, not ours
    assert text.rstrip().splitlines()[-1].startswith("numpy.linalg.LinAlgError")


def test_an_exception_escaping_from_the_users_file_later_is_theirs(tmp_path: Path) -> None:
    # gradcheck touching a user object outside a guest call (a property that raises) is the
    # user's error; an error with none of the user's frames is gradcheck's (exit 3).
    f, path = _user_file(tmp_path, "    raise ValueError('late')")
    with pytest.raises(UserCodeError, match=r"^where raised ValueError: late"):
        with guest.hosting():
            guest.run("where", lambda: None, source=path)
            f()
    with pytest.raises(RuntimeError, match="gradcheck's own"):
        with guest.hosting():
            guest.run("where", lambda: None, source=path)
            raise RuntimeError("gradcheck's own")


def test_sys_exit_escaping_anywhere_while_hosting_is_not_obeyed() -> None:
    with pytest.raises(UserCodeError) as caught:
        with guest.hosting():
            guest.run("--model: m.py:M: M()", lambda: None)
            sys.exit(0)
    assert (
        caught.value.cli_message == "--model: m.py:M: M() called sys.exit(0) (reported, not obeyed)"
    )


def test_the_runner_of_a_user_object_names_it() -> None:
    runner = guest.Guest("--model", "net.py:Net")
    with pytest.raises(UserCodeError, match=r"^model: net.py:Net: Net.forward raised ValueError"):
        runner("Net.forward", _raise(ValueError("x")))
    with guest.hosting() as notices:
        runner.note("fc1.weight is frozen")
    assert notices == ["--model: net.py:Net: fc1.weight is frozen"]
