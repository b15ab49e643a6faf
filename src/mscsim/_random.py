"""The one way mscsim makes a random generator: every draw flows from the user's seed through
``numpy.random.SeedSequence``, keyed by what it is for, so that results do not depend on worker
count, chunk size or the order in which work is done."""

from __future__ import annotations

import numpy as np


def seeded_generator(seed: int, *key: int) -> np.random.Generator:
    """The generator of ``SeedSequence(seed, spawn_key=key)``."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))
