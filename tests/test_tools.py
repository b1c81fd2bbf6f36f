"""The maintainers' tools in tools/: they made what ships, so they must still make it."""
import filecmp
import json
import subprocess
import sys
from pathlib import Path

TOOLS = Path(__file__).resolve().parents[1] / "tools"
EXAMPLES = Path(__file__).resolve().parents[1] / "galmorph" / "data" / "examples"


def _tool(name, *args):
    return subprocess.run([sys.executable, str(TOOLS / name), *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def test_bundle_examples_remakes_the_shipped_examples(tmp_path, gz2_1k, kaggle_5k, partial_3k):
    out = tmp_path / "examples"
    proc = _tool("bundle_examples.py", gz2_1k, out, "--exclude", kaggle_5k,
                 "--exclude", partial_3k)
    assert proc.returncode == 0, proc.stderr
    assert "left out 35 galaxies" in proc.stdout
    shipped = sorted(p.name for p in EXAMPLES.glob("*.jpg"))
    assert sorted(p.name for p in out.glob("*.jpg")) == shipped
    assert filecmp.cmp(out / "examples.csv", EXAMPLES / "examples.csv", shallow=False)
    # A stale JPEG from an earlier choice is removed, and without --exclude the choice
    # includes galaxies that are in the Kaggle data.
    (out / "1.jpg").write_bytes(b"old")
    proc = _tool("bundle_examples.py", gz2_1k, out)
    assert proc.returncode == 0, proc.stderr
    assert not (out / "1.jpg").exists() and "removed" in proc.stdout
    assert sorted(p.name for p in out.glob("*.jpg")) != shipped


def test_ship_model_refuses_members_that_do_not_share_a_split(tmp_path):
    runs = []
    for k, val_ids in enumerate(([1, 2, 3], [1, 2, 4])):
        run = tmp_path / f"m{k}"
        run.mkdir()
        (run / "config.json").write_text(json.dumps({
            "data": ["a", "b"], "cache": [None, None], "seed": k, "model": "resnet18-cpu",
            "plateau_patience": 5, "lr": 1e-3, "batch_size": 64}))
        (run / "split.json").write_text(json.dumps({"val_ids": val_ids}))
        runs.append(run)
    proc = _tool("ship_model.py", *runs, "--command", "galmorph train ...")
    assert proc.returncode == 2
    assert f"{runs[1]} was trained on other data or another split than {runs[0]}" in proc.stderr
    # A member from an earlier commit that shipped no model is refused, naming the flag.
    proc = _tool("ship_model.py", runs[0], "--command", "galmorph train ...",
                 "--shipped-member", "4b825dc642cb6eb9a060e54bf8d69288fbee4904")
    assert proc.returncode == 2
    assert "--shipped-member 4b825dc642cb6eb9a060e54bf8d69288fbee4904: fatal" in proc.stderr


def test_ship_model_measures_the_excess_for_smooth_galaxies_of_one_shape():
    import importlib.util

    import numpy as np

    from galmorph.schema import N_ANSWERS, column_index

    spec = importlib.util.spec_from_file_location("ship_model", TOOLS / "ship_model.py")
    ship = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ship)
    labels = np.full((6, N_ANSWERS), np.nan)
    labels[:, column_index("Class1.1")] = [0.9, 0.8, 0.7, 0.6, 0.2, 0.9]   # the 5th is a disk
    labels[:, column_index("Class1.2")] = [0.1, 0.2, 0.3, 0.4, 0.8, 0.1]
    q7 = [column_index(c) for c in ("Class7.1", "Class7.2", "Class7.3")]
    labels[:, q7] = [[0.1, 0.1, 0.7]] * 3 + [[0.5, 0.1, 0.0], [0.0, 0.0, 0.2], [0.0, 0.8, 0.1]]
    pred = labels.copy()
    pred[:, column_index("Class1.2")] += [0.3, 0.2, 0.1, 0.0, 0.5, -0.1]
    cigar = ship._smooth_shape_excess(labels, pred, 2)
    assert cigar["n"] == 3 and np.isclose(cigar["excess"], 0.2)
    assert np.isclose(cigar["val_label"], 0.2) and np.isclose(cigar["val_model"], 0.4)
    assert cigar["lo"] < cigar["excess"] < cigar["hi"]
    assert ship._smooth_shape_excess(labels, pred, 0)["n"] == 1   # the disk is not counted
    assert np.isclose(ship._smooth_shape_excess(labels, pred, 1)["excess"], -0.1)
