"""The layers of the code hold, and the check that says so can fail.

``lint-imports`` (import-linter) reads the contracts in pyproject.toml; ``make lint`` runs it.
Each test here runs it as ``make lint`` does, on this tree or on a copy of it with one import
added against the layers, so that a contract that stopped checking anything would show.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=300,
        # The tree's own packages first: the copy, not the installed project.
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tree)},
        check=False,
    )


def _copy_with(tmp_path: Path, module: str, line: str) -> Path:
    tree = tmp_path / "tree"
    for package in ("exchange", "policies", "audit"):
        shutil.copytree(
            ROOT / package, tree / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    path = tree / (module.replace(".", "/") + ".py")
    path.write_text(path.read_text() + f"\n{line}\n")
    return tree


def test_the_tree_keeps_every_layer_contract() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "named"),
    [
        # A domain service reaching up into the web pages.
        ("exchange.cases.service", "from exchange.ui import web", "exchange.cases.service"),
        # The kernel reaching up into a domain service.
        (
            "exchange.disclosures.service",
            "from exchange.intake import service as signal_service",
            "exchange.disclosures.service",
        ),
        # The policy engine importing the broker.
        ("policies.engine", "import exchange.db", "policies.engine"),
        # Two domain packages in a new cycle: retention already imports cases.
        ("exchange.cases.expiry", "from exchange.retention import purge", "exchange.cases.expiry"),
    ],
)
def test_an_import_against_the_layers_fails_the_lint(
    tmp_path: Path, module: str, line: str, named: str
) -> None:
    result = _lint_imports(_copy_with(tmp_path, module, line))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "BROKEN" in result.stdout
    assert named in result.stdout
