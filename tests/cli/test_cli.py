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
                          text=True, timeout=600)


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
    # Every flag that takes a value states its default, unless it is required.
    p = _subparsers()[command]
    for action in p._actions:
        if not action.option_strings or action.nargs == 0 or action.required:
            continue
        text = action.help.lower()
        assert "default" in text or "required" in text, \
            f"galmorph {command} {action.option_strings[0]}: no default in {action.help!r}"


def test_every_flag_has_a_help_text():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, p in sub.choices.items():
        for action in p._actions:
            assert action.help, f"galmorph {name} {action.option_strings or action.dest} lacks help"


def test_train_flags_come_from_the_config_fields():
    """Every TrainConfig field is a flag of galmorph train, typed as the field, stating its
    default, and parsing to None when left out (the default, or the stored value on --resume)."""
    import dataclasses

    from galmorph.cli.train import _FIELDS
    from galmorph.training.config import TrainConfig

    p = _subparsers()["train"]
    by_dest = {a.dest: a for a in p._actions}
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    assert set(fields) - set(by_dest) == {"model_options"}       # --model-option, KEY=VALUE
    assert set(_FIELDS) == set(fields) - {"data", "resume", "model_options"}
    args = p.parse_args(["data", "--out", "run"])
    assert all(getattr(args, name) is None for name in _FIELDS if name != "out")
    for name, field in fields.items():
        action = by_dest.get(name)
        if action is None or not action.option_strings or action.nargs == 0:
            continue
        kind = {"int": int, "float": float}.get(field.type.split("|")[0].strip())
        if kind is not None:                     # "int | None" -> int
            assert action.type is kind, name
        if isinstance(field.default, (int, float)) and not isinstance(field.default, bool):
            shown = f"{field.default:g}" if isinstance(field.default, float) else field.default
            assert f"(default: {shown})" in action.help, (name, action.help)


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
                           "--workers", "1"], capture_output=True, text=True, timeout=600,
                          env=env)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert broken.name in proc.stderr and "--on-error skip" in proc.stderr


def _subparsers():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices


#: Subcommands that show progress bars, and those that run a network.
WITH_PROGRESS = ("classify", "predict", "demo", "synth", "prepare", "train", "evaluate")
WITH_PRECISION = ("classify", "predict", "train", "evaluate")


@pytest.mark.parametrize("command", WITH_PROGRESS)
def test_every_subcommand_takes_progress_and_no_progress_the_same_way(command):
    p = _subparsers()[command]
    flags = {opt: a for a in p._actions for opt in a.option_strings}
    assert flags["--progress"].dest == flags["--no-progress"].dest == "progress"
    assert flags["--progress"].default is None           # neither given: only on a terminal
    with pytest.raises(SystemExit):                      # the two exclude each other
        p.parse_args(["--progress", "--no-progress"])


@pytest.mark.parametrize("command", WITH_PRECISION)
def test_every_precision_flag_lists_the_registry(command):
    from galmorph.runtime import PRECISIONS
    action = next(a for a in _subparsers()[command]._actions if "--precision" in a.option_strings)
    assert tuple(action.choices) == ("auto",) + tuple(PRECISIONS)


def test_evaluate_accepts_no_progress():
    args = build_parser().parse_args(["evaluate", "run/best.pt", "data", "--no-progress"])
    assert args.progress is False


def test_warnings_reach_the_command_line_as_one_line(tmp_path):
    from galmorph.synth import make_synthetic

    data = make_synthetic(tmp_path / "synth", n=4, seed=0, workers=1, progress=False)
    # fp16 on a CPU falls back to fp32 with a UserWarning from galmorph.runtime.
    proc = _galmorph("predict", str(data / "images_training_rev1"), "--precision", "fp16",
                     "--out", str(tmp_path / "p.csv"), "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if "fp16" in ln]
    assert lines == ["galmorph predict: warning: fp16 is not supported natively on cpu; "
                     "using fp32"], proc.stderr
    assert "warnings.warn" not in proc.stderr and ".py:" not in proc.stderr


@pytest.mark.parametrize("command", ["synth", "predict"])
def test_the_final_progress_line_appears_once_in_a_log(command, tmp_path):
    from galmorph.synth import make_synthetic

    data = make_synthetic(tmp_path / "synth", n=12, seed=0, workers=1, progress=False)
    args = {"synth": ["synth", str(tmp_path / "new"), "--n", "12", "--workers", "1"],
            "predict": ["predict", str(data / "images_training_rev1"), "--out",
                        str(tmp_path / "p.csv"), "--chunk-size", "4", "--workers", "0"]}
    proc = _galmorph(*args[command], "--progress")    # stderr is a pipe, as in a log
    assert proc.returncode == 0, proc.stderr
    states = [s for s in proc.stderr.replace("\r", "\n").splitlines() if "|" in s]
    assert states, proc.stderr                         # --progress draws the bar in a log too
    assert sum("12/12" in s for s in states) == 1, states
    quiet = _galmorph(*[a.replace("new", "new2") for a in args[command]])   # default: no bar
    assert quiet.returncode == 0 and "12/12" not in quiet.stderr, quiet.stderr


def test_the_parser_is_built_without_torch_or_astropy():
    # galmorph --help and flag errors come before the (seconds-long) torch import, and every
    # command starts without astropy.table's 0.7 s (cli/classify.py once imported it for 0.54).
    code = ("import sys; from galmorph.cli import build_parser; build_parser(); "
            "print(sorted(m for m in ('torch', 'astropy.table') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr


def test_a_ctrl_c_as_the_command_finishes_exits_130_not_0():
    """A SIGINT after main's last line used to set CPython's flag and be dropped at exit
    (exit 0, though interrupted); console_main holds it and reports it."""
    code = ("import os, signal, sys\n"
            "import galmorph.cli as cli\n"
            "def finished_then_interrupted(argv=None):\n"
            "    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})\n"
            "    os.kill(os.getpid(), signal.SIGINT)   # lands as the work is done: pending\n"
            "    return 0\n"
            "cli.main = finished_then_interrupted\n"
            "sys.exit(cli.console_main(['prepare']))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert out.returncode == 130, out.stderr
    assert "galmorph prepare: interrupted as it finished (its output is complete)" in out.stderr
