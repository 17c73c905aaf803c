import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ml_core", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, check=False)


def test_help_lists_the_commands():
    result = _cli("--help")
    assert result.returncode == 0 and "encoder-check" in result.stdout


def test_encoder_check_prints_json(tiny_encoder_path):
    result = _cli("encoder-check", "--base", str(tiny_encoder_path), "--texts", "10", "--device", "cpu")
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["dimension"] == 32 and figures["texts"] == 10


def test_bad_input_exits_non_zero_with_one_line():
    result = _cli("encoder-check", "--base", "./no/such/model")
    assert result.returncode == 2
    assert result.stderr.strip() == "error: backbone folder ./no/such/model does not exist"
    result = _cli("encoder-check", "--texts", "0")
    assert result.returncode == 2 and "at least 1" in result.stderr
