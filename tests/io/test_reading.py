"""Hostile files, values, paths and user code: each is exit 2 with one line, at once.

Every case here was an internal error (exit 3), a hang, or a silent misreading before.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from gradcheck.torch_side.reference import Model
from tests.conftest import assert_usage_error, invoke, run_json

SEED_X = ("--x", "0.974", "0.312")
ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "samples" / "backward_seed.py"


def gradcheck(
    *args: str, stdin: bytes | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[bytes]:
    """The real program in a subprocess: file descriptors, pipes and FIFOs are real here."""
    return subprocess.run(
        [sys.executable, "-m", "gradcheck", *args],
        input=stdin,
        capture_output=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, "NO_COLOR": "1"},
    )


def assert_exit_2(proc: subprocess.CompletedProcess[bytes], *fragments: str) -> None:
    err = proc.stderr.decode()
    assert proc.returncode == 2, (proc.returncode, err)
    assert proc.stdout == b""
    last = err.strip().splitlines()[-1]
    for fragment in fragments:
        assert fragment in last, (fragment, last)


def seed_arrays() -> dict[str, np.ndarray]:
    torch.manual_seed(0)
    return {k: v.numpy() for k, v in Model().state_dict().items()}


def zip_bytes(members: dict[str, bytes], method: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def npy_header(shape: tuple[int, ...], descr: str = "<f8") -> bytes:
    header = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}"
    header += " " * (118 - len(header)) + "\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode()


# --------------------------------------------------------------------------------------------
# 1. Readers convert their failures at the boundary


def test_grads_json_nested_too_deeply(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text('{"W1": ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert_usage_error(invoke("run", *SEED_X, "--grads", str(path)), "--grads", "nested too deeply")


def test_grads_json_nested_three_deep_is_not_a_gradient(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text('{"W1": [[[1.0]]]}')
    assert_usage_error(invoke("run", *SEED_X, "--grads", str(path)), "--grads", "nested 3 deep")


def test_grads_json_integer_beyond_float_range(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    path.write_text('{"W1": [[1' + "0" * 400 + ']], "b3": 1' + "0" * 400 + "}")
    assert_usage_error(
        invoke("run", *SEED_X, "--grads", str(path)), "--grads", "too large for a float64"
    )


def test_grads_json_integer_with_too_many_digits(tmp_path: Path) -> None:
    path = tmp_path / "digits.json"
    path.write_text('{"W1": ' + "9" * 5000 + "}")
    assert_usage_error(invoke("run", *SEED_X, "--grads", str(path)), "--grads", "not valid JSON")


@pytest.mark.parametrize("member", ["dense.0.weight.txt", "dense.0.weight", "dir/"])
def test_npz_member_that_is_not_npy(tmp_path: Path, member: str) -> None:
    path = tmp_path / "w.npz"
    path.write_bytes(zip_bytes({member: b"hello"}))
    assert_usage_error(
        invoke("run", *SEED_X, "--weights", str(path)), "--weights", "is not a .npy array"
    )


def test_npy_header_declaring_1e13_elements_is_refused_before_allocation(tmp_path: Path) -> None:
    path = tmp_path / "huge.npz"
    path.write_bytes(zip_bytes({"W1.npy": npy_header((10**13,))}))
    assert_usage_error(
        invoke("run", *SEED_X, "--weights", str(path)), "--weights", "its arrays declare"
    )


def test_data_npz_declaring_huge_x_names_the_rows(tmp_path: Path) -> None:
    path = tmp_path / "huge.npz"
    path.write_bytes(zip_bytes({"x.npy": npy_header((10**12, 2)), "y.npy": npy_header((1,))}))
    assert_usage_error(
        invoke("run", "--data", str(path)), "--data", "1,000,000,000,000 rows would need"
    )


def test_compression_bomb_is_refused_before_expansion(tmp_path: Path) -> None:
    # 400 MB of zeros compress to ~400 kB; the declared size is refused before decompressing.
    zeros = np.zeros(50_000_000)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, x=zeros.reshape(-1, 2), y=zeros[:10])
    path = tmp_path / "bomb.npz"
    path.write_bytes(buffer.getvalue())
    assert path.stat().st_size < 2_000_000
    start = time.perf_counter()
    result = invoke("run", "--data", str(path), "--layers", "2,1000,1")
    assert_usage_error(result, "--data", "would need")
    assert time.perf_counter() - start < 5


def test_weights_npz_with_object_array_is_refused(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.array([object()], dtype=object), allow_pickle=True)
    path = tmp_path / "w.npz"
    path.write_bytes(zip_bytes({"W1.npy": buffer.getvalue()}))
    assert_usage_error(invoke("run", *SEED_X, "--weights", str(path)), "holds Python objects")


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda t: t.to_sparse(), "sparse_coo tensor"),
        (lambda t: torch.empty(t.shape, device="meta"), "device 'meta'"),
        (lambda t: t.to(torch.complex64).conj(), "negated/conjugated view"),
        (lambda t: torch._neg_view(t), "negated/conjugated view"),
    ],
)
def test_pt_tensors_must_be_dense(tmp_path: Path, make, fragment: str) -> None:  # type: ignore[no-untyped-def]
    state = Model().state_dict()
    state["dense.0.weight"] = make(state["dense.0.weight"])
    path = tmp_path / "w.pt"
    torch.save(state, path)
    assert_usage_error(invoke("run", *SEED_X, "--weights", str(path)), "--weights", fragment)


def test_pt_nested_tensor_is_refused(tmp_path: Path) -> None:
    import warnings

    state = Model().state_dict()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        state["dense.0.weight"] = torch.nested.nested_tensor([torch.zeros(2), torch.zeros(3)])
    path = tmp_path / "w.pt"
    torch.save(state, path)
    assert_usage_error(invoke("run", *SEED_X, "--weights", str(path)), "a nested tensor")


def test_weights_file_larger_than_the_network_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "w.pt"
    with open(path, "wb") as handle:
        handle.truncate(50 * 2**20)  # sparse: 50 MiB that take no disk
    assert_usage_error(
        invoke("run", *SEED_X, "--weights", str(path), "--layers", "2,10,10,1"),
        "--weights",
        "50.0 MiB is larger than the weights of --layers 2,10,10,1",
    )


def test_weights_file_larger_than_any_network_is_refused_before_reading(tmp_path: Path) -> None:
    # Without --layers the sizes come from the file, so the limit is the largest network the
    # memory budget admits.
    path = tmp_path / "w.pt"
    with open(path, "wb") as handle:
        handle.truncate(4 * 2**30)  # sparse
    assert_usage_error(
        invoke("run", *SEED_X, "--weights", str(path)), "--weights", "is larger than an MLP's"
    )


def test_torch_advice_to_load_unsafely_never_leaks() -> None:
    from gradcheck.io.weights import _safe_detail, _unpickling_message

    advice = (
        "Weights only load failed. This file can still be loaded, to do so you have two "
        "options, do those steps only if you trust the source of the checkpoint. Re-running "
        "`torch.load` with `weights_only` set to `False` will likely succeed"
    )
    assert "weights_only" not in _safe_detail(advice)
    from gradcheck.io.files import InputFile

    message = _unpickling_message(InputFile("w.pt", b"x", ".pt", False), advice)
    assert "weights_only" not in message and "likely succeed" not in message


def test_pickle_with_a_global_is_refused_without_the_advice(tmp_path: Path) -> None:
    import pickle

    path = tmp_path / "w.pt"
    path.write_bytes(pickle.dumps({"a": Path("x")}, protocol=2))
    result = invoke("run", *SEED_X, "--weights", str(path))
    assert_usage_error(result, "--weights")
    assert "weights_only" not in result.stderr and "likely succeed" not in result.stderr


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("run", *SEED_X, "--layers", "2," + "9" * 400 + ",1"), "--layers"),
        (("run", *SEED_X, "--layers", "2," + "9" * 5000 + ",1"), "--layers"),
        (("sweep", "--cases", "9" * 400), "--cases"),
        (("sweep", "--cases", "2", "--batch-size", "9" * 400), "--batch-size"),
        (("sweep", "--cases", "2", "--batch-size", "10" + "0" * 400), "--batch-size"),
        (("sweep", "--cases", "1" + "0" * 400), "--cases"),
    ],
)
def test_integer_options_with_hundreds_of_digits(args: tuple[str, ...], fragment: str) -> None:
    result = invoke(*args)
    assert_usage_error(result, fragment)
    assert len(result.stderr) < 400  # the number is not echoed in full


# --------------------------------------------------------------------------------------------
# User code: every exception kind is exit 2; state it leaves is undone


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
    proc = gradcheck("run", *SEED_X, "--json", "--impl", f"{path}:backward")
    assert proc.returncode == 0, proc.stderr.decode()
    doc = json.loads(proc.stdout)  # exactly one document, nothing else
    assert doc["passed"] is True
    err = proc.stderr.decode()
    for noise in ("IMPORT NOISE", "CALL NOISE", "printed noise", "buffered noise"):
        assert noise in err


# --------------------------------------------------------------------------------------------
# 2. File kinds: checked before opening; pipes read; nothing waits


@pytest.mark.parametrize("option", ["--weights", "--data", "--grads", "--impl"])
def test_named_fifo_without_writer_is_exit_2_at_once(tmp_path: Path, option: str) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    value = f"{fifo}:backward" if option == "--impl" else str(fifo)
    args = ("run", option, value) if option == "--data" else ("run", *SEED_X, option, value)
    start = time.perf_counter()
    proc = gradcheck(*args, timeout=30)
    assert_exit_2(proc, option, "a pipe with nothing to read")
    assert time.perf_counter() - start < 10


def test_named_fifo_with_a_writer_is_read(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    writer = subprocess.Popen(["sh", "-c", f"printf '0.974,0.312,1\\n' > {fifo}"])
    try:
        time.sleep(0.3)  # the writer blocks in open() until gradcheck opens the other end
        proc = gradcheck("run", "--data", str(fifo), "--json")
    finally:
        writer.wait(timeout=10)
    assert proc.returncode == 0, proc.stderr.decode()
    assert json.loads(proc.stdout)["settings"]["batch_size"] == 1


@pytest.mark.parametrize(
    ("path", "fragment"),
    [("/dev/zero", "is a device"), ("/dev/null", "is a device"), ("/tmp", "is a directory")],
)
@pytest.mark.parametrize("option", ["--weights", "--data", "--grads", "--impl"])
def test_devices_and_directories_are_refused_unopened(
    option: str, path: str, fragment: str
) -> None:
    value = f"{path}:backward" if option == "--impl" else path
    args = ("run", option, value) if option == "--data" else ("run", *SEED_X, option, value)
    assert_usage_error(invoke(*args), option, fragment)


def test_data_from_stdin() -> None:
    result = invoke_stdin(b"x1,x2,y\n0.974,0.312,1\n0.5,0.5,0\n", "run", "--data", "-", "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["settings"]["batch_size"] == 2 and doc["settings"]["data"] == "-"


def invoke_stdin(data: bytes, *args: str):  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from gradcheck.cli import cli

    return CliRunner().invoke(cli, list(args), input=data, prog_name="gradcheck")


def test_empty_stdin_is_exit_2() -> None:
    result = invoke_stdin(b"", "run", "--data", "-")
    assert_usage_error(result, "--data", "standard input", "file is empty")


def test_process_substitution_and_pipes_for_every_read_once_option(tmp_path: Path) -> None:
    """``<(…)`` is /dev/fd/N: an already-open pipe. Formats are told by the bytes."""
    arrays = seed_arrays()
    np.savez(tmp_path / "w.npz", **arrays)
    grads = run_json(*SEED_X)
    grads_json = json.dumps({p["name"]: p["hand"] for p in grads["parameters"]})
    (tmp_path / "g.json").write_text(grads_json)
    torch.save(Model().state_dict(), tmp_path / "w.pt")
    script = (
        f"cd {ROOT} && {sys.executable} -m gradcheck run --json "
        f"--data <(printf '0.974,0.312,1\\n') "
        f"--weights <(cat {tmp_path / 'w.npz'}) "
        f"--impl <(cat {SAMPLE}):backward"
    )
    proc = subprocess.run(["bash", "-c", script], capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()
    assert json.loads(proc.stdout)["passed"] is True
    # --grads from a pipe, and --weights from a .pt on stdin
    proc = gradcheck("run", *SEED_X, "--grads", "/dev/stdin", "--json", stdin=grads_json.encode())
    assert proc.returncode == 0, proc.stderr.decode()
    proc = gradcheck(
        "run", *SEED_X, "--weights", "-", "--json", stdin=(tmp_path / "w.pt").read_bytes()
    )
    assert proc.returncode in (0, 1), proc.stderr.decode()
    assert json.loads(proc.stdout)["settings"]["weights"] == "-"


# --------------------------------------------------------------------------------------------
# 7. CSV


def write(tmp_path: Path, text: str, name: str = "d.csv") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_partly_numeric_first_row_is_a_typo_not_a_header(tmp_path: Path) -> None:
    path = write(tmp_path, "0.5,abc,1\n0.1,0.2,0.3\n")
    assert_usage_error(invoke("run", "--data", path), "line 1, column 2", "'abc' is not a number")


def test_header_only_when_no_field_is_a_number(tmp_path: Path) -> None:
    doc = run_json("--data", write(tmp_path, "x1,x2,y\n0.974,0.312,1\n"))
    assert doc["settings"]["batch_size"] == 1
    doc = run_json("--data", write(tmp_path, "\n\n0.974,0.312,1\n\n0.1,0.2,0.3\n"))
    assert doc["settings"]["batch_size"] == 2


@pytest.mark.parametrize(
    "text",
    ["0.974,0.312,1,\n", "0.974,0.312,1,", "x1,x2,y,\n0.974,0.312,1,\n", "0.974, 0.312 ,1 ,\r\n"],
)
def test_trailing_commas_are_tolerated_alike(tmp_path: Path, text: str) -> None:
    doc = run_json("--data", write(tmp_path, text))
    assert doc["settings"]["batch_size"] == 1


def test_wrong_column_count_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "0.974,0.312,1\n0.1,0.2\n")
    assert_usage_error(invoke("run", "--data", path), "line 2 has 2 columns, expected 3")


def test_later_bad_cell_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "x1,x2,y\n0.974,0.312,1\n0.1,oops,1\n")
    assert_usage_error(invoke("run", "--data", path), "line 3, column 2", "'oops'")


def test_header_without_rows(tmp_path: Path) -> None:
    path = write(tmp_path, "x1,x2,y\n")
    assert_usage_error(invoke("run", "--data", path), "no data rows")


def test_csv_rows_are_bounded_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    path.write_bytes(b"0,0,0\n" * 3_000_000)  # 18 MB: 3M rows of a 2,1000,1 network
    start = time.perf_counter()
    result = invoke("run", "--data", str(path), "--layers", "2,1000,1")
    assert_usage_error(result, "--data", "17.2 MiB is larger than", "at most")
    assert time.perf_counter() - start < 5
    path.write_bytes(b"0,0,0\n" * 80_000 + b"\n" * 2_000_000)  # small enough, too many lines
    result = invoke("run", "--data", str(path), "--layers", "2,1000,1")
    assert_usage_error(result, "--data", "rows would need")


# --------------------------------------------------------------------------------------------
# 4. Output files: only the named path, through symlinks, keeping modes, devices left alone


def test_junit_through_a_symlink_replaces_the_target_and_keeps_the_link(tmp_path: Path) -> None:
    real = tmp_path / "reports" / "junit.xml"
    real.parent.mkdir()
    real.write_text("old")
    link = tmp_path / "link.xml"
    link.symlink_to(real)
    result = invoke("run", *SEED_X, "--junit", str(link), "--quiet")
    assert result.exit_code == 0, result.stderr
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_text().startswith("<?xml")
    assert sorted(p.name for p in real.parent.iterdir()) == ["junit.xml"]  # no temp left
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.xml", "reports"]


def test_existing_mode_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    path.write_text("old")
    path.chmod(0o600)
    assert invoke("run", *SEED_X, "--junit", str(path), "--quiet").exit_code == 0
    assert (path.stat().st_mode & 0o7777) == 0o600
    assert path.read_text().startswith("<?xml")


def test_character_device_is_written_not_replaced() -> None:
    before = os.stat("/dev/null")
    result = invoke("run", *SEED_X, "--junit", "/dev/null", "--quiet")
    assert result.exit_code == 0, result.stderr
    after = os.stat("/dev/null")
    assert stat_kind(after.st_mode) == "chr" and after.st_rdev == before.st_rdev
    assert after.st_ino == before.st_ino


def stat_kind(mode: int) -> str:
    import stat

    return "chr" if stat.S_ISCHR(mode) else "other"


def test_a_symlink_to_a_device_writes_the_device(tmp_path: Path) -> None:
    link = tmp_path / "null.xml"
    link.symlink_to("/dev/null")
    assert invoke("run", *SEED_X, "--junit", str(link), "--quiet").exit_code == 0
    assert link.is_symlink() and os.stat("/dev/null").st_rdev == os.stat(link).st_rdev


def test_output_directory_and_fifo_without_reader_are_refused(tmp_path: Path) -> None:
    assert_usage_error(invoke("run", *SEED_X, "--junit", str(tmp_path)), "is a directory")
    fifo = tmp_path / "out.xml"
    os.mkfifo(fifo)
    start = time.perf_counter()
    assert_usage_error(invoke("run", *SEED_X, "--junit", str(fifo)), "a pipe with no reader")
    assert time.perf_counter() - start < 10


# --------------------------------------------------------------------------------------------
# 5. Terminal safety: user text is escaped in tables, captions, errors and JUnit XML

HOSTILE_NAME = "e\x1b[31mred\x07[bold]x"


def test_escape_sequences_in_paths_are_escaped_everywhere(tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    impl = tmp_path / f"{HOSTILE_NAME}.py"
    impl.write_text(SAMPLE.read_text())
    data = tmp_path / f"{HOSTILE_NAME}.csv"
    data.write_text("0.974,0.312,1\n")
    junit = tmp_path / "j.xml"
    result = invoke("run", "--data", str(data), "--impl", f"{impl}:backward", "--junit", str(junit))
    assert result.exit_code == 0, result.stderr
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "\\x1b[31mred\\x07[bold]x" in result.stdout  # shown, escaped, not taken as markup
    root = ET.parse(junit).getroot()  # parseable
    values = [p.get("value") for p in root.iter("property")]
    assert any("\\x1b" in (v or "") for v in values)
    explain = invoke("explain", "--data", str(data), "--no-color")
    assert "\x1b" not in explain.stdout
    bad = invoke("run", "--data", str(tmp_path / "missing\x1b]0;title\x07.csv"))
    assert_usage_error(bad, "missing\\x1b]0;title\\x07.csv")


def test_user_exception_text_is_escaped_in_the_traceback(tmp_path: Path) -> None:
    path = tmp_path / "evil.py"
    path.write_text('def backward(p, x, y):\n    raise ValueError("\\x1b[2J wiped")\n')
    result = invoke("run", *SEED_X, "--impl", f"{path}:backward")
    assert result.exit_code == 2
    assert "\x1b" not in result.stderr and "\\x1b[2J wiped" in result.stderr


def test_markup_in_a_sweep_impl_path_is_text(tmp_path: Path) -> None:
    folder = tmp_path / "a["
    folder.mkdir()
    impl = folder / "bold]x.py"  # the path reads a[/bold]x.py: closing tag rich would reject
    impl.write_text(SAMPLE.read_text())
    result = invoke("sweep", "--cases", "2", "--impl", f"{impl}:backward", "--no-color")
    assert result.exit_code == 0, result.stderr
    assert "a[/bold]x.py" in result.stdout


@pytest.mark.parametrize(
    ("text", "rows"), [("1,2,3\r1,2,3\r", 2), ("1,2,3\r\n0.5,0.5,0\r\n", 2), ("x,y,z\r1,2,3", 1)]
)
def test_carriage_return_line_ends(tmp_path: Path, text: str, rows: int) -> None:
    doc = run_json("--data", write(tmp_path, text))
    assert doc["settings"]["batch_size"] == rows


def test_underscore_number_is_named_like_any_non_number(tmp_path: Path) -> None:
    path = write(tmp_path, "1_0,2,3\n")
    assert_usage_error(invoke("run", "--data", path), "line 1, column 1", "'1_0'")


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
