"""Reading the files named on the command line (io/files.py): once, bounded, one line on failure.

File kinds are checked before opening (devices and directories refused, a FIFO without a writer
refused instead of waited on), pipes and standard input are read once with the format told by
the bytes, and declared sizes are refused before anything is read, decompressed or parsed.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from gradcheck.torch_side.reference import Model
from tests.conftest import (
    ROOT,
    SAMPLES,
    SEED_X,
    assert_usage_error,
    invoke,
    run_json,
    run_process,
    zip_bytes,
)

SAMPLE = SAMPLES / "backward_seed.py"


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


def npy_header(shape: tuple[int, ...], descr: str = "<f8") -> bytes:
    header = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}"
    header += " " * (118 - len(header)) + "\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode()


# --------------------------------------------------------------------------------------------
# Sizes: refused from what a file declares, before it is read, decompressed or parsed


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


@pytest.mark.slow
def test_compression_bomb_is_refused_before_expansion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 400 MB of zeros compress to ~400 kB; the declared size is refused before decompressing.
    zeros = np.zeros(50_000_000)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, x=zeros.reshape(-1, 2), y=zeros[:10])
    path = tmp_path / "bomb.npz"
    path.write_bytes(buffer.getvalue())
    assert path.stat().st_size < 2_000_000
    expanded: list[object] = []
    monkeypatch.setattr(np.lib.format, "read_array", lambda *a, **k: expanded.append(a))
    result = invoke("run", "--data", str(path), "--layers", "2,1000,1")
    assert_usage_error(result, "--data", "would need")
    assert expanded == []  # only the .npy headers were read


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


# --------------------------------------------------------------------------------------------
# File kinds: checked before opening; pipes read; nothing waits


@pytest.mark.slow
@pytest.mark.parametrize("option", ["--weights", "--data", "--grads", "--impl"])
def test_named_fifo_without_writer_is_exit_2_at_once(tmp_path: Path, option: str) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    value = f"{fifo}:backward" if option == "--impl" else str(fifo)
    args = ("run", option, value) if option == "--data" else ("run", *SEED_X, option, value)
    proc = run_process(*args)  # a reader that waited would hang: run_process's timeout ends it
    assert_exit_2(proc, option, "a pipe with nothing to read")


@pytest.mark.slow
def test_named_fifo_with_a_writer_is_read(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    writer = subprocess.Popen(["sh", "-c", f"printf '0.974,0.312,1\\n' > {fifo}"])
    try:
        time.sleep(0.3)  # the writer blocks in open() until gradcheck opens the other end
        proc = run_process("run", "--data", str(fifo), "--json")
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


@pytest.mark.slow
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
    proc = run_process("run", *SEED_X, "--grads", "/dev/stdin", "--json", stdin=grads_json.encode())
    assert proc.returncode == 0, proc.stderr.decode()
    proc = run_process(
        "run", *SEED_X, "--weights", "-", "--json", stdin=(tmp_path / "w.pt").read_bytes()
    )
    assert proc.returncode in (0, 1), proc.stderr.decode()
    assert json.loads(proc.stdout)["settings"]["weights"] == "-"


def test_csv_rows_are_bounded_before_parsing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed: list[object] = []
    monkeypatch.setattr(np, "loadtxt", lambda *a, **k: parsed.append(a))
    path = tmp_path / "big.csv"
    path.write_bytes(b"0,0,0\n" * 3_000_000)  # 18 MB: 3M rows of a 2,1000,1 network
    result = invoke("run", "--data", str(path), "--layers", "2,1000,1")
    assert_usage_error(result, "--data", "17.2 MiB is larger than", "at most")
    path.write_bytes(b"0,0,0\n" * 80_000 + b"\n" * 2_000_000)  # small enough, too many lines
    result = invoke("run", "--data", str(path), "--layers", "2,1000,1")
    assert_usage_error(result, "--data", "rows would need")
    assert parsed == []  # both refused from the size and the line count alone
