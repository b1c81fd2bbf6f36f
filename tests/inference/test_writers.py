"""Writing into a read-only, missing or full folder (galmorph._util._io and its callers).

Tests may run as root, where ``chmod 0o555`` does not stop writes: the "cannot
write" cases therefore use a path under a regular FILE (NotADirectoryError for
everyone), and a real read-only folder only where chmod really blocks writes.
A disk that fills at the end is simulated at the atomic-write layer with the
test-only ``$GALMORPH_FAULT_INJECT`` (see galmorph._util._atomic).
"""
import errno
import json
import subprocess
import sys
import tempfile
import warnings

import numpy as np
import pytest
import torch
from astropy.table import Table
from PIL import Image

from galmorph._util._atomic import FAULT_ENV
from galmorph._util._io import (OutputError, OutputWarning, check_writable, fallback_path,
                               save_with_fallback, write_skip_report)
from galmorph.cli import main
from galmorph.errors import GalmorphError
from galmorph.inference.files import predict_files
from galmorph.models import build_model, save_checkpoint
from galmorph.synth import LABEL_FILE, make_synthetic

N_GOOD = 4


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """Four small JPEGs, one truncated one, and a tiny untrained CNN checkpoint."""
    root = tmp_path_factory.mktemp("outputs")
    folder = root / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for gid in range(100000, 100000 + N_GOOD):
        pix = np.zeros((424, 424, 3), dtype=np.uint8)
        pix[150:274, 170:254] = rng.integers(60, 255, size=3, dtype=np.uint8)
        Image.fromarray(pix).save(folder / f"{gid}.jpg", quality=90)
    (folder / "100099.jpg").write_bytes((folder / "100000.jpg").read_bytes()[:600])
    torch.manual_seed(0)
    model = build_model("cnn", channels=(4, 4, 4), hidden=16, input_size=32)
    ckpt = save_checkpoint(root / "tiny.pt", model, preprocessing={"crop": 224, "size": 32})
    catalog = root / "catalog.csv"
    catalog.write_text("objid,path\n" + "".join(
        f"{i},{p}\n" for i, p in enumerate([*sorted(folder.glob("*.jpg")), root / "nope.jpg"])))
    blocker = root / "file.txt"
    blocker.write_text("a regular file, not a folder")
    return {"root": root, "folder": folder, "ckpt": ckpt, "catalog": catalog,
            "blocked": blocker / "sub"}


@pytest.fixture
def tmpdir_fallback(tmp_path, monkeypatch):
    """Point the system temporary folder (fallbacks) at a fresh folder, here and in children."""
    tmp = tmp_path / "systmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    monkeypatch.setenv("TMPDIR", str(tmp))
    return tmp


def _read_only_dir(tmp_path):
    """A chmod 0o555 folder, or skip where that does not stop writes (root)."""
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        (folder / "probe").touch()
    except PermissionError:
        return folder
    (folder / "probe").unlink()
    folder.chmod(0o755)
    pytest.skip("chmod 0o555 does not stop writes here (running as root); the "
                "under-a-file tests cover this")


# -- check_writable, fallback_path, save_with_fallback, the report writer ---------------
def test_check_writable_under_a_file_fails_in_one_line(setup):
    with pytest.raises(OutputError) as info:
        check_writable(setup["blocked"] / "x.csv", "--out")
    msg = str(info.value)
    assert msg == (f"--out {setup['blocked'] / 'x.csv'}: cannot write to "
                   f"{setup['blocked'].parent} (not a directory)")
    assert isinstance(info.value, GalmorphError) and isinstance(info.value, OSError)
    with pytest.raises(OutputError, match="exists and is not a folder"):
        check_writable(setup["blocked"].parent, "OUT", folder=True)
    with pytest.raises(OutputError, match="is a folder; give a file name"):
        check_writable(setup["folder"], "--out")


def test_check_writable_accepts_a_missing_folder_and_creates_nothing(tmp_path):
    target = tmp_path / "a" / "b" / "out.csv"
    assert check_writable(target, "--out") == target
    assert check_writable(tmp_path / "run", folder=True) == tmp_path / "run"
    assert list(tmp_path.iterdir()) == []


def test_check_writable_read_only_folder(tmp_path):
    folder = _read_only_dir(tmp_path)
    try:
        with pytest.raises(OutputError, match=r"--out .*: cannot write to .*ro "
                                              r"\(permission denied\)"):
            check_writable(folder / "new" / "x.csv", "--out")
    finally:
        folder.chmod(0o755)


def test_fallback_path_is_in_the_temp_folder(tmpdir_fallback):
    one, two = fallback_path("runs/predictions.csv"), fallback_path("predictions.csv")
    assert one.parent == tmpdir_fallback and one != two
    assert one.name.startswith("galmorph-predictions-") and one.suffix == ".csv"


def test_save_with_fallback(tmp_path, tmpdir_fallback):
    def write(path):
        if path.parent != tmpdir_fallback:
            raise OSError(errno.ENOSPC, "No space left on device")
        path.write_text("rows")

    path, reason = save_with_fallback(write, tmp_path / "out.csv")
    assert path.parent == tmpdir_fallback and path.read_text() == "rows"
    assert reason == "no space left on device"
    assert save_with_fallback(lambda p: p.write_text("x"), tmp_path / "ok.csv") == \
        (tmp_path / "ok.csv", None)

    def never(path):
        raise OSError(errno.EIO, "Input/output error")

    path, reason = save_with_fallback(never, tmp_path / "out.csv")
    assert path is None and reason.startswith("input/output error; and not in")
    assert len(list(tmpdir_fallback.iterdir())) == 1  # the failed fallback left nothing


def test_skip_report_formats(tmp_path):
    rows = [{"row": 3, "file": "a.jpg", "reason": "truncated"},
            {"row": 5, "ra": 150.0, "dec": 2.0, "reason": "no cutout"}]
    doc = json.loads(write_skip_report(tmp_path / "r.json", rows, 10, noun="rows").read_text())
    assert doc == {"n_rows": 10, "n_skipped": 2, "skipped": rows}
    text = write_skip_report(tmp_path / "r.txt", rows, 10, noun="rows").read_text()
    assert text.splitlines() == ["# 2 of 10 rows skipped", "a.jpg\ttruncated",
                                 "row 5 (ra 150.0 dec 2.0)\tno cutout"]


# -- predict_files ----------------------------------------------------------------------
def test_predict_files_refuses_an_unwritable_out_before_any_work(setup):
    with pytest.raises(OutputError, match=r"^out .*sub/x\.csv: cannot write to .*file\.txt"):
        predict_files("no-such-checkpoint.pt", setup["folder"], out=setup["blocked"] / "x.csv")
    with pytest.raises(OutputError, match=r"^report "):
        predict_files("no-such-checkpoint.pt", setup["folder"],
                      report=setup["blocked"] / "r.json")


@pytest.mark.parametrize("name", ["p.csv", "p.ecsv"])
def test_predict_files_full_disk_at_the_end_saves_to_the_temp_folder(
        setup, tmp_path, tmpdir_fallback, monkeypatch, name):
    out = tmp_path / "out" / name
    monkeypatch.setenv(FAULT_ENV, f"ENOSPC:{tmp_path}/out/*")
    with pytest.warns(OutputWarning, match="cannot write .*went to") as record:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*could not be read")
            table = predict_files(setup["ckpt"], setup["folder"], out=out,
                                  report=tmp_path / "out" / "r.json", progress=False,
                                  device="cpu")
    assert len(table) == N_GOOD and table.meta["out_error"].startswith("no space left")
    saved = table.meta["out"]
    assert str(tmpdir_fallback) in saved and any(saved in str(w.message) for w in record)
    assert len(Table.read(saved, format="ascii.csv" if name.endswith(".csv") else None)) == N_GOOD
    assert json.loads(open(table.meta["report"]).read())["n_skipped"] == 1
    assert not out.exists() and not list(out.parent.glob("*.partial"))


def test_predict_csv_stream_failing_midway_is_written_whole_at_the_end(setup, tmp_path,
                                                                       monkeypatch):
    import galmorph.inference.files as files

    class Full:
        def __init__(self, *a, **k):
            self.n = 0

        def write(self, text):
            self.n += 1
            if self.n > 1:  # the header fits, then the disk is full
                raise OSError(errno.ENOSPC, "No space left on device")

        def flush(self):
            pass

        def close(self):
            pass

    monkeypatch.setattr(files, "open", Full, raising=False)
    out = tmp_path / "p.csv"
    with warnings.catch_warnings():
        warnings.simplefilter("error", OutputWarning)  # space was back for the final write
        warnings.filterwarnings("ignore", message=".*could not be read")
        table = predict_files(setup["ckpt"], setup["folder"], out=out, chunk_size=2,
                              progress=False, device="cpu")
    assert table.meta["out"] == str(out) and "out_error" not in table.meta
    assert len(Table.read(out, format="ascii.csv")) == N_GOOD


# -- the command lines: one line naming the flag, exit 1, no traceback ------------------
@pytest.mark.parametrize("command, flag", [
    ("predict {ckpt} {folder} --out {bad}/p.csv", "--out"),
    ("predict {ckpt} {folder} --out {root}/ok.csv --report {bad}/r.json", "--report"),
    ("classify {catalog} --model {ckpt} --out {bad}/r.ecsv", "--out"),
    ("classify {catalog} --model {ckpt} --report {bad}/r.json", "--report"),
    ("synth {bad}/s --n 2", "OUT"),
    ("demo --out {bad}/d", "--out"),
    ("train {folder} --model cnn --out {bad}/run", "--out"),
], ids=["predict", "predict-report", "classify", "classify-report", "synth", "demo", "train"])
def test_cli_unwritable_output_is_one_line_before_any_work(setup, command, flag):
    args = command.format(ckpt=setup["ckpt"], folder=setup["folder"], bad=setup["blocked"],
                          root=setup["root"], catalog=setup["catalog"]).split()
    proc = subprocess.run([sys.executable, "-m", "galmorph", *args], capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"galmorph {args[0]}: error: {flag} {setup['blocked']}")
    assert lines[0].endswith(f"cannot write to {setup['blocked'].parent} (not a directory)")
    assert not (setup["root"] / "ok.csv").exists()


def test_cli_predict_full_disk_names_the_fallback(setup, tmp_path, tmpdir_fallback):
    out = tmp_path / "out" / "p.csv"
    env = {**__import__("os").environ, FAULT_ENV: f"ENOSPC:{tmp_path}/out/*",
           "TMPDIR": str(tmpdir_fallback)}
    proc = subprocess.run([sys.executable, "-m", "galmorph", "predict", str(setup["ckpt"]),
                           str(setup["folder"]), "--out", str(out), "--no-progress",
                           "--device", "cpu"], capture_output=True, text=True, timeout=600,
                          env=env)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"galmorph predict: error: --out {out}: cannot write it (no space")
    (saved,) = tmpdir_fallback.glob("galmorph-p-*.csv")
    assert f"the {N_GOOD} predictions were saved to {saved} instead" in last
    assert len(Table.read(saved, format="ascii.csv")) == N_GOOD


def test_classify_full_disk_saves_to_the_temp_folder_and_reports(setup, tmp_path,
                                                                 tmpdir_fallback, monkeypatch,
                                                                 capsys):
    monkeypatch.setenv(FAULT_ENV, f"ENOSPC:{tmp_path}/out/*")
    report = tmp_path / "failed.json"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = main(["classify", str(setup["catalog"]), "--model", str(setup["ckpt"]),
                     "--device", "cpu", "--no-progress", "--out", str(tmp_path / "out" / "r.ecsv"),
                     "--report", str(report)])
    assert code == 1
    err = capsys.readouterr().err
    (saved,) = tmpdir_fallback.glob("galmorph-r-*.ecsv")
    assert f"the {N_GOOD + 2} classified rows were saved to {saved} instead" in err
    assert Table.read(saved)["objid"].tolist() == list(range(N_GOOD + 2))
    doc = json.loads(report.read_text())
    assert doc["n_rows"] == N_GOOD + 2 and doc["n_skipped"] == 2
    assert [(r["row"], r["file"].rsplit("/", 1)[1]) for r in doc["skipped"]] == \
        [(N_GOOD, "100099.jpg"), (N_GOOD + 1, "nope.jpg")]
    assert "does not exist" in doc["skipped"][1]["reason"]
    assert not doc["skipped"][1]["reason"].startswith("row ")


def test_classify_text_report_is_predicts_format(setup, tmp_path, capsys):
    report = tmp_path / "failed.txt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["classify", str(setup["catalog"]), "--model", str(setup["ckpt"]),
                     "--device", "cpu", "--no-progress", "--report", str(report)]) == 0
    lines = report.read_text().splitlines()
    assert lines[0] == f"# 2 of {N_GOOD + 2} rows skipped"
    assert lines[2].startswith(f"{setup['root'] / 'nope.jpg'}\t")


def test_synth_full_disk_keeps_the_labels(tmp_path, tmpdir_fallback, monkeypatch):
    monkeypatch.setenv(FAULT_ENV, f"ENOSPC:*/{LABEL_FILE}")
    with pytest.raises(OutputError, match="labels of the 2 galaxies were saved to") as info:
        make_synthetic(tmp_path / "s", n=2, seed=0, workers=1, progress=False)
    (saved,) = tmpdir_fallback.glob("galmorph-training_solutions_rev1-*.csv")
    assert str(saved) in str(info.value)
    assert len(saved.read_text().splitlines()) == 3
    assert not (tmp_path / "s" / LABEL_FILE).exists()
