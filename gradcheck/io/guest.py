"""Everything the user wrote runs as a guest: inside one guard, which leaves the check honest.

User code is the ``--impl`` file and function, the ``--model`` file, its class or factory and
its ``forward`` (traced and run), a ``backward=`` callable, the probes that call them again,
and whatever an API caller's objects run when gradcheck touches them. Two layers:

- ``hosting()`` spans one check (``run``, ``explain``, ``sweep``, ``init``, ``gradcheck.check``):
  ``sys.stdout`` *and* file descriptor 1 point at stderr the whole time user code can run, so
  nothing it prints (a thread included, while the check lasts) can reach the result; torch's
  global state is gradcheck's own (the caller's is set aside and given back); and whatever
  escapes from the user's code is theirs: ``SystemExit`` and other ``BaseException``s (Ctrl-C
  aside), or an exception raised in one of their frames, become a ``UserCodeError`` (exit 2).
- ``run(where, fn)`` is one call of user code: ``SystemExit`` (reported, not obeyed) and every
  exception become a ``UserCodeError`` naming ``where`` with the user's own frames only; torch's
  global state (grad and inference mode, default device and dtype, function and dispatch
  modes, anomaly mode, deterministic flags, float32 matmul precision, threads, global module
  hooks), Python's recursion limit, numpy's error state, the warning filters, ``sys.path``,
  ``sys.stdout``/``sys.stderr`` and the working directory are saved before and restored
  after; a change is reported as a notice (``hosting`` collects them, each once).

Nothing can stop ``os._exit``, a thread that writes after the check, or code that rewrites
torch's or numpy's functions: the user's code runs with the user's rights.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import site
import sys
import sysconfig
import traceback
import warnings
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from gradcheck.core.errors import GradcheckError, UserCodeError
from gradcheck.io.files import first_line

T = TypeVar("T")

#: The lowest recursion limit a check runs under (Python's default).
MIN_RECURSION_LIMIT = 1000


@dataclass
class _Span:
    notices: list[str] = field(default_factory=list)
    last: str | None = None  # where user code last ran: the net names it
    sources: set[str] = field(default_factory=set)  # the user's files (paths as given and real)
    guards: list[Any] = field(default_factory=list)  # torch guards held until the end


_SPAN: ContextVar[_Span | None] = ContextVar("gradcheck_hosting", default=None)


# ---------------------------------------------------------------------------------------------
# Hosting: the span of one check


@contextlib.contextmanager
def hosting() -> Iterator[list[str]]:
    """One check: stdout to stderr, gradcheck's own torch state, the user's errors caught.

    Yields the notices found so far (a list that grows while the check runs): read it at the
    end of the body. A nested one is the same span.
    """
    current = _SPAN.get()
    if current is not None:
        yield current.notices
        return
    state = _Span()
    token = _SPAN.set(state)
    _flush_stdout()
    saved_fd = _redirect_fd1()
    saved_streams = (sys.stdout, sys.stderr)
    caller = _capture()
    try:
        _restore(_host(caller), caller, state)
        with contextlib.redirect_stdout(sys.stderr):
            try:
                yield state.notices
            except (KeyboardInterrupt, GradcheckError):
                raise
            except BaseException as exc:
                if isinstance(exc, Exception) and not _raised_in(exc, state.sources):
                    raise  # gradcheck's own error: exit 3, as it should be
                where = state.last or "your code"
                raise UserCodeError(f"{where} {raised(exc)}", user_traceback(exc)) from None
    finally:
        _restore(caller, _capture(), state)
        while state.guards:
            state.guards.pop()  # dropping a torch guard gives the caller's mode back
        _flush_stdout()
        sys.stdout, sys.stderr = saved_streams
        if saved_fd is not None:
            with contextlib.suppress(OSError):
                os.dup2(saved_fd, 1)
            os.close(saved_fd)
        _SPAN.reset(token)


def note(message: str) -> None:
    """Report ``message`` once in the check's warnings (nothing outside ``hosting``)."""
    state = _SPAN.get()
    if state is not None and message not in state.notices:
        state.notices.append(message)


# ---------------------------------------------------------------------------------------------
# One call of user code


def run(where: str, fn: Callable[[], T], *, source: str | None = None) -> T:
    """``fn()``, which runs the user's code, as a guest; ``where`` names it in messages
    (``--impl: mine.py:backward``, ``--model: net.py:Net: Net.forward``), ``source`` is the
    file it comes from, if known (an exception escaping later from a frame there is theirs).

    A ``GradcheckError`` raised inside passes unchanged (gradcheck's own validation may run
    inside, where it touches the user's objects); ``KeyboardInterrupt`` too.
    """
    with hosting():
        state = _SPAN.get()
        assert state is not None
        state.last = where
        if source:
            state.sources.update(_names(source))
        saved_limit = sys.getrecursionlimit()
        saved_streams = (sys.stdout, sys.stderr)
        saved_path = list(sys.path)
        cwd = _open_cwd()
        before = _capture()
        try:
            with np.errstate(), warnings.catch_warnings():
                return fn()
        except (KeyboardInterrupt, GradcheckError):
            raise
        except BaseException as exc:
            raise UserCodeError(f"{where} {raised(exc)}", user_traceback(exc)) from None
        finally:
            # First: a limit below the current depth would make the next call fail.
            limit = sys.getrecursionlimit()
            sys.setrecursionlimit(saved_limit)
            sys.stdout, sys.stderr = saved_streams
            sys.path[:] = saved_path
            if cwd is not None:  # relative output paths (--junit) still mean what they meant
                with contextlib.suppress(OSError):
                    os.fchdir(cwd)
                os.close(cwd)
            changes = _restore(before, _capture(), state)
            if limit != saved_limit:
                changes.append(f"Python's recursion limit (to {limit})")
            if changes:
                them = "it" if len(changes) == 1 else "them"
                note(f"{where} changed {_join(changes)}; gradcheck restored {them} after the call")


@dataclass(frozen=True)
class Guest:
    """The runner handed to the torch side for one user object: ``guest(what, fn)`` runs
    ``fn`` as ``run("{option}: {label}: {what}", fn)``; ``guest.note(text)`` adds a notice."""

    option: str  # "--model"
    label: str  # "net.py:Net", "python:notebook.Net"
    source: str | None = None  # the file the user's object comes from, if known

    def __call__(self, what: str, fn: Callable[[], T]) -> T:
        return run(f"{self.option}: {self.label}: {what}", fn, source=self.source)

    def note(self, message: str) -> None:
        note(f"{self.option}: {self.label}: {message}")


def _open_cwd() -> int | None:
    try:
        return os.open(".", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


# ---------------------------------------------------------------------------------------------
# Standard output


def _redirect_fd1() -> int | None:
    """Point file descriptor 1 at stderr's; return a copy of the old one (None if impossible)."""
    try:
        saved = os.dup(1)
    except OSError:
        return None
    try:
        os.dup2(2, 1)
    except OSError:
        os.close(saved)
        return None
    return saved


def _flush_stdout() -> None:
    for stream in {id(s): s for s in (sys.stdout, sys.__stdout__) if s is not None}.values():
        with contextlib.suppress(Exception):
            stream.flush()


# ---------------------------------------------------------------------------------------------
# torch's global state

#: torch's state when nothing has changed it (what gradcheck's checks run under); threads
#: keep whatever the process has.
_DEFAULTS: dict[str, Any] = {
    "grad mode": True,
    "inference mode": False,
    "default dtype": "float32",
    "default device": (None, None),
    "function modes": (),
    "dispatch modes": (),
    "anomaly mode": (False, False),
    "deterministic algorithms": (False, False),
    "backend deterministic flags": (False, False),
    "float32 matmul precision": "highest",
    "global module hooks": (),
}
_LABELS = {
    "grad mode": "torch's grad mode",
    "inference mode": "torch's inference mode",
    "default dtype": "torch's default dtype",
    "default device": "torch's default device",
    "function modes": "torch's function modes",
    "dispatch modes": "torch's dispatch modes",
    "anomaly mode": "torch's anomaly mode",
    "deterministic algorithms": "torch's deterministic algorithms",
    "backend deterministic flags": "torch's cudnn/mkldnn deterministic flags",
    "float32 matmul precision": "torch's float32 matmul precision",
    "threads": "torch's thread count",
    "global module hooks": "torch's global module hooks",
    "recursion limit": "Python's recursion limit",
}
_HOOK_DICTS = (
    "_global_backward_pre_hooks",
    "_global_backward_hooks",
    "_global_forward_pre_hooks",
    "_global_forward_hooks",
    "_global_forward_hooks_always_called",
    "_global_forward_hooks_with_kwargs",
    "_global_module_registration_hooks",
    "_global_parameter_registration_hooks",
    "_global_buffer_registration_hooks",
)


def _capture() -> dict[str, Any]:
    """The global state now: Python's recursion limit, and torch's (its defaults when torch
    is not loaded yet). torch is read through ``torch._C``, which user code rarely rebinds."""
    found: dict[str, Any] = {"recursion limit": sys.getrecursionlimit()}
    torch: Any = sys.modules.get("torch")
    c = getattr(torch, "_C", None)
    if c is None or not hasattr(c, "is_grad_enabled"):  # not (fully) imported yet
        return {**found, **_DEFAULTS}
    device_module = sys.modules.get("torch.utils._device")
    dispatch = sys.modules.get("torch.utils._python_dispatch")
    context = getattr(getattr(torch, "_GLOBAL_DEVICE_CONTEXT", None), "device_context", None)
    return {
        **found,
        "grad mode": bool(c.is_grad_enabled()),
        "inference mode": bool(c.is_inference_mode_enabled()),
        "default dtype": str(c.get_default_dtype()).removeprefix("torch."),
        "default device": (context, getattr(device_module, "CURRENT_DEVICE", None)),
        "function modes": tuple(
            c._get_function_stack_at(i) for i in range(c._len_torch_function_stack())
        ),
        "dispatch modes": (
            tuple(dispatch._get_current_dispatch_mode_stack()) if dispatch is not None else ()
        ),
        "anomaly mode": (bool(c.is_anomaly_enabled()), bool(c.is_anomaly_check_nan_enabled())),
        "deterministic algorithms": (
            bool(c._get_deterministic_algorithms()),
            bool(c._get_deterministic_algorithms_warn_only()),
        ),
        "backend deterministic flags": (
            bool(c._get_cudnn_deterministic()),
            bool(c._get_mkldnn_deterministic()),
        ),
        "float32 matmul precision": str(c._get_float32_matmul_precision()),
        "threads": int(c.get_num_threads()),
        "global module hooks": _hooks(),
    }


def _hooks() -> tuple[Any, ...]:
    """torch's global module hooks, as ``(table, entries)`` for every table holding any."""
    hooks: Any = sys.modules.get("torch.nn.modules.module")
    if hooks is None:
        return ()
    found = tuple(
        (name, tuple(getattr(hooks, name).items()))
        for name in _HOOK_DICTS
        if getattr(hooks, name, None)
    )
    full = getattr(hooks, "_global_is_full_backward_hook", None)
    return found + ((("full", full),) if full is not None else ())


def _host(caller: dict[str, Any]) -> dict[str, Any]:
    """The state a check runs under: torch's defaults, the caller's threads, a recursion
    limit of at least Python's default."""
    host = {**caller, **_DEFAULTS}
    host["recursion limit"] = max(MIN_RECURSION_LIMIT, caller.get("recursion limit", 0))
    return host


def _restore(wanted: dict[str, Any], now: dict[str, Any], state: _Span) -> list[str]:
    """Set torch back to ``wanted`` where ``now`` differs; return what differed, for people."""
    torch: Any = sys.modules.get("torch")
    changed = [
        key for key in wanted if key in now and key != "recursion limit" and now[key] != wanted[key]
    ]
    if "recursion limit" in wanted and sys.getrecursionlimit() != wanted["recursion limit"]:
        sys.setrecursionlimit(wanted["recursion limit"])
    if not changed or torch is None:
        return []
    c = torch._C
    for key in changed:
        value = wanted[key]
        if key == "grad mode":
            c._set_grad_enabled(value)
        elif key == "inference mode":
            if not value:  # held until the hosting span ends; dropping it restores the mode
                state.guards.append(c._InferenceMode(False))
        elif key == "default dtype":
            c._set_default_dtype(getattr(torch, value))
        elif key in ("default device", "function modes"):
            _set_function_modes(torch, wanted)
        elif key == "dispatch modes":
            _set_dispatch_modes(value)
        elif key == "anomaly mode":
            c.set_anomaly_enabled(*value)
        elif key == "deterministic algorithms":
            c._set_deterministic_algorithms(value[0], warn_only=value[1])
        elif key == "backend deterministic flags":
            c._set_cudnn_deterministic(value[0])
            c._set_mkldnn_deterministic(value[1])
        elif key == "float32 matmul precision":
            c._set_float32_matmul_precision(value)
        elif key == "threads":
            c.set_num_threads(value)
        elif key == "global module hooks":
            _set_hooks(value)
    if "default device" in changed and "function modes" in changed:
        # a default device is a mode on that stack: say it once
        others = [
            _without_devices(now["function modes"]),
            _without_devices(wanted["function modes"]),
        ]
        if others[0] == others[1]:
            changed.remove("function modes")
    return [f"{_LABELS[key]} (to {_show(key, now[key])})" for key in changed]


def _without_devices(modes: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(m for m in modes if type(m).__name__ != "DeviceContext")


def _set_function_modes(torch: Any, wanted: dict[str, Any]) -> None:
    """The function-mode stack (a default device is one of its modes) as it was."""
    c = torch._C
    while c._len_torch_function_stack():
        c._pop_torch_function_stack()
    for mode in wanted["function modes"]:
        c._push_on_torch_function_stack(mode)
    context, current = wanted["default device"]
    torch._GLOBAL_DEVICE_CONTEXT.device_context = context
    device_module: Any = sys.modules.get("torch.utils._device")
    if device_module is not None:
        device_module.CURRENT_DEVICE = current


def _set_dispatch_modes(modes: tuple[Any, ...]) -> None:
    dispatch: Any = sys.modules["torch.utils._python_dispatch"]
    for _ in dispatch._get_current_dispatch_mode_stack():
        dispatch._pop_mode()
    for mode in modes:
        dispatch._push_mode(mode)


def _set_hooks(value: tuple[Any, ...]) -> None:
    hooks: Any = sys.modules.get("torch.nn.modules.module")
    if hooks is None:
        return
    saved = dict(value)
    for name in _HOOK_DICTS:
        table = getattr(hooks, name)
        table.clear()
        table.update(saved.get(name, ()))
    hooks._global_is_full_backward_hook = saved.get("full")


def _show(key: str, value: Any) -> str:
    if key in ("grad mode", "inference mode"):
        return "on" if value else "off"
    if key == "anomaly mode":
        return ("on" if value[0] else "off") + (", checking NaN" if value[0] and value[1] else "")
    if key == "deterministic algorithms":
        return ("on" if value[0] else "off") + (", warn only" if value[0] and value[1] else "")
    if key == "backend deterministic flags":
        return f"cudnn {'on' if value[0] else 'off'}, mkldnn {'on' if value[1] else 'off'}"
    if key == "default device":
        context, current = value
        device = getattr(context, "device", None) or current
        return str(device) if device is not None else "cpu"
    if key in ("function modes", "dispatch modes"):
        names = [type(mode).__name__ for mode in value]
        return ", ".join(names) if names else "none"
    if key == "global module hooks":
        count = sum(len(items) for name, items in value if name != "full")
        return f"{count} hook{'s' if count != 1 else ''}"
    return str(value)


# ---------------------------------------------------------------------------------------------
# Whose frames


_PACKAGE = str(Path(__file__).resolve().parent.parent)  # the gradcheck package


def _library_dirs() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    found = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    with contextlib.suppress(Exception):
        found.update(site.getsitepackages())
    with contextlib.suppress(Exception):
        found.add(site.getusersitepackages())
    return tuple(sorted(str(Path(p).resolve()) + os.sep for p in found if p))


_LIBRARIES = _library_dirs()


def _theirs(filename: str) -> bool:
    """A frame of the user's code: not gradcheck's, not the standard library's or an
    installed package's (torch, numpy), not Python's frozen import machinery."""
    if filename.startswith("<frozen ") or filename.startswith(_PACKAGE):
        return False
    try:
        resolved = str(Path(filename).resolve())
    except (OSError, ValueError):
        resolved = filename
    return not resolved.startswith(_PACKAGE) and not resolved.startswith(_LIBRARIES)


def _names(path: str) -> set[str]:
    """A file as given and as it resolves (a frame may carry either)."""
    try:
        return {path, str(Path(path).resolve())}
    except (OSError, ValueError):
        return {path}


def _raised_in(exc: BaseException, sources: set[str]) -> bool:
    """Whether the exception passed through one of the user's files."""
    try:
        return any(_names(f.filename) & sources for f in traceback.extract_tb(exc.__traceback__))
    except Exception:
        return False


def source_of(obj: object) -> str | None:
    """The file a function or a class (or an instance's class) is defined in, if it says."""
    try:
        code = getattr(obj, "__code__", None)
        if code is None and not isinstance(obj, type):  # a callable object: its __call__
            code = getattr(type(obj).__dict__.get("__call__"), "__code__", None)
        if code is not None:
            return str(code.co_filename)
        return inspect.getsourcefile(obj if isinstance(obj, type) else type(obj))
    except BaseException:
        return None


def user_traceback(exc: BaseException) -> str:
    """The exception's traceback through the user's own frames only (theirs to read)."""
    try:
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if _theirs(f.filename)]
        body = "".join(traceback.format_exception_only(type(exc), exc))
        if not frames:
            return body  # a SyntaxError shows its own file, line and caret
        summary = traceback.StackSummary.from_list(frames)
        return "Traceback (most recent call last):\n" + "".join(summary.format()) + body
    except BaseException:
        return f"{type(exc).__name__} (its traceback could not be formatted)"


def _describe(exc: BaseException) -> str:
    try:
        text = first_line(exc)
    except BaseException:
        text = "<str() failed>"
    kind = type(exc).__name__
    return kind if text == kind else f"{kind}: {text}"


def raised(exc: BaseException) -> str:
    """``raised ValueError: …``, or for ``sys.exit(…)`` what it asked (not obeyed)."""
    if isinstance(exc, SystemExit):
        try:
            code = repr(exc.code)
        except BaseException:
            code = "?"
        return f"called sys.exit({code}) (reported, not obeyed)"
    return f"raised {_describe(exc)}"


__all__ = ["Guest", "hosting", "note", "raised", "run", "source_of", "user_traceback"]
