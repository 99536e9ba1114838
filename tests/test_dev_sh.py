"""``./dev.sh``, the README's two commands: what it says when it is given none."""

import subprocess

from tests.conftest import ROOT


def test_dev_sh_without_a_command_prints_its_usage_and_no_code():
    result = subprocess.run(
        ["bash", str(ROOT / "dev.sh")], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    lines = result.stdout.splitlines() + result.stderr.splitlines()
    assert lines[0].startswith("StockFlow developer commands")
    assert [line.split()[1] for line in lines if line.startswith("  ./dev.sh")] == [
        "serve",
        "test",
        "lint",
    ]
    assert not [line for line in lines if "set -" in line or line.startswith("#")], lines
