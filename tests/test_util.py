"""The private shared helpers in galmorph/_util."""
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
from astropy.table import Table

from galmorph._util._jsonable import jsonable
from galmorph._util._tables import find_column
from galmorph._util._text import count
from galmorph._util._workers import default_workers, usable_cores


def test_jsonable_makes_plain_data():
    out = jsonable({"a": np.arange(3), 1: (np.float32(0.5), np.nan), "p": Path("x/y"),
                    "b": np.bool_(False), "n": None})
    assert out == {"a": [0, 1, 2], "1": [0.5, None], "p": "x/y", "b": False, "n": None}
    assert type(out["a"][0]) is int


def test_find_column_is_case_insensitive_and_ordered():
    t = Table({"RA": [1.0], "Z": [0.1], "redshift": [0.2]})
    assert find_column(t, ("ra", "alpha")) == "RA"
    assert find_column(t, ("z", "redshift")) == "Z"
    assert find_column(t, ("petroR90_r",)) is None


def test_count_and_workers():
    assert count(1, "row") == "1 row" and count(3, "galaxy", "galaxies") == "3 galaxies"
    assert default_workers(10, min_tasks=256) == 0
    assert default_workers(1) == 1
    assert default_workers(10_000) == usable_cores()
    assert default_workers(10_000, cap=1) == 1


def test_the_one_worker_rule_keeps_a_core_where_asked(monkeypatch):
    from galmorph._util import _workers
    from galmorph.inference.files import decode_workers

    for cores, want in ((1, 1), (2, 1), (4, 3), (16, 8)):
        monkeypatch.setattr(_workers, "usable_cores", lambda: cores)
        assert default_workers(10_000, reserve=1, cap=8) == want
        assert decode_workers(10_000) == want and decode_workers(255) == 0


def test_caller_stacklevel_names_the_first_frame_outside_galmorph():
    import sys
    import warnings

    from PIL import Image

    from galmorph.astro._classify_inputs import parse_input

    grey = Image.new("L", (8, 8))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # parse_input -> its row generator -> _item_row -> as_rgb -> the warning, 5 frames deep
        rows = list(parse_input([grey]).rows)
        line = sys._getframe().f_lineno - 1
    assert rows[0].kind == "image"
    assert [(w.filename, w.lineno) for w in caught] == [(__file__, line)]


_WAIT_SCRIPT = """
import signal, sys, threading, time
from galmorph._util._workers import imap_results, worker_pool

def hold(path):
    with open(path) as fh:          # a FIFO: blocks until the test lets it go
        return fh.read()

if __name__ == "__main__":
    # A thread that may take SIGINT, then a main thread that may not: the kernel must hand
    # the signal to the other thread, as it sometimes does on its own.
    threading.Thread(target=time.sleep, args=(600,), daemon=True).start()
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    pool = worker_pool(1)
    try:
        for _ in imap_results(pool.imap_unordered(hold, [sys.argv[1]])):
            pass
    except KeyboardInterrupt:
        pool.terminate()
        print("interrupted", flush=True)
        sys.exit(130)
"""


def test_waiting_for_workers_acts_on_a_ctrl_c_that_another_thread_received(tmp_path):
    """The hang of ``galmorph prepare`` under load: SIGINT delivered to a thread other than
    the main one, which then slept for good in a wait without a time-out."""
    from blocking_input import blocking_file, hold_reader, sigint_default

    script = tmp_path / "wait.py"
    script.write_text(_WAIT_SCRIPT)
    held = blocking_file(tmp_path / "held")
    proc = subprocess.Popen([sys.executable, str(script), str(held)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=sigint_default)
    with hold_reader(held, proc):
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        finally:
            proc.kill()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and out.strip() == "interrupted", out + err
