"""galmorph.rundir: the one reader and writer of a run folder's files."""
import json
import subprocess
import sys

import pytest

from galmorph.errors import DataError, RunDirError
from galmorph.rundir import METRICS_COLUMNS, RunDir, read_json, read_metrics_file, write_json


def _row(epoch):
    return {"epoch": epoch, "train_rmse": 0.2 - epoch / 100, "val_rmse": 0.21 - epoch / 100,
            "lr": 1e-3, "images_per_s": 500.0, "elapsed_s": 10.0 * epoch, "extra": "ignored"}


def test_the_files_are_named_in_one_place(tmp_path):
    run = RunDir(tmp_path / "run")
    assert (run.config_file.name, run.split_file.name, run.metrics_file.name) == \
        ("config.json", "split.json", "metrics.csv")
    assert (run.best.name, run.last.name) == ("best.pt", "last.pt")
    assert RunDir.of_checkpoint(tmp_path / "run" / "best.pt").path == run.path
    assert run.checkpoint() == run.last            # no best.pt: the last one
    run.path.mkdir()
    run.best.write_bytes(b"")
    assert run.checkpoint() == run.best


def test_config_round_trip_and_errors_name_the_folder(tmp_path):
    run = RunDir(tmp_path / "run")
    with pytest.raises(RunDirError, match="run is not a galmorph run directory.*nothing to "
                                          "resume"):
        run.config()
    run.write_config({"model": "cnn", "data": ["a", "b"]})
    assert run.config() == {"model": "cnn", "data": ["a", "b"]}
    assert run.config_file.read_text().endswith("}\n")
    run.config_file.write_text("{not json")
    with pytest.raises(RunDirError, match="config.json is unreadable"):
        run.config()


def test_split_round_trip(tmp_path):
    run = RunDir(tmp_path)
    assert run.val_ids() is None
    with pytest.raises(RunDirError, match="split.json does not exist"):
        run.split()
    run.write_split({"seed": 0, "val_ids": [3, "x7"]})
    assert run.split()["seed"] == 0 and run.val_ids() == [3, "x7"]
    run.split_file.write_text("[")
    with pytest.raises(ValueError, match="split.json is unreadable"):   # a RunDirError
        run.val_ids()


def test_metrics_round_trip_keeps_the_columns_in_order(tmp_path):
    run = RunDir(tmp_path)
    assert run.metrics() == []
    run.write_metrics([_row(1), _row(2)])
    assert run.metrics_file.read_text().splitlines()[0] == ",".join(METRICS_COLUMNS)
    rows = run.metrics()
    assert [r["epoch"] for r in rows] == [1, 2] and isinstance(rows[0]["epoch"], int)
    assert rows[1]["val_rmse"] == pytest.approx(0.19) and "extra" not in rows[1]


def test_metrics_take_other_columns(tmp_path):
    # A finetuning run writes losses, not the 37-answer RMSE.
    columns = ("epoch", "train_loss", "val_loss")
    RunDir(tmp_path).write_metrics([{"epoch": 1, "train_loss": 0.5, "val_loss": 0.6}], columns)
    assert RunDir(tmp_path).metrics() == [{"epoch": 1, "train_loss": 0.5, "val_loss": 0.6}]


def test_a_metrics_file_is_checked_cell_by_cell(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("")
    assert read_metrics_file(path) == (None, {})
    path.write_text("epoch,val_rmse\n1,0.2\n2,oops\n")
    with pytest.raises(DataError, match="line 3, column val_rmse: 'oops' is not a number"):
        read_metrics_file(path)
    with pytest.raises(DataError, match="lacks column.*train_rmse"):
        read_metrics_file(path, needed=("epoch", "train_rmse"))
    path.write_text("epoch,val_rmse\n1,0.2\n")
    assert read_metrics_file(path) == (["epoch", "val_rmse"], {"epoch": [1.0],
                                                                "val_rmse": [0.2]})


def test_json_helpers(tmp_path):
    write_json(tmp_path / "a.json", {"x": [1, 2]})
    assert json.loads((tmp_path / "a.json").read_text()) == read_json(tmp_path / "a.json")
    with pytest.raises(RunDirError, match="b.json does not exist"):
        read_json(tmp_path / "b.json")


def test_reading_a_run_imports_no_torch():
    code = ("import sys; from galmorph.rundir import RunDir; "
            "print('torch' in sys.modules or 'numpy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=600)
    assert out.stdout.strip() == "False", out.stdout + out.stderr
