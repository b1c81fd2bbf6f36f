"""Tests for galmorph.astro.classifier (MorphologyClassifier) and ``galmorph classify``.

A small untrained CNN saved with the real save_checkpoint stands in for a
trained model: the tests check the plumbing (rows, order, IDs, failures,
metadata, streaming), never the quality of the predictions.
"""
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import Table
from PIL import Image
from sdss_server import FakeSDSS

from galmorph import __version__, schema
from galmorph.astro.classifier import MorphologyClassifier
from galmorph.data.images import crop_and_resize
from galmorph.errors import CheckpointError, DataError, NoModelError
from galmorph.models import build_model, save_checkpoint
from galmorph.inference.engine import predict_arrays

SIZE = 32  # the tiny model's input side
PREP = {"crop": 224, "size": SIZE}


def _galaxy(seed, neighbour=None):
    rng = np.random.default_rng(seed)
    y, x = np.indices((424, 424), dtype=float)
    img = 8 + 180 * np.exp(-((x - 211.5) ** 2 + (y - 211.5) ** 2) / (2 * (8 + 4 * seed) ** 2))
    if neighbour is not None:
        img += 120 * np.exp(-((x - 211.5 - neighbour) ** 2 + (y - 211.5) ** 2) / (2 * 5 ** 2))
    img = img + rng.normal(0, 3, img.shape)
    rgb = np.stack([img * (0.8 + 0.1 * seed), img, img * 0.9], axis=-1)
    return np.clip(rgb, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    torch.manual_seed(0)
    model = build_model("cnn", channels=(4, 4, 4), hidden=16, input_size=SIZE)
    return save_checkpoint(tmp_path_factory.mktemp("model") / "tiny.pt", model,
                           preprocessing=PREP)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    paths = []
    for i in range(3):
        p = folder / f"gal{i}.png"  # PNG: lossless, so file and array routes agree exactly
        Image.fromarray(_galaxy(i, neighbour=60 if i == 1 else None)).save(p)
        paths.append(p)
    jpg = folder / "gal3.jpg"
    Image.fromarray(_galaxy(3)).save(jpg, quality=90)
    corrupt = folder / "corrupt.jpg"
    corrupt.write_bytes(jpg.read_bytes()[:300])
    return {"png": paths, "jpg": jpg, "corrupt": corrupt, "folder": folder}


def _clf(ckpt, **kw):
    kw.setdefault("progress", False)
    return MorphologyClassifier(str(ckpt), device="cpu", **kw)


def _reference(ckpt, arrays):
    from galmorph.models.checkpoint import load_checkpoint
    x = np.stack([crop_and_resize(a, PREP["crop"], SIZE) for a in arrays])
    return predict_arrays(load_checkpoint(ckpt).model, x, device="cpu")


def test_constructor_only_stores_arguments(tmp_path):
    clf = MorphologyClassifier(tmp_path / "nope.pt", tta="d8")
    assert clf.tta == "d8" and not hasattr(clf, "model_")
    with pytest.raises(NoModelError, match="nope.pt.*does not exist.*galmorph train"):
        clf.predict(np.zeros((424, 424, 3), np.uint8))


def test_no_model_anywhere_says_how_to_make_one(tmp_path, monkeypatch):
    import galmorph.paths

    monkeypatch.setenv("GALMORPH_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("GALMORPH_MODEL", raising=False)
    monkeypatch.setattr(galmorph.paths, "WEIGHTS_DIR", tmp_path / "no-weights")
    with pytest.raises(NoModelError, match="no default registered.*lacks the shipped model"
                                           ".*--set-default"):
        MorphologyClassifier().load()


def test_no_model_given_uses_the_shipped_one_and_explicit_ones_win(tmp_path, monkeypatch, ckpt):
    from galmorph.paths import set_default_model, shipped_model_path

    monkeypatch.setenv("GALMORPH_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("GALMORPH_MODEL", raising=False)
    shipped = shipped_model_path()
    assert shipped is not None, "the package ships a model in galmorph/weights/"
    clf = MorphologyClassifier().load()
    assert clf.model_info_["path"] == str(shipped)
    monkeypatch.setenv("GALMORPH_MODEL", str(ckpt))
    assert MorphologyClassifier().load().model_info_["path"] == str(ckpt)
    monkeypatch.delenv("GALMORPH_MODEL")
    set_default_model(ckpt)
    assert MorphologyClassifier().load().model_info_["path"] == str(Path(ckpt).resolve())


def test_table_of_paths_keeps_order_ids_and_bad_rows(ckpt, images):
    paths = [str(p) for p in images["png"]]
    table = Table({"objid": [501, 502, 503, 504, 505],
                   "file": [paths[0], str(images["corrupt"]), paths[1], "missing.png", paths[2]]})
    with pytest.warns(UserWarning, match="2 of 5 rows"):
        out = _clf(ckpt).predict(table)
    assert out["objid"].tolist() == [501, 502, 503, 504, 505]
    assert out.colnames[:2] == ["objid", "file"]
    assert out.colnames[2:39] == list(schema.KAGGLE_COLUMNS)
    assert out.colnames[39:] == ["p_merger", "merger_prob", "is_merger", "ood_score", "is_ood",
                                 "predict_ok", "predict_error", "input_note"]
    assert out["predict_ok"].tolist() == [True, False, True, False, True]
    assert "row 1" in out["predict_error"][1] and "corrupt.jpg" in out["predict_error"][1]
    assert "row 3" in out["predict_error"][3] and "missing.png" in out["predict_error"][3]
    assert np.all(np.isnan(out["Class1.1"][[1, 3]]))
    good = out[out["predict_ok"]]
    ref = _reference(ckpt, paths)
    got = np.column_stack([good[c] for c in schema.KAGGLE_COLUMNS])
    np.testing.assert_allclose(got, ref, atol=1e-6)
    assert np.array_equal(out["p_merger"], out["Class8.6"], equal_nan=True)
    # A failed row is not a non-merger: its flag is masked, not False (issue 26). The tiny
    # checkpoint has no merger calibration, so the paper's rule is used.
    assert out.meta["merger_rule"] == "paper"
    assert np.ma.getmaskarray(out["is_merger"]).tolist() == [False, True, False, True, False]
    assert np.ma.getmaskarray(out["p_merger"]).tolist() == [False, True, False, True, False]
    ok = out["predict_ok"]
    assert out["is_merger"][ok].tolist() == [bool(p >= 0.54) for p in out["p_merger"][ok]]
    assert out["Class8.6"].description == schema.describe_column("Class8.6")
    m = out.meta
    assert m["model_path"] == str(ckpt) and m["model_name"] == "cnn"
    assert m["galmorph_version"] == __version__ and m["schema_version"] == schema.SCHEMA_VERSION
    assert m["merger_threshold"] == 0.54 and m["tta"] is None and m["n_failed"] == 2


def test_threshold_tta_and_result_round_trip(ckpt, images, tmp_path):
    clf = _clf(ckpt, tta="d8", merger_threshold=0.0)
    out = clf.predict([str(p) for p in images["png"]])
    assert out["path"].tolist() == [str(p) for p in images["png"]]
    assert out["is_merger"].all() and out.meta["tta"] == "d8"
    out.write(tmp_path / "r.ecsv")
    back = Table.read(tmp_path / "r.ecsv")
    assert back.meta["model_name"] == "cnn" and back.meta["merger_threshold"] == 0.0
    np.testing.assert_allclose(back["Class1.1"], out["Class1.1"])


def test_every_input_route_gives_the_same_prediction(ckpt, images):
    clf = _clf(ckpt)
    arrays = [np.asarray(Image.open(p).convert("RGB")) for p in images["png"]]
    ref = _reference(ckpt, arrays)[:, schema.column_index("Class1.1")]
    routes = {
        "paths": [str(p) for p in images["png"]],
        "pathlib": list(images["png"]),
        "stack": np.stack(arrays),
        "list": arrays,
        "pil": [Image.open(p) for p in images["png"]],
        "cropped": np.stack([crop_and_resize(a, 224, SIZE) for a in arrays]),
        "cropped_hwc": [crop_and_resize(a, 224, SIZE).transpose(1, 2, 0) for a in arrays],
        "floats": [a.astype(np.float32) / 255 for a in arrays],
        "generator": (a for a in arrays),
    }
    for name, x in routes.items():
        out = clf.predict(x)
        assert len(out) == 3, name
        tol = 2e-3 if name == "floats" else 1e-6
        np.testing.assert_allclose(out["Class1.1"], ref, atol=tol, err_msg=name)
    single = clf.predict(arrays[1])
    assert len(single) == 1 and single["Class1.1"][0] == pytest.approx(ref[1], abs=1e-6)
    assert clf.predict(str(images["png"][2]))["Class1.1"][0] == pytest.approx(ref[2], abs=1e-6)
    assert clf.predict(Image.open(images["png"][0]))["Class1.1"][0] == pytest.approx(ref[0],
                                                                                     abs=1e-6)


class _Recorder(torch.nn.Module):
    """A galmorph model wrapper that records how far the input stream had run at each batch."""

    def __init__(self, inner, produced):
        super().__init__()
        self.inner, self.config, self.produced, self.calls = inner, inner.config, produced, []

    def forward(self, x):
        self.calls.append((self.produced[0], x.shape[0]))
        return self.inner(x)


def test_streams_a_generator_in_bounded_chunks(ckpt):
    from galmorph.models.checkpoint import load_checkpoint
    produced = [0]
    rng = np.random.default_rng(0)
    tile = rng.integers(0, 255, (3, SIZE, SIZE), dtype=np.uint8)  # already cropped

    def stream(n):
        for _ in range(n):
            produced[0] += 1
            yield tile

    model = _Recorder(load_checkpoint(ckpt).model, produced)
    clf = MorphologyClassifier(model, device="cpu", batch_size=250, chunk_size=500,
                               progress=False)
    out = clf.predict(stream(3000))
    assert len(out) == 3000 and out["index"].tolist() == list(range(3000))
    assert out["predict_ok"].all()
    done = 0
    for produced_then, batch in model.calls:
        # Never more than one chunk read ahead of what has been predicted.
        assert produced_then - done <= 500
        done += batch
    assert done == 3000 and len(model.calls) == 12
    assert out.meta["model_path"] is None and out.meta["input_kind"] == "stream"


def test_radec_table_through_the_fake_sdss(ckpt, fake_sdss, tmp_path):
    fake_sdss.fail(150.3, 2.3, status=404)
    table = Table({"objid": [1, 2, 3, 4, 5],
                   "ra": [150.1, 150.2, 150.3, np.nan, 150.5] * u.deg,
                   "dec": [2.2, 95.0, 2.3, 2.4, 2.5] * u.deg,
                   "petroR90_r": [10.0, 10.0, 10.0, 10.0, 8.0] * u.arcsec,
                   "z": [0.03, 0.05, 0.07, 0.09, 0.11]})
    with pytest.warns(UserWarning, match="3 of 5 rows"):
        out = _clf(ckpt, cache_dir=tmp_path).predict(table, separations=True)
    assert out["objid"].tolist() == [1, 2, 3, 4, 5]
    assert out["predict_ok"].tolist() == [True, False, False, False, True]
    assert "row 1" in out["predict_error"][1] and "dec=95" in out["predict_error"][1]
    assert "150.30000" in out["predict_error"][2] and "404" in out["predict_error"][2]
    assert "row 3" in out["predict_error"][3] and "nan" in out["predict_error"][3]
    # Bad positions never reach the service.
    asked = {round(r.ra, 4) for r in fake_sdss.requests("hips2fits")}
    assert asked == {150.1, 150.3, 150.5}
    assert np.isfinite(out["Class1.1"][[0, 4]]).all()
    assert out.meta["cutout_backend"] == "hips2fits" and out.meta["input_kind"] == "table-coords"
    assert "redshift_trends" in out.meta and sum(out.meta["redshift_trends"]["n"]) == 2
    json.dumps(out.meta["redshift_trends"])
    # The fake paints each galaxy with a fainter companion a fixed angle away: the same
    # arcsec at 0.2"/px (petroR90 10") and 0.16"/px (8"), so more pixels in the second.
    sep = out[[0, 4]]
    assert np.all(np.isfinite(sep["sep_px"])) and np.all(sep["n_sources"] >= 2)
    assert sep["sep_arcsec"] == pytest.approx(sep["sep_px"] * [0.2, 0.16])
    assert sep["sep_r90"] == pytest.approx(sep["sep_px"] * 0.02)
    assert sep["sep_arcsec"][0] == pytest.approx(sep["sep_arcsec"][1], rel=0.05)
    assert sep["sep_px"][1] / sep["sep_px"][0] == pytest.approx(1.25, rel=0.05)
    from astropy.cosmology import Planck18
    kpc_per_arcsec = Planck18.kpc_proper_per_arcmin([0.03, 0.11]).value / 60
    assert sep["sep_kpc"] == pytest.approx(sep["sep_arcsec"] * kpc_per_arcsec)
    assert np.all(np.isnan(out["sep_px"][1:4]))


def test_skycoord_input(ckpt, fake_sdss, tmp_path):
    c = SkyCoord([10.0, 20.0], [-5.0, 5.0], unit="deg")
    out = _clf(ckpt, cache_dir=tmp_path).predict(c)
    assert out["ra"].tolist() == [10.0, 20.0] and out["predict_ok"].all()
    one = _clf(ckpt, cache_dir=tmp_path).predict(c[0])
    assert len(one) == 1 and one["Class1.1"][0] == pytest.approx(out["Class1.1"][0])
    assert len(fake_sdss.requests("hips2fits")) == 2  # the second call read the cache
    # A SkyCoord column, and plain unit-less degrees, give the same galaxies (cached).
    t = Table({"id": ["a", "b"], "where": c})
    by_column = _clf(ckpt, cache_dir=tmp_path).predict(t)
    assert by_column["id"].tolist() == ["a", "b"] and "where" in by_column.colnames
    plain = _clf(ckpt, cache_dir=tmp_path).predict(Table({"RA": [10.0, 20.0],
                                                          "DEC": [-5.0, 5.0]}))
    np.testing.assert_allclose(plain["Class1.1"], out["Class1.1"])
    np.testing.assert_allclose(by_column["Class1.1"], out["Class1.1"])
    assert len(fake_sdss.requests("hips2fits")) == 2


def test_image_column_and_image_dir(ckpt, images):
    t = Table({"objid": [1, 2], "jpeg_name": [images["png"][0].name, images["png"][1].name],
               "ra": [150.0, 151.0], "dec": [2.0, 2.1]})
    out = _clf(ckpt).predict(t, image_column="jpeg_name", image_dir=images["folder"])
    assert out["predict_ok"].all() and out.meta["input_kind"] == "table-images"
    ref = _reference(ckpt, [str(p) for p in images["png"][:2]])
    np.testing.assert_allclose(out["Class1.1"], ref[:, 0], atol=1e-6)


@pytest.mark.parametrize("table,message", [
    (Table({"objid": [1, 2], "mag": [17.0, 18.0]}), "no ra and dec column.*objid, mag"),
    (Table({"ra": [150.0], "mag": [17.0]}), "no dec column"),
    (Table({"ra": np.zeros(0), "dec": np.zeros(0)}), "no rows"),
    (Table({"ra": [2.6, 0.1], "dec": [0.04, -0.3]}), "'ra' and 'dec' have no unit.*radians"),
    (Table({"ra": [150.0] * u.m, "dec": [2.0] * u.deg}), "'ra' has unit m.*not an angle"),
    (Table({"ra": ["10:00:00"], "dec": ["+02:00:00"]}), "'ra' holds text.*SkyCoord"),
    (Table({"path": [1, 2]}), "no ra and dec column.*'path' holds int64 values, not file names"),
])
def test_structural_problems_raise_naming_the_column(ckpt, table, message):
    with pytest.raises(DataError, match=message):
        _clf(ckpt).predict(table)


def test_bad_arguments_raise(ckpt):
    with pytest.raises(DataError, match="image column 'img'.*objid"):
        _clf(ckpt).predict(Table({"objid": [1]}), image_column="img")
    with pytest.raises(DataError, match="image column 'objid' holds int64.*image_column"):
        _clf(ckpt).predict(Table({"objid": [1]}), image_column="objid")
    with pytest.raises(DataError, match="empty"):
        _clf(ckpt).predict([])
    with pytest.raises(DataError, match="cannot classify a int"):
        _clf(ckpt).predict(5)
    with pytest.warns(UserWarning, match="2 of 2 rows"):
        bad = _clf(ckpt).predict([np.zeros((10, 10), np.uint8),
                                  np.full((424, 424, 3), 3, np.int64)])
    assert "item 0" in bad["predict_error"][0] and "int64" in bad["predict_error"][1]


def test_checkpoint_of_another_schema_is_refused(ckpt, tmp_path):
    data = torch.load(ckpt, weights_only=True)
    data["schema_version"] = "gz2-kaggle-38/9"
    other = tmp_path / "other_schema.pt"
    torch.save(data, other)
    with pytest.raises(CheckpointError, match="other_schema.pt.*gz2-kaggle-38/9"):
        _clf(other).predict(np.zeros((424, 424, 3), np.uint8))


def test_model_with_wrong_output_width_is_refused():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 80 * 80, 10),
                                torch.nn.Sigmoid())
    clf = MorphologyClassifier(model, device="cpu", progress=False)
    with pytest.raises(CheckpointError, match=r"Sequential \(in memory\).*\(1, 10\).*37 answers"):
        clf.predict(np.zeros((424, 424, 3), np.uint8))


def test_unavailable_device_is_reported(ckpt):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(ValueError, match="CUDA is not available"):
        MorphologyClassifier(str(ckpt), device="cuda", progress=False).predict(
            np.zeros((424, 424, 3), np.uint8))


# -- the command line -------------------------------------------------------------------

def _cli(*args, env=None, cwd=None):
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "galmorph", "classify", *map(str, args)],
                          capture_output=True, text=True, env=full_env, cwd=cwd, timeout=600)


@pytest.mark.slow  # a subprocess: one torch import
def test_cli_catalog_to_ecsv(ckpt, images, tmp_path):
    cat = tmp_path / "catalog.ecsv"
    Table({"objid": [7, 8, 9], "path": [str(images["png"][0]), "nope.png",
                                        str(images["jpg"])]}).write(cat)
    out = tmp_path / "result.ecsv"
    proc = _cli(cat, "--model", ckpt, "--out", out, "--no-progress", "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    assert "classified 2 of 3 rows" in proc.stdout and "nope.png" in proc.stdout
    result = Table.read(out)
    assert result["objid"].tolist() == [7, 8, 9]
    assert result["predict_ok"].tolist() == [True, False, True]
    assert result.meta["model_path"] == str(ckpt)


@pytest.mark.slow  # a subprocess: one torch import
def test_cli_single_position_prints_a_summary(ckpt, tmp_path):
    with FakeSDSS() as sdss:
        config = tmp_path / "xdg" / "astropy"
        config.mkdir(parents=True)
        (config / "galmorph.cfg").write_text(
            f"[astro.cutout_backends]\nhips2fits_server = {sdss.hips2fits_url}\n")
        env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "GALMORPH_MODEL": str(ckpt),
               "GALMORPH_CACHE_DIR": str(tmp_path / "cache")}
        proc = _cli("--ra", "10:00:24", "--dec", "+02:12:00", "--petro-r90", "8",
                    "--no-progress", env=env)
        assert sdss.requests("hips2fits"), "the CLI did not ask the fake service"
    assert proc.returncode == 0, proc.stderr
    assert "RA 150.10000 deg, Dec +2.20000 deg" in proc.stdout
    assert "Q1 " in proc.stdout and "smooth" in proc.stdout and "p_merger = " in proc.stdout


def test_cli_bad_input_is_one_clear_line(ckpt, tmp_path, capsys):
    proc = _cli(tmp_path / "missing.ecsv", "--model", ckpt)
    assert proc.returncode == 1 and "missing.ecsv does not exist" in proc.stderr
    assert "Traceback" not in proc.stderr
    # The same entry point in-process (a subprocess costs a torch import each).
    from galmorph.cli import main
    assert main(["classify", "--ra", "150.1", "--model", str(ckpt)]) == 1
    assert "--ra and --dec" in capsys.readouterr().err
    cat = tmp_path / "nocoords.csv"
    Path(cat).write_text("objid,mag\n1,17.0\n")
    assert main(["classify", str(cat), "--model", str(ckpt)]) == 1
    err = capsys.readouterr().err
    assert "no ra and dec column" in err and "--image-column NAME" in err
    assert main(["classify", "--ra", "abc", "--dec", "2", "--model", str(ckpt)]) == 1
    assert "cannot read --ra 'abc'" in capsys.readouterr().err
    # A format astropy cannot write loses nothing: the rows are kept as ECSV.
    good = tmp_path / "good.csv"
    good.write_text("objid,path\n1,nope.png\n2,also_nope.png\n")
    bad_out = tmp_path / "result.unknownformat"
    with pytest.warns(UserWarning, match="2 of 2 rows"):
        assert main(["classify", str(good), "--model", str(ckpt), "--out", str(bad_out),
                     "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "cannot write" in err and "result.unknownformat.ecsv" in err
    assert Table.read(f"{bad_out}.ecsv")["objid"].tolist() == [1, 2]


def test_a_loaded_checkpoint_can_be_passed(ckpt, images):
    from galmorph.models.checkpoint import load_checkpoint
    loaded = load_checkpoint(ckpt)
    clf = MorphologyClassifier(loaded, device="cpu", progress=False)
    out = clf.predict(str(images["png"][0]))
    assert clf.model_ is loaded.model and clf.preprocessing_ == PREP
    assert out.meta["model_path"] == str(ckpt) and out["predict_ok"][0]


@pytest.mark.realdata
def test_real_kaggle_jpegs_with_separations(ckpt, kaggle_5k):
    paths = sorted((kaggle_5k / "images_training_rev1").glob("*.jpg"))[:4]
    t = Table({"GalaxyID": [int(p.stem) for p in paths], "path": [str(p) for p in paths]})
    out = _clf(ckpt).predict(t, separations=True)
    assert out["GalaxyID"].tolist() == t["GalaxyID"].tolist() and out["predict_ok"].all()
    assert np.all(out["n_sources"] >= 1)
    finite = np.isfinite(out["sep_px"])
    assert np.all(out["sep_r90"][finite] == pytest.approx(0.02 * out["sep_px"][finite]))
    assert np.all(np.isnan(out["sep_arcsec"]))  # no petroR90_r: no angular scale


def test_converted_input_is_flagged_per_row_or_refused(ckpt, images, tmp_path):
    grey = tmp_path / "grey.png"
    Image.open(images["png"][0]).convert("L").save(grey)
    rgba = tmp_path / "rgba.png"
    Image.open(images["png"][1]).convert("RGBA").save(rgba)
    table = Table({"path": [str(images["png"][0]), str(grey), str(rgba)]})
    out = _clf(ckpt).predict(table)
    assert out["predict_ok"].tolist() == [True, True, True]
    assert out["input_note"][0] == ""
    assert "greyscale converted to RGB" in out["input_note"][1]
    assert "alpha channel dropped" in out["input_note"][2]
    assert out.meta["n_converted"] == 2
    # The converted greyscale row is the colour image with its band repeated, predicted as such.
    band = np.asarray(Image.open(grey))
    ref = _reference(ckpt, [np.repeat(band[:, :, None], 3, axis=2)])
    np.testing.assert_allclose(np.array([out[c][1] for c in schema.KAGGLE_COLUMNS]), ref[0], atol=1e-5)
    with pytest.warns(UserWarning, match="2 of 3 rows could not be classified"):
        refused = _clf(ckpt, convert="refuse").predict(table)
    assert refused["predict_ok"].tolist() == [True, False, False]
    assert "is greyscale" in refused["predict_error"][1] and "--convert flag" in \
        refused["predict_error"][1]
    assert "row 2" in refused["predict_error"][2] and "alpha" in refused["predict_error"][2]


def test_a_model_of_the_wrong_shape_is_one_clear_error(images):
    from galmorph.errors import ModelShapeError

    class TenAnswers(torch.nn.Module):
        def forward(self, x):
            return torch.sigmoid(x.mean(dim=(2, 3)).repeat(1, 4)[:, :10])   # (B, 10)

    with pytest.raises(ModelShapeError, match=r"model returned shape \(1, 10\)"):
        predict_arrays(TenAnswers(), np.zeros((1, 3, 80, 80), np.uint8), device="cpu")
    clf = MorphologyClassifier(TenAnswers(), device="cpu", progress=False)
    with pytest.raises(CheckpointError, match=r"model TenAnswers \(in memory\) does not fit GZ2 "
                                              r"schema .*shape \(\d+, 10\).*37 answers"):
        clf.predict(str(images["png"][0]))


# -- issue 25: what a new user hit -----------------------------------------------------

def test_a_row_with_an_empty_path_gets_a_cutout_by_its_coordinates(ckpt, images, fake_sdss,
                                                                   tmp_path):
    t = Table({"objid": [1, 2, 3], "path": [str(images["png"][0]), "", "missing.png"],
               "ra": [150.0, 150.2, 150.4], "dec": [2.0, 2.2, 2.4]})
    with pytest.warns(UserWarning, match="1 of 3 rows"):
        out = _clf(ckpt, cache_dir=tmp_path).predict(t, separations=True)
    assert out["predict_ok"].tolist() == [True, True, False]
    assert "no image path given: cutout fetched by ra/dec" in out["input_note"][1]
    assert out["input_note"][0] == out["input_note"][2] == ""
    assert "missing.png" in out["predict_error"][2]       # a path given is never replaced
    asked = [(round(r.ra, 4), round(r.dec, 4)) for r in fake_sdss.requests("hips2fits")]
    assert asked == [(150.2, 2.2)]
    assert out.meta["cutout_backend"] == "hips2fits" and out.meta["n_cutout_fallback"] == 1
    assert out.meta["n_converted"] == 0
    # The cutout keeps its own pixel scale (native SDSS, no petroR90_r); the file the GZ2 one.
    assert out["sep_arcsec"][1] == pytest.approx(out["sep_px"][1] * 0.396, rel=1e-3)
    assert np.isnan(out["sep_arcsec"][0])


def test_warnings_of_predict_point_at_the_callers_line(ckpt, images):
    from galmorph.astro.redshift import DiagnosticsWarning

    table = Table({"path": [str(images["png"][0]), "missing.png"], "p_merger": [0.1, 0.2],
                   "z": ["0.05", "n/a"]})  # text redshifts: the diagnostic fails and warns
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _clf(ckpt).predict(table)
        line = sys._getframe().f_lineno - 1
    messages = {str(w.message).split(":")[0]: w for w in caught}
    assert any("renamed" in m for m in messages) and any("1 of 2 rows" in m for m in messages)
    assert any(issubclass(w.category, DiagnosticsWarning) for w in caught)
    for w in caught:
        assert (w.filename, w.lineno) == (__file__, line), str(w.message)


def test_no_row_classified_says_no_predictions_were_made(ckpt):
    from galmorph.astro.redshift import DiagnosticsWarning

    table = Table({"path": [f"missing{i}.png" for i in range(5)], "z": np.linspace(.02, .1, 5)})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = _clf(ckpt).predict(table)
    assert not out["predict_ok"].any()
    diagnostic = [str(w.message) for w in caught if issubclass(w.category, DiagnosticsWarning)]
    assert len(diagnostic) == 1
    assert "complete" not in diagnostic[0]
    assert "No predictions were made: none of the 5 rows could be classified" in diagnostic[0]


def test_separation_columns_have_units_and_descriptions(ckpt, images, tmp_path):
    out = _clf(ckpt).predict([str(p) for p in images["png"]], separations=True)
    units = {name: out[name].unit for name in ("sep_px", "sep_r90", "sep_arcsec", "sep_kpc",
                                                 "n_sources")}
    assert units == {"sep_px": u.pix, "sep_r90": u.dimensionless_unscaled,
                     "sep_arcsec": u.arcsec, "sep_kpc": u.kpc,
                     "n_sources": u.dimensionless_unscaled}
    for name in units:
        assert out[name].description, name
    assert "pixels" in out["sep_px"].description
    assert "sources detected" in out["n_sources"].description
    out.write(tmp_path / "sep.ecsv")
    back = Table.read(tmp_path / "sep.ecsv")
    assert back["sep_px"].unit == u.pix and back["n_sources"].description


@pytest.mark.parametrize("kind", ["jpeg", "fits-gri", "fits-one-band"])
def test_an_all_black_image_gives_no_runtime_warning(ckpt, tmp_path, kind):
    from astropy.io import fits

    path = tmp_path / ("black.jpg" if kind == "jpeg" else "black.fits")
    if kind == "jpeg":
        Image.fromarray(np.zeros((424, 424, 3), np.uint8)).save(path)
    else:
        shape = (3, 424, 424) if kind == "fits-gri" else (424, 424)
        fits.PrimaryHDU(np.zeros(shape, np.float32)).writeto(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        out = _clf(ckpt).predict(Table({"path": [str(path)]}), separations=True)
    assert out["predict_ok"][0] and np.isfinite(out["Class1.1"][0])
    assert out["n_sources"][0] == 0 and np.isinf(out["sep_px"][0])


def test_a_large_table_of_files_is_decoded_beside_the_model(ckpt, tmp_path):
    """From 256 files on, threads decode the files a chunk ahead: the same fractions as
    decoding one by one, a bad file fails its own row, and the input order is kept."""
    rng = np.random.default_rng(3)
    distinct = []
    for k in range(3):
        path = tmp_path / f"g{k}.jpg"
        Image.fromarray(rng.integers(0, 255, (424, 424, 3), dtype=np.uint8)).save(path)
        distinct.append(path)
    (tmp_path / "bad.jpg").write_bytes(b"not a JPEG")
    files = [str(distinct[i % 3]) for i in range(300)]
    files[123] = str(tmp_path / "bad.jpg")
    clf = MorphologyClassifier(ckpt, device="cpu", batch_size=64, chunk_size=100,
                               progress=False)
    with pytest.warns(UserWarning, match="1 of 300 rows could not be classified"):
        out = clf.predict(Table({"path": files}))
    assert out["predict_ok"].tolist() == [i != 123 for i in range(300)]
    assert out["predict_error"][123].startswith("row 123: ")
    one_by_one = MorphologyClassifier(ckpt, device="cpu", progress=False).predict(
        Table({"path": [str(p) for p in distinct]}))
    got = np.stack([np.asarray(out[c]) for c in schema.KAGGLE_COLUMNS], 1)          # (300, 37)
    ref = np.stack([np.asarray(one_by_one[c]) for c in schema.KAGGLE_COLUMNS], 1)   # (3, 37)
    keep = [i for i in range(300) if i != 123]
    np.testing.assert_allclose(got[keep], ref[[i % 3 for i in keep]], atol=1e-6)
