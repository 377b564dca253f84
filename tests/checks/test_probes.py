"""Probe batches (checks/probes.py): user code is also checked on seeded batches of 2, 3, … rows,
so that a batch-reduction bug cannot pass behind a single input row."""

from __future__ import annotations

import json
import shlex
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gradcheck.api import check
from gradcheck.core.errors import GradcheckError
from gradcheck.testing import assert_backward
from tests.conftest import assert_usage_error, assert_valid_document, invoke

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "backward_seed.py"
SEED_X = ("--x", "0.974", "0.312")

#: Batch-reduction bugs that batch 1 cannot show: (name, [(correct text, buggy text), …]).
MUTANTS = {
    # A sum where the mean belongs: the loss and its gradient.
    "sum_not_mean": [
        (
            "return (2 * y_pred - 2 * y_true) / y_pred.size",
            "return 2 * y_pred - 2 * y_true",
        ),
        ('"loss": np.mean((prediction - y) ** 2)', '"loss": np.sum((prediction - y) ** 2)'),
    ],
    # Divided by the number of output units instead of batch × units.
    "wrong_count": [
        (
            "return (2 * y_pred - 2 * y_true) / y_pred.size",
            "return (2 * y_pred - 2 * y_true) / y_pred.shape[1]",
        )
    ],
    # W3's gradient from the first row only.
    "first_row_only": [
        ("w3_gradient = delta3.T @ z2_act", "w3_gradient = delta3[:1].T @ z2_act[:1]")
    ],
}


def mutant(tmp_path: Path, name: str) -> str:
    """samples/backward_seed.py with the mutant's edits; ``FILE.py:backward``."""
    text = SAMPLE.read_text()
    for correct, buggy in MUTANTS[name]:
        assert text.count(correct) == 1, correct
        text = text.replace(correct, buggy)
    path = tmp_path / f"{name}.py"
    path.write_text(text)
    return f"{path}:backward"


def run_doc(*args: str) -> tuple[int, dict[str, Any]]:
    result = invoke("run", *args, "--json")
    assert result.exit_code in (0, 1), result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    return result.exit_code, doc


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_batch_reduction_bugs_pass_at_batch_1_without_probes_and_fail_with_them(
    tmp_path: Path, name: str
) -> None:
    impl = mutant(tmp_path, name)
    old = invoke("run", *SEED_X, "--impl", impl, "--probes", "0")
    assert old.exit_code == 0, old.stdout  # the old behaviour: one row hides the bug
    assert "probe" not in old.stdout
    assert "PASSED: all 11 checks within tolerance\n" in old.stdout
    new = invoke("run", *SEED_X, "--impl", impl)
    assert new.exit_code == 1, new.stdout
    text = " ".join(new.stdout.split())
    assert "FAILED: all 11 checks on the given batch are within tolerance, but probe" in text
    assert "probe1: batch 2 · ✗ FAILED" in text and "probe2: batch 3 · ✗ FAILED" in text
    assert "reproduce: gradcheck run \\ --x " in text


def test_sum_not_mean_is_diagnosed_on_the_failing_probe(tmp_path: Path) -> None:
    code, doc = run_doc(*SEED_X, "--impl", mutant(tmp_path, "sum_not_mean"))
    assert code == 1 and doc["passed"] is False and doc["exit_code"] == 1
    assert doc["failed"] == []  # the given batch's comparisons all pass
    assert [p["passed"] for p in doc["probes"]] == [False, False]
    kinds = {d["kind"] for d in doc["diagnosis"]}
    assert "batch_sum_vs_mean" in kinds
    sums = [d["message"] for d in doc["diagnosis"] if d["kind"] == "batch_sum_vs_mean"]
    assert sums[0].startswith("probe2 (batch 3): ") and "×3, the batch size" in sums[0]
    conventions = [d for d in doc["diagnosis"] if d["kind"] == "convention"]
    assert conventions and conventions[0]["flags"] == ["--reduction sum"]
    assert doc["probes"][1]["diagnosis"]  # each probe carries its own diagnosis too


def test_correct_code_passes_with_probes() -> None:
    impl = f"{SAMPLE}:backward"
    result = invoke("run", *SEED_X, "--impl", impl, "--probes", "3")
    assert result.exit_code == 0, result.stdout
    assert "PASSED: all 11 checks within tolerance, and on 3 probe batches (2, 3, 4 rows)" in (
        result.stdout
    )
    for k, size in ((1, 2), (2, 3), (3, 4)):
        assert f"probe{k}: batch {size} · ✓ passed · worst " in result.stdout
    assert "reproduce:" not in result.stdout
    code, doc = run_doc(*SEED_X, "--impl", impl, "--x", "-0.5", "2.0", "--dtype", "float32")
    assert code == 0
    assert [p["batch_size"] for p in doc["probes"]] == [2, 3]
    assert doc["settings"]["probes"] == 2


@pytest.mark.slow
def test_the_reproduce_command_reproduces_the_failing_probe(tmp_path: Path) -> None:
    impl = mutant(tmp_path, "sum_not_mean")
    args = (*SEED_X, "--target", "0.5", "--dtype", "float32", "--impl", impl)
    code, doc = run_doc(*args)
    assert code == 1
    printed = invoke("run", *args).stdout.split("  reproduce: ")[1:]
    assert len(printed) == 2
    for probe, shown in zip(doc["probes"], printed, strict=True):
        # The table's backslash-continued form is the same command as the JSON's one line.
        block = shown.split("\nprobe")[0].split("\ndiagnosis:")[0]
        assert shlex.split(block.replace("\\\n", " ")) == shlex.split(probe["command"])
        argv = shlex.split(probe["command"])
        assert argv[:2] == ["gradcheck", "run"] and argv[-2:] == ["--probes", "0"]
        assert "--dtype" in argv and "--seed" in argv
        again, reproduced = run_doc(*argv[2:])
        assert again == 1
        # The probe's rows, exactly (they are representable in float32 by construction).
        assert reproduced["settings"]["x"] == probe["x"]
        assert reproduced["settings"]["target"] == probe["target"]
        assert reproduced["probes"] == []
        assert set(reproduced["failed"]) == set(probe["failed"])
        for mine, theirs in zip(reproduced["parameters"], probe["parameters"], strict=True):
            assert mine["max_abs_error"] == theirs["max_abs_error"]


@pytest.mark.slow
def test_same_arguments_same_bytes_other_arguments_other_probes(tmp_path: Path) -> None:
    impl = mutant(tmp_path, "sum_not_mean")
    first = invoke("run", *SEED_X, "--impl", impl, "--json").stdout
    assert first == invoke("run", *SEED_X, "--impl", impl, "--json").stdout
    other = json.loads(invoke("run", "--x", "0.9", "0.3", "--impl", impl, "--json").stdout)
    assert other["probes"][0]["x"] != json.loads(first)["probes"][0]["x"]
    seeded = json.loads(invoke("run", *SEED_X, "--seed", "1", "--impl", impl, "--json").stdout)
    assert seeded["probes"][0]["x"] != json.loads(first)["probes"][0]["x"]


def test_probe_rows_lie_around_the_given_ones() -> None:
    report = check(
        [[0.974, 0.312], [-3.0, 0.001]],
        [[0.2, 0.9], [0.7, 0.1]],
        layers=(2, 5, 2),
        loss="bce_logits",
        backward=_replica_backward,
        probes=4,
    )
    assert report.passed
    given = np.array([[0.974, 0.312], [-3.0, 0.001]])
    for probe in report.probes:
        rows = given[np.arange(probe.size) % 2]
        assert np.all(np.abs(probe.x - rows) <= 0.1 * np.abs(rows) * 6 + 0.05 * 3.0 * 6)
        assert np.all((probe.target >= 0) & (probe.target <= 1))  # bce's target range
    assert [p.size for p in report.probes] == [2, 3, 4, 5]


def _replica_backward(params: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> Any:
    from gradcheck.core import replica
    from gradcheck.core.spec import NetSpec

    layers = (x.shape[1], *(params[f"W{k}"].shape[0] for k in range(1, len(params) // 2 + 1)))
    loss = "bce_logits" if layers[-1] == 2 else "cross_entropy"
    spec = NetSpec(layers, "sigmoid" if loss == "bce_logits" else "tanh", loss)
    _, bwd = replica.gradients(spec, params, x, y)
    return bwd.grads


def test_class_targets_get_probe_classes_in_range() -> None:
    report = check(
        [[0.1, 0.2, 0.3]],
        [[2]],
        layers=(3, 4, 3),
        activation="tanh",
        loss="cross_entropy",
        backward=_replica_backward,
        probes=3,
    )
    assert report.passed, [p.report.failed for p in report.probes if p.report]
    for probe in report.probes:
        assert probe.target.dtype == np.int64 and probe.target[0] == 2
        assert np.all((probe.target >= 0) & (probe.target < 3))


@pytest.mark.slow
def test_json_junit_and_table_of_a_failing_probe(tmp_path: Path) -> None:
    impl = mutant(tmp_path, "first_row_only")
    junit = tmp_path / "report.xml"
    result = invoke("run", *SEED_X, "--impl", impl, "--junit", str(junit))
    assert result.exit_code == 1
    assert "worst W3: max abs err" in result.stdout
    root = ET.parse(junit).getroot()
    probes = [c for c in root.iter("testcase") if c.get("classname") == "gradcheck.probes"]
    assert [c.get("name") for c in probes] == ["probe1 (batch 2)", "probe2 (batch 3)"]
    assert root.get("tests") == "13" and root.get("failures") == "2"
    failure = probes[0].find("failure")
    assert failure is not None and "W3" in (failure.get("message") or "")
    assert "reproduce: gradcheck run --x " in (failure.text or "")
    code, doc = run_doc(*SEED_X, "--impl", impl)
    assert code == 1
    assert_valid_document(doc)
    probe = doc["probes"][0]
    assert probe["name"] == "probe1" and probe["failed"] == ["W3"]
    assert probe["worst"]["name"] == "W3" and probe["error"] is None


def test_grads_files_cannot_be_probed_and_say_so(tmp_path: Path) -> None:
    code, doc = run_doc(*SEED_X, "--impl", f"{SAMPLE}:backward")
    grads = {p["name"]: np.array(p["hand"]) for p in doc["parameters"]}
    path = tmp_path / "grads.npz"
    np.savez(path, **grads)  # type: ignore[arg-type]
    result = invoke("run", *SEED_X, "--grads", str(path))
    assert result.exit_code == 0, result.stderr
    assert "note: --grads holds gradients for the given batch only" in " ".join(
        result.stdout.split()
    )
    code, doc = run_doc(*SEED_X, "--grads", str(path))
    assert code == 0 and doc["probes"] == [] and doc["settings"]["probes"] == 0
    assert "--impl FILE.py:FUNC" in doc["probes_note"]
    quiet = invoke("run", *SEED_X, "--grads", str(path), "--probes", "0", "--json")
    assert "probes_note" not in json.loads(quiet.stdout)


def test_replica_has_no_probes() -> None:
    code, doc = run_doc(*SEED_X)
    assert code == 0 and doc["probes"] == [] and doc["settings"]["probes"] == 0
    assert "probes_note" not in doc


@pytest.mark.parametrize("value", ["-1", "11", "two"])
def test_bad_probe_counts_exit_2(value: str) -> None:
    result = invoke("run", *SEED_X, "--impl", f"{SAMPLE}:backward", "--probes", value)
    assert_usage_error(result, "--probes")


def test_bad_probe_counts_in_the_api() -> None:
    with pytest.raises(GradcheckError, match=r"^probes: got a bool \(True\); expected a whole"):
        check([0.974, 0.312], backward=_replica_backward, probes=True)  # type: ignore[arg-type]
    with pytest.raises(GradcheckError, match=r"^probes: expected 0"):
        check([0.974, 0.312], backward=_replica_backward, probes=-2)


def test_code_that_breaks_on_a_larger_batch_fails_the_probe_not_the_run(tmp_path: Path) -> None:
    path = tmp_path / "one_row.py"
    path.write_text(
        SAMPLE.read_text()
        + "\n\n_correct = backward\n\n\ndef backward(params, x, y):\n"
        + "    assert x.shape[0] == 1, 'only one row'\n    return _correct(params, x, y)\n"
    )
    result = invoke("run", *SEED_X, "--impl", f"{path}:backward")
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "your code gave no answer" in result.stdout
    code, doc = run_doc(*SEED_X, "--impl", f"{path}:backward")
    assert code == 1 and doc["probes"][0]["error"] and "forward" not in doc["probes"][0]


def test_assert_backward_fails_on_a_probe(tmp_path: Path) -> None:
    from tests.checks.test_classic_bugs import correct

    def summed(p: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> Any:
        grads = correct(p, x, y)
        return {k: v * x.shape[0] for k, v in grads.items()}

    with pytest.raises(AssertionError) as caught:
        assert_backward(summed, x=[0.974, 0.312])
    first = str(caught.value).splitlines()[0]
    assert first.startswith("gradcheck: 2 of 2 probe batches fail (probe1, batch 2: ")
    assert "the given batch passes" in first
    # A local function cannot be named as FILE.py:FUNC: the command says where it goes.
    assert "--impl YOUR_FILE.py:FUNC \\\n      --probes 0" in str(caught.value)
    assert assert_backward(correct, x=[0.974, 0.312]).probes
    assert not assert_backward(summed, x=[0.974, 0.312], probes=0).probes


def test_a_module_level_backward_is_named_in_the_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.checks.test_classic_bugs import flipped_sign

    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    report = check([0.974, 0.312], backward=flipped_sign)
    assert not report.passed and report.failed_probes
    command = report.failed_probes[0].command
    assert "--impl tests/checks/test_classic_bugs.py:flipped_sign --probes 0" in command
    again = invoke(*shlex.split(command)[1:])
    assert again.exit_code == 1, again.stderr


SAMPLES = Path(__file__).resolve().parents[2] / "samples"


@pytest.mark.parametrize(
    "args",
    [
        # Output activation, sum reduction, loss scale (a 3-row batch).
        (
            *("--x", "0.974", "0.312", "--x", "-0.5", "0.8", "--x", "0.1", "-0.9"),
            *("--target", "0.5", "--target", "0.2", "--target", "0.9"),
            *("--output-activation", "sigmoid", "--reduction", "sum", "--loss-scale", "0.5"),
            *("--impl", f"{SAMPLES}/textbook/backprop.py:backward"),
        ),
        # --data rows, layout in_out, L2, relu, classes.
        (
            *("--seed", "2", "--layers", "4,6,3", "--activation", "relu"),
            *("--loss", "cross_entropy", "--l2", "0.05", "--layout", "in_out"),
            *("--data", f"{SAMPLES}/course/data.csv"),
            *("--impl", f"{SAMPLES}/course/two_layer.py:loss_and_grads"),
        ),
        # The user's own model class and a loss over log-probabilities, in float32.
        (
            *("--model", f"{SAMPLES}/model/net.py:Net", "--x", "0.974", "0.312"),
            *("--target", "1", "--loss", "nll", "--dtype", "float32"),
            *("--impl", f"{SAMPLES}/model/net.py:backward"),
        ),
    ],
    ids=["textbook", "course", "model"],
)
def test_probe_commands_carry_every_option(args: tuple[str, ...]) -> None:
    code, doc = run_doc(*args)
    assert code == 0, doc["failed"]
    assert [p["passed"] for p in doc["probes"]] == [True, True]
    for probe in doc["probes"]:
        again, alone = run_doc(*shlex.split(probe["command"])[2:])
        assert again == 0
        assert alone["settings"]["x"] == probe["x"]
        assert alone["settings"]["target"] == probe["target"]
        for key in ("layers", "activations", "loss", "dtype", "reduction", "loss_scale", "l2"):
            assert alone["settings"][key] == doc["settings"][key], key
        for key in ("layout", "output_activation", "model", "seed"):
            assert alone["settings"][key] == doc["settings"][key], key
        # The same numbers as the probe itself: the same weights and batch.
        for mine, theirs in zip(alone["parameters"], probe["parameters"], strict=True):
            assert mine["max_abs_error"] == theirs["max_abs_error"]


def test_a_module_instance_is_a_placeholder_in_the_command() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("probe_net", SAMPLES / "model" / "net.py")
    assert spec is not None and spec.loader is not None
    net = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(net)

    def summed(params: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> Any:
        grads = net.backward(params, x, y)
        return {k: np.asarray(v) * x.shape[0] for k, v in grads.items()}

    good = check([0.974, 0.312], [1], model=net.Net(), loss="nll", backward=net.backward)
    assert good.passed and len(good.probes) == 2
    bad = check([0.974, 0.312], [1], model=net.Net(), loss="nll", backward=summed)
    assert not bad.passed and not bad.failed and len(bad.failed_probes) == 2
    command = bad.failed_probes[0].command
    assert command.startswith("gradcheck run --model YOUR_FILE.py:MODEL --x ")
    assert "--impl YOUR_FILE.py:FUNC --probes 0" in command
