"""The docs keep up with the code.

1. Every public layer, loss/penalty, optimizer and model class is named in a heading or in inline code
   of some page (the list is computed from the package, so a new layer without a page fails here).
2. Every ```python block of every page runs: the blocks of one page in order, in one fresh namespace,
   in a temporary working directory, with matplotlib's Agg backend. (```text blocks are not run.)
   A ```text block right after the line `<!-- output -->` is a QUOTE of what the python block before
   it prints: it must equal that output (trailing spaces ignored), so a quoted report stays true.
3. Every ```py block is a QUOTE of the source: the line just before it names `path.py:Qualname`, and
   each quoted line is still, verbatim, a line of that function or class. A derivation page therefore
   fails the moment the line it explains changes.
4. Every test a page cites (`tests/test_x.py::test_name`) exists, every `tinyae gradcheck --only TEXT`
   it shows selects at least one case, every relative link points to a file, and the math is well
   delimited for GitHub (`$$` alone on its line, `$` balanced on each line).
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import io
import os
import re
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
PAGE_IDS = [str(p.relative_to(DOCS)) for p in PAGES]

FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)")
QUOTE_REF = re.compile(r"`(tinyae/[\w/]+\.py):([\w.]+)`")
TEST_REF = re.compile(r"(tests/test_\w+\.py)::(\w+)")
ONLY_REF = re.compile(r"tinyae gradcheck --only (\"[^\"]+\"|'[^']+'|[^\s`]+)")
LINK = re.compile(r"\]\(([^)\s]+)\)")
OUTPUT_MARK = "<!-- output -->"


# --------------------------------------------------------------------------------------------------
# Reading pages
# --------------------------------------------------------------------------------------------------


def parse(page: Path):
    """Split a page into (prose lines with their line numbers, fenced blocks).

    A block is a dict: lang, first line number, the code, and the last non-blank prose line before it.
    """
    prose, blocks = [], []
    lines = page.read_text(encoding="utf-8").splitlines()
    fence = None
    for number, line in enumerate(lines, start=1):
        m = FENCE.match(line)
        if fence is None:
            if m:
                before = next((t for _, t in reversed(prose) if t.strip()), "")
                fence = {"marker": m.group(2), "lang": m.group(3).lower(), "line": number, "code": [],
                         "before": before}
            else:
                prose.append((number, line))
        elif m and m.group(2).startswith(fence["marker"]) and not m.group(3):
            blocks.append({**fence, "code": "\n".join(fence["code"]) + "\n"})
            fence = None
        else:
            fence["code"].append(line)
    assert fence is None, f"{page}: the code block opened at line {fence['line']} is never closed"
    return prose, blocks


def all_docs_text() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in PAGES)


def test_docs_exist():
    for name in ("index.md", "gradcheck.md", "backends.md", "tutorial.md", "losses.md", "optim.md", "vae.md",
                 "sklearn.md"):
        assert (DOCS / name).is_file(), f"docs/{name} is missing"
    assert (DOCS / "layers").is_dir()


# --------------------------------------------------------------------------------------------------
# 1. Every public class has its page
# --------------------------------------------------------------------------------------------------


def public_classes() -> list[str]:
    """Layer subclasses in tinyae.layers.__all__, Loss subclasses in tinyae.losses, Optimizer subclasses in
    tinyae.optim, and the Layer subclasses defined in tinyae.models."""
    import tinyae.layers as layers
    import tinyae.losses as losses
    import tinyae.models as models
    import tinyae.optim as optim

    names = []
    for name in layers.__all__:
        obj = getattr(layers, name)
        if inspect.isclass(obj) and issubclass(obj, layers.Layer):
            names.append(name)
    for module, base in ((losses, losses.Loss), (optim, optim.Optimizer), (models, layers.Layer)):
        for name, obj in vars(module).items():
            if (inspect.isclass(obj) and issubclass(obj, base) and obj.__module__ == module.__name__
                    and not name.startswith("_")):
                names.append(name)
    return sorted(set(names))


def documented_names() -> set[str]:
    """Words in headings, and identifiers in inline code (`Dense`, `Dense(5, 3)`, `losses.MSE`)."""
    found = set()
    for page in PAGES:
        prose, _ = parse(page)
        for _, line in prose:
            if line.lstrip().startswith("#"):
                found.update(re.findall(r"\w+", line))
            for span in re.findall(r"`([^`]+)`", line):
                found.update(re.findall(r"\w+", span))
    return found


def test_every_public_class_is_documented():
    names = public_classes()
    assert len(names) >= 20, names  # the package really was read
    missing = [n for n in names if n not in documented_names()]
    assert not missing, f"public classes named in no docs heading or inline code: {missing}"


# --------------------------------------------------------------------------------------------------
# 2. Every python snippet runs
# --------------------------------------------------------------------------------------------------


def python_pages():
    return [p for p in PAGES if any(b["lang"] == "python" for b in parse(p)[1])]


@pytest.mark.parametrize("page", python_pages(), ids=lambda p: str(p.relative_to(DOCS)))
def test_python_snippets_run(page, tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.chdir(tmp_path)
    environ = dict(os.environ)  # a snippet may set e.g. TINYAE_KERNELS; no other test must see it
    namespace = {"__name__": "__docs__"}
    blocks = [b for b in parse(page)[1] if b["lang"] == "python" or b["before"].strip() == OUTPUT_MARK]
    timings = []
    printed = None
    try:
        for block in blocks:
            if block["lang"] != "python":  # a quoted output: what the last python block printed
                where = f"{page.relative_to(ROOT)}: the output quoted at line {block['line']}"
                assert printed is not None, f"{where} follows no python block"
                assert _lines(block["code"]) == _lines(printed), (
                    f"{where} is not what the block before it prints; it prints:\n{printed}")
                continue
            start = time.perf_counter()
            buffer = io.StringIO()
            try:
                with contextlib.redirect_stdout(buffer):
                    exec(compile(block["code"], f"{page.relative_to(ROOT)}:{block['line']}", "exec"), namespace)
            except Exception as err:
                raise AssertionError(f"{page.relative_to(ROOT)}: the python block at line {block['line']} "
                                     f"failed: {type(err).__name__}: {err}") from err
            printed = buffer.getvalue()
            timings.append((block["line"], time.perf_counter() - start))
    finally:
        plt.close("all")
        os.environ.clear()
        os.environ.update(environ)
    print(", ".join(f"line {n}: {s:.2f}s" for n, s in timings))


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.rstrip().splitlines()]


# --------------------------------------------------------------------------------------------------
# 3. Quoted source lines are still in the code
# --------------------------------------------------------------------------------------------------


def source_of(path: str, qualname: str) -> list[str]:
    """The stripped lines of function/class ``qualname`` (e.g. "Dense.backward") in ``path``."""
    file = ROOT / path
    assert file.is_file(), f"{path} does not exist"
    text = file.read_text(encoding="utf-8")
    node = ast.parse(text)
    for part in qualname.split("."):
        node = next((n for n in ast.iter_child_nodes(node)
                     if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n.name == part),
                    None)
        assert node is not None, f"{path} has no {qualname}"
    lines = text.splitlines()[node.lineno - 1:node.end_lineno]
    return [line.strip() for line in lines]


def quotes():
    out = []
    for page in PAGES:
        for block in parse(page)[1]:
            if block["lang"] == "py":
                out.append(pytest.param(page, block, id=f"{page.relative_to(DOCS)}:{block['line']}"))
    return out


@pytest.mark.parametrize(("page", "block"), quotes())
def test_quoted_lines_are_in_the_named_source(page, block):
    where = f"{page.relative_to(ROOT)}: the quote at line {block['line']}"
    refs = QUOTE_REF.findall(block["before"])
    assert refs, f"{where} must follow a line naming its source as `tinyae/<file>.py:<Qualname>`"
    path, qualname = refs[-1]
    source = source_of(path, qualname)
    for line in block["code"].splitlines():
        quoted = line.strip()
        if quoted and quoted != "...":
            assert quoted in source, f"{where}: {quoted!r} is not a line of {path}:{qualname}"


# --------------------------------------------------------------------------------------------------
# 4. References, links and math
# --------------------------------------------------------------------------------------------------


def test_cited_tests_exist():
    cited = set(TEST_REF.findall(all_docs_text()))
    assert cited, "no page cites a test"
    for path, name in sorted(cited):
        file = ROOT / path
        assert file.is_file(), f"the docs cite {path}, which does not exist"
        assert re.search(rf"^\s*def {name}\(", file.read_text(encoding="utf-8"), re.M), \
            f"the docs cite {path}::{name}, which does not exist"


def test_cited_gradcheck_commands_select_cases():
    from tinyae.gradcheck.cases import layer_cases, loss_cases

    case_names = [c.name.lower() for c in layer_cases() + loss_cases()]
    texts = {t.strip("\"'") for t in ONLY_REF.findall(all_docs_text())}
    assert texts, "no page shows a `tinyae gradcheck --only` command"
    empty = sorted(t for t in texts if not any(t.lower() in name for name in case_names))
    assert not empty, f"`tinyae gradcheck --only TEXT` selects no case for: {empty}"


def anchors(page: Path) -> set[str]:
    """The anchors GitHub gives a page's headings: lower case, punctuation dropped, spaces -> '-', repeats -N."""
    seen, out = {}, set()
    for _, line in parse(page)[0]:
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        slug = re.sub(r"[^\w\- ]", "", m.group(1).lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_relative_links_resolve(page):
    prose, _ = parse(page)
    for number, line in prose:
        line = re.sub(r"`[^`]*`", "", line)
        for target in LINK.findall(line):
            if re.match(r"[a-z]+:", target):
                continue
            where = f"{page.relative_to(ROOT)}:{number}: the link {target}"
            file, _, anchor = target.partition("#")
            path = (page.parent / file).resolve() if file else page
            assert path.exists(), f"{where} points nowhere"
            if anchor and path.suffix == ".md":
                assert anchor in anchors(path), f"{where}: {path.name} has no heading with that anchor"


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_math_is_delimited_for_github(page):
    prose, _ = parse(page)
    display_open = False
    for number, line in prose:
        where = f"{page.relative_to(ROOT)}:{number}"
        if "$$" in line:
            assert line.strip() == "$$", f"{where}: put $$ alone on its line (GitHub renders display math so)"
            display_open = not display_open
            continue
        if display_open:
            continue
        text = re.sub(r"`[^`]*`", "", line).replace(r"\$", "")
        assert text.count("$") % 2 == 0, f"{where}: unbalanced inline $...$"
    assert not display_open, f"{page.relative_to(ROOT)}: a $$ display block is never closed"
