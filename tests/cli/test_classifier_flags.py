"""The classifier's flags, built from ClassifierSettings (galmorph.cli._classifier_flags)."""
import argparse
import dataclasses

import pytest

from galmorph.astro.settings import ClassifierSettings
from galmorph.cli import build_parser, main
from galmorph.cli._classifier_flags import add_classifier_flags, settings_from_args

DEFAULTS = {f.name: f.default for f in dataclasses.fields(ClassifierSettings)}


def _parse(*argv):
    return build_parser().parse_args(list(argv))


@pytest.mark.parametrize("command", [("classify", "cat.ecsv"), ("embed", "cat.ecsv",
                                                                 "--out", "e.parquet")])
def test_each_flag_defaults_to_its_field(command):
    args = _parse(*command)
    flagged = [n for n in ClassifierSettings.names() if hasattr(args, n)]
    assert {"model", "tta", "batch_size", "device", "precision", "backend", "cache_dir",
            "timeout", "retries", "workers", "convert", "progress"} <= set(flagged)
    for name in flagged:
        if name != "progress":        # unset: bars on a terminal only
            assert getattr(args, name) == DEFAULTS[name], name
    settings = settings_from_args(args)
    assert dataclasses.replace(settings, progress=True) == ClassifierSettings()


def test_the_flags_give_the_settings():
    args = _parse("classify", "cat.ecsv", "--model", "m.pt", "--threshold", "0.6", "--tta", "d8",
                  "--device", "cpu", "--precision", "fp32", "--batch-size", "8", "--backend",
                  "sdss", "--cache-dir", "c", "--timeout", "2.5", "--retries", "0",
                  "--workers", "4", "--convert", "refuse", "--intervals", "0.9",
                  "--merger-rule", "paper", "--no-progress")
    assert settings_from_args(args) == ClassifierSettings(
        model="m.pt", merger_threshold=0.6, tta="d8", device="cpu", precision="fp32",
        batch_size=8, backend="sdss", cache_dir="c", timeout=2.5, retries=0, workers=4,
        convert="refuse", intervals=0.9, merger_rule="paper", progress=False)
    assert settings_from_args(_parse("embed", "x", "--out", "e.npy"), embedding=True).embedding


def test_help_states_each_default_from_the_field():
    parser = argparse.ArgumentParser(prog="p")
    add_classifier_flags(parser, ("merger_threshold", "batch_size", "timeout", "retries",
                                  "workers", "intervals", "merger_rule", "tta"),
                         helps={"tta": "rotations"})
    helps = {a.option_strings[0]: a.help for a in parser._actions}
    for flag, default in [("--threshold", "(default: 0.54)"), ("--batch-size", "(default: 256)"),
                          ("--timeout", "(default: 30)"), ("--retries", "(default: 3)"),
                          ("--workers", "(default: 1;"), ("--intervals", "(default: none)"),
                          ("--merger-rule", "(default: prob)"),
                          ("--tta", "rotations (default: none)")]:
        assert default in helps[flag], flag
    assert "p_merger = Class8.6" in helps["--threshold"]
    assert "p_merger >= --threshold / 0.54" in helps["--merger-rule"]
    usage = " ".join(parser.format_usage().split())
    assert "[--threshold THRESHOLD]" in usage and "[--tta none|d8|N]" in usage
    with pytest.raises(KeyError):
        add_classifier_flags(parser, ("thresold",))


def test_classify_passes_the_same_settings_to_the_cluster(monkeypatch, tmp_path):
    seen = {}

    class Report:
        ok = True

    def run_survey(catalog, scheduler, out, **kw):
        seen.update(kw)
        return Report()

    monkeypatch.setattr("galmorph.workflows.survey.run_survey", run_survey)
    assert main(["classify", "cat.parquet", "--scheduler", "local", "--out", str(tmp_path),
                 "--tta", "4", "--merger-rule", "paper", "--workers", "2"]) == 0
    settings = {k: seen.pop(k) for k in ClassifierSettings.names() if k in seen}
    assert settings == ClassifierSettings(tta=4, merger_rule="paper", workers=2).as_kwargs(
        skip=("progress",))
    assert set(seen) == {"partitions", "image_column", "image_dir"}
