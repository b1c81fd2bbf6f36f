import os

import pytest

from galmorph._atomic import atomic_open, write_text_atomic


def test_write_replaces_whole_file_with_usual_permissions(tmp_path):
    target = tmp_path / "sub" / "config.json"
    write_text_atomic(target, "first")
    write_text_atomic(target, "second")
    assert target.read_text() == "second"
    assert oct(target.stat().st_mode & 0o777) == oct(0o666 & ~_umask())
    assert os.listdir(target.parent) == ["config.json"]  # no temporary files left


def test_failure_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "last.pt"
    target.write_bytes(b"old checkpoint")
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_open(target, "wb") as fh:
            fh.write(b"half a new chec")
            raise RuntimeError("disk full")
    assert target.read_bytes() == b"old checkpoint"
    assert os.listdir(tmp_path) == ["last.pt"]


def _umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
