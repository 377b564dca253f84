"""The layer catalogue's records: every kind complete, its shapes and hyperparameters resolved
as documented, its probes valid, its classic bugs distinct from the correct layer."""

from __future__ import annotations

import numpy as np
import pytest

from gradcheck.core.errors import GradcheckError
from gradcheck.core.functions import ACTIVATIONS
from gradcheck.core.layers import shapes
from gradcheck.core.layers.catalogue import CATALOGUE, CUSTOM, KIND_NAMES, kind_named
from gradcheck.core.layers.evaluate import plain

KINDS = sorted(CATALOGUE)


def test_the_catalogue_holds_the_twenty_kinds_courses_ask_for() -> None:
    expected = {
        "affine",
        "relu",
        "leaky_relu",
        "sigmoid",
        "tanh",
        "conv",
        "max_pool",
        "avg_pool",
        "batchnorm",
        "spatial_batchnorm",
        "layernorm",
        "groupnorm",
        "dropout",
        "softmax_loss",
        "svm_loss",
        "rnn_step",
        "lstm_step",
        "word_embedding",
        "temporal_affine",
        "temporal_softmax_loss",
    }
    assert set(CATALOGUE) == expected
    assert KIND_NAMES[-1] == CUSTOM


def test_an_activation_record_marked_as_a_layer_kind_is_one() -> None:
    marked = {name for name, act in ACTIVATIONS.items() if act.layer_kind}
    assert marked <= set(CATALOGUE)
    assert all(CATALOGUE[name].activation is ACTIVATIONS[name] for name in marked)


def test_an_unknown_kind_names_the_catalogue() -> None:
    with pytest.raises(
        GradcheckError, match="unknown layer kind 'convolution'; choose from affine"
    ):
        kind_named("convolution")


@pytest.mark.parametrize("name", KINDS)
def test_every_kind_runs_with_its_defaults_and_its_probes(name: str) -> None:
    kind = CATALOGUE[name]
    assert len(kind.probes) == 2 and all(p.note for p in kind.probes)
    dims, params = shapes.configuration(kind)
    configurations = [(dims, params, "")]
    for setup in kind.probes:
        d, p = shapes.probe_configuration(kind, setup, params)
        configurations.append((d, p, setup.values))
    for dims, params, values in configurations:
        case = shapes.draw(kind, dims, params, "float64", 0, values)
        if kind.read is not None:  # dropout reads its mask from the user's output
            case = case.with_extra({"mask": np.ones(case.inputs["x"].shape, dtype=bool)})
        found = plain(case)
        for arg in kind.differentiated:
            assert found[f"d{arg.name}"].shape == case.inputs[arg.name].shape
        for out, shape in shapes.output_shapes(kind, dims, params).items():
            assert found[out].shape == shape
        assert all(np.all(np.isfinite(v)) for v in found.values())


@pytest.mark.parametrize("name", KINDS)
def test_every_classic_bug_differs_from_the_correct_layer_somewhere(name: str) -> None:
    kind = CATALOGUE[name]
    assert kind.bugs, name
    params = shapes.resolve_params(kind, {})
    cases = [shapes.draw(kind, *shapes.configuration(kind), "float64", 0)]
    for setup in kind.probes:
        d, p = shapes.probe_configuration(kind, setup, params)
        cases.append(shapes.draw(kind, d, p, "float64", 0, setup.values))
    for bug in kind.bugs:
        differs = False
        for case in cases:
            if kind.read is not None:
                mask = np.random.default_rng(0).random(case.inputs["x"].shape) < case.params["p"]
                case = case.with_extra({"mask": mask})
            good = plain(case)
            for quantity, value in bug.values(case).items():
                if value.shape != good[quantity].shape or not np.allclose(value, good[quantity]):
                    differs = True
        assert differs, (name, bug.id)
        assert bug.says and bug.fix


def test_the_contract_of_a_kind_is_the_course_s_calling_convention() -> None:
    conv = CATALOGUE["conv"]
    assert conv.forward_signature == "conv_forward_naive(x, w, b, conv_param)"
    assert conv.backward_signature == "conv_backward_naive(dout, cache)"
    assert conv.returns == "(out, cache)" and conv.backward_returns == "(dx, dw, db)"
    lstm = CATALOGUE["lstm_step"]
    assert lstm.backward_signature == "lstm_step_backward(dnext_h, dnext_c, cache)"
    assert lstm.returns == "(next_h, next_c, cache)"
    assert CATALOGUE["softmax_loss"].returns == "(loss, dx)"
    groupnorm = CATALOGUE["groupnorm"]
    assert groupnorm.forward_signature == "spatial_groupnorm_forward(x, gamma, beta, G, gn_param)"
    assert CATALOGUE["relu"].backward_returns == "dx"


# ---------------------------------------------------------------------------------------------
# --shape and --param


def conv_dims(**given: tuple[int, ...]) -> dict[str, object]:
    return shapes.resolve_dims(CATALOGUE["conv"], given)


def test_a_shape_binds_its_dims_and_the_others_follow() -> None:
    dims = conv_dims(x=(4, 5, 32, 32))
    w = next(a for a in CATALOGUE["conv"].arguments if a.name == "w")
    # w takes C from x and keeps the default F, HH, WW
    assert shapes.shape_of(w, dims) == (4, 5, 3, 3)
    assert conv_dims(x=(4, 3, 32, 32), w=(8, 3, 3, 3))["F"] == 8


def test_a_starred_dim_takes_any_number_of_axes() -> None:
    affine = CATALOGUE["affine"]
    dims = shapes.resolve_dims(affine, {"x": (2, 3, 4, 5)})
    assert dims["D"] == 60
    w = next(a for a in affine.arguments if a.name == "w")
    assert shapes.shape_of(w, dims) == (60, 5)
    # w alone sets D, and x's trailing axes become one of that size
    dims = shapes.resolve_dims(affine, {"w": (7, 2)})
    x = next(a for a in affine.arguments if a.name == "x")
    assert shapes.shape_of(x, dims) == (4, 7)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"x": (4, 3, 32)}, "x is (N, C, H, W): 4 axes"),
        ({"x": (4, 3, 32, 32), "w": (8, 4, 3, 3)}, "C would be 4, but x=4×3×32×32 makes it 3"),
        ({"q": (3,)}, "conv has no argument 'q' (its arrays: x, w, b)"),
        ({"x": (4, 0, 3, 3)}, "sizes must be ≥ 1"),
    ],
)
def test_a_shape_that_cannot_be_is_refused(given: dict[str, tuple[int, ...]], message: str) -> None:
    with pytest.raises(GradcheckError, match=message.replace("(", r"\(").replace(")", r"\)")):
        conv_dims(**given)


def test_a_huge_shape_is_refused_before_anything_is_drawn() -> None:
    with pytest.raises(GradcheckError, match="at most 134,217,728 per array"):
        shapes.configuration(CATALOGUE["relu"], {"x": (1 << 14, 1 << 14)})


def test_lstm_weights_are_four_times_h_wide() -> None:
    lstm = CATALOGUE["lstm_step"]
    assert shapes.resolve_dims(lstm, {"Wx": (3, 20)})["H"] == 5
    with pytest.raises(GradcheckError, match="must be a multiple of 4, got 10"):
        shapes.resolve_dims(lstm, {"Wx": (3, 10)})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x", "expected NAME=SIZES"),
        ("x=4xax3", "expected whole numbers separated by x"),
        ("=4x3", "expected NAME=SIZES"),
        ("4x3=2", "is not an argument name"),
    ],
)
def test_shape_text_is_parsed_strictly(text: str, message: str) -> None:
    with pytest.raises(GradcheckError, match=message):
        shapes.parse_shape_text(text)


def test_shape_text_takes_x_times_and_commas() -> None:
    assert shapes.parse_shape_text("x=4x3×2,1") == ("x", (4, 3, 2, 1))


@pytest.mark.parametrize(
    ("kind", "given", "message"),
    [
        ("conv", {"stride": "0"}, "--param stride: must be ≥ 1, got 0"),
        ("conv", {"stride": "1.5"}, "--param stride: expected a whole number, got '1.5'"),
        ("conv", {"stride": 2.0}, "--param stride: expected a whole number, got 2.0"),
        ("conv", {"strid": "1"}, "conv has no parameter 'strid' (its parameters: stride, pad)"),
        ("dropout", {"p": "0"}, "--param p: must be > 0, got 0.0"),
        ("dropout", {"p": "1.5"}, "--param p: must be ≤ 1, got 1.5"),
        ("dropout", {"mode": "eval"}, "--param mode: expected one of train, test, got 'eval'"),
        ("batchnorm", {"eps": "nan"}, "--param eps: must be finite"),
        ("batchnorm", {"eps": True}, "--param eps: expected a number, got True"),
        ("relu", {"alpha": "0.1"}, "relu has no parameter 'alpha' (its parameters: none)"),
    ],
)
def test_a_bad_hyperparameter_is_refused(kind: str, given: dict[str, object], message: str) -> None:
    with pytest.raises(GradcheckError) as err:
        shapes.resolve_params(CATALOGUE[kind], given)
    assert message in err.value.cli_message


def test_a_configuration_the_layer_cannot_have_is_refused() -> None:
    with pytest.raises(GradcheckError, match="is not a multiple of stride 3"):
        shapes.configuration(CATALOGUE["conv"], {}, {"stride": 3})
    with pytest.raises(GradcheckError, match="C = 6 channels do not split into G = 4 groups"):
        shapes.configuration(CATALOGUE["groupnorm"], {}, {"G": 4})
    with pytest.raises(GradcheckError, match="larger than H = 6"):
        shapes.configuration(CATALOGUE["max_pool"], {}, {"pool_height": 9})


def test_values_are_seeded_and_exact_in_the_dtype() -> None:
    kind = CATALOGUE["conv"]
    dims, params = shapes.configuration(kind)
    a = shapes.draw(kind, dims, params, "float32", 5)
    b = shapes.draw(kind, dims, params, "float32", 5)
    c = shapes.draw(kind, dims, params, "float32", 6)
    assert all(np.array_equal(a.inputs[k], b.inputs[k]) for k in a.inputs)
    assert not np.array_equal(a.inputs["x"], c.inputs["x"])
    assert a.inputs["x"].dtype == np.float32 and a.douts["dout"].dtype == np.float32


def test_ties_values_are_small_integers_and_labels_are_in_range() -> None:
    kind = CATALOGUE["svm_loss"]
    dims, params = shapes.configuration(kind)
    case = shapes.draw(kind, dims, params, "float64", 0, "ties")
    x = case.inputs["x"]
    assert np.array_equal(x, np.round(x)) and np.max(np.abs(x)) <= shapes.TIES
    assert case.inputs["y"].dtype == np.int64
    assert 0 <= case.inputs["y"].min() and case.inputs["y"].max() < dims["C"]
