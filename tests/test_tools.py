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
