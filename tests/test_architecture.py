"""The layers of docs/architecture.md, checked by import-linter (``make lint`` runs the same contracts)."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).with_name("lint-imports")


def _lint(tree: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT)], cwd=tree, capture_output=True, text=True, check=False)


def _copy(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    tree.mkdir()
    shutil.copy(ROOT / "pyproject.toml", tree)
    for package in ("codeq_platform", "tenants", "dashboard"):
        shutil.copytree(ROOT / package, tree / package, ignore=shutil.ignore_patterns("__pycache__"))
    return tree


def test_the_tree_keeps_every_layer_contract():
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


def test_django_reached_by_the_engine_through_the_error_tree_is_refused(tmp_path):
    tree = _copy(tmp_path)
    errors = tree / "codeq_platform" / "errors.py"
    errors.write_text(errors.read_text() + "\nimport django.conf  # noqa\n")

    result = _lint(tree)

    assert result.returncode != 0
    assert "codeq_platform.engine" in result.stdout and "django" in result.stdout


def test_a_service_importing_a_face_is_refused(tmp_path):
    tree = _copy(tmp_path)
    services = tree / "tenants" / "services.py"
    services.write_text(services.read_text() + "\nfrom dashboard import views  # noqa\n")

    result = _lint(tree)

    assert result.returncode != 0
    assert "tenants is not allowed to import dashboard" in result.stdout
