"""One source of truth: the solved exercise files in ``tinyae/exercises/solutions/``.

Each solution is an ordinary Python module that passes its check. The lines a student writes sit
between two marker comments::

        # BEGIN YOUR CODE: dW, db and dx (add into .grad, return dx)
        self.W.grad += x.T @ dy
        ...
        # END YOUR CODE

``skeleton(text)`` replaces each marked block by the blank the student sees (the description kept)::

        # YOUR CODE HERE: dW, db and dx (add into .grad, return dx)
        raise NotImplementedError("YOUR CODE HERE")

so the student's file is the same working code with holes in it. ``notebook(...)`` cuts the same text
into cells: the module docstring (the task and the derivation) as Markdown, the code as one cell
tagged ``exercise``, and the ``if __name__ == "__main__":`` block (the check) as the last cell.
Reading a student's notebook back (``code_from_notebook``) needs only ``json``; writing one needs
``nbformat`` (the dev extra).
"""

from __future__ import annotations

import ast
import json
import re
import textwrap
from pathlib import Path

SOLUTIONS = Path(__file__).resolve().parent / "solutions"
BEGIN = re.compile(r"^(\s*)# BEGIN YOUR CODE(?::\s*(.*))?\s*$")
END = re.compile(r"^\s*# END YOUR CODE\s*$")


class SourceError(ValueError):
    """A solution file whose markers do not pair up (a bug in the course, caught by the tests)."""


def solution_path(name: str) -> Path:
    return SOLUTIONS / f"{name}.py"


def solution_text(name: str) -> str:
    return solution_path(name).read_text(encoding="utf-8")


def _blocks(text: str, where: str):
    """Yield (kind, lines) with kind "code" or ("blank", indent, description)."""
    lines = text.splitlines()
    out, i = [], 0
    while i < len(lines):
        m = BEGIN.match(lines[i])
        if not m:
            if END.match(lines[i]):
                raise SourceError(f"{where}:{i + 1}: END YOUR CODE without a BEGIN")
            out.append(("code", lines[i]))
            i += 1
            continue
        j = i + 1
        while j < len(lines) and not END.match(lines[j]):
            if BEGIN.match(lines[j]):
                raise SourceError(f"{where}:{j + 1}: BEGIN YOUR CODE inside another block")
            j += 1
        if j == len(lines):
            raise SourceError(f"{where}:{i + 1}: BEGIN YOUR CODE is never closed")
        out.append(("blank", m.group(1), m.group(2) or "", lines[i + 1:j]))
        i = j + 1
    return out


def skeleton(text: str, where: str = "solution") -> str:
    """The student's version of a solution's text: every marked block becomes a YOUR CODE HERE blank."""
    out = []
    for block in _blocks(text, where):
        if block[0] == "code":
            out.append(block[1])
        else:
            _, indent, description, _ = block
            out.append(f"{indent}# YOUR CODE HERE" + (f": {description}" if description else ""))
            out.append(f'{indent}raise NotImplementedError("YOUR CODE HERE")')
    return "\n".join(out) + "\n"


def solved(text: str, where: str = "solution") -> str:
    """The solved version as handed to a teacher: the markers stay (they show what the student writes)."""
    _blocks(text, where)  # validates the markers
    return text if text.endswith("\n") else text + "\n"


def blank_count(text: str) -> int:
    return sum(1 for b in _blocks(text, "text") if b[0] == "blank")


def student_text(name: str, solutions: bool = False) -> str:
    text = solution_text(name)
    return solved(text, f"{name}.py") if solutions else skeleton(text, f"{name}.py")


# --------------------------------------------------------------------------------------------------
# Notebooks
# --------------------------------------------------------------------------------------------------


def split_module(text: str):
    """(docstring, body, check) of a module's text: the docstring, the code, and the dedented body of its
    ``if __name__ == "__main__":`` block without its ``raise SystemExit`` line."""
    tree = ast.parse(text)
    lines = text.splitlines()
    doc = ast.get_docstring(tree) or ""
    start = 0
    if tree.body and isinstance(tree.body[0], ast.Expr) and isinstance(getattr(tree.body[0], "value", None),
                                                                       ast.Constant):
        start = tree.body[0].end_lineno
    main = next((node for node in tree.body if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test)),
                None)
    end = main.lineno - 1 if main is not None else len(lines)
    body = "\n".join(lines[start:end]).strip("\n") + "\n"
    check = ""
    if main is not None:
        block = textwrap.dedent("\n".join(lines[main.lineno:main.end_lineno]))
        check = "\n".join(line for line in block.splitlines() if not line.startswith("raise SystemExit")).strip()
    return doc, body, check


def markdown_from_docstring(doc: str) -> str:
    """The docstring as Markdown: the first line a title, indented blocks as code."""
    lines = doc.splitlines()
    title = lines[0] if lines else ""
    out = [f"# {title}", ""]
    in_code = False
    body = lines[1:]
    while body and not body[0].strip():
        body.pop(0)
    for line in body:
        indented = line.startswith("    ") and line.strip()
        if indented and not in_code:
            out.append("```text")
            in_code = True
        elif in_code and not line.startswith("    ") and line.strip():
            while out[-1] == "":
                out.pop()
            out += ["```", ""]
            in_code = False
        out.append(line[4:] if in_code and line.startswith("    ") else line)
    if in_code:
        while out and not out[-1].strip():
            out.pop()
        out.append("```")
    return "\n".join(out).strip() + "\n"


def notebook(name: str, solutions: bool = False):
    """The exercise as an ``nbformat`` notebook node (needs nbformat: the dev extra)."""
    try:
        import nbformat
        from nbformat import v4
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise RuntimeError("writing notebooks needs nbformat (pip install nbformat, or the dev extra: "
                           "pip install -e \".[dev]\")") from err
    doc, body, check = split_module(student_text(name, solutions))
    nb = v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["tinyae_exercise"] = name
    code = v4.new_code_cell(body.rstrip("\n"))
    code.metadata["tags"] = ["exercise"]
    nb.cells = [
        v4.new_markdown_cell(markdown_from_docstring(doc)),
        v4.new_markdown_cell("Fill in every `YOUR CODE HERE` block of the next cell, run it, then run the check "
                             f"below it. `from tinyae.exercises import hint; hint(\"{name}\")` (or `tinyae "
                             f"exercise hint {name}` in a terminal) gives a hint, one more each time."),
        code,
        v4.new_code_cell(check),
    ]
    nbformat.validate(nb)
    return nb


def write_notebook(name: str, path: Path, solutions: bool = False):
    import nbformat

    nbformat.write(notebook(name, solutions), str(path))


def code_from_notebook(path: Path) -> str:
    """The code of a student's notebook: its cells tagged ``exercise`` (all code cells if none is tagged)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    cells = [c for c in data.get("cells", []) if c.get("cell_type") == "code"]
    tagged = [c for c in cells if "exercise" in c.get("metadata", {}).get("tags", [])]
    chosen = tagged or cells
    return "\n\n".join("".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in chosen) + "\n"
