"""Shared builders for the merger tests: vote tables and a population with projections."""
import numpy as np
import pytest
from astropy.table import Table


def _table(p, sep=None):
    t = Table({"objid": np.arange(len(p)), "Class8.6": np.asarray(p, float)})
    if sep is not None:
        t["sep_r90"] = sep
    return t


def _biased_population(seed=0, n=3000):
    """Isolated galaxies, chance projections and blended true mergers.

    Chance projections have a separate neighbour within 1.5 petroR90 and a
    moderately raised merger vote; true mergers are mostly blended into one
    source (no separate neighbour) with a high vote.
    """
    rng = np.random.default_rng(seed)
    kind = rng.choice(3, size=n, p=[0.75, 0.17, 0.08])
    p = np.select([kind == 0, kind == 1], [rng.uniform(0.0, 0.25, n), rng.uniform(0.25, 0.6, n)],
                  rng.uniform(0.62, 0.95, n))
    sep = np.select([kind == 0, kind == 1], [rng.uniform(1.5, 4.2, n), rng.uniform(0.3, 1.4, n)],
                    np.inf)
    sep[(kind == 0) & (rng.random(n) < 0.3)] = np.inf  # many isolated ones: no neighbour at all
    return _table(p, sep), kind



@pytest.fixture
def merger_table():
    """``merger_table(p, sep=None)``: a table of Class8.6 votes, with sep_r90 when given."""
    return _table


@pytest.fixture
def biased_population():
    """``biased_population(seed=0, n=3000)``: (table, kind) with chance projections."""
    return _biased_population
