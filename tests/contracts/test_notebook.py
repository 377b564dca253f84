"""The notebook, in a real Jupyter kernel: ``gradcheck.check(model=…, grads=…)`` on the seed's
model and hand gradients displays as the table; a typical bug put into the hand backward fails
with a diagnosis."""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import SAMPLES

pytestmark = pytest.mark.slow  # a real Jupyter kernel

NOTEBOOK = SAMPLES / "notebook" / "seed_notebook.ipynb"


def run_notebook(replace: tuple[str, str] | None = None) -> nbformat.NotebookNode:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    if replace is not None:
        for cell in nb.cells:
            cell.source = cell.source.replace(*replace)
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True).execute(
        cwd=str(NOTEBOOK.parent)
    )
    return nb


def outputs(nb: nbformat.NotebookNode) -> list:
    return [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]


@pytest.fixture(scope="module")
def executed() -> nbformat.NotebookNode:
    return run_notebook()


def test_seed_notebook_passes_and_displays_the_table(executed: nbformat.NotebookNode) -> None:
    errors = [o for o in outputs(executed) if o.output_type == "error"]
    assert not errors, errors
    shown = [o for o in outputs(executed) if o.output_type == "execute_result"]
    assert len(shown) == 1
    html, plain = shown[0].data["text/html"], shown[0].data["text/plain"]
    assert "<pre" in html and "W1 · dense.0.weight" in html and "PASSED" in html
    assert plain.startswith("<gradcheck.Report PASSED") and "\n" not in plain
    assert len(plain) < 120


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
