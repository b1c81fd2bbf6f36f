"""The shipped model and its card (galmorph.models.card, galmorph/weights, ``galmorph models``).

The realdata test scores the shipped weights on the validation split stored in
its card, with the shared data, and checks the card's figures to 0.002.
"""
import copy
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from galmorph.errors import CheckpointError
from galmorph.labels import check_labels
from galmorph.models.card import format_card, read_card
from galmorph.models.checkpoint import load_checkpoint, sha256_of
from galmorph.paths import SHIPPED_MODEL, shipped_card_path, shipped_model_path

REPO = Path(__file__).resolve().parents[2]


def test_shipped_model_is_small_plain_data_and_matches_its_card():
    path = shipped_model_path()
    assert path is not None and path.stat().st_size < 25e6
    card = read_card()
    assert card["sha256"] == sha256_of(path) and card["size_bytes"] == path.stat().st_size
    ckpt = load_checkpoint(path)                       # weights_only inside, sha256 checked
    assert ckpt.name == card["model"] and ckpt.preprocessing == card["preprocessing"]
    import torch

    raw = torch.load(path, weights_only=True)
    assert all(v.dtype == torch.float16 for v in raw["state_dict"].values()
               if v.is_floating_point())
    meta = ckpt.meta
    assert meta["commands"][0].startswith("galmorph train ") and len(meta["git_commit"]) == 40
    assert meta["data"] == ["gz-kaggle-5k", "gz-kaggle-partial-3k"]
    assert meta["val_ids"] == card["split"]["val_ids"] and card["split"]["n_val"] == 800
    with torch.no_grad():
        out = ckpt.model(torch.rand(2, 3, 80, 80)).double().numpy()
    assert check_labels(out, atol=1e-4).ok


def test_a_damaged_shipped_file_is_refused(tmp_path, monkeypatch):
    import galmorph.paths

    weights = tmp_path / "weights"
    shutil.copytree(shipped_card_path().parent, weights)
    target = weights / f"{SHIPPED_MODEL}.pt"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF                       # one flipped byte inside the weights
    target.write_bytes(bytes(data))
    monkeypatch.setattr(galmorph.paths, "WEIGHTS_DIR", weights)
    with pytest.raises(CheckpointError, match="shipped model .* is damaged: its sha256"):
        load_checkpoint(target)
    (weights / f"{SHIPPED_MODEL}.json").unlink()
    with pytest.raises(CheckpointError, match="card .* is missing or unreadable"):
        load_checkpoint(target)


def test_card_text_has_every_section_and_the_docs_page_is_it():
    card = read_card()
    text = format_card(card)
    for heading in ("Training data and recipe", "Validation scores", "Mergers",
                    "Intended inputs", "Known limits", "How to cite"):
        assert f"\n{heading}\n" in text
    ev = card["evaluation"]
    assert f"{ev['overall']['rmse']:.4f}" in text and f"{ev['unselected']['rmse']:.4f}" in text
    assert f"{ev['overall']['baselines']['mean']:.4f}" in text
    assert f"precision {card['merger']['precision']:.2f}" in text
    assert "0.02 x petroR90_r" in text and "Willett et al. (2013" in text
    assert (REPO / "docs" / "model_card.rst").read_text() == text


def test_card_text_names_each_member_of_an_ensemble_or_the_one_run():
    card = copy.deepcopy(read_card())
    card["members"] = [{"seed": 0, "plateau_patience": 5, "seconds": 2100.4, "epochs": 109,
                        "best_epoch": 100},
                       {"seed": 4, "plateau_patience": 8, "seconds": 2088.0, "epochs": 112,
                        "best_epoch": 94}]
    card["merger"]["n_flagged"] = 1
    text = format_card(card)
    assert "(the mean of 2 networks," in text
    assert ("seed 0 for 2,100 s (109 epochs, patience 5, best epoch 100 kept); "
            "seed 4 for 2,088 s (112 epochs, patience 8, best epoch 94 kept).") in text
    assert " and 1 is flagged: " in text
    assert f"- galmorph commit ``{card['training']['git_commit']}``." in text
    # Members of two widths, trained at two commits: each is named by seed and width.
    for member, width, commit in zip(card["members"], (32, 64), ("a" * 40, "b" * 40)):
        member.update(width=width, git_commit=commit)
    text = format_card(card)
    assert "seed 0 at width 32 for 2,100 s" in text and "; seed 4 at width 64 for 2,088 s" in text
    assert (f"- galmorph commits ``{'a' * 40}`` (seed 0 at width 32) and "
            f"``{'b' * 40}`` (seed 4 at width 64).") in text
    card["members"], card["model"], card["merger"]["n_flagged"] = None, "resnet18-cpu", 2
    card["training"].update(seconds=4979.2, epochs=105)
    text = format_card(card)
    assert "(``resnet18-cpu``," in text and "the mean of" not in text.split("Recipe")[0]
    assert f"- Trained for 4,979 s (105 epochs) on {card['training']['machine']}." in text
    assert " and 2 are flagged: " in text


def test_models_command_lists_the_shipped_model_and_prints_the_card(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "GALMORPH_CACHE_DIR": str(tmp_path), "HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "galmorph", "models"], capture_output=True,
                          text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr
    assert f"shipped model      {SHIPPED_MODEL}" in proc.stdout
    assert "registered default none" in proc.stdout
    assert f"{shipped_model_path()} (the shipped model)" in proc.stdout
    card = subprocess.run([sys.executable, "-m", "galmorph", "models", "--card", "--rst"],
                          capture_output=True, text=True, timeout=600, env=env)
    assert card.returncode == 0 and card.stdout.strip() == format_card().strip()


@pytest.mark.parametrize("columns", [60, 100])
def test_models_card_is_rendered_for_the_terminal(tmp_path, columns):
    # Issue 25: --card printed raw reST, with the 1,500-character command on one line.
    env = {"PATH": "/usr/bin:/bin", "GALMORPH_CACHE_DIR": str(tmp_path), "HOME": str(tmp_path),
           "COLUMNS": str(columns)}
    proc = subprocess.run([sys.executable, "-m", "galmorph", "models", "--card"],
                          capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    lines = text.splitlines()
    for line in lines:       # only a token longer than a line (a path) may stick out
        assert len(line) <= columns or len(line.removesuffix(" \\").split()) == 1, line
    assert "``" not in text and "====" not in text and "\n-----" not in text   # no reST markup
    assert "\nValidation scores\n\n" in text and "\nKnown limits\n\n" in text
    # The scores table, aligned: every row's RMSE starts in the column of its header.
    header = next(line for line in lines if line.split()[:2] == ["galaxies", "N"])
    ev = read_card()["evaluation"]
    for part in ("overall", "unselected"):
        ci = "{:.4f}-{:.4f}".format(*ev[part]["rmse_ci95"])
        (row,) = [line for line in lines if ci in line]
        assert row.index(f"{ev[part]['rmse']:.4f}") == header.index("RMSE")
        assert row.index(ci) == header.index("95 % interval")
    # The command is an indented block, broken before options with shell continuations.
    start = lines.index("- Command:")
    block = []
    for line in lines[start + 1:]:
        if not line.startswith("      "):
            break
        block.append(line)
    assert block[0].startswith("      galmorph train ") and len(block) > 10
    assert all(line.endswith((" \\", " &&")) for line in block[:-1])
    assert all(line.lstrip().startswith("--") for line in block
               if line.startswith("          ") and "shared/data" not in line)
    shell = " ".join(line.strip().removesuffix(" \\") for line in block)
    command = read_card()["training"]["command"]
    assert shell == command.split(" (")[0]
    assert lines[start + 1 + len(block)].startswith("  (")   # the note after it, wrapped


def _source_copy(dest):
    """The checkout's files (tracked or not ignored) copied to ``dest``: a wheel built in the
    checkout itself reuses its ignored ``build/lib``, stale package data included."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=REPO, capture_output=True, check=True).stdout
    for name in filter(None, listed.decode().split("\0")):
        if (REPO / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, dest / name)
    return dest


@pytest.mark.slow
def test_wheel_carries_the_model_and_the_example_galaxies(tmp_path):
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("needs a git checkout of galmorph to copy its source from")
    source = _source_copy(tmp_path / "source")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                           "--no-build-isolation", "-w", str(tmp_path), str(source)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    wheel = next(tmp_path.glob("*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert f"galmorph/weights/{SHIPPED_MODEL}.pt" in names
    assert f"galmorph/weights/{SHIPPED_MODEL}.json" in names
    assert "galmorph/data/examples/examples.csv" in names
    assert "galmorph/data/examples/CREDIT.rst" in names
    assert "galmorph/workflows/report/templates/report.html.j2" in names   # galmorph report
    assert sum(n.startswith("galmorph/data/examples/") and n.endswith(".jpg") for n in names) == 24
    info = zipfile.ZipFile(wheel).getinfo(f"galmorph/weights/{SHIPPED_MODEL}.pt")
    assert info.file_size == shipped_model_path().stat().st_size


@pytest.mark.realdata
def test_shipped_model_scores_what_its_card_says(kaggle_5k, partial_3k):
    from galmorph.inference.evaluation import evaluate

    card = read_card()
    ids = np.array(card["split"]["val_ids"])
    in_5k = _ids_5k(kaggle_5k)
    unselected = [i for i in ids.tolist() if i <= 115091 or i not in in_5k]
    result = evaluate(shipped_model_path(), [kaggle_5k, partial_3k], split=ids.tolist(),
                      subsets={"unselected": unselected})
    ev = card["evaluation"]
    assert result["n_galaxies"] == card["split"]["n_val"]
    assert abs(result["rmse"] - ev["overall"]["rmse"]) <= 0.002
    part = result["subsets"]["unselected"]
    assert part["n_galaxies"] == ev["unselected"]["n_galaxies"]
    assert abs(part["rmse"] - ev["unselected"]["rmse"]) <= 0.002
    for q, value in ev["per_question"].items():
        assert abs(result["per_question"][q] - value) <= 0.002, q


def _ids_5k(folder):
    import pandas as pd

    return set(pd.read_csv(folder / "training_solutions_rev1.csv", usecols=["GalaxyID"])
               ["GalaxyID"].tolist())
