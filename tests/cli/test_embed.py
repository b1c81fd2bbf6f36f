"""galmorph embed, similar and anomalies as a user runs them: real subprocesses, real galaxies."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.realdata


def _galmorph(*args, cwd):
    return subprocess.run([sys.executable, "-m", "galmorph", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def folder(gz2_1k, tmp_path_factory):
    """Six real galaxies, one turned and mirrored copy, and a blank frame."""
    from PIL import Image

    out = tmp_path_factory.mktemp("images")
    sources = sorted((gz2_1k / "images").glob("*.jpg"))[:6]
    for p in sources:
        (out / p.name).write_bytes(p.read_bytes())
    image = np.asarray(Image.open(sources[0]).convert("RGB"))
    Image.fromarray(np.ascontiguousarray(np.fliplr(np.rot90(image)))).save(out / "turned.png")
    Image.fromarray(np.zeros((424, 424, 3), np.uint8)).save(out / "blank.png")
    return out, sources[0].stem


def test_embed_similar_anomalies_end_to_end(folder, tmp_path):
    from galmorph.adapt import read_embeddings

    images, first = folder
    run = _galmorph("embed", images, "--out", "emb.parquet", "--precision", "int8",
                    "--no-progress", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "wrote 8 embeddings (D = 1536) to emb.parquet" in run.stderr
    emb = read_embeddings(tmp_path / "emb.parquet")
    assert emb["embedding"].shape == (8, 1536) and emb["predict_ok"].all()

    run = _galmorph("similar", "turned", "--embeddings", "emb.parquet", "-k", "3", "--out",
                    "sim", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    from astropy.table import Table

    sim = Table.read(tmp_path / "sim" / "similar.ecsv")
    assert Path(sim["path"][0]).stem == first and len(sim) == 3
    assert (tmp_path / "sim" / "similar.png").stat().st_size > 5000

    run = _galmorph("anomalies", "--embeddings", "emb.parquet", "--top", "4", "--out", "odd",
                    cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    ranked = Table.read(tmp_path / "odd" / "anomalies.ecsv")
    assert Path(ranked["path"][0]).name == "blank.png" and len(ranked) == 8
    assert (tmp_path / "odd" / "anomalies.png").is_file()

    # Mistakes get one line naming the ID, the flag or the file.
    run = _galmorph("similar", "no-such-id", "--embeddings", "emb.parquet", "--out", "x",
                    cwd=tmp_path)
    assert run.returncode == 1 and "ID 'no-such-id' is not in embeddings" in run.stderr


def test_bad_output_and_missing_embeddings_fail_before_work(tmp_path):
    run = _galmorph("embed", tmp_path, "--out", "emb.txt", cwd=tmp_path)
    assert run.returncode == 1 and "use a name ending in .parquet" in run.stderr
    run = _galmorph("anomalies", "--embeddings", "none.parquet", "--out", "x", cwd=tmp_path)
    assert run.returncode == 1 and "embeddings file none.parquet does not exist" in run.stderr


def test_help_says_what_each_does():
    for command, words in (("embed", "embedding"), ("similar", "cosine distance"),
                           ("anomalies", "unusual")):
        run = subprocess.run([sys.executable, "-m", "galmorph", command, "--help"],
                             capture_output=True, text=True, timeout=60)
        assert run.returncode == 0 and words in run.stdout, run.stdout
