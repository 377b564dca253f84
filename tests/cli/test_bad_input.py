"""Bad input on the command line: every invalid option value, combination, environment default
or argument exits 2 with one ``Error:`` line naming the option and the problem.

Each row is (command and arguments, fragments the single stderr line must contain). Valid
extremes must run and give an honest 0 or 1, never 2. What is wrong *inside* a file is tested
with its reader (tests/io/), what is wrong in user code with tests/io/test_usercode.py.
"""

from __future__ import annotations

import pytest

from tests.conftest import SAMPLES, SEED_X, assert_usage_error, invoke, run_json

SEED_X = list(SEED_X)
NET = str(SAMPLES / "model" / "net.py")


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--x", "0.974"], ["--x: expected 2 values", "got 1"]),
        (["--x", "1", "2", "3"], ["--x: expected 2 values", "got 3"]),
        (["--x", "0.9", "abc"], ["--x: 'abc' is not a number"]),
        (["--x", "nan", "0.3"], ["--x: nan is not a finite number"]),
        (["--x", "0.1", "inf"], ["--x: inf is not a finite number"]),
        (["--x", "-inf", "0.1"], ["--x: -inf is not a finite number"]),
        ([*SEED_X, "--target", "nan"], ["--target: nan is not a finite number"]),
        ([*SEED_X, "--target", "1", "2"], ["--target: expected 1 value", "got 2"]),
        (
            [*SEED_X, "--target", "1", "--target", "2"],
            ["--target: given 2 times", "--x is given 1"],
        ),
        ([], ["--x: missing"]),
        (["--x"], ["Option '--x' requires an argument"]),
        ([*SEED_X, "--dtype", "float16"], ["'--dtype'", "'float16' is not one of"]),
        ([*SEED_X, "--atol", "-1e-3"], ["--atol: must be ≥ 0"]),
        ([*SEED_X, "--rtol", "-1"], ["--rtol: must be ≥ 0"]),
        ([*SEED_X, "--atol", "nan"], ["--atol: must be a finite number"]),
        ([*SEED_X, "--rtol", "inf"], ["--rtol: must be a finite number"]),
        ([*SEED_X, "--atol", "abc"], ["'--atol'", "'abc' is not a valid float"]),
        ([*SEED_X, "--seed", "-1"], ["'--seed'"]),
        ([*SEED_X, "--seed", "x"], ["'--seed'", "'x' is not a valid integer"]),
        ([*SEED_X, "--bogus"], ["No such option '--bogus'", "(see 'gradcheck run --help')"]),
        ([*SEED_X, "--weights", "/no/such/file.pt"], ["--weights: /no/such/file.pt: no such file"]),
        ([*SEED_X, "--layers", "2,0,1"], ["--layers: every size must be ≥ 1, got 2,0,1"]),
        ([*SEED_X, "--layers", "2,-3,1"], ["--layers: every size must be ≥ 1"]),
        ([*SEED_X, "--layers", "2,ten,1"], ["--layers: 'ten' is not a whole number"]),
        ([*SEED_X, "--layers", "2.5,1"], ["--layers: '2.5' is not a whole number"]),
        ([*SEED_X, "--layers", ""], ["--layers: empty"]),
        ([*SEED_X, "--layers", "2"], ["--layers: need at least two sizes"]),
        (
            [*SEED_X, "--layers", "2,100000,100000,1"],
            [
                "--layers",
                "(10,000,500,001 parameters) would need about 894.1 GiB; the limit is 8 GiB",
            ],
        ),
        ([*SEED_X, "--loss", "cross_entropy"], ["cross_entropy needs at least 2 output units"]),
        (
            ["--x", "1", "2", "--layers", "2,3", "--loss", "cross_entropy", "--target", "3"],
            ["--target: class index 3 is out of range for 3 output units (0 to 2)"],
        ),
        (
            ["--x", "1", "2", "--layers", "2,3", "--loss", "cross_entropy", "--target", "1", "2"],
            ["--target: expected one class index, got 2"],
        ),
        (
            [*SEED_X, "--loss", "bce_logits", "--target", "2"],
            ["bce_logits needs targets in [0, 1]"],
        ),
        (["--x", "1", "2", "--x", "3"], ["--x (row 2): expected 2 values", "got 1"]),
        (["--x", "1e39", "0", "--dtype", "float32"], ["--x: 1e+39 overflows float32"]),
        (
            [*SEED_X, "--target", "1e39", "--dtype", "float32"],
            ["--target: 1e+39 overflows float32"],
        ),
        ([*SEED_X, "--activation", "swish"], ["--activation: unknown 'swish'; choose from"]),
        ([*SEED_X, "--loss", "huber"], ["'--loss'", "'huber' is not one of"]),
        ([*SEED_X, "--loss", "bce"], ["--loss bce does not fit --output-activation identity"]),
        (
            [*SEED_X, "--layers", "2,4,3", "--loss", "nll"],
            ["--loss nll does not fit", "use it after --output-activation log_softmax"],
        ),
        (
            [
                *SEED_X,
                "--layers",
                "2,4,3",
                "--loss",
                "cross_entropy",
                "--output-activation",
                "softmax",
            ],
            ["--loss cross_entropy does not fit --output-activation softmax", "--loss nll"],
        ),
        ([*SEED_X, "--activation", "relu,tanh,relu"], ["--activation: 3 names for 2 hidden"]),
        ([*SEED_X, "--loss-scale", "0"], ["--loss-scale: must be a finite non-zero number"]),
        ([*SEED_X, "--l2", "-0.1"], ["--l2: must be a finite number ≥ 0"]),
        ([*SEED_X, "--layout", "col"], ["'col' is not one of"]),
        ([*SEED_X, "--model", "nofile.py:Net"], ["--model: nofile.py"]),
        ([*SEED_X, "--model", "x"], ["--model: x: expected FILE.py:NAME"]),
        (
            [*SEED_X, "--model", f"{NET}:Net", "--layers", "2,5,3"],
            ["--layers: 2,5,3 does not match the model Net, which has 2,8,3"],
        ),
        (
            [*SEED_X, "--model", f"{NET}:backward"],
            ["net.py:backward needs arguments", "builds the model with none"],
        ),
        ([*SEED_X, "--oracle", "bogus"], ["'--oracle'", "'bogus' is not one of"]),
        ([*SEED_X, "--oracle", "forward"], ["'--oracle'", "'forward' is not one of"]),
        *(
            (
                [*SEED_X, *flag, "--oracle", "complex-step"],
                [f"--oracle complex-step: {kink} has a kink", "use --oracle central or richardson"],
            )
            for flag, kink in [
                (("--activation", "relu"), "relu"),
                (("--activation", "leaky_relu"), "leaky_relu"),
                (("--activation", "elu"), "elu"),
                (("--loss", "l1"), "l1"),
            ]
        ),
    ],
)
def test_bad_run_input_exits_2_with_one_line(args: list[str], fragments: list[str]) -> None:
    assert_usage_error(invoke("run", *args), *fragments)


@pytest.mark.parametrize(
    ("args", "passed", "failed"),
    [
        (["--x", "5e-324", "0"], True, []),  # a subnormal input
        (["--x", "1e-320", "-1e-320"], True, []),
        (["--x", "0.5", "0.5", "--target", "1e150"], True, []),  # a huge target, still finite
        (["--x", "0.5", "0.5", "--target", "1e300"], False, ["loss"]),  # (y − ŷ)² overflows
        (["--x", "1e308", "-1e308"], True, []),  # saturates every sigmoid: honest, with warnings
        (["--x", "3e38", "3e38", "--dtype", "float32", "--activation", "identity"], False, None),
    ],
)
def test_valid_extremes_give_an_honest_verdict(
    args: list[str], passed: bool, failed: list[str] | None
) -> None:
    doc = run_json(*args)
    assert doc["passed"] is passed
    if failed is not None:
        assert doc["failed"] == failed
    if not passed:
        assert any(w["kind"] == "nonfinite" for w in doc["warnings"])


# ---------------------------------------------------------------------------------------------
# Every other command and option: sweep, explain, schema, the user's backward, result files,
# environment variables, standard input, sizes and lists.


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["sweep", "--cases", "0"], ["--cases: must be ≥ 1, got 0"]),
        (["sweep", "--cases", "-5"], ["--cases: must be ≥ 1, got -5"]),
        (["sweep", "--cases", "abc"], ["'--cases'", "'abc' is not a valid integer"]),
        (["sweep"], ["Missing option '--cases'"]),
        (["sweep", "--cases", "10", "--batch-size", "0"], ["--batch-size: must be ≥ 1, got 0"]),
        (
            ["sweep", "--cases", "100000000000"],
            ["--cases: 100,000,000,000 cases need about", "GiB"],
        ),
        (
            ["sweep", "--cases", "5", "--seed", "9223372036854775807"],
            ["--seed: seeds 9223372036854775807 … 9223372036854775811 go past torch's largest"],
        ),
        (
            ["sweep", "--cases", "5", "--oracle", "complex-step", "--activation", "relu"],
            ["--oracle complex-step: relu has a kink"],
        ),
        (["sweep", "--cases", "5", "--layers", "2,0"], ["--layers: every size must be ≥ 1"]),
        (["sweep", "--cases", "5", "--atol", "-1"], ["--atol: must be ≥ 0"]),
        (["sweep", "--cases", "5", "--impl", "nofile.py:f"], ["--impl: nofile.py"]),
        (["sweep", "--cases", "ten"], ["'--cases'", "'ten' is not a valid integer"]),
        (
            ["sweep", "--cases", "1000000000000"],
            ["--cases: 1,000,000,000,000 cases need about", "GiB", "limit 1 GiB"],
        ),
        (["sweep", "--cases", "10", "--seed", str(2**63 - 5)], ["--seed: seeds", "largest seed"]),
        (["sweep", "--cases", "5", "-q", "--json"], ["--quiet: cannot be combined"]),
        (["explain", "--x", "1"], ["--x: expected 2 values"]),
        (["explain", "--x", "0.1", "0.2", "--loss", "cross_entropy"], ["needs at least 2 output"]),
        (["explain", "--x", "0.1", "0.2", "--quiet", "--json"], ["--quiet: cannot be combined"]),
        (["explain", "--x", "0.1", "nan"], ["--x: nan is not a finite number"]),
        (["schema", "extra"], ["Got unexpected extra argument (extra)"]),
        (["frobnicate"], ["No such command 'frobnicate'"]),
        (["run", *SEED_X, "--impl", "a.py:f", "--grads", "g.npz"], ["give only one of --impl"]),
        (["run", *SEED_X, "--impl", "samples"], ["--impl: samples: expected FILE.py:FUNC"]),
        (["run", *SEED_X, "--impl", "nofile.py:backward"], ["--impl: nofile.py", "no such file"]),
        (["run", *SEED_X, "--grads", "/nonexistent.npz"], ["--grads: /nonexistent.npz: no such"]),
        (["run", *SEED_X, "--junit", "/nonexistent/dir/r.xml"], ["--junit", "no such directory"]),
        (["run", *SEED_X, "--plot", "/nonexistent/dir/p.png"], ["--plot", "no such directory"]),
        (["run", *SEED_X, "--junit", "/tmp"], ["--junit: /tmp: is a directory"]),
        (["run", *SEED_X, "--plot", "errors.txt"], ["--plot: errors.txt: expected a .png"]),
        (["run", *SEED_X, "--quiet", "--json"], ["--quiet: cannot be combined with --json"]),
        (["run", *SEED_X, "--detail", "--json"], ["--detail: cannot be combined with --json"]),
    ],
)
def test_bad_input_of_every_command_exits_2(args: list[str], fragments: list[str]) -> None:
    assert_usage_error(invoke(*args), *fragments)


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["run", "--data", "-", "--weights", "-"], ["--weights: standard input ('-') is already"]),
        (["run", *SEED_X, "--weights", "-", "--grads", "-"], ["--grads: standard", "--weights"]),
        (["run", "--data", "-", "--grads", "-"], ["--grads: standard input", "read by --data"]),
        (["explain", "--data", "-", "--weights", "-"], ["--weights: standard input", "--data;"]),
    ],
)  # fmt: skip
def test_standard_input_for_two_options_is_refused_by_name(
    args: list[str], fragments: list[str]
) -> None:
    """Standard input can be read once: the second reader is named, not told 'file is empty'."""
    from click.testing import CliRunner

    from gradcheck.cli import cli

    result = CliRunner().invoke(cli, args, input="0.974,0.312,1\n", prog_name="gradcheck")
    assert_usage_error(result, *fragments, "give one of them a file")


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


@pytest.mark.parametrize(
    ("layers", "entry"), [("2,,1", "entry 2"), ("2,3,1,", "entry 4"), (",2,1", "entry 1")]
)
def test_empty_layer_entries_are_usage_errors(layers: str, entry: str) -> None:
    for command in (
        ("run", "--x", "1", "2"),
        ("explain", "--x", "1", "2"),
        ("sweep", "--cases", "2"),
    ):
        result = invoke(*command, "--layers", layers)
        assert_usage_error(result, "--layers", entry, "is empty", "stray comma")


@pytest.mark.parametrize("activation", ["sigmoid,,tanh", "sigmoid,tanh,", " , "])
def test_empty_activation_entries_are_usage_errors(activation: str) -> None:
    result = invoke("run", "--x", "1", "2", "--layers", "2,3,3,3,1", "--activation", activation)
    assert_usage_error(result, "--activation", "is empty")


@pytest.mark.parametrize(
    ("env", "fragments"),
    [
        ({"GRADCHECK_DTYPE": "float16"}, ["GRADCHECK_DTYPE", "'float16' is not one of"]),
        ({"GRADCHECK_SEED": "x"}, ["GRADCHECK_SEED", "'x' is not a valid integer"]),
        ({"GRADCHECK_SEED": "-1"}, ["GRADCHECK_SEED"]),
        ({"GRADCHECK_ATOL": "abc"}, ["GRADCHECK_ATOL", "'abc' is not a valid float"]),
        ({"GRADCHECK_ATOL": "-1e-3"}, ["GRADCHECK_ATOL (for --atol): must be a finite number ≥ 0"]),
        ({"GRADCHECK_RTOL": "nan"}, ["GRADCHECK_RTOL (for --rtol): must be a finite number ≥ 0"]),
        ({"GRADCHECK_RTOL": "inf"}, ["GRADCHECK_RTOL (for --rtol)", "got inf"]),
        ({"GRADCHECK_ATOL": "-1"}, ["GRADCHECK_ATOL (for --atol): must be a finite number ≥ 0"]),
    ],
)
def test_bad_env_var_exits_2_naming_it(env: dict[str, str], fragments: list[str]) -> None:
    for command in ("run", "explain"):
        assert_usage_error(invoke(command, *SEED_X, env=env), *fragments)
