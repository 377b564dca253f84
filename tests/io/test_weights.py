"""Weights and data files: what loads, and one clear error for every way a file can be wrong."""

from __future__ import annotations

import json
import pickle
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch

from gradcheck.torch_side.reference import Model
from tests.conftest import assert_usage_error, invoke, run_json

SEED_X = ("--x", "0.974", "0.312")


def save_state(path: Path, state: dict) -> str:
    torch.save(state, path)
    return str(path)


@pytest.fixture
def seed_state() -> OrderedDict[str, torch.Tensor]:
    torch.manual_seed(5)
    return Model().state_dict()


def test_pt_state_dict_loads_and_matches_seeded_init(tmp_path: Path, seed_state: dict) -> None:
    path = save_state(tmp_path / "model.pt", seed_state)
    from_file = run_json(*SEED_X, "--weights", path)
    from_seed = run_json(*SEED_X, "--seed", "5")
    assert from_file["passed"] is True and from_file["settings"]["weights"] == path
    assert from_file["settings"]["seed"] is None
    assert from_file["parameters"] == from_seed["parameters"]  # the very same weights


def test_npz_with_torch_or_hand_names(tmp_path: Path, seed_state: dict) -> None:
    arrays = {k: v.numpy() for k, v in seed_state.items()}
    np.savez(tmp_path / "torch_names.npz", **arrays)
    hand = dict(zip(["W1", "b1", "W2", "b2", "W3", "b3"], arrays.values(), strict=True))
    np.savez(tmp_path / "hand_names.npz", **hand)
    a = run_json(*SEED_X, "--weights", str(tmp_path / "torch_names.npz"))
    b = run_json(*SEED_X, "--weights", str(tmp_path / "hand_names.npz"))
    assert a["parameters"] == b["parameters"] and a["passed"] is True


def test_float64_weights_are_used_exactly(tmp_path: Path) -> None:
    state = {k: v.double() for k, v in Model().state_dict().items()}
    state["dense.4.bias"] = torch.tensor([0.1234567890123456789], dtype=torch.float64)
    doc = run_json(*SEED_X, "--weights", save_state(tmp_path / "w.pt", state))
    assert doc["passed"] is True


class Exploit:
    """Unpickling this would create a marker file: what a malicious .pt does."""

    marker = ""

    def __reduce__(self) -> tuple:
        return (Path.touch, (Path(self.marker),))


def test_malicious_pickle_is_refused_and_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    exploit = Exploit()
    exploit.marker = str(marker)
    path = tmp_path / "evil.pt"
    torch.save({"dense.0.weight": exploit}, path)  # torch.save pickles arbitrary objects
    assert not marker.exists()
    result = invoke("run", *SEED_X, "--weights", str(path))
    assert_usage_error(result, "--weights", "refused, not a plain state_dict")
    assert not marker.exists()
    # The same with a plain pickle file, torch's legacy format.
    legacy = tmp_path / "evil_legacy.pt"
    legacy.write_bytes(pickle.dumps({"x": exploit}))
    assert_usage_error(invoke("run", *SEED_X, "--weights", str(legacy)), "--weights")
    assert not marker.exists()


def test_npz_with_pickled_object_array_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "objects.npz"
    np.savez(path, **{"dense.0.weight": np.array([{"a": 1}], dtype=object)})
    assert_usage_error(invoke("run", *SEED_X, "--weights", str(path)), "--weights", "cannot read")


def _write(tmp_path: Path, name: str, content: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(content)
    return str(path)


@pytest.mark.parametrize(
    ("name", "content", "fragments"),
    [
        ("empty.pt", b"", ["--weights", "file is empty"]),
        (
            "garbage.pt",
            b"\x00\x01not a torch file at all",
            ["--weights", "not a readable torch file"],
        ),
        ("garbage.npz", b"PK\x03\x04truncated", ["--weights", "not a readable .npz file"]),
        ("weights.csv", b"1,2,3\n", ["--weights", "unsupported file type '.csv'"]),
        ("noext", b"abc", ["--weights", "unsupported file type '(none)'"]),
    ],
)
def test_bad_weight_files(tmp_path: Path, name: str, content: bytes, fragments: list[str]) -> None:
    path = _write(tmp_path, name, content)
    assert_usage_error(invoke("run", *SEED_X, "--weights", path), *fragments)


def test_weights_directory_and_truncated_file(tmp_path: Path, seed_state: dict) -> None:
    assert_usage_error(
        invoke("run", *SEED_X, "--weights", str(tmp_path)), "is a directory, expected a file"
    )
    full = tmp_path / "full.pt"
    torch.save(seed_state, full)
    cut = _write(tmp_path, "cut.pt", full.read_bytes()[: full.stat().st_size // 2])
    assert_usage_error(invoke("run", *SEED_X, "--weights", cut), "not a readable torch file")


@pytest.mark.parametrize(
    ("change", "fragments"),
    [
        (
            lambda s: s.pop("dense.2.bias"),
            ["dense.2.weight is not followed by its bias: the next entry, dense.4.weight"],
        ),
        (lambda s: s.update(extra=torch.zeros(1)), ["extra has shape (1,)", "not an MLP"]),
        (
            lambda s: s.update({"dense.0.weight": torch.zeros(10, 3)}),
            ["--x: expected 3 values (the first layer has 3 inputs)"],
        ),
        (
            lambda s: s.update({"dense.0.bias": torch.zeros(10, dtype=torch.int64)}),
            ["dense.0.bias has dtype int64; expected float32 or float64"],
        ),
        (
            lambda s: s.update({"dense.0.bias": torch.zeros(10, dtype=torch.float16)}),
            ["dense.0.bias has dtype float16"],
        ),
        (
            lambda s: s.update({"dense.0.bias": torch.zeros(10, dtype=torch.complex64)}),
            ["dense.0.bias has dtype complex64"],
        ),
        (
            lambda s: s.update({"dense.4.bias": torch.tensor([float("nan")])}),
            ["dense.4.bias contains NaN or infinite values"],
        ),
    ],
)
def test_bad_state_dicts(tmp_path: Path, seed_state: dict, change, fragments: list[str]) -> None:
    state = dict(seed_state)
    change(state)
    path = save_state(tmp_path / "bad.pt", state)
    assert_usage_error(invoke("run", *SEED_X, "--weights", path), *fragments)
    # With --layers the file must hold exactly that network's keys and shapes.
    state = dict(seed_state)
    state.pop("dense.2.bias")
    path = save_state(tmp_path / "cut.pt", state)
    assert_usage_error(
        invoke("run", *SEED_X, "--layers", "2,10,10,1", "--weights", path),
        "--weights",
        "missing dense.2.bias",
        "for --layers 2,10,10,1",
    )


def test_pt_holding_a_list_or_a_non_tensor(tmp_path: Path) -> None:
    assert_usage_error(
        invoke("run", *SEED_X, "--weights", save_state(tmp_path / "l.pt", [1, 2])),  # type: ignore[arg-type]
        "holds a list, expected a state_dict",
    )
    path = save_state(tmp_path / "s.pt", {"dense.0.weight": 3})
    assert_usage_error(invoke("run", *SEED_X, "--weights", path), "is a int, expected a tensor")


def test_weights_for_other_layers(tmp_path: Path) -> None:
    torch.manual_seed(0)
    state = Model((3, 4, 2)).state_dict()
    path = save_state(tmp_path / "w.pt", state)
    doc = run_json("--x", "1", "2", "3", "--layers", "3,4,2", "--weights", path)
    assert doc["passed"] is True
    # Without --layers the sizes come from the file: 3 inputs, so two values are too few.
    assert_usage_error(invoke("run", *SEED_X, "--weights", path), "--x: expected 3 values")
    assert_usage_error(
        invoke("run", *SEED_X, "--layers", "2,10,10,1", "--weights", path),
        "missing dense.4.weight",
    )


# ---------------------------------------------------------------------------------------------
# --data


def test_csv_with_header_and_npz_give_the_same_check(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(7, 2))
    y = rng.uniform(-1, 1, size=(7, 1))
    csv = tmp_path / "d.csv"
    rows = "\n".join(",".join(repr(float(v)) for v in row) for row in np.hstack([x, y]))
    csv.write_text("x1,x2,y\n" + rows + "\n")
    np.savez(tmp_path / "d.npz", x=x, y=y)
    a = run_json("--data", str(csv))
    b = run_json("--data", str(tmp_path / "d.npz"))
    assert a["settings"]["batch_size"] == 7 and a["passed"] is True
    assert a["parameters"] == b["parameters"]
    assert a["settings"]["x"] == x.tolist()


def test_csv_without_header_multiclass(tmp_path: Path) -> None:
    csv = tmp_path / "d.csv"
    csv.write_text("0.1,0.2,2\n0.3,-0.4,0\n")
    doc = run_json("--data", str(csv), "--layers", "2,5,3", "--loss", "cross_entropy")
    assert doc["settings"]["target"] == [2, 0] and doc["passed"] is True


@pytest.mark.parametrize(
    ("content", "args", "fragments"),
    [
        ("", [], ["--data", "file is empty"]),
        ("x1,x2,y\n", [], ["--data", "no data rows"]),
        ("1,2\n", [], ["line 1 has 2 columns, expected 3 (2 inputs + 1 target)"]),
        ("1,2,3\n4,5\n", [], ["line 2 has 2 columns, expected 3"]),
        ("1,2,3\n4,x,6\n", [], ["line 2, column 2: 'x' is not a number"]),
        ("1,2,nan\n", [], ["--data", "nan is not a finite number"]),
        (
            "1,2,5\n",
            ["--layers", "2,3", "--loss", "cross_entropy"],
            ["class index 5 is out of range"],
        ),
        ("1,2,0.5\n", ["--layers", "2,3", "--loss", "cross_entropy"], ["integer class indices"]),
        ("1,2,1.5\n", ["--loss", "bce_logits"], ["bce_logits needs targets in [0, 1], got 1.5"]),
    ],
)
def test_bad_csv(tmp_path: Path, content: str, args: list[str], fragments: list[str]) -> None:
    csv = tmp_path / "d.csv"
    csv.write_text(content)
    assert_usage_error(invoke("run", "--data", str(csv), *args), *fragments)


def test_bad_npz_data(tmp_path: Path) -> None:
    np.savez(tmp_path / "a.npz", x=np.zeros((3, 2)))
    assert_usage_error(invoke("run", "--data", str(tmp_path / "a.npz")), "missing array y")
    np.savez(tmp_path / "b.npz", x=np.zeros((3, 5)), y=np.zeros((3, 1)))
    assert_usage_error(
        invoke("run", "--data", str(tmp_path / "b.npz")), "x has shape (3, 5), expected (batch, 2)"
    )
    np.savez(tmp_path / "c.npz", x=np.zeros((3, 2)), y=np.zeros((4, 1)))
    assert_usage_error(invoke("run", "--data", str(tmp_path / "c.npz")), "y has shape (4, 1)")
    np.savez(tmp_path / "d.npz", x=np.array(["a", "b"]), y=np.zeros(1))
    assert_usage_error(invoke("run", "--data", str(tmp_path / "d.npz")), "x has dtype <U1")
    (tmp_path / "e.json").write_text(json.dumps({"x": [1, 2]}))
    assert_usage_error(invoke("run", "--data", str(tmp_path / "e.json")), "unsupported file type")


def test_data_and_x_together_is_refused(tmp_path: Path) -> None:
    csv = tmp_path / "d.csv"
    csv.write_text("1,2,3\n")
    assert_usage_error(invoke("run", "--data", str(csv), *SEED_X), "either --data or --x")


def test_binary_garbage_csv(tmp_path: Path) -> None:
    path = _write(tmp_path, "g.csv", b"\xff\xfe\x00\x81garbage")
    assert_usage_error(invoke("run", "--data", path), "--data", "not a text file")


def test_sample_scripts_are_deterministic(tmp_path: Path) -> None:
    """Re-running the sample generators reproduces the committed files.

    The CSVs byte for byte; the weights to 1e-12 relative (they are solved from the seed's
    printed gradients, and the last bits of a least-squares solve differ between CPUs).
    """
    import shutil
    import subprocess
    import sys

    from tests.conftest import SAMPLES

    copy = tmp_path / "samples"
    shutil.copytree(SAMPLES, copy, ignore=shutil.ignore_patterns("__pycache__"))
    for script in ("make_data.py", "make_seed_weights.py"):
        subprocess.run([sys.executable, str(copy / script)], check=True, capture_output=True)
    for name in ("seed_data.csv", "three_class.csv"):
        assert (copy / name).read_bytes() == (SAMPLES / name).read_bytes(), name
    import numpy as np

    with np.load(copy / "seed_weights.npz") as made, np.load(SAMPLES / "seed_weights.npz") as kept:
        assert sorted(made.files) == sorted(kept.files)
        for key in kept.files:
            np.testing.assert_allclose(made[key], kept[key], rtol=1e-12, atol=0, err_msg=key)


def test_sample_data_sets_pass() -> None:
    from tests.conftest import SAMPLES

    seed = run_json("--data", str(SAMPLES / "seed_data.csv"), "--no-arrays")
    assert seed["settings"]["batch_size"] == 1200 and seed["passed"] is True
    multi = run_json(
        "--data",
        str(SAMPLES / "three_class.csv"),
        "--layers",
        "2,16,16,3",
        "--activation",
        "tanh",
        "--loss",
        "cross_entropy",
        "--no-arrays",
    )
    assert multi["settings"]["batch_size"] == 300 and multi["passed"] is True


def test_huge_batch_is_refused_up_front_with_an_estimate(tmp_path: Path) -> None:
    np.savez(tmp_path / "big.npz", x=np.zeros((7000, 2)), y=np.zeros((7000, 1)))
    result = invoke("run", "--data", str(tmp_path / "big.npz"), "--layers", "2,100000,1")
    assert_usage_error(
        result, "--data", "and 7,000 rows would need about", "GiB; the limit is 8 GiB"
    )
