"""Inputs for a gradient check, chosen away from kinks: finite differences are meaningless within 2h of
one (ReLU and |h| at 0, max-pool ties), so an input is drawn where none is near."""

from __future__ import annotations

import numpy as np


def away_from_zero(rng, shape, margin=0.1):
    """Normal values pushed at least ``margin`` away from 0 (no ReLU / |x| kink within reach)."""
    u = rng.normal(size=shape)
    return np.sign(u) * (margin + np.abs(u))


def distinct_values(rng, shape, spacing=1e-2):
    """A random permutation of evenly spaced values: no two entries tie (max-pool is smooth there)."""
    n = int(np.prod(shape))
    return (rng.permutation(n) * spacing - n * spacing / 2).reshape(shape)


def probabilities(rng, shape, low=0.05, high=0.95):
    return rng.uniform(low, high, size=shape)
