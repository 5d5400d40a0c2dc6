"""Where the third-party test material lives (../shared/assets) and how tests that need it say so.

``needs_assets(*parts)`` is a skip marker for a missing file or folder under ASSETS,
except under CI (``$CI`` set), where a missing asset is an error at collection: CI
must judge us with other people's data, not quietly skip it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ASSETS = REPO.parent / "shared" / "assets"


def missing(path: Path) -> str:
    return f"third-party test assets not found at {path} (../shared/assets beside the repository)"


def require(path: Path) -> Path:
    """``path`` (under ASSETS) if it exists; else raise under CI, skip elsewhere."""
    if not path.exists():
        if os.environ.get("CI"):
            raise FileNotFoundError(missing(path) + "; CI must run the tests that use them")
        pytest.skip(missing(path))
    return path


def needs_assets(*parts: str):
    """A ``skipif`` marker for tests that read ``ASSETS/parts...``; an error under CI when it is absent."""
    path = ASSETS.joinpath(*parts)
    if not path.exists() and os.environ.get("CI"):
        raise FileNotFoundError(missing(path) + "; CI must run the tests that use them")
    return pytest.mark.skipif(not path.exists(), reason=missing(path))
