"""The command-line shell: every subcommand has --help, and the shared argument types."""
import argparse
import os
import subprocess
import sys

import pytest

from galmorph.cli import COMMANDS, build_parser
from galmorph.cli._args import positive_int, tta_arg


def _galmorph(*args):
    return subprocess.run([sys.executable, "-m", "galmorph", *args], capture_output=True,
                          text=True, timeout=120)


def test_top_level_help_lists_every_subcommand():
    proc = _galmorph("--help")
    assert proc.returncode == 0
    for name in COMMANDS:
        assert name in proc.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_subcommand_has_help_with_defaults(command):
    proc = _galmorph(command, "--help")
    assert proc.returncode == 0, proc.stderr
    assert f"usage: galmorph {command}" in proc.stdout
    assert "not yet implemented" not in proc.stdout


def test_every_flag_has_a_help_text():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, p in sub.choices.items():
        for action in p._actions:
            assert action.help, f"galmorph {name} {action.option_strings or action.dest} lacks help"


def test_no_command_prints_usage_and_fails():
    proc = _galmorph()
    assert proc.returncode == 2 and "usage: galmorph" in proc.stdout


@pytest.mark.parametrize("text,value", [("1", 1), ("64", 64)])
def test_positive_int_accepts(text, value):
    assert positive_int(text) == value


@pytest.mark.parametrize("text", ["0", "-3", "2.5", "many"])
def test_positive_int_rejects(text):
    with pytest.raises(argparse.ArgumentTypeError, match=f"must be a positive integer, not '{text}'"):
        positive_int(text)


@pytest.mark.parametrize("text,value", [("none", None), ("D8", "d8"), ("4", 4)])
def test_tta_arg(text, value):
    assert tta_arg(text) == value


def test_tta_arg_rejects_with_the_choices():
    with pytest.raises(argparse.ArgumentTypeError, match="use none, d8 or a number"):
        tta_arg("d5")
    proc = _galmorph("classify", "--ra", "1", "--dec", "1", "--tta", "d5")
    assert proc.returncode == 2 and "invalid --tta 'd5'" in proc.stderr


def test_advice_reaching_the_command_line_names_the_flag(tmp_path):
    from galmorph.synth import make_synthetic

    data = make_synthetic(tmp_path / "synth", n=6, seed=0, workers=1, progress=False)
    broken = sorted((data / "images_training_rev1").glob("*.jpg"))[2]
    broken.write_bytes(b"not a jpeg")
    env = {**os.environ, "GALMORPH_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, "-m", "galmorph", "prepare", str(data),
                           "--workers", "1"], capture_output=True, text=True, timeout=120,
                          env=env)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert broken.name in proc.stderr and "--on-error skip" in proc.stderr
