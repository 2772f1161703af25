"""The README's commands are the ones CI runs."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _ci_test_command() -> str:
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    marker = next(i for i, line in enumerate(lines) if line.startswith("# The README's test command"))
    return lines[marker + 1].strip()


def test_ci_runs_exactly_the_readme_test_command():
    command = _ci_test_command()
    assert command.startswith("pip install -e \".[dev]\"")
    readme = (ROOT / "README.md").read_text()
    assert command in readme.splitlines()


def test_readme_opens_with_install_and_main_job():
    readme = (ROOT / "README.md").read_text()
    first_block = readme.split("```bash", 1)[1].split("```", 1)[0]
    assert "pip install -e ." in first_block
    assert "tinyae " in first_block
