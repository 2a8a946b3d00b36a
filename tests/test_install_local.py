"""scripts/install-local.sh: progress and elapsed time while a long install runs, pip's status."""

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "install-local.sh"


def _fake_python(tmp_path: Path, body: str) -> Path:
    """An interpreter stand-in: what `python -m pip install …` would print, then its status."""
    fake = tmp_path / "python"
    fake.write_text("#!/usr/bin/env bash\n" + body)
    fake.chmod(0o755)
    return fake


def _run(tmp_path: Path, fake: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(SCRIPT), str(fake)],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PROGRESS_SECONDS": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_install_local_reports_the_build_step_and_elapsed_time(tmp_path):
    fake = _fake_python(
        tmp_path,
        'echo "Building wheel for llama-cpp-python"\n'
        'for i in 10 40 70; do echo "  [ $i%] Building CXX object ggml.cpp.o"; sleep 1.2; done\n'
        "exit 0\n",
    )
    result = _run(tmp_path, fake)
    assert result.returncode == 0, result.stderr
    progress = [line for line in result.stdout.splitlines() if line.startswith("  0m")]
    assert progress, result.stdout
    assert any("%] Building CXX object" in line for line in progress)
    assert "Local model installed in 0m" in result.stdout
    assert "[ 70%]" in (tmp_path / "var" / "local-install.log").read_text()


def test_install_local_keeps_pips_failure_and_shows_the_log_end(tmp_path):
    fake = _fake_python(tmp_path, 'echo "error: no compiler found" >&2\nexit 3\n')
    result = _run(tmp_path, fake)
    assert result.returncode == 3
    assert "Local model install failed" in result.stderr
    assert "no compiler found" in result.stderr
