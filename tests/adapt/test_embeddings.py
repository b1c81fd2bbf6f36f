"""Embedding files: every format round-trips; bad files are named."""
import numpy as np
import pytest
from astropy.table import Table

from galmorph.adapt import read_embeddings, write_embeddings
from galmorph.adapt.embeddings import embedding_matrix, ids_path
from galmorph.errors import DataError, MissingColumnError


def _table():
    emb = np.random.default_rng(0).normal(size=(4, 6)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    emb[3] = np.nan
    t = Table({"path": ["a.jpg", "b.jpg", "c.jpg", "d.jpg"], "embedding": emb,
               "feature_norm": np.float32([3, 4, 5, np.nan]),
               "predict_ok": [True, True, True, False],
               "predict_error": ["", "", "", "row 3: image d.jpg does not exist"]})
    t.meta.update({"model_path": "m.pt", "tta": None, "precision": "int8",
                   "preprocessing": {"crop": 224, "size": 80}})
    return t


@pytest.mark.parametrize("ending", [".parquet", ".ecsv", ".fits", ".npy"])
def test_every_format_round_trips(tmp_path, ending):
    t = _table()
    path = write_embeddings(t, tmp_path / f"emb{ending}")
    back = read_embeddings(path)
    np.testing.assert_array_equal(back["embedding"], t["embedding"])
    assert back["embedding"].dtype == np.float32 and list(back["path"]) == list(t["path"])
    assert back.meta["preprocessing"] == {"crop": 224, "size": 80}
    assert (ending == ".npy") == ids_path(path).is_file()
    X, rows = embedding_matrix(back)
    assert list(rows) == [0, 1, 2] and X.shape == (3, 6)


def test_a_folder_of_parquet_parts_reads_as_one_table(tmp_path):
    import pandas as pd

    t = _table()
    for i in (0, 1):  # as the Dask path writes them: embedding as lists
        part = t[2 * i:2 * i + 2]
        pd.DataFrame({"path": list(part["path"]), "embedding": list(part["embedding"])}
                     ).to_parquet(tmp_path / f"part.{i}.parquet")
    back = read_embeddings(tmp_path)
    assert back["embedding"].shape == (4, 6)
    np.testing.assert_array_equal(back["embedding"], t["embedding"])


def test_bad_files_are_named(tmp_path):
    Table({"path": ["a.jpg"]}).write(tmp_path / "no_emb.ecsv")
    with pytest.raises(MissingColumnError, match=r"no_emb.ecsv has no 'embedding' column "
                                                 r"\(columns: path\)"):
        read_embeddings(tmp_path / "no_emb.ecsv")
    with pytest.raises(DataError, match=r"missing.parquet does not exist"):
        read_embeddings(tmp_path / "missing.parquet")
    with pytest.raises(DataError, match=r"use a name ending in .parquet, .ecsv, .fits"):
        write_embeddings(_table(), tmp_path / "emb.txt")
    np.save(tmp_path / "lonely.npy", np.zeros((2, 3), np.float32))
    with pytest.raises(DataError, match=r"lonely.npy has no lonely.ids.ecsv beside it"):
        read_embeddings(tmp_path / "lonely.npy")
    Table({"embedding": ["x", "y"]}).write(tmp_path / "text.ecsv")
    with pytest.raises(DataError, match=r"column 'embedding' holds <U1 of shape \(2,\)"):
        read_embeddings(tmp_path / "text.ecsv")
