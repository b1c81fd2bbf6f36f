import errno
import os

import pytest

from galmorph._util._atomic import (FAULT_ENV, atomic_open, atomic_path, replace_atomic,
                              write_text_atomic)


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


# -- the test-only fault injection ($GALMORPH_FAULT_INJECT) -----------------------------
def test_injected_fault_fails_the_matching_write_and_keeps_the_old_file(tmp_path, monkeypatch):
    target, other = tmp_path / "out" / "table.csv", tmp_path / "other.csv"
    write_text_atomic(target, "old")
    monkeypatch.setenv(FAULT_ENV, f"ENOSPC:{tmp_path}/out/*")
    with pytest.raises(OSError) as info:
        write_text_atomic(target, "new")
    assert info.value.errno == errno.ENOSPC and FAULT_ENV in str(info.value)
    assert target.read_text() == "old" and os.listdir(target.parent) == ["table.csv"]
    write_text_atomic(other, "fine")  # a path the pattern does not match
    assert other.read_text() == "fine"
    monkeypatch.setenv(FAULT_ENV, "NOSUCHERRNO:*table.csv")  # unknown name: EIO
    with pytest.raises(OSError) as info:
        write_text_atomic(target, "new")
    assert info.value.errno == errno.EIO


def test_atomic_path_renames_on_success_and_cleans_up_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "t.bin"
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.exists()
        tmp.write_bytes(b"whole")
    assert target.read_bytes() == b"whole" and os.listdir(tmp_path) == ["t.bin"]
    monkeypatch.setenv(FAULT_ENV, "EROFS:*")
    with pytest.raises(OSError) as info:
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"new")
    assert info.value.errno == errno.EROFS
    assert target.read_bytes() == b"whole" and os.listdir(tmp_path) == ["t.bin"]


def test_replace_atomic_honours_the_injection(tmp_path, monkeypatch):
    src, dst = tmp_path / "a.partial", tmp_path / "a.csv"
    src.write_text("rows")
    monkeypatch.setenv(FAULT_ENV, "ENOSPC:*.csv")
    with pytest.raises(OSError):
        replace_atomic(src, dst)
    assert src.read_text() == "rows" and not dst.exists()
    monkeypatch.delenv(FAULT_ENV)
    replace_atomic(src, dst)
    assert dst.read_text() == "rows" and not src.exists()
