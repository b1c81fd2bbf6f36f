"""Tests of galmorph.inference.files.predict_files and ``galmorph predict``."""
import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import torch
from astropy.table import Table
from PIL import Image

from galmorph.data.images import crop_and_resize
from galmorph.errors import DataError
from galmorph.models import build_model
from galmorph.models.checkpoint import load_checkpoint, save_checkpoint
from galmorph.schema import KAGGLE_COLUMNS, describe_column
from galmorph.inference.engine import predict_arrays
from galmorph.inference.files import predict_files

PREP = {"crop": 224, "size": 32}
#: The header of Kaggle's central_pixel_benchmark.csv (the submission format).
KAGGLE_HEADER = ("GalaxyID,Class1.1,Class1.2,Class1.3,Class2.1,Class2.2,Class3.1,Class3.2,"
                 "Class4.1,Class4.2,Class5.1,Class5.2,Class5.3,Class5.4,Class6.1,Class6.2,"
                 "Class7.1,Class7.2,Class7.3,Class8.1,Class8.2,Class8.3,Class8.4,Class8.5,"
                 "Class8.6,Class8.7,Class9.1,Class9.2,Class9.3,Class10.1,Class10.2,Class10.3,"
                 "Class11.1,Class11.2,Class11.3,Class11.4,Class11.5,Class11.6")
GOOD_IDS = [100018, 100037, 100042, 100052, 100056]
CORRUPT_ID = 100099


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("predict")
    folder = root / "images_test_rev1"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for gid in GOOD_IDS:
        pix = np.zeros((424, 424, 3), dtype=np.uint8)
        pix[150:274, 170:254] = rng.integers(60, 255, size=3, dtype=np.uint8)
        Image.fromarray(pix).save(folder / f"{gid}.jpg", quality=90)
    # A truncated JPEG: the first 600 bytes of a good one.
    (folder / f"{CORRUPT_ID}.jpg").write_bytes((folder / f"{GOOD_IDS[0]}.jpg").read_bytes()[:600])
    torch.manual_seed(0)
    model = build_model("cnn", input_size=PREP["size"], channels=(4, 8, 8), hidden=16)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    ((model(torch.rand(4, 3, 32, 32)) - 0.3) ** 2).mean().backward()  # one training step
    opt.step()
    ckpt = save_checkpoint(root / "run" / "best.pt", model.eval(), preprocessing=PREP)
    good = np.stack([crop_and_resize(folder / f"{g}.jpg", **PREP) for g in GOOD_IDS])
    expected = predict_arrays(load_checkpoint(ckpt).model, good, device="cpu", precision="fp32")
    return {"root": root, "folder": folder, "ckpt": ckpt, "expected": expected}


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "galmorph", "predict", *map(str, args)],
                          capture_output=True, text=True, timeout=600)


def test_cli_csv_is_a_kaggle_submission_and_reports_the_corrupt_jpeg(setup):
    out = setup["root"] / "sub" / "submission.csv"
    report = setup["root"] / "skipped.json"
    proc = _cli(setup["ckpt"], setup["folder"], "--out", out, "--report", report,
                "--precision", "fp32", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert f"{CORRUPT_ID}.jpg" in proc.stderr and "skipped 1 of 6" in proc.stderr
    assert "wrote 5 predictions" in proc.stderr
    lines = out.read_text().splitlines()
    assert lines[0] == KAGGLE_HEADER
    assert len(lines) == 1 + len(GOOD_IDS)
    rows = np.array([[float(v) for v in line.split(",")] for line in lines[1:]])
    assert rows[:, 0].astype(int).tolist() == GOOD_IDS
    np.testing.assert_allclose(rows[:, 1:], setup["expected"], atol=2e-6)
    assert not out.with_name("submission.csv.partial").exists()
    rep = json.loads(report.read_text())
    assert rep["n_skipped"] == 1 and rep["skipped"][0]["file"].endswith(f"{CORRUPT_ID}.jpg")
    assert "truncated" in rep["skipped"][0]["reason"].lower()


def test_csv_header_matches_kaggles_benchmark_file(kaggle_5k):
    with zipfile.ZipFile(kaggle_5k / "central_pixel_benchmark.zip") as zf:
        with zf.open(zf.namelist()[0]) as fh:
            header = fh.readline().decode().strip()
    assert header == KAGGLE_HEADER


def test_cli_ecsv_has_units_descriptions_and_skips(setup):
    out = setup["root"] / "result.ecsv"
    proc = _cli(setup["ckpt"], setup["folder"] / "*.jpg", "--out", out, "--tta", "d8",
                "--no-progress")
    assert proc.returncode == 0, proc.stderr
    table = Table.read(out)
    assert table.colnames == ["GalaxyID", "file"] + list(KAGGLE_COLUMNS) + [
        "p_merger", "merger_prob", "is_merger", "ood_score", "is_ood", "input_note"]
    assert table["GalaxyID"].tolist() == GOOD_IDS
    assert str(table["Class8.6"].unit) == "" and table["Class8.6"].unit is not None
    assert describe_column("Class8.6") in table["Class8.6"].description
    assert table.meta["tta"] == "d8" and table.meta["model_name"] == "cnn"
    assert table.meta["n_skipped"] == 1
    assert table.meta["skipped"][0]["file"].endswith(f"{CORRUPT_ID}.jpg")
    values = np.array([table[c] for c in KAGGLE_COLUMNS]).T
    assert values.min() >= 0 and values.max() <= 1


def test_api_fits_and_returned_table(setup):
    out = setup["root"] / "result.fits"
    files = [setup["folder"] / f"{g}.jpg" for g in GOOD_IDS[:3]] + [setup["root"] / "gone.jpg"]
    with pytest.warns(UserWarning, match="1 of 4 images could not be read"):
        table = predict_files(setup["ckpt"], files, out=out, progress=False, precision="fp32")
    assert len(table) == 3
    assert table.meta["skipped"][0]["file"].endswith("gone.jpg")
    back = Table.read(out)
    assert back.meta["NSKIPPED"] == 1 and back.meta["MODEL"] == "cnn"
    assert "gone.jpg" in " ".join(back.meta["comments"])
    np.testing.assert_allclose(np.array([back[c] for c in KAGGLE_COLUMNS]).T,
                               setup["expected"][:3], atol=1e-6)


def test_worker_pool_and_chunks_give_the_same_rows(setup):
    with pytest.warns(UserWarning):
        table = predict_files(setup["ckpt"], setup["folder"], workers=1, chunk_size=2,
                              progress=False, precision="fp32")
    assert table["GalaxyID"].tolist() == GOOD_IDS
    np.testing.assert_allclose(np.array([table[c] for c in KAGGLE_COLUMNS]).T,
                               setup["expected"], atol=1e-6)


def test_bare_model_and_string_ids(setup, tmp_path):
    for name in ("ngc1300.png", "m51.png"):
        Image.fromarray(np.full((300, 300, 3), 90, np.uint8)).save(tmp_path / name)
    model = load_checkpoint(setup["ckpt"]).model
    table = predict_files(model, tmp_path, preprocessing={"crop": 200, "size": 32},
                          progress=False)
    assert sorted(table["GalaxyID"].tolist()) == ["m51", "ngc1300"]
    assert table.meta["preprocessing"] == {"crop": 200, "size": 32}
    # Without preprocessing a bare galmorph model uses crop 224 and its own input size.
    table = predict_files(model, setup["folder"] / f"{GOOD_IDS[0]}.jpg", progress=False,
                          precision="fp32")
    assert table.meta["preprocessing"] == {"crop": 224, "size": 32}
    np.testing.assert_allclose(np.array([table[c][0] for c in KAGGLE_COLUMNS]),
                               setup["expected"][0], atol=1e-6)


def test_bad_inputs(setup, tmp_path):
    with pytest.raises(DataError, match=r"result\.txt.*\.csv"):
        predict_files(setup["ckpt"], setup["folder"], out=tmp_path / "result.txt")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "1.jpg").write_bytes(b"not a jpeg")
    (bad / "2.jpg").write_bytes(b"")
    out = tmp_path / "none.csv"
    with pytest.raises(DataError, match=r"none of the 2 images could be read.*1\.jpg"):
        predict_files(setup["ckpt"], bad, out=out, progress=False)
    assert not out.exists() and not tmp_path.joinpath("none.csv.partial").exists()
    with pytest.raises(DataError, match="no images found"):
        predict_files(setup["ckpt"], tmp_path / "nothing-*.jpg", progress=False)


def test_cli_bad_checkpoint_is_one_clean_line(setup, tmp_path):
    bad = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, bad)
    proc = _cli(bad, setup["folder"], "--out", tmp_path / "x.csv")
    assert proc.returncode == 1
    assert "galmorph predict: error:" in proc.stderr and "foreign.pt" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "x.csv").exists()


def test_converted_files_are_noted_or_refused(setup, tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    colour = setup["folder"] / f"{GOOD_IDS[1]}.jpg"
    (folder / "1.jpg").write_bytes(colour.read_bytes())
    Image.open(colour).convert("L").save(folder / "2.png")
    table = predict_files(setup["ckpt"], folder, device="cpu", progress=False, workers=0)
    notes = dict(zip(table["GalaxyID"].tolist(), table["input_note"].tolist()))
    assert notes[1] == "" and "greyscale converted to RGB" in notes[2]
    assert table.meta["n_converted"] == 1
    proc = _cli(setup["ckpt"], folder, "--convert", "refuse", "--out", tmp_path / "r.ecsv",
                "--no-progress", "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    assert "2.png" in proc.stderr and "is greyscale" in proc.stderr and "--convert flag" in \
        proc.stderr
    assert Table.read(tmp_path / "r.ecsv")["GalaxyID"].tolist() == [1]


def test_predict_and_the_classifier_agree_on_units_and_meta(setup):
    from galmorph.astro.classifier import MorphologyClassifier

    files = sorted(setup["folder"].glob("1000[0-5]*.jpg"))[:2]
    table = predict_files(setup["ckpt"], files, device="cpu", progress=False, workers=0)
    clf = MorphologyClassifier(setup["ckpt"], device="cpu", progress=False)
    out = clf.predict(Table({"path": [str(f) for f in files]}))
    for key in ("model_path", "model_name", "preprocessing"):
        assert table.meta[key] == out.meta[key], key
    for col in KAGGLE_COLUMNS:
        assert table[col].unit == out[col].unit == ""        # dimensionless
    np.testing.assert_allclose(np.array([out[c] for c in KAGGLE_COLUMNS]).T,
                               np.array([table[c] for c in KAGGLE_COLUMNS]).T, atol=1e-5)
