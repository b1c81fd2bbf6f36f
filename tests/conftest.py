"""Shared fixtures: paths to the real data in ../shared/data, skipped where absent; how
the suite spreads over the cores."""
import os
from pathlib import Path

import pytest

# The local stand-in for the SDSS services (tests/sdss_server.py), as a fixture for every test.
from sdss_server import fake_sdss  # noqa: F401,E402

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
KAGGLE_5K = SHARED_DATA / "gz-kaggle-5k"
GZ2_1K = SHARED_DATA / "gz2-1k"
PARTIAL_3K = SHARED_DATA / "gz-kaggle-partial-3k"
UNLABELLED_22K = SHARED_DATA / "gz-kaggle-unlabelled-22k"


def pytest_xdist_auto_num_workers(config):
    """``-n auto`` (pyproject.toml): one worker per core, at most 4 (each holds a model or two
    and spawns subprocesses and clusters of its own)."""
    return max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                      else os.cpu_count() or 1))


def pytest_configure(config):
    """In a worker of ``pytest -n N`` torch runs on one intra-op thread, and so do the
    subprocesses it starts (``OMP_NUM_THREADS``): N workers with two OpenMP threads each
    spin against each other on a 2-core machine, and a resnet18 step runs ~10x slower."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ["OMP_NUM_THREADS"] = "1"
        os.environ["MKL_NUM_THREADS"] = "1"
        import torch

        torch.set_num_threads(1)


def _require(path):
    if not path.is_dir():
        pytest.skip(f"real Galaxy Zoo data not found at {path} (it lives in ../shared/data "
                    f"next to the repository; see ../shared/data/README.md)")
    return path


@pytest.fixture(scope="session")
def kaggle_5k():
    """The 5,000-galaxy Kaggle-layout folder, or skip."""
    return _require(KAGGLE_5K)


@pytest.fixture(scope="session")
def gz2_1k():
    """The 1,000-galaxy GZ2 (Hart16) folder, or skip."""
    return _require(GZ2_1K)


@pytest.fixture(scope="session")
def partial_3k():
    """The 3,000 unselected Kaggle galaxies labelled for Q1, Q2, Q6, Q7, Q8 only, or skip."""
    return _require(PARTIAL_3K)


@pytest.fixture(scope="session")
def unlabelled_22k():
    """The 22,639 unlabelled real-population Kaggle galaxies (232 px crops), or skip."""
    return _require(UNLABELLED_22K)


@pytest.fixture
def one_thread():
    """torch on one intra-op thread for the test, restored after.

    On a loaded 2-core machine two OpenMP threads spin against each other and a
    resnet18 step runs about 10x slower.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def calibrated_model():
    """The shipped model's path, once it carries its trust calibration (``meta["trust"]``:
    intervals, merger_prob, the OOD flag; issue 26), or skip."""
    from galmorph.models.checkpoint import load_checkpoint
    from galmorph.paths import shipped_model_path

    path = shipped_model_path()
    if "trust" not in load_checkpoint(path).meta:
        pytest.skip(f"the shipped model {path.name} has no trust calibration yet (issue 26: "
                    f"tools/ship_model.py is refitting it)")
    return path
