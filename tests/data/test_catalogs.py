"""Tests for galmorph.data.catalogs: the Kaggle, GZ2 and plain-image layouts and validation.

Every data folder here is real: JPEG/PNG files written with PIL, FITS files
written with astropy, CSV tables written with pandas, all under ``tmp_path``.
"""
import io
import json
import os
import re
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from galmorph import schema
from galmorph.data.catalogs import (Catalog, CatalogWarning, detect_layout, find_images,
                                    open_catalog, read_gz2, read_images, read_kaggle)
from galmorph.data._validate import GZ2_TREE_ATOL, TREE_ATOL
from galmorph.errors import DataError
from galmorph.labels import check_labels, normalize_tree_numpy, weighted_to_conditional

KAGGLE_IDS = [100008, 100023, 100053, 100078, 100090]
DR7_BASE = 587722981741363200  # 18 digits: float64 would lose the last ones


# ---------------------------------------------------------------------------
# Builders
# ---------------------------------------------------------------------------

def _jpeg(size=(424, 424), mode="RGB", fmt="JPEG", shade=0):
    # A smooth gradient keeps the files small (a few kB) and fast to write.
    w, h = size
    ramp = (np.add.outer(np.arange(h), np.arange(w)) * 255 // (w + h) + shade) % 256
    arr = np.stack([ramp, ramp[::-1], np.full_like(ramp, 128)], -1).astype(np.uint8)  # (h, w, 3)
    im = Image.fromarray(arr).convert(mode)
    buf = io.BytesIO()
    im.save(buf, fmt)
    return buf.getvalue()


@pytest.fixture(scope="module")
def jpeg424():
    return _jpeg()


def _labels(n, seed=0):
    rng = np.random.default_rng(seed)
    return normalize_tree_numpy(rng.random((n, schema.N_ANSWERS)))  # (n, 37)


def make_kaggle(root, jpeg, ids=KAGGLE_IDS, labels=None, image_ids=None, test_ids=(),
                edit=None):
    """A Kaggle-layout folder; ``edit(frame)`` may spoil the CSV before writing."""
    labels = _labels(len(ids)) if labels is None else labels
    frame = pd.DataFrame(labels, columns=schema.KAGGLE_COLUMNS)
    frame.insert(0, schema.ID_COLUMN, ids)
    if edit is not None:
        frame = edit(frame)
    root.mkdir(parents=True, exist_ok=True)
    frame.to_csv(root / "training_solutions_rev1.csv", index=False)
    train = root / "images_training_rev1"
    train.mkdir(exist_ok=True)
    for i in (ids if image_ids is None else image_ids):
        (train / f"{i}.jpg").write_bytes(jpeg)
    if test_ids:
        (root / "images_test_rev1").mkdir(exist_ok=True)
        for i in test_ids:
            (root / "images_test_rev1" / f"{i}.jpg").write_bytes(jpeg)
    return root, labels


def make_gz2(root, jpeg, n=4, seed=1, asset_column=True, flavours=("fraction",
             "weighted_fraction", "debiased"), edit=None):
    """A GZ2-release folder: images/<asset_id>.jpg + gz2_hart16.csv (+ mapping)."""
    weighted = _labels(n, seed)
    cond = weighted_to_conditional(weighted)  # what the release stores
    dr7 = DR7_BASE + np.arange(n, dtype=np.int64) * 1000003
    assets = 5000 + np.arange(n)
    cols = {"dr7objid": dr7, "ra": 150.0 + np.arange(n), "dec": 2.0 - np.arange(n),
            "sample": ["original"] * n, "gz2_class": ["Sc", "Ei", "SBb", "Er"][:n] * (n // 4 + 1)}
    cols["gz2_class"] = cols["gz2_class"][:n]
    for stem, col in zip(schema.GZ2_COLUMNS, cond.T):
        for fl in flavours:
            cols[f"{stem}_{fl}"] = col
    table = pd.DataFrame(cols)
    root.mkdir(parents=True, exist_ok=True)
    if asset_column:
        table.insert(1, "asset_id", assets)
    else:
        pd.DataFrame({"objid": dr7, "sample": "original", "asset_id": assets}).to_csv(
            root / "gz2_filename_mapping.csv", index=False)
    if edit is not None:
        table = edit(table)
    table.to_csv(root / "gz2_hart16.csv", index=False)
    (root / "images").mkdir(exist_ok=True)
    for a in assets:
        (root / "images" / f"{a}.jpg").write_bytes(jpeg)
    return root, weighted, dr7, assets


def _raises(match, fn, *args, **kwargs):
    with pytest.raises(DataError) as info:
        fn(*args, **kwargs)
    assert re.search(match, str(info.value)), str(info.value)
    return str(info.value)


# ---------------------------------------------------------------------------
# Kaggle layout
# ---------------------------------------------------------------------------

def test_kaggle_training_reads_ids_labels_paths_and_sources(tmp_path, jpeg424):
    root, labels = make_kaggle(tmp_path / "k", jpeg424)
    cat = open_catalog(root)
    assert cat.layout == "kaggle" and len(cat) == 5
    assert cat.ids.dtype == np.int64 and list(cat.ids) == KAGGLE_IDS  # CSV order
    assert cat.labels.dtype == np.float32 and cat.labels.shape == (5, 37)
    np.testing.assert_allclose(cat.labels, labels, atol=1e-6)
    assert [p.name for p in cat.paths] == [f"{i}.jpg" for i in KAGGLE_IDS]
    assert all(p.is_absolute() and p.parent.name == "images_training_rev1" for p in cat.paths)
    assert list(cat.table.columns[:2]) == ["GalaxyID", "Class1.1"]
    assert cat.table["path"].tolist() == [str(p) for p in cat.paths]
    assert cat.skipped == []
    src = json.loads(json.dumps(cat.sources))  # JSON-able
    csv_rec = src["files"][0]
    assert csv_rec["path"].endswith("training_solutions_rev1.csv")
    assert csv_rec["size"] == (root / "training_solutions_rev1.csv").stat().st_size
    assert src["images"]["count"] == 5 and src["images"]["bytes"] == 5 * len(jpeg424)


def test_kaggle_sources_change_when_an_image_changes(tmp_path, jpeg424):
    root, _ = make_kaggle(tmp_path / "k", jpeg424)
    before = read_kaggle(root).sources
    assert read_kaggle(root).sources == before  # stable when nothing changed
    path = root / "images_training_rev1" / f"{KAGGLE_IDS[2]}.jpg"
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert read_kaggle(root).sources["images"]["digest"] != before["images"]["digest"]


def test_kaggle_test_split_has_integer_ids_and_no_labels(tmp_path, jpeg424):
    root, _ = make_kaggle(tmp_path / "k", jpeg424, test_ids=[900001, 900017])
    cat = open_catalog(root, split="test")
    assert cat.labels is None and cat.layout == "kaggle"
    assert cat.ids.dtype == np.int64 and list(cat.ids) == [900001, 900017]
    assert cat.sources["options"]["split"] == "test"


def test_kaggle_test_split_rejects_non_integer_names(tmp_path, jpeg424):
    root, _ = make_kaggle(tmp_path / "k", jpeg424, test_ids=[900001])
    (root / "images_test_rev1" / "notes.jpg").write_bytes(jpeg424)
    _raises(r"notes\.jpg: the file name is not an integer GalaxyID", read_kaggle, root,
            split="test")


@pytest.mark.parametrize("edit,match", [
    (lambda f: f.drop(columns=["Class1.1"]), r"Q1 is only partly present.*lacks Class1\.1\b"),
    (lambda f: f.assign(Class12_1=0.0), r"unknown column\(s\) 'Class12_1'"),
    (lambda f: f.drop(columns=["GalaxyID"]), r"missing column\(s\) GalaxyID"),
    (lambda f: f.rename(columns={"Class8.6": "merger"}), r"Class8\.6.*'merger'"),
    (lambda f: pd.concat([f, f[["Class2.1"]]], axis=1), r"Class2\.1 appear more than once"),
])
def test_kaggle_wrong_columns_are_named(tmp_path, jpeg424, edit, match):
    root, _ = make_kaggle(tmp_path / "k", jpeg424, edit=edit)
    msg = _raises(match, read_kaggle, root)
    assert "training_solutions_rev1.csv" in msg
    # Column problems cannot be skipped row by row: skip mode raises too.
    _raises(match, read_kaggle, root, on_error="skip")


def test_kaggle_missing_images_counted_and_listed(tmp_path, jpeg424):
    ids = [200000 + i for i in range(13)]
    root, _ = make_kaggle(tmp_path / "k", jpeg424, ids=ids, image_ids=ids[:1])
    msg = _raises(r"12 of 13 labelled galaxies without an image in .*images_training_rev1",
                  read_kaggle, root)
    assert "first IDs: 200001, 200002, 200003, 200004, 200005" in msg
    assert "line 3 (GalaxyID 200001): no image 200001 in images_training_rev1/" in msg
    assert "... and 2 more (12 in all)" in msg  # 10 listed in full
    assert "on_error='skip'" in msg


def test_kaggle_images_without_labels(tmp_path, jpeg424):
    root, _ = make_kaggle(tmp_path / "k", jpeg424, image_ids=KAGGLE_IDS + [777])
    (root / "images_training_rev1" / "stray.png").write_bytes(_jpeg(fmt="PNG"))
    msg = _raises(r"2 images in .*images_training_rev1 without labels", read_kaggle, root)
    assert "777.jpg: no row in the label table" in msg
    assert "stray.png: the file name is not an integer ID" in msg


def test_kaggle_duplicate_ids_name_both_lines(tmp_path, jpeg424):
    ids = KAGGLE_IDS[:4] + [KAGGLE_IDS[1]]
    root, _ = make_kaggle(tmp_path / "k", jpeg424, ids=ids)
    msg = _raises(r"2 rows of training_solutions_rev1\.csv sharing their GalaxyID", read_kaggle,
                  root)
    assert "line 3: GalaxyID 100023 also on training_solutions_rev1.csv line 6" in msg


def test_kaggle_non_integer_galaxy_id(tmp_path, jpeg424):
    root, _ = make_kaggle(tmp_path / "k", jpeg424,
                          edit=lambda f: f.astype({"GalaxyID": object}).assign(
                              GalaxyID=["100008", "abc", "100053", "100078", "100090"]))
    _raises(r"training_solutions_rev1\.csv line 3: GalaxyID 'abc' is not an integer",
            read_kaggle, root)


def _spoil(row, column, value):
    def edit(frame):
        frame = frame.astype({column: object})
        frame.loc[row, column] = value
        return frame
    return edit


@pytest.mark.parametrize("value,match", [
    (np.nan, r"line 4 \(GalaxyID 100053\): Class3\.1 is NaN"),
    (1.5, r"line 4 \(GalaxyID 100053\): Class3\.1 = 1\.5 is outside \[0, 1\]"),
    (-0.2, r"line 4 \(GalaxyID 100053\): Class3\.1 = -0\.2 is outside \[0, 1\]"),
    ("abc", r"line 4 \(GalaxyID 100053\): Class3\.1 = 'abc' is not a number"),
])
def test_kaggle_bad_values_name_line_id_and_column(tmp_path, jpeg424, value, match):
    root, _ = make_kaggle(tmp_path / "k", jpeg424, edit=_spoil(2, "Class3.1", value))
    msg = _raises(match, read_kaggle, root)
    assert msg.startswith("1 row of training_solutions_rev1.csv with NaN, non-numeric or "
                          "out-of-range vote fractions:\n")


def test_kaggle_tree_break_names_row_question_and_parent(tmp_path, jpeg424):
    labels = _labels(5)
    labels[3, schema.QUESTION_SLICES[10]] = 0.0  # Q10 unanswered though Class4.1 > 0
    root, _ = make_kaggle(tmp_path / "k", jpeg424, labels=labels)
    msg = _raises(r"1 of 5 rows of training_solutions_rev1\.csv breaking the GZ2 tree", read_kaggle,
                  root)
    assert re.search(r"line 5 \(GalaxyID 100078\): Q10 \(Class10\.1\.\.Class10\.3\) sums to 0, "
                     r"expected Class4\.1 = 0\.\d+", msg), msg


def test_raise_stops_at_the_first_kind_of_problem(tmp_path, jpeg424):
    # A NaN and a missing image: values are checked before images.
    root, _ = make_kaggle(tmp_path / "k", jpeg424, image_ids=KAGGLE_IDS[:4],
                          edit=_spoil(0, "Class1.1", np.nan))
    msg = _raises(r"Class1\.1 is NaN", read_kaggle, root)
    assert "no image" not in msg


def test_unreadable_and_odd_images(tmp_path, jpeg424):
    root, _ = make_kaggle(tmp_path / "k", jpeg424)
    folder = root / "images_training_rev1"
    (folder / "100023.jpg").write_bytes(b"not a jpeg at all")
    _raises(r"1 of 5 images in .* cannot be opened:\n  .*100023\.jpg: cannot be read as an image",
            read_kaggle, root)
    (folder / "100023.jpg").write_bytes(_jpeg(size=(100, 120)))
    (folder / "100053.jpg").write_bytes(_jpeg(mode="L"))
    msg = _raises(r"2 of 5 images in .* not 424x424 RGB", read_kaggle, root)
    assert "100023.jpg: size 100x120, expected 424x424" in msg
    assert "100053.jpg: mode L, expected RGB" in msg
    # The expected size and mode are parameters; no header check at all is allowed too.
    assert len(read_kaggle(root, image_size=None, image_mode=None)) == 5
    assert len(read_kaggle(root, check_images=False)) == 5
    with pytest.warns(CatalogWarning, match="unexpected image: 4"):
        odd = read_kaggle(root, image_size=(100, 120), image_mode=None, on_error="skip")
    assert odd.ids.tolist() == [100023]


def test_kaggle_missing_files_and_zips(tmp_path, jpeg424):
    root, _ = make_kaggle(tmp_path / "k", jpeg424)
    (root / "training_solutions_rev1.csv").unlink()
    _raises(r"no training_solutions_rev1\.csv", read_kaggle, root)
    empty = tmp_path / "z"
    empty.mkdir()
    (empty / "images_training_rev1.zip").write_bytes(b"PK")
    _raises(r"images_training_rev1\.zip is there: unzip it", read_kaggle, empty)
    _raises(r"no images_test_rev1/ folder", read_kaggle, root, split="test")


def test_kaggle_label_table_may_stay_zipped(tmp_path, jpeg424):
    root, labels = make_kaggle(tmp_path / "k", jpeg424)
    csv_path = root / "training_solutions_rev1.csv"
    pd.read_csv(csv_path).to_csv(root / "training_solutions_rev1.csv.zip", index=False)
    csv_path.unlink()
    cat = read_kaggle(root)
    np.testing.assert_allclose(cat.labels, labels, atol=1e-6)


# ---------------------------------------------------------------------------
# Skip mode
# ---------------------------------------------------------------------------

def test_skip_mode_drops_records_warns_and_reports(tmp_path, jpeg424):
    labels = _labels(5)
    labels[4, schema.QUESTION_SLICES[2]] = 0.0  # tree break on the last row
    root, _ = make_kaggle(tmp_path / "k", jpeg424, labels=labels,
                          image_ids=[i for i in KAGGLE_IDS if i != 100023] + [4242],
                          edit=_spoil(0, "Class6.1", np.nan))
    report = tmp_path / "out" / "skipped.csv"
    with pytest.warns(CatalogWarning) as rec:
        cat = read_kaggle(root, on_error="skip", report=report)
    assert list(cat.ids) == [100053, 100078]
    assert cat.labels.shape == (2, 37) and len(cat.table) == 2
    assert cat.table["Class6.1"].dtype == np.float64  # numeric again once the NaN row is out
    reasons = dict((str(k), r) for k, r in cat.skipped)
    assert reasons["100008"].startswith("bad value: training_solutions_rev1.csv line 2 "
                                        "(GalaxyID 100008): Class6.1 is NaN")
    assert reasons["100090"].startswith("tree break: ")
    assert reasons["100023"].startswith("missing image: ")
    stray = str(root / "images_training_rev1" / "4242.jpg")
    assert reasons[stray].startswith("no labels: ")
    # One warning, one line, with the counts per kind and the report path.
    msg = str(rec[0].message)
    assert len(rec) == 1 and "\n" not in msg
    assert "kept 2, skipped 4" in msg and "bad value: 1" in msg and str(report) in msg
    assert rec[0].filename == __file__  # points at the caller, not at galmorph
    written = pd.read_csv(report)
    assert list(written.columns) == ["id_or_file", "reason"]
    assert sorted(written["id_or_file"].astype(str)) == sorted(reasons)
    assert written["reason"].tolist() == [r for _, r in cat.skipped]


def test_text_report_and_empty_report(tmp_path, jpeg424):
    root, _ = make_kaggle(tmp_path / "k", jpeg424, image_ids=KAGGLE_IDS[1:])
    with pytest.warns(CatalogWarning):
        cat = read_kaggle(root, on_error="skip", report=tmp_path / "skip.txt")
    text = (tmp_path / "skip.txt").read_text()
    assert "kept 4, skipped 1" in text and "100008\tmissing image:" in text
    ok = read_kaggle(make_kaggle(tmp_path / "ok", jpeg424)[0])
    assert "nothing was skipped" in ok.write_report(tmp_path / "ok.txt").read_text()
    assert len(cat) == 4


def test_skipping_everything_is_an_error(tmp_path, jpeg424):
    root, _ = make_kaggle(tmp_path / "k", jpeg424, image_ids=[])
    (root / "images_training_rev1" / "1.jpg").write_bytes(jpeg424)
    with pytest.warns(CatalogWarning):
        _raises(r"no galaxies left in the kaggle catalog .*all 5 inputs were skipped",
                read_kaggle, root, on_error="skip")


def test_bad_on_error_value():
    with pytest.raises(ValueError, match="on_error must be 'auto', 'raise' or 'skip'"):
        read_images(__file__, on_error="ignore")


# ---------------------------------------------------------------------------
# GZ2 release layout
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("flavour", ["fraction", "weighted_fraction", "debiased"])
def test_gz2_reads_each_flavour_and_keeps_metadata(tmp_path, jpeg424, flavour):
    root, weighted, dr7, assets = make_gz2(tmp_path / "g", jpeg424)
    cat = open_catalog(root, flavour=flavour)
    assert cat.layout == "gz2" and detect_layout(root) == "gz2"
    assert cat.ids.dtype == np.int64 and cat.ids.tolist() == dr7.tolist()  # exact 18 digits
    np.testing.assert_allclose(cat.labels, weighted, atol=1e-6)
    assert [p.name for p in cat.paths] == [f"{a}.jpg" for a in assets]
    assert cat.table["ra"].tolist() == [150.0, 151.0, 152.0, 153.0]
    assert cat.table["gz2_class"].tolist() == ["Sc", "Ei", "SBb", "Er"]
    assert cat.table["asset_id"].dtype == np.int64 and cat.table["dr7objid"].dtype == np.int64
    assert cat.sources["options"]["flavour"] == flavour


def test_gz2_joins_through_the_filename_mapping(tmp_path, jpeg424):
    root, weighted, dr7, assets = make_gz2(tmp_path / "g", jpeg424, asset_column=False)
    cat = read_gz2(root)
    assert cat.table["asset_id"].tolist() == assets.tolist()
    np.testing.assert_allclose(cat.labels, weighted, atol=1e-6)
    assert any(f["path"].endswith("gz2_filename_mapping.csv") for f in cat.sources["files"])


def test_gz2_mapping_prefers_the_matching_sample(tmp_path, jpeg424):
    root, _, dr7, assets = make_gz2(tmp_path / "g", jpeg424, asset_column=False)
    mapping = pd.read_csv(root / "gz2_filename_mapping.csv", dtype={"objid": str})
    other = mapping.iloc[:1].assign(sample="stripe82_coadd_1", asset_id=999)
    pd.concat([other, mapping]).to_csv(root / "gz2_filename_mapping.csv", index=False)
    (root / "images" / "999.jpg").write_bytes(jpeg424)  # the stripe82 image exists too
    with pytest.warns(CatalogWarning):
        cat = read_gz2(root, on_error="skip")
    assert cat.table["asset_id"].tolist() == assets.tolist()
    assert [str(k).endswith("999.jpg") for k, _ in cat.skipped] == [True]


def test_gz2_without_mapping_or_unmapped_rows(tmp_path, jpeg424):
    root, _, dr7, _ = make_gz2(tmp_path / "g", jpeg424, asset_column=False)
    mapping = root / "gz2_filename_mapping.csv"
    pd.read_csv(mapping, dtype={"objid": str}).iloc[1:].to_csv(mapping, index=False)
    _raises(rf"1 galaxy of gz2_hart16\.csv without a valid asset_id:\n  gz2_hart16\.csv line 2 "
            rf"\(dr7objid {dr7[0]}\): no asset_id", read_gz2, root)
    mapping.unlink()
    _raises(r"gz2_hart16\.csv has no asset_id column and no filename mapping table", read_gz2, root)


def test_gz2_missing_flavour_columns_say_which_flavours_exist(tmp_path, jpeg424):
    root, *_ = make_gz2(tmp_path / "g", jpeg424, flavours=("weighted_fraction",))
    msg = _raises(r"gz2_hart16\.csv: flavour 'debiased' needs the 37 columns <answer>_debiased; "
                  r"37 are missing \(t01_smooth_or_features_a01_smooth_debiased", read_gz2, root,
                  flavour="debiased")
    assert "pass --flavour weighted_fraction (flavour='weighted_fraction' in Python)" in msg


def test_gz2_tree_break_names_gz2_columns(tmp_path, jpeg424):
    # Q9 left blank although Class2.1 = 0.2 > 0
    root, _, dr7, _ = make_gz2(tmp_path / "g", jpeg424, edit=_break_q9(2, 0.2))
    msg = _raises(r"1 of 4 rows of gz2_hart16\.csv breaking the GZ2 tree \(.* within 0\.025\)",
                  read_gz2, root, on_error="raise")
    assert re.search(rf"gz2_hart16\.csv line 4 \(dr7objid {dr7[2]}\): Q9 \(t09_bulge_shape\) sums "
                     rf"to 0, expected t02_edgeon_a04_yes = 0\.\d+", msg), msg


def _break_q9(row, edge_on):
    """``make_gz2`` edit: row ``row`` says edge-on (Class2.1 = ``edge_on``, weighted) but
    answers nothing to Q9, which follows it: a tree break of ``edge_on``."""
    def edit(table):
        for fl in ("fraction", "weighted_fraction", "debiased"):
            table.loc[row, f"t01_smooth_or_features_a01_smooth_{fl}"] = 0.5
            table.loc[row, f"t01_smooth_or_features_a02_features_or_disk_{fl}"] = 0.5
            table.loc[row, f"t01_smooth_or_features_a03_star_or_artifact_{fl}"] = 0.0
            table.loc[row, f"t02_edgeon_a04_yes_{fl}"] = edge_on / 0.5   # conditional
            table.loc[row, f"t02_edgeon_a05_no_{fl}"] = 1 - edge_on / 0.5
            for a in schema.QUESTIONS[8].answers:
                table.loc[row, f"{a.gz2}_{fl}"] = 0.0
        return table
    return edit


@pytest.mark.parametrize("on_error", ["auto", "raise"])
def test_gz2_tree_break_the_release_rounding_explains_is_accepted(tmp_path, jpeg424, on_error):
    # gz2-1k breaks the tree by up to 0.022 (a question that under one vote reached, left at 0).
    root, _, dr7, _ = make_gz2(tmp_path / "g", jpeg424, edit=_break_q9(1, 0.02))
    with warnings.catch_warnings():
        warnings.simplefilter("error", CatalogWarning)
        cat = read_gz2(root, on_error=on_error)
    assert cat.ids.tolist() == dr7.tolist() and cat.skipped == []
    assert cat.labels[1, schema.column_index("Class2.1")] == pytest.approx(0.02, abs=1e-6)


def test_kaggle_keeps_its_tolerance_of_0_01(tmp_path, jpeg424):
    # Kaggle labels agree to 1e-4: a 0.02 break there is an error, by default too.
    labels = _labels(5)
    row = int(np.argmax(labels[:, schema.column_index("Class4.1")]))
    q10 = labels[row, schema.QUESTION_SLICES[10]]               # (3,), sums to Class4.1
    assert q10.max() > 0.02
    labels[row, schema.QUESTION_SLICES[10].start + int(np.argmax(q10))] -= 0.02
    root, _ = make_kaggle(tmp_path / "k", jpeg424, labels=labels)
    _raises(r"breaking the GZ2 tree \(.* within 0\.01\)", read_kaggle, root)


def test_gz2_tree_break_beyond_rounding_is_skipped_by_default_and_raises_on_request(
        tmp_path, jpeg424):
    root, _, dr7, _ = make_gz2(tmp_path / "g", jpeg424, edit=_break_q9(2, 0.2))
    with pytest.warns(CatalogWarning) as record:
        cat = read_gz2(root)
    (warning,) = [w for w in record if issubclass(w.category, CatalogWarning)]
    text = str(warning.message)
    assert "\n" not in text and warning.filename == __file__    # one line, at the caller
    assert (f"kept 3, skipped 1 (tree break: 1; first: gz2_hart16.csv line 4 (dr7objid "
            f"{dr7[2]})); a GZ2 release's rows that break the tree by more than 0.025") in text
    assert "on_error='raise' (--on-error raise) stops at them" in text
    assert cat.ids.tolist() == [dr7[0], dr7[1], dr7[3]]
    assert [k for k, _ in cat.skipped] == [dr7[2]]
    assert cat.skipped[0][1].startswith(f"tree break: gz2_hart16.csv line 4 (dr7objid {dr7[2]}): "
                                        f"Q9 (t09_bulge_shape) sums to 0, expected "
                                        f"t02_edgeon_a04_yes = 0.2")
    _raises(rf"1 of 4 rows of gz2_hart16\.csv breaking the GZ2 tree .*\n  gz2_hart16\.csv line 4 "
            rf"\(dr7objid {dr7[2]}\): Q9", read_gz2, root, on_error="raise")


def test_prepare_cli_skips_a_release_tree_break_by_default(tmp_path, jpeg424):
    root, _, dr7, _ = make_gz2(tmp_path / "g", jpeg424, edit=_break_q9(0, 0.2))
    run = [sys.executable, "-m", "galmorph", "prepare", str(root), "--size", "16",
           "--workers", "1", "--no-progress"]
    env = {**os.environ, "GALMORPH_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.run(run, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "3 images" in proc.stdout and "skipped: 1" in proc.stdout
    assert f"tree break: 1; first: gz2_hart16.csv line 2 (dr7objid {dr7[0]})" in proc.stderr
    proc = subprocess.run(run + ["--on-error", "raise"], capture_output=True, text=True,
                          timeout=600, env=env)
    assert proc.returncode != 0 and "breaking the GZ2 tree" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_gz2_blank_is_fine_where_unreached_but_not_where_reached(tmp_path, jpeg424):
    def edit(table):
        q2 = [f"{a.gz2}_weighted_fraction" for a in schema.QUESTIONS[1].answers]
        table.loc[0, q2] = np.nan     # Q2 reached: an error
        table.loc[1, "t01_smooth_or_features_a02_features_or_disk_weighted_fraction"] = 0.0
        table.loc[1, "t01_smooth_or_features_a01_smooth_weighted_fraction"] += \
            table.loc[1, "t01_smooth_or_features_a02_features_or_disk_weighted_fraction"]
        return table
    root, _, dr7, _ = make_gz2(tmp_path / "g", jpeg424, edit=edit)
    msg = _raises(rf"line 2 \(dr7objid {dr7[0]}\): t02_edgeon_a04_yes_weighted_fraction is NaN",
                  read_gz2, root)
    assert f"dr7objid {dr7[1]}" not in msg


def test_gz2_duplicate_and_bad_ids(tmp_path, jpeg424):
    root, _, dr7, _ = make_gz2(tmp_path / "g", jpeg424,
                               edit=lambda t: t.assign(dr7objid=[t.dr7objid[0]] * 2 +
                                                       list(t.dr7objid[2:])))
    _raises(rf"line 3: dr7objid {dr7[0]} also on gz2_hart16\.csv line 2", read_gz2, root)
    table = pd.read_csv(root / "gz2_hart16.csv", dtype={"dr7objid": str, "asset_id": str})
    table.loc[1, "dr7objid"] = "J095641+0"
    table.loc[2, "asset_id"] = "img7"
    table.to_csv(root / "gz2_hart16.csv", index=False)
    _raises(r"1 row of gz2_hart16\.csv without a valid integer dr7objid:\n  gz2_hart16\.csv "
            r"line 3: dr7objid 'J095641\+0' is not an integer", read_gz2, root)
    table.loc[1, "dr7objid"] = str(dr7[1])
    table.to_csv(root / "gz2_hart16.csv", index=False)
    _raises(rf"line 4 \(dr7objid {dr7[2]}\): asset_id 'img7' is not an integer", read_gz2, root)
    table.iloc[:0].to_csv(root / "gz2_hart16.csv", index=False)
    _raises(r"gz2_hart16\.csv: the label table has a header but no rows", read_gz2, root)


@pytest.mark.parametrize("fmt", ["fits", "csv.gz"])
def test_gz2_tables_as_fits_or_gzipped_csv(tmp_path, jpeg424, fmt):
    from astropy.table import Table
    root, weighted, dr7, assets = make_gz2(tmp_path / "g", jpeg424)
    table = pd.read_csv(root / "gz2_hart16.csv")
    (root / "gz2_hart16.csv").unlink()
    if fmt == "fits":
        Table.from_pandas(table).write(root / "gz2_hart16.fits")
    else:
        table.to_csv(root / "gz2_hart16.csv.gz", index=False)
    cat = open_catalog(root)
    assert cat.ids.tolist() == dr7.tolist() and cat.table["asset_id"].tolist() == assets.tolist()
    np.testing.assert_allclose(cat.labels, weighted, atol=1e-6)
    assert cat.sources["files"][0]["path"].endswith(f"gz2_hart16.{fmt}")


def test_gz2_folder_without_table(tmp_path, jpeg424):
    (tmp_path / "g" / "images").mkdir(parents=True)
    (tmp_path / "g" / "images" / "1.jpg").write_bytes(jpeg424)
    _raises(r"has an images/ folder but no GZ2 label table", open_catalog, tmp_path / "g")
    _raises(r"no GZ2 label table", read_gz2, tmp_path / "g")


def test_gz2_table_with_renamed_columns_says_what_is_wrong_with_it(tmp_path, jpeg424):
    # The file is there: the message names it and its renamed columns, not "add gz2_hart16.csv".
    root, *_ = make_gz2(tmp_path / "g", jpeg424, edit=lambda t: t.rename(
        columns=lambda c: c.replace("t01_", "T01_").replace("t02_", "T02_")))
    for fn in (open_catalog, read_gz2):
        msg = _raises(r"gz2_hart16\.csv: no t01_smooth_or_features_a01_smooth_\.\.\. label "
                      r"columns", fn, root)
        assert "T01_smooth_or_features_a01_smooth_fraction" in msg and "renamed?" in msg
        assert "add gz2_hart16.csv" not in msg


def test_gz2_mapping_with_renamed_asset_id_is_named(tmp_path, jpeg424):
    root, *_ = make_gz2(tmp_path / "g", jpeg424, asset_column=False)
    mapping = root / "gz2_filename_mapping.csv"
    mapping.write_text(mapping.read_text().replace("asset_id", "assetID"))
    msg = _raises(r"has no asset_id column and no filename mapping", read_gz2, root)
    assert "gz2_filename_mapping.csv: no t01_" in msg and "assetID" in msg, msg


# ---------------------------------------------------------------------------
# Plain images
# ---------------------------------------------------------------------------

def _fits(path, shape=(3, 64, 64)):
    from astropy.io import fits
    fits.PrimaryHDU(np.ones(shape, dtype=np.float32)).writeto(path)


def test_images_folder_mixed_formats_integer_ids(tmp_path, jpeg424):
    folder = tmp_path / "imgs"
    folder.mkdir()
    (folder / "12.jpg").write_bytes(jpeg424)
    (folder / "7.png").write_bytes(_jpeg(size=(64, 48), fmt="PNG"))
    _fits(folder / "30.fits")
    _fits(folder / "31.fits.gz")
    (folder / "readme.txt").write_text("not an image")
    (folder / ".hidden.jpg").write_bytes(jpeg424)
    cat = open_catalog(folder)
    assert cat.layout == "images" and cat.labels is None and detect_layout(folder) == "images"
    assert cat.ids.dtype == np.int64 and sorted(cat.ids.tolist()) == [7, 12, 30, 31]
    assert {p.name for p in cat.paths} == {"12.jpg", "7.png", "30.fits", "31.fits.gz"}
    assert cat.table["id"].tolist() == cat.ids.tolist()


def test_images_string_ids_globs_and_lists(tmp_path, jpeg424):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "ngc4414.jpg").write_bytes(jpeg424)
    (tmp_path / "a" / "17.jpeg").write_bytes(jpeg424)
    (tmp_path / "b.png").write_bytes(_jpeg(fmt="PNG"))
    cat = read_images([tmp_path / "a" / "*.jp*g", tmp_path / "b.png"])
    assert cat.ids.dtype.kind == "U" and sorted(cat.ids) == ["17", "b", "ngc4414"]
    # The same file through a folder and a glob is one galaxy, not a duplicate.
    assert len(read_images([tmp_path / "a", str(tmp_path / "a" / "*.jpg")])) == 2
    assert find_images(str(tmp_path / "a" / "*.jpg")) == [tmp_path / "a" / "ngc4414.jpg"]


def test_images_single_file_and_recursive_folders(tmp_path, jpeg424):
    (tmp_path / "run" / "night1").mkdir(parents=True)
    (tmp_path / "run" / "5.jpg").write_bytes(jpeg424)
    (tmp_path / "run" / "night1" / "6.jpg").write_bytes(jpeg424)
    one = open_catalog(tmp_path / "run" / "5.jpg")
    assert one.layout == "images" and one.ids.tolist() == [5]
    assert read_images(tmp_path / "run").ids.tolist() == [5]
    assert sorted(open_catalog(tmp_path / "run", recursive=True).ids.tolist()) == [5, 6]


def test_images_duplicate_names_in_two_folders(tmp_path, jpeg424):
    for sub in ("night1", "night2"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "42.jpg").write_bytes(jpeg424)
    (tmp_path / "night2" / "43.jpg").write_bytes(jpeg424)
    msg = _raises(r"2 image files sharing the name \(the galaxy ID\) of another file",
                  read_images, [tmp_path / "night1", tmp_path / "night2"])
    first, second = tmp_path / "night1" / "42.jpg", tmp_path / "night2" / "42.jpg"
    assert f"{first}: ID 42 also on {second}" in msg
    with pytest.warns(CatalogWarning, match="duplicate ID: 2"):
        cat = read_images([tmp_path / "night1", tmp_path / "night2"], on_error="skip")
    assert cat.ids.tolist() == [43]


def test_images_missing_unsupported_and_empty_inputs(tmp_path, jpeg424):
    (tmp_path / "1.jpg").write_bytes(jpeg424)
    (tmp_path / "cat.csv").write_text("a,b\n")
    (tmp_path / "empty").mkdir()
    msg = _raises(r"3 inputs naming no image file", read_images,
                  [tmp_path / "1.jpg", tmp_path / "gone.jpg", tmp_path / "cat.csv",
                   tmp_path / "empty"])
    assert "gone.jpg: no such file or folder" in msg
    assert "cat.csv: unsupported file type" in msg and "empty: folder holds no" in msg
    _raises(r"no images found for .*nothing\*\.fits: no image files match", find_images,
            str(tmp_path / "nothing*.fits"))
    with pytest.warns(CatalogWarning):
        assert len(read_images([tmp_path / "1.jpg", tmp_path / "gone.jpg"], on_error="skip")) == 1


def test_images_unreadable_and_optional_size_check(tmp_path, jpeg424):
    (tmp_path / "1.jpg").write_bytes(jpeg424)
    (tmp_path / "2.jpg").write_bytes(b"\xff\xd8garbage")
    _fits(tmp_path / "3.fits", shape=(5,))
    msg = _raises(r"2 of 3 images cannot be opened", read_images, tmp_path)
    assert "2.jpg: cannot be read as an image" in msg and "3.fits: cannot be read" in msg
    (tmp_path / "2.jpg").write_bytes(_jpeg(size=(200, 200)))
    (tmp_path / "3.fits").unlink()
    assert len(read_images(tmp_path)) == 2  # any size by default for prediction
    _raises(r"2\.jpg: size 200x200, expected 424x424", read_images, tmp_path,
            image_size=(424, 424))


# ---------------------------------------------------------------------------
# Layout detection and the Catalog object
# ---------------------------------------------------------------------------

def test_detect_layout(tmp_path, jpeg424):
    make_kaggle(tmp_path / "k", jpeg424)
    assert detect_layout(tmp_path / "k") == "kaggle"
    assert detect_layout([tmp_path / "k"]) == "images"
    assert detect_layout(str(tmp_path / "k" / "*" / "*.jpg")) == "images"
    (tmp_path / "nothing").mkdir()
    _raises(r"holds no known layout", detect_layout, tmp_path / "nothing")
    _raises(r"no such file or folder", detect_layout, tmp_path / "absent")
    _raises(r"the kaggle layout reads one data folder", open_catalog, [tmp_path / "k"],
            layout="kaggle")
    with pytest.raises(ValueError, match="split='test' applies to the Kaggle layout only"):
        open_catalog(tmp_path / "k" / "images_training_rev1", split="test")
    with pytest.raises(ValueError, match="flavour must be one of"):
        open_catalog(tmp_path / "k", flavour="debiassed")
    with pytest.raises(ValueError, match="labels= and mapping= apply to the GZ2 layout only"):
        open_catalog(tmp_path / "k", labels="gz2_hart16.csv")


def test_catalog_subset_and_shape_checks(tmp_path, jpeg424):
    cat = read_kaggle(make_kaggle(tmp_path / "k", jpeg424)[0])
    sub = cat.subset([3, 0])
    assert sub.ids.tolist() == [100078, 100008] and sub.paths == [cat.paths[3], cat.paths[0]]
    np.testing.assert_array_equal(sub.labels, cat.labels[[3, 0]])
    assert sub.table["GalaxyID"].tolist() == [100078, 100008]
    assert sub.sources["images"]["count"] == 2 and sub.sources["files"] == cat.sources["files"]
    assert len(cat.subset(cat.ids > 100050)) == 3
    with pytest.raises(ValueError, match=r"labels must have shape \(5, 37\)"):
        Catalog(ids=cat.ids, paths=cat.paths, labels=np.zeros((5, 36)), layout="kaggle")
    assert "n=5" in repr(cat)


# ---------------------------------------------------------------------------
# The real data (../shared/data)
# ---------------------------------------------------------------------------

@pytest.mark.realdata
def test_real_kaggle_5k(kaggle_5k):
    cat = open_catalog(kaggle_5k)
    assert len(cat) == 5000 and cat.layout == "kaggle" and cat.skipped == []
    table = pd.read_csv(kaggle_5k / "training_solutions_rev1.csv")
    assert cat.ids.tolist() == table["GalaxyID"].tolist()
    np.testing.assert_allclose(cat.labels, table[list(schema.KAGGLE_COLUMNS)].to_numpy(),
                               atol=1e-6)
    assert all(p.name == f"{i}.jpg" for i, p in zip(cat.ids[:50], cat.paths[:50]))
    test = open_catalog(kaggle_5k, split="test")
    assert len(test) == 149 and test.labels is None and test.ids.dtype == np.int64


@pytest.mark.realdata
def test_real_gz2_1k_is_read_whole_although_16_rows_break_the_tree_by_rounding(gz2_1k):
    # Issue 25: 'galmorph evaluate ../shared/data/gz2-1k' stopped at 16 of the 1,003 rows.
    # They break the tree by 0.011 to 0.022, more than TREE_ATOL but within GZ2_TREE_ATOL.
    for on_error in ("auto", "raise"):
        with warnings.catch_warnings():
            warnings.simplefilter("error", CatalogWarning)
            cat = open_catalog(gz2_1k, on_error=on_error)
        assert len(cat) == 1003 and cat.skipped == []
    assert len(check_labels(cat.labels, atol=TREE_ATOL).bad_rows) == 16
    assert check_labels(cat.labels, atol=GZ2_TREE_ATOL)
    assert not check_labels(cat.labels, atol=0.02)       # the tolerance is not looser than needed
    row = cat.ids.tolist().index(587742577516544106)      # gz2_labels_1k.csv line 65
    assert cat.labels[row, schema.QUESTION_SLICES[11]].sum() == 0
    assert cat.labels[row, schema.column_index("Class4.1")] == pytest.approx(0.01732, abs=1e-5)
    _raises(r"gz2_labels_1k\.csv: flavour 'fraction' needs .* 35 are missing", open_catalog,
            gz2_1k, flavour="fraction")


@pytest.mark.realdata
def test_real_gz2_1k_skip(gz2_1k, tmp_path):
    # The debiased fractions break the tree by up to 1.0 (10 rows beyond 0.025), and one row has
    # a NaN in a question that was reached.
    with pytest.warns(CatalogWarning, match=r"kept 992, skipped 11 \(bad value: 1, tree break: "
                                            r"10; first: gz2_labels_1k\.csv line 476 "):
        cat = open_catalog(gz2_1k, flavour="debiased", on_error="skip",
                           report=tmp_path / "r.csv")
    assert len(cat) == 992 and cat.ids.dtype == np.int64
    assert len(pd.read_csv(tmp_path / "r.csv")) == 11
    assert sum(r.startswith("tree break: ") for _, r in cat.skipped) == 10
    assert check_labels(cat.labels, atol=GZ2_TREE_ATOL)
    # The three full-format gz2_hart16 rows came through the filename mapping, with ra/dec.
    hart = cat.table[cat.table["ra"].notna()]
    assert sorted(hart["asset_id"]) == [16126, 91609, 106587]
    assert set(hart["gz2_class"]) == {"Sc+t", "Sb?m(m)", "Ser"}
    labels = pd.read_csv(gz2_1k / "gz2_labels_1k.csv", dtype={"dr7objid": str})
    row = labels.iloc[0]
    i = cat.ids.tolist().index(int(row["dr7objid"]))
    assert cat.paths[i].name == f"{row['asset_id']}.jpg"
    assert cat.table["gz2_class"].iloc[i] == row["gz2_class"]


# ---------------------------------------------------------------------------
# Partial labels: whole questions only, unknown as NaN
# ---------------------------------------------------------------------------

PARTIAL_QUESTIONS = (1, 2, 6, 7, 8)   # as in gz-kaggle-partial-3k


def _partial_columns():
    return [c for q in schema.QUESTIONS if q.number in PARTIAL_QUESTIONS for c in q.columns]


def _partial_kaggle(root, jpeg, edit=None, name="training_solutions_partial.csv"):
    root, labels = make_kaggle(root, jpeg)
    csv = root / "training_solutions_rev1.csv"
    frame = pd.read_csv(csv)[[schema.ID_COLUMN, *_partial_columns()]]
    frame = edit(frame) if edit is not None else frame
    csv.unlink()
    frame.to_csv(root / name, index=False)
    return root, labels


def test_kaggle_subset_of_whole_questions_reads_as_nan(tmp_path, jpeg424):
    root, labels = _partial_kaggle(tmp_path / "k", jpeg424)
    cat = read_kaggle(root)
    known = np.array([schema.question_of(c).number in PARTIAL_QUESTIONS
                      for c in schema.KAGGLE_COLUMNS])
    assert np.isnan(cat.labels[:, ~known]).all()
    np.testing.assert_allclose(cat.labels[:, known], labels[:, known], atol=1e-6)
    assert cat.table.columns.tolist()[1:38] == list(schema.KAGGLE_COLUMNS)


def test_question_unknown_for_one_row_is_accepted(tmp_path, jpeg424):
    def blank_q7(frame):
        frame.loc[2, ["Class7.1", "Class7.2", "Class7.3"]] = np.nan
        return frame

    cat = read_kaggle(_partial_kaggle(tmp_path / "k", jpeg424, blank_q7)[0])
    q7 = schema.QUESTION_SLICES[7]
    assert np.isnan(cat.labels[2, q7]).all() and np.isfinite(cat.labels[1, q7]).all()


def test_partly_present_question_is_named_by_row_and_column(tmp_path, jpeg424):
    def half_q2(frame):
        frame.loc[1, "Class2.1"] = np.nan
        return frame

    root, _ = _partial_kaggle(tmp_path / "k", jpeg424, half_q2)
    _raises(r"training_solutions_partial\.csv line 3 \(GalaxyID 100023\): Class2\.1 is NaN "
            r"or empty[\s\S]*a question is all numbers, or all empty", read_kaggle, root)
    cat = read_kaggle(root, on_error="skip")
    assert 100023 not in cat.ids.tolist() and len(cat) == len(KAGGLE_IDS) - 1


def test_partly_present_question_in_the_header_is_named(tmp_path, jpeg424):
    root, _ = _partial_kaggle(tmp_path / "k", jpeg424, lambda f: f.drop(columns=["Class8.6"]))
    _raises(r"Q8 is only partly present: .* lacks Class8\.6", read_kaggle, root)


def test_row_with_no_known_question_is_an_error(tmp_path, jpeg424):
    def blank(frame):
        frame.loc[0, _partial_columns()] = np.nan
        return frame

    root, _ = _partial_kaggle(tmp_path / "k", jpeg424, blank)
    _raises(r"line 2 \(GalaxyID 100008\): no question is labelled", read_kaggle, root)


def test_bad_arguments_of_the_readers_are_galmorph_errors(tmp_path):
    from galmorph.data.cache import prepare
    from galmorph.data.catalogs import open_catalog
    from galmorph.errors import GalmorphError

    for call in (lambda: prepare(tmp_path, on_error="ignore"),
                 lambda: open_catalog(tmp_path, layout="nope")):
        with pytest.raises(ValueError) as info:
            call()
        assert isinstance(info.value, GalmorphError), type(info.value)
