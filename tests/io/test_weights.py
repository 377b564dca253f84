"""Weights files (``--weights``, io/weights.py): a .pt state_dict or an .npz under torch's or hand
names, any MLP's shape chain, nothing that can run code, and one clear exit-2 line for every
way such a file can be wrong."""

from __future__ import annotations

import io
import pickle
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch

from gradcheck.torch_side import reference
from gradcheck.torch_side.reference import Model
from tests.conftest import assert_usage_error, invoke, run_json, zip_bytes

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


@pytest.mark.parametrize("member", ["dense.0.weight.txt", "dense.0.weight", "dir/"])
def test_npz_member_that_is_not_npy(tmp_path: Path, member: str) -> None:
    path = tmp_path / "w.npz"
    path.write_bytes(zip_bytes({member: b"hello"}))
    assert_usage_error(
        invoke("run", *SEED_X, "--weights", str(path)), "--weights", "is not a .npy array"
    )


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


def test_state_dict_of_a_bare_sequential_and_fc_names(tmp_path: Path) -> None:
    torch.manual_seed(1)
    seq = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2))
    path = tmp_path / "seq.pt"
    torch.save(seq.state_dict(), path)
    doc = run_json("--x", "0.1", "0.2", "0.3", "--activation", "tanh", "--weights", str(path))
    assert doc["exit_code"] == 0 and doc["settings"]["layers"] == [3, 5, 2]
    assert [p["torch_name"] for p in doc["parameters"]] == [
        "0.weight",
        "0.bias",
        "2.weight",
        "2.bias",
    ]
    params = {"W1": seq[0].weight, "b1": seq[0].bias, "W2": seq[2].weight, "b2": seq[2].bias}
    for record in doc["parameters"]:
        assert np.allclose(doc["settings"]["x"], [[0.1, 0.2, 0.3]])
        assert record["name"] in params
    # checked against --layers when given
    assert_usage_error(
        invoke("run", "--x", "0.1", "0.2", "0.3", "--layers", "3,4,2", "--weights", str(path)),
        f"--weights: {path} holds a 3,5,2 network; --layers says 3,4,2",
    )


def test_npz_weights_keyed_w1_in_layout_in_out(tmp_path: Path) -> None:
    from gradcheck.core.spec import NetSpec

    state = reference.init_state(NetSpec((2, 3, 1)), 4)
    path = tmp_path / "w.npz"
    np.savez(
        path, **{k: (v.T if k.startswith("W") else v.reshape(-1, 1)) for k, v in state.items()}
    )
    doc = run_json("--x", "0.5", "0.5", "--layout", "in_out", "--weights", str(path))
    assert doc["exit_code"] == 0 and doc["settings"]["layers"] == [2, 3, 1]
    w1 = np.array(doc["parameters"][0]["autograd"])
    assert w1.shape == (3, 2)  # reported as torch holds it


def test_broken_state_dict_chain_names_both_keys(tmp_path: Path) -> None:
    state = {
        "fc1.weight": torch.zeros(4, 2),
        "fc1.bias": torch.zeros(4),
        "fc2.weight": torch.zeros(3, 5),
        "fc2.bias": torch.zeros(3),
    }
    path = tmp_path / "broken.pt"
    torch.save(state, path)
    assert_usage_error(
        invoke("run", "--x", "0.1", "0.2", "--weights", str(path)),
        "fc2.weight takes 5 inputs but fc1.weight gives 4 outputs",
    )
