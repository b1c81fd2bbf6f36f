"""``galmorph report`` pages opened in a real headless Chromium.

Each test writes a report with the command line, takes a screenshot of it
(``report.png`` in the test's tmp_path) and reads back, from the DOM after the
page has loaded: the headings, whether every ``<img>`` decoded
(``naturalWidth > 0``) and the numbers of the tables. For the run report those
numbers must equal ``galmorph evaluate --json`` of the same run, run as a
subprocess. The checks are read by a small script injected into a *copy* of
the report (the report itself has no script) that writes them as JSON into a
``<pre id="checks">``, printed by ``chromium --dump-dom``.

Chromium is Debian's ``chromium`` package (``.ci/run`` installs it where it is
missing); where it is absent and cannot be installed the tests skip, saying so.
"""
import html
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from galmorph import schema

RUN_HEADINGS = ["Configuration and data", "Learning curves", "Evaluation",
                "Predicted against true", "Prototypes", "First-layer kernels",
                "The GZ2 decision tree", "Files"]
CATALOG_HEADINGS = ["The catalogue", "Vote fractions", "The GZ2 decision tree", "Mergers",
                    "Redshift trends", "Prototypes"]

_CHECKS = """<pre id="checks"></pre><script>
window.addEventListener("load", () => {
  const text = (e) => e.textContent.trim();
  const checks = {
    h1: [...document.querySelectorAll("h1")].map(text),
    h2: [...document.querySelectorAll("h2")].map(text),
    images: [...document.images].map((i) => ({alt: i.alt, complete: i.complete,
                                              naturalWidth: i.naturalWidth,
                                              naturalHeight: i.naturalHeight})),
    keys: Object.fromEntries([...document.querySelectorAll("[data-key]")]
                             .map((e) => [e.dataset.key, text(e)])),
    paragraphs: [...document.querySelectorAll("section p")].map(text),
  };
  document.getElementById("checks").textContent = JSON.stringify(checks);
});
</script>
"""


def _install_chromium():
    """Debian's chromium, as .ci/run installs it; None where no package manager can."""
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        return None
    for command in (["apt-get", "install", "-y", "--no-install-recommends", "chromium"],
                    ["apt-get", "update"],
                    ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]):
        try:
            proc = subprocess.run(command, capture_output=True, timeout=900,
                                  env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        except (OSError, subprocess.TimeoutExpired):
            return None
        if proc.returncode == 0 and command[1] == "install":
            break
    return shutil.which("chromium")


@pytest.fixture(scope="session")
def chromium():
    found = shutil.which("chromium") or shutil.which("chromium-browser") or _install_chromium()
    if found is None:
        pytest.skip("no chromium: it is not installed and apt-get cannot install it here "
                    "(not root, no apt-get, or no package index reachable); .ci/run installs "
                    "Debian's chromium")
    return found


def _browser(chromium, tmp_path, *args):
    profile = tmp_path / "chromium-profile"
    command = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               "--no-first-run", f"--user-data-dir={profile}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


def _open(chromium, report, tmp_path):
    """Screenshot ``report`` to tmp_path/report.png and return the checks read from its DOM."""
    shot = tmp_path / "report.png"
    proc = _browser(chromium, tmp_path, f"--screenshot={shot}", "--window-size=1200,3000",
                    report.as_uri())
    assert shot.is_file(), proc.stderr[-2000:]
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert (int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")) == (1200, 3000)
    probe = tmp_path / "probe.html"
    page = report.read_text()
    assert "<script" not in page  # the report itself runs nothing
    probe.write_text(page.replace("</body>", _CHECKS + "</body>"))
    proc = _browser(chromium, tmp_path, "--virtual-time-budget=15000", "--dump-dom",
                    probe.as_uri())
    match = re.search(r'<pre id="checks">(.*?)</pre>', proc.stdout, flags=re.S)
    assert match and match.group(1), (proc.stdout[-1000:], proc.stderr[-2000:])
    return json.loads(html.unescape(match.group(1)))


def _check_images(checks, n):
    assert len(checks["images"]) == n
    for image in checks["images"]:
        assert image["complete"] and image["naturalWidth"] > 0 and image["naturalHeight"] > 0, \
            image
        assert image["alt"]


def _galmorph(*args, env):
    proc = subprocess.run([sys.executable, "-m", "galmorph", *map(str, args)],
                          capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


@pytest.fixture
def env(tmp_path):
    return {**os.environ, "GALMORPH_CACHE_DIR": str(tmp_path / "user-cache")}


def test_run_report_in_chromium(chromium, tmp_path, env):
    from galmorph.data.cache import prepare
    from galmorph.synth import make_synthetic

    data = make_synthetic(tmp_path / "synth", n=80, seed=4, workers=1, progress=False)
    prepare(data, cache_dir=tmp_path / "cache", workers=1, progress=False)
    run = tmp_path / "run"
    _galmorph("train", data, "--model", "cnn", "--out", run, "--cache", tmp_path / "cache",
              "--epochs", "2", "--batches-per-epoch", "2", "--batch-size", "8",
              "--val-fraction", "0.25", "--precision", "fp32", env=env)
    report = tmp_path / "report.html"
    assert _galmorph("report", run, "--out", report, "--device", "cpu",
                     env=env).strip() == str(report)
    expected = json.loads(_galmorph("evaluate", run / "best.pt", "--json", "--device", "cpu",
                                    env=env))
    checks = _open(chromium, report, tmp_path)
    assert checks["h1"] == ["galmorph run report: run"] and checks["h2"] == RUN_HEADINGS
    _check_images(checks, 6)
    keys = checks["keys"]
    assert {f"per_answer/{c}" for c in schema.KAGGLE_COLUMNS} <= set(keys)
    assert {"rmse", "rmse_ci95/0", "rmse_ci95/1", "n_galaxies", "baselines/mean",
            "baselines/central_pixel", "baselines/zeros"} <= set(keys)
    for key, shown in keys.items():
        value = expected
        for part in key.split("/"):
            value = value[int(part)] if isinstance(value, list) else value[part]
        assert shown == (str(value) if isinstance(value, int) else f"{value:.4f}"), key
    assert expected["n_galaxies"] == 20 and keys["n_galaxies"] == "20"


def test_catalog_report_in_chromium(chromium, tmp_path, env):
    from astropy.table import Table

    from galmorph.astro.mergers import merger_fraction
    from galmorph.data.examples import EXAMPLES_DIR
    from galmorph.paths import shipped_model_path

    catalog = tmp_path / "predicted.ecsv"
    _galmorph("predict", shipped_model_path(), *sorted(EXAMPLES_DIR.glob("*.jpg")), "--out",
              catalog, env=env)
    assert _galmorph("report", catalog, env=env).strip() == str(tmp_path /
                                                                "predicted-report.html")
    checks = _open(chromium, tmp_path / "predicted-report.html", tmp_path)
    assert checks["h1"] == ["galmorph catalogue report: predicted.ecsv"]
    assert checks["h2"] == CATALOG_HEADINGS
    _check_images(checks, 5)    # histograms, correlation, tree, merger scan, prototypes
    table = Table.read(catalog)
    found = merger_fraction(table, 0.54, method="rule")
    merger = [p for p in checks["paragraphs"] if "have p_merger" in p][0]
    assert merger.startswith(f"{found.n_merger} of 24 galaxies have p_merger (Class8.6) >= "
                             f"0.54: merger fraction {found.fraction:.4f}")
    assert any("No redshift trends" in p for p in checks["paragraphs"])
    values = np.column_stack([table[c] for c in schema.KAGGLE_COLUMNS])
    assert np.isfinite(values).all() and len(table) == 24
