"""The floors of the package (docs/architecture.md): imports only point down, and nothing hides a cycle.

Every module of tinyae/ has a floor; a module may import from its own floor or lower ones, never from a
higher one, and the imports (at module level AND inside functions) form no cycle. An import inside a
function is a way to hide a cycle, so tinyae modules are imported at the top of a file, except where
LAZY says why not (optional dependencies are not tinyae modules and are not checked here).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "tinyae"

# Lowest first. A module's floor is the one of its longest listed prefix.
FLOORS = [
    ("engine: arrays and devices", ["tinyae.backend"]),
    ("engine: pure functions", ["tinyae.functional"]),
    ("engine: the hot loops", ["tinyae.kernels"]),
    ("engine: layers", ["tinyae.layers"]),
    ("engine: losses", ["tinyae.losses"]),
    ("engine: optimizers", ["tinyae.optim"]),
    ("engine: models", ["tinyae.models"]),
    ("library: training, data, files, checks", ["tinyae.train", "tinyae.data", "tinyae.io", "tinyae.gradcheck"]),
    ("library: ready-made models, figures, tools", ["tinyae.zoo", "tinyae.viz", "tinyae.rbm", "tinyae.whitening",
                                                    "tinyae.retrieval", "tinyae.sklearn", "tinyae.experiment",
                                                    "tinyae.gradcheck.cases"]),
    ("library: the course", ["tinyae.exercises"]),
    ("applications", ["tinyae.cli", "tinyae.exercises.cli", "tinyae.__main__"]),
]

# Imports of tinyae modules inside functions, each with its reason. Everything else imports at the top.
LAZY = {
    "tinyae.kernels": "the Numba and CuPy twins load on first use (the teaching switch never imports Numba; "
                      "a CPU-only run never imports CuPy)",
    "tinyae.cli": "each subcommand loads only when it is run (start-up time of `tinyae --help`)",
    "tinyae.exercises.cli": "the same, for `tinyae exercise`: grading loads only when a teacher grades",
    "tinyae.exercises.solutions": "these are the students' files: what train_and_draw needs (the data, the "
                                  "figures) loads when a student trains, not each time a check imports the file",
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def floor_of(module: str):
    best = None
    for rank, (_, prefixes) in enumerate(FLOORS):
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                if best is None or len(prefix) > best[1]:
                    best = (rank, len(prefix))
    return None if best is None else best[0]


def imports_of(module: str):
    """(imported tinyae module, line, inside a function?) for every tinyae import in ``module``."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                found.extend((a.name, child.lineno, in_function) for a in child.names if a.name.startswith("tinyae"))
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:  # relative import
                    base = ".".join(package.split(".")[: len(package.split(".")) - child.level + 1] + [base]).strip(".")
                if base.startswith("tinyae"):
                    for a in child.names:
                        name = f"{base}.{a.name}"
                        found.append((name if name in MODULES else base, child.lineno, in_function))
            visit(child, inner)

    visit(tree, False)
    return [(target, line, lazy) for target, line, lazy in found if target != "tinyae"]  # the root holds no code


def test_every_module_has_a_floor():
    missing = [m for m in MODULES if m != "tinyae" and floor_of(m) is None]
    assert not missing, f"modules with no floor in tests/test_architecture.py FLOORS (add them): {missing}"


def test_imports_only_point_down():
    upward = []
    for module in MODULES:
        if module == "tinyae":
            continue
        for target, line, _ in imports_of(module):
            if target in MODULES and floor_of(target) is not None and floor_of(target) > floor_of(module):
                upward.append(f"{MODULES[module].relative_to(ROOT)}:{line} imports {target} "
                              f"({FLOORS[floor_of(target)][0]} is above {FLOORS[floor_of(module)][0]})")
    assert not upward, "imports that point up:\n" + "\n".join(upward)


def test_tinyae_modules_are_imported_at_the_top_of_a_file():
    hidden = []
    for module in MODULES:
        for target, line, lazy in imports_of(module):
            if lazy and not any(module == m or module.startswith(m + ".") for m in LAZY):
                hidden.append(f"{MODULES[module].relative_to(ROOT)}:{line} imports {target} inside a function")
    assert not hidden, "imports hidden inside functions (move them up, or say why in LAZY):\n" + "\n".join(hidden)


def test_no_import_cycle():
    graph = {m: sorted({t for t, _, _ in imports_of(m) if t in MODULES and t != m}) for m in MODULES}
    # A package's __init__ re-exporting its own modules is not a cycle of the design: drop parent -> child edges.
    for m, targets in graph.items():
        graph[m] = [t for t in targets if not t.startswith(m + ".")]
    state, stack, cycles = {}, [], []

    def dfs(m):
        state[m] = "open"
        stack.append(m)
        for t in graph[m]:
            if state.get(t) == "open":
                cycles.append(stack[stack.index(t):] + [t])
            elif t not in state:
                dfs(t)
        stack.pop()
        state[m] = "done"

    for m in graph:
        if m not in state:
            dfs(m)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_importing_the_layers_loads_no_network_module():
    code = ("import sys, tinyae.layers; "
            "print(sorted(m for m in ('urllib.request', 'http.client', 'ssl') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert out.strip() == "[]", out


@pytest.mark.parametrize("module", sorted(MODULES))
def test_one_job_per_module_no_module_over_500_lines(module):
    if module == "tinyae.viz":
        pytest.skip("viz.py: one figure per function, allowed to be long")
    lines = len(MODULES[module].read_text(encoding="utf-8").splitlines())
    assert lines <= 500, f"{MODULES[module].relative_to(ROOT)} has {lines} lines: split it along its jobs"


# --------------------------------------------------------------------------------------------------
# docs/architecture.md names the real files
# --------------------------------------------------------------------------------------------------

ARCHITECTURE = ROOT / "docs" / "architecture.md"


def _named_paths():
    """The file and folder names in backticks in docs/architecture.md (a ``:name`` suffix dropped)."""
    import re

    text = ARCHITECTURE.read_text(encoding="utf-8")
    names = {m.split(":")[0] for m in re.findall(r"`([\w./]+(?:\.py|/)(?::[\w.]+)?)`", text)}
    return sorted(n for n in names if not n.startswith(("docs/", "demos/")))


@pytest.mark.parametrize("name", _named_paths())
def test_every_file_the_architecture_page_names_exists(name):
    if "/" in name.rstrip("/"):  # a path: from the package, or from the repository (tests/...)
        assert (PACKAGE / name).exists() or (ROOT / name).exists(), f"docs/architecture.md names {name}: not there"
    else:  # a bare name: some file or folder of the package has it
        assert any(p.name == name.rstrip("/") for p in PACKAGE.rglob("*")), f"docs/architecture.md names {name}"


def test_the_architecture_page_names_every_module():
    text = ARCHITECTURE.read_text(encoding="utf-8")
    missing = [str(path.relative_to(PACKAGE)) for path in MODULES.values()
               if "solutions" not in path.parts and path.name not in ("__init__.py", "__main__.py")
               and f"`{path.name}`" not in text and f"{path.name}`" not in text and path.name not in text]
    assert not missing, f"docs/architecture.md does not say what these modules hold: {missing}"
