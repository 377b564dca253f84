"""Every bad input to ``gradcheck layer`` is exit 2 with one line naming it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import SAMPLES, assert_usage_error, invoke

LAYERS = f"{SAMPLES / 'layers' / 'layers.py'}"
CONV = f"{LAYERS}:conv_forward_naive,conv_backward_naive"
#: A file's first lines that import the sample's conv forward as ``f``.
COURSE = (
    f"import sys; sys.path.insert(0, {str(SAMPLES / 'layers')!r})\n"
    "from layers import conv_forward_naive as f\n"
)


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (
            ("convolution", "--impl", CONV),
            ("KIND: unknown layer kind 'convolution'", "choose from affine"),
        ),
        (("conv",), ("--impl: missing; give your layer as --impl FILE.py:FORWARD,BACKWARD",)),
        (("conv", "--impl", f"{LAYERS}:conv_forward_naive"), ("conv takes two functions", "got 1")),
        (
            ("softmax_loss", "--impl", f"{LAYERS}:softmax_loss,svm_loss"),
            ("softmax_loss takes one function returning (loss, dx)",),
        ),
        (("conv", "--impl", f"{LAYERS}:conv_forward_naive,nothere"), ("no function 'nothere'",)),
        (("conv", "--impl", "nofile.py:a,b"), ("nofile.py: no such file",)),
        (("conv", "--impl", f"{LAYERS}:conv forward,b"), ("'conv forward' is not a Python name",)),
        (
            ("conv", "--impl", f"{LAYERS}:relu_forward,relu_backward"),
            (
                "its signature relu_forward(x) does not take the 4 arguments of "
                "conv_forward_naive(x, w, b, conv_param)",
            ),
        ),
        (
            ("conv", "--impl", f"{LAYERS}:conv_forward_naive,affine_forward"),
            (
                "its signature affine_forward(x, w, b) does not take the 2 arguments of "
                "conv_backward_naive(dout, cache)",
            ),
        ),
        (
            ("conv", "--impl", CONV, "--shape", "x=4x3x32"),
            ("--shape x=4×3×32: x is (N, C, H, W): 4 axes",),
        ),
        (("conv", "--impl", CONV, "--shape", "x=4x3x0x3"), ("--shape x: sizes must be ≥ 1",)),
        (
            ("conv", "--impl", CONV, "--shape", "x=4x3x32x32", "--shape", "w=8x4x3x3"),
            ("C would be 4, but x=4×3×32×32 makes it 3",),
        ),
        (
            ("conv", "--impl", CONV, "--shape", "q=3"),
            ("conv has no argument 'q' (its arrays: x, w, b)",),
        ),
        (("conv", "--impl", CONV, "--shape", "x"), ("--shape: 'x': expected NAME=SIZES",)),
        (("conv", "--impl", CONV, "--shape", "x=axb"), ("expected whole numbers separated by x",)),
        (
            ("conv", "--impl", CONV, "--shape", "x=4x3x8x8", "--shape", "x=4x3x8x8"),
            ("--shape: x is given twice",),
        ),
        (("relu", "--impl", CONV, "--shape", "x=20000x20000"), ("at most 134,217,728 per array",)),
        (
            ("conv", "--impl", CONV, "--param", "stride=3"),
            ("H + 2·pad − window = 6 + 2 − 3 = 5", "is not a multiple of stride 3"),
        ),
        (("conv", "--impl", CONV, "--param", "stride=0"), ("--param stride: must be ≥ 1, got 0",)),
        (
            ("conv", "--impl", CONV, "--param", "stride=1.5"),
            ("--param stride: expected a whole number, got '1.5'",),
        ),
        (
            ("conv", "--impl", CONV, "--param", "strid=1"),
            ("conv has no parameter 'strid' (its parameters: stride, pad)",),
        ),
        (
            ("conv", "--impl", CONV, "--param", "stride"),
            ("--param: 'stride': expected NAME=VALUE",),
        ),
        (
            ("conv", "--impl", CONV, "--param", "pad=1", "--param", "pad=2"),
            ("--param: pad is given twice",),
        ),
        (("dropout", "--impl", CONV, "--param", "p=0"), ("--param p: must be > 0, got 0.0",)),
        (
            ("batchnorm", "--impl", CONV, "--param", "mode=test"),
            ("--param mode: expected one of train, got 'test'",),
        ),
        (
            ("groupnorm", "--impl", CONV, "--param", "G=4"),
            ("C = 6 channels do not split into G = 4 groups",),
        ),
        (("conv", "--impl", CONV, "--probes", "3"), ("--probes: expected 0 to 2",)),
        (
            ("conv", "--impl", CONV, "--values", "odd"),
            ("--values: expected one of normal, ties, wide, got 'odd'",),
        ),
        (("conv", "--impl", CONV, "--oracle", "complex-step"), ("Invalid value for '--oracle'",)),
        (
            ("conv", "--impl", CONV, "--json", "--quiet"),
            ("--quiet: cannot be combined with --json",),
        ),
        (
            ("conv", "--impl", CONV, "--json", "--detail"),
            ("--detail: cannot be combined with --json",),
        ),
        (("conv", "--impl", CONV, "--atol", "-1"), ("--atol: must be ≥ 0",)),
        (("custom", "--impl", CONV), ("--shape: a custom layer needs its inputs' shapes",)),
        (
            ("custom", "--impl", CONV, "--shape", "x=400x500"),
            ("calls your forward 4 times per input element", "over 40,000"),
        ),
    ],
)
def test_bad_input_is_exit_2_naming_it(args: tuple[str, ...], fragments: tuple[str, ...]) -> None:
    assert_usage_error(invoke("layer", *args), *fragments)


def _file(tmp_path: Path, body: str) -> str:
    code = tmp_path / "mine.py"
    code.write_text("import numpy as np\n" + body)
    return str(code)


@pytest.mark.parametrize(
    ("body", "fragments"),
    [
        (
            "def f(x, w, b, p):\n    return 1.0\ndef b(dout, cache):\n    return 0\n",
            ("mine.py:f returned a float; it returns (out, cache)",),
        ),
        (
            "def f(x, w, b, p):\n    return x, w, b\ndef b(dout, cache):\n    return 0\n",
            ("mine.py:f returned 3 values; it returns (out, cache)",),
        ),
        (
            "def f(x, w, b, p):\n    return x, None\ndef b(dout, cache):\n    return 0\n",
            ("mine.py:f returned out (position 0) with shape (3, 3, 6, 5), expected (3, 4, 6, 5)",),
        ),
        (
            "def f(x, w, b, p):\n    return [[0.0]], None\ndef b(dout, cache):\n    return 0\n",
            (
                "mine.py:f returned out (position 0) as a list; expected a numpy array of shape "
                "(3, 4, 6, 5)",
            ),
        ),
        (
            f"{COURSE}def b(dout, cache):\n    return np.zeros(3), np.zeros(3), np.zeros(3)\n",
            (
                "mine.py:b returned dx (position 0) with shape (3,), expected (3, 3, 6, 5), "
                "x's shape",
            ),
        ),
        (
            f"{COURSE}def b(dout, cache):\n"
            "    return np.zeros((3, 3, 6, 5)), np.zeros((4, 3, 3, 3))\n",
            ("mine.py:b returned 2 values; it returns (dx, dw, db)",),
        ),
        (
            f"{COURSE}def b(dout, cache):\n    return np.zeros((3, 3, 6, 5)), 'dw', np.zeros(4)\n",
            (
                "mine.py:b returned dw (position 1) as a str; expected a numpy array of shape "
                "(4, 3, 3, 3)",
            ),
        ),
        (
            "def f(x, w, b, p):\n    raise ValueError('not yet')\n"
            "def b(dout, cache):\n    return 0\n",
            ("mine.py:f raised ValueError: not yet",),
        ),
    ],
)
def test_what_the_user_s_code_returns_is_checked(
    tmp_path: Path, body: str, fragments: tuple[str, ...]
) -> None:
    result = invoke("layer", "conv", "--impl", f"{_file(tmp_path, body)}:f,b")
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: --impl: ")
    for fragment in fragments:
        assert fragment in last, (fragment, last)


def test_a_probe_where_the_code_breaks_is_a_failed_probe_not_an_error(tmp_path: Path) -> None:
    body = (
        f"import sys; sys.path.insert(0, {str(SAMPLES / 'layers')!r})\n"
        "from layers import conv_forward_naive, conv_backward_naive\n"
        "def f(x, w, b, p):\n"
        "    assert p['stride'] == 1, 'stride 1 only'\n"
        "    return conv_forward_naive(x, w, b, p)\n"
    )
    result = invoke("layer", "conv", "--impl", f"{_file(tmp_path, body)}:f,conv_backward_naive")
    assert result.exit_code == 1
    assert "probe1:" in result.stdout and "your code gave no answer" in result.stdout
    assert "AssertionError: stride 1 only" in result.stdout
