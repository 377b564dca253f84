"""The notebook, in a real Jupyter kernel: ``gradcheck.check(model=…, grads=…)`` on the seed's
model and hand gradients displays as the table; a typical bug put into the hand backward fails
with a diagnosis; float32 gradients are checked at float32, and the table is shown once."""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import SAMPLES

pytestmark = pytest.mark.slow  # a real Jupyter kernel per test

NOTEBOOK = SAMPLES / "notebook" / "seed_notebook.ipynb"


def run_notebook(*replace: tuple[str, str]) -> nbformat.NotebookNode:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    for old, new in replace:
        assert any(old in cell.source for cell in nb.cells), old
        for cell in nb.cells:
            cell.source = cell.source.replace(old, new)
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True).execute(
        cwd=str(NOTEBOOK.parent)
    )
    return nb


def outputs(nb: nbformat.NotebookNode) -> list:
    return [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]


@pytest.fixture(scope="module")
def executed() -> nbformat.NotebookNode:
    return run_notebook()


def html_text(html: str) -> str:
    """What the HTML shows: tags stripped, entities decoded."""
    import html as entities
    import re

    return entities.unescape(re.sub(r"<[^>]+>", "", html))


def check_cell(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    [cell] = [c for c in nb.cells if "gradcheck.check(" in c.source]
    return cell


def test_seed_notebook_passes_and_displays_the_table(executed: nbformat.NotebookNode) -> None:
    errors = [o for o in outputs(executed) if o.output_type == "error"]
    assert not errors, errors
    # Every output of the cell, not only its result: the table is shown once (rich, asked for
    # HTML, must not also send it as a display of its own).
    [shown] = check_cell(executed).outputs
    assert shown.output_type == "execute_result"
    assert not [o for o in outputs(executed) if o.output_type == "display_data"]
    html, plain = shown.data["text/html"], shown.data["text/plain"]
    assert "<pre" in html and "W1 · dense.0.weight" in html and "PASSED" in html
    assert html.count("W1 · dense.0.weight") == 1 and html.count("PASSED: all") == 1
    assert plain.startswith("<gradcheck.Report PASSED") and "\n" not in plain
    assert len(plain) < 120


def test_float32_gradients_in_the_kernel_are_checked_at_float32() -> None:
    # The seed's user takes the weights as the model holds them (float32) and derives in
    # float32: the check follows the arrays handed in, and one line says so.
    nb = run_notebook(
        (".astype(np.float64)", ""),
        ("X = np.array([0.97436534, 0.31171513])", "X = np.array([0.97436534, 0.31171513], 'f4')"),
        ("V = np.array([1.0])", "V = np.array([1.0], 'f4')"),
    )
    [shown] = check_cell(nb).outputs
    text = " ".join(html_text(shown.data["text/html"]).split())
    assert "PASSED" in text and "float32 · model" in text
    assert "note: the gradients handed in are float32: checked in float32" in text
    assert not [o for o in outputs(nb) if o.output_type == "error"]


def test_a_bug_in_the_notebook_fails_with_a_diagnosis() -> None:
    # The classic slip: δ2 without the sigmoid derivative.
    nb = run_notebook(
        ("delta2 = np.dot(W3.T, delta3) * sigmoid_gradient(z2)", "delta2 = np.dot(W3.T, delta3)")
    )
    shown = [o for o in outputs(nb) if o.output_type == "execute_result"]
    html = shown[0].data["text/html"]
    assert "FAILED" in html and "diagnosis" in html
    assert "missing the activation derivative" in html
    assert any(o.output_type == "error" and o.ename == "AssertionError" for o in outputs(nb))
