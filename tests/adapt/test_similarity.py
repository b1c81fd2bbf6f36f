"""find_similar on real galaxies: a turned, mirrored copy finds its original first."""
from pathlib import Path

import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.table import Table

from galmorph.adapt import find_similar
from galmorph.errors import DataError, MissingColumnError, ParameterError

pytestmark = pytest.mark.realdata


def test_rotated_flipped_copy_finds_its_original_first(galaxy_embeddings, twin_images):
    originals, copies, _ = twin_images
    for original, copy in zip(originals, copies):
        result = find_similar(galaxy_embeddings, copy.stem, k=3)      # the copy's row, by ID
        assert Path(result["path"][0]).name == original.name, result["path", "distance"]
        assert result["rank"][0] == 1 and result.meta["query_row"] is not None
        assert np.all(np.diff(result["distance"]) >= 0)
        assert copy.name not in {Path(p).name for p in result["path"]}  # the query left out


def test_image_query_is_embedded_like_the_table(galaxy_embeddings, twin_images):
    originals, copies, _ = twin_images
    result = find_similar(galaxy_embeddings, Path(copies[0]), k=2)
    # The same file, embedded again the same way, is the table's own row.
    assert Path(result["path"][0]).name == copies[0].name
    assert result["distance"][0] < 1e-4
    assert Path(result["path"][1]).name == originals[0].name
    assert result.meta["query"].startswith("image ")


def test_position_query_matches_ra_dec():
    t = Table({"ra": [10.0, 10.01, 50.0], "dec": [0.0, 0.0, 0.0],
               "embedding": np.eye(3, dtype=np.float32) + [[0, 0.1, 0], [0, 0, 0], [0, 0, 0]]})
    out = find_similar(t, SkyCoord(10.0001, 0.0, unit="deg"), k=1)
    assert out.meta["query_row"] == 0 and out["ra"][0] == 10.01
    with pytest.raises(DataError, match=r"no galaxy of the embeddings within 2 arcsec.*away, row 1"):
        find_similar(t, SkyCoord(20.0, 0.0, unit="deg"), k=1)


def test_bad_queries_name_what_is_wrong(galaxy_embeddings, twin_images):
    with pytest.raises(DataError, match=r"ID 'no-such-galaxy' is not in the embeddings "
                                        r"\(columns searched: 'path' \(file names\)\)"):
        find_similar(galaxy_embeddings, "no-such-galaxy")
    with pytest.raises(ParameterError, match=r"k=30 but the embeddings hold only 20 other"):
        find_similar(galaxy_embeddings, twin_images[0][0].stem, k=30)
    with pytest.raises(ParameterError, match="k must be a whole number"):
        find_similar(galaxy_embeddings, twin_images[0][0].stem, k=0)
    with pytest.raises(MissingColumnError, match="has no 'embedding' column.*galmorph embed"):
        find_similar(Table({"path": ["a.jpg"]}), "a")
    with pytest.raises(DataError, match=r"has no column 'objid'"):
        find_similar(galaxy_embeddings, "1", id_column="objid")


def test_failed_rows_are_left_out():
    emb = np.array([[1, 0], [0.9, 0.1], [np.nan, np.nan]], np.float32)
    t = Table({"id": [1, 2, 3], "embedding": emb, "predict_ok": [True, True, False],
               "predict_error": ["", "", "row 2: image x.jpg does not exist"]})
    assert list(find_similar(t, 1, k=1)["id"]) == [2]
    with pytest.raises(DataError, match=r"row 2 of the embeddings \(3\) has no usable "
                                        r"embedding: row 2: image x.jpg does not exist"):
        find_similar(t, 3, k=1)
