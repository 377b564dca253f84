"""The layout's rules, checked: imports point down the layers, no cycles, one record per
activation, and the package does not repeat itself.

Layers, bottom to top (a module may import its own layer and those below, never above):
core → torch_side | io → checks → output → api | cli | testing. ``torch_side`` and ``io`` sit
side by side and do not import each other. Function-level imports count: a lazy import is
still a dependency.
"""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

import pytest

from gradcheck.core.functions import ACTIVATIONS
from tests.conftest import ROOT

PACKAGE = ROOT / "gradcheck"

RANK = {
    "core": 0,
    "torch_side": 1,
    "io": 1,
    "checks": 2,
    "output": 3,
    "api": 4,
    "cli": 4,
    "testing": 4,
    "__main__": 5,
}
#: Peers on one rank that must not import each other.
SEPARATE = {frozenset({"torch_side", "io"}), frozenset({"api", "cli"})}


def modules() -> dict[str, Path]:
    found = {}
    for file in PACKAGE.rglob("*.py"):
        parts = file.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = file
    return found


def layer(module: str) -> str | None:
    """``gradcheck.core.spec`` → ``core``; the package root has no layer."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def imports(file: Path, known: set[str]) -> set[str]:
    """Every gradcheck module ``file`` imports, at any depth of the code."""
    out = set()
    for node in ast.walk(ast.parse(file.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name:
                out.add(name)
    return out


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {m: imports(f, set(mods)) - {m} for m, f in mods.items()}


def test_every_module_is_in_a_layer() -> None:
    for module in modules():
        assert module == "gradcheck" or layer(module) in RANK, module


def test_imports_point_down_the_layers() -> None:
    upward = []
    for module, targets in graph().items():
        source = layer(module)
        if source is None:
            continue  # the package root resolves its public names lazily, from the top
        for target in targets:
            dest = layer(target)
            if dest is None:
                # The root holds __version__ and lazy names only; reading the version is fine.
                continue
            if RANK[dest] > RANK[source] or frozenset({source, dest}) in SEPARATE:
                upward.append(f"{module} → {target}")
    assert not upward, "imports that point up or sideways:\n" + "\n".join(sorted(upward))


def test_no_import_cycles() -> None:
    edges = graph()
    edges["gradcheck"] = set()  # the root's lazy names are the API's, resolved at call time
    state: dict[str, int] = {}
    cycles: list[str] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges[node]):
            if nxt == "gradcheck":
                continue
            if state.get(nxt) == 1:
                cycles.append(" → ".join([*path[path.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt, path)
        path.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [])
    assert not cycles, "\n".join(cycles)


def test_the_layer_test_catches_an_upward_import(tmp_path: Path) -> None:
    # The checks above must be able to fail: a core module importing output is found.
    file = tmp_path / "spec.py"
    file.write_text("def f():\n    from gradcheck.output import table\n")
    known = set(modules())
    found = imports(file, known)
    assert "gradcheck.output.table" in found
    assert RANK[layer("gradcheck.output.table") or ""] > RANK["core"]


def names_in_code(file: Path) -> set[str]:
    """Every name ``file``'s code uses as a value or binds: string constants that are a whole
    word, identifiers, definitions, parameters, imports and keywords. Prose (docstrings,
    formula text, help examples) and a library's attribute (``np.tanh`` for an LSTM's gate)
    are not a choice of activation made by name."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(file.read_text())):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if node.value.isidentifier():
                found.add(node.value)
        elif isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            found.add(node.name)
        elif isinstance(node, ast.arg):
            found.add(node.arg)
        elif isinstance(node, ast.alias):
            found.update(n.rpartition(".")[2] for n in (node.name, node.asname) if n)
        elif isinstance(node, ast.keyword) and node.arg:
            found.add(node.arg)
    return found


@functools.cache
def package_names() -> dict[str, frozenset[str]]:
    """``names_in_code`` of every package file, parsed once for all the tests that read it."""
    return {str(f.relative_to(PACKAGE)): frozenset(names_in_code(f)) for f in PACKAGE.rglob("*.py")}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_an_activation_is_named_in_at_most_three_package_files(name: str) -> None:
    # Its record (core/functions.py), its torch mapping, and at most one more place: adding an
    # activation is one record and one torch line, not a name special-cased around the code.
    files = sorted(f for f, names in package_names().items() if name in names)
    assert len(files) <= 3, files


def test_the_naming_rule_sees_a_name_used_as_a_choice(tmp_path: Path) -> None:
    file = tmp_path / "special.py"
    file.write_text('"""relu in prose is fine."""\nimport numpy as np\ny = np.tanh(0.5)\n')
    assert not {"relu", "tanh"} & names_in_code(file)
    file.write_text('def pick(act):\n    return act.name == "relu"\n')
    assert "relu" in names_in_code(file)


def test_an_oracle_method_is_named_only_by_its_record_and_its_evaluation() -> None:
    """Everything else (the CLI's choices and help, the schema's enum, the tolerance, the
    budget, --oracle-sample) reads the records: a new method is a record and its evaluation."""
    from gradcheck.core.oracle_methods import METHODS

    allowed = {"core/oracle_methods.py", "core/numeric.py"}
    for file in PACKAGE.rglob("*.py"):
        where = str(file.relative_to(PACKAGE))
        literals = {
            node.value
            for node in ast.walk(ast.parse(file.read_text()))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
        }
        named = sorted(literals & set(METHODS))
        assert where in allowed or not named, (where, named)
    schema = (PACKAGE / "io" / "schema.json").read_text()
    assert not any(f'"{name}"' in schema for name in METHODS)


TEST_FOLDERS = {"core", "torch_side", "io", "checks", "output", "cli", "contracts"}
HISTORY = re.compile(r"\b(?:issue|session)[ -]?\d|\(new\)|\(unchanged\)|new[ ]user", re.I)


def test_tests_are_laid_out_like_the_package() -> None:
    """tests/ has one folder per layer (and contracts/ for what users rely on across them);
    files are named by subject, and their docstrings and comments tell no project history."""
    tests = ROOT / "tests"
    folders = {p.name for p in tests.iterdir() if p.is_dir() and not p.name.startswith("__")}
    assert folders == TEST_FOLDERS
    layers = {p.name for p in (ROOT / "gradcheck").iterdir() if (p / "__init__.py").is_file()}
    assert layers <= folders, layers - folders
    for path in tests.rglob("*.py"):
        assert not re.search(r"issue|session|newuser|hostile|regression", path.name), path
        found = HISTORY.search(path.read_text())
        assert found is None, (path, found)
