"""The random generators of a run: one per (seed, frame, randomizer), independent of every other.

:func:`frame_rng` ``(seed, i, name)`` is a ``random.Random`` seeded from a SHA-256 hash
of the three, so any frame can be rendered alone, sharding never changes a frame, and
adding a randomizer does not change what the others draw.
"""

from __future__ import annotations

import hashlib
import random


def frame_rng(seed: int, index: int, name: str) -> random.Random:
    """The random generator of randomizer ``name`` for frame ``index`` of a run with ``seed``."""
    digest = hashlib.sha256(f"blender-coco/{int(seed)}/{int(index)}/{name}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))
