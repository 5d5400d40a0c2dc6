"""Fuzz validate and stats (tests/validate_fuzz.py) in a child process under a 2 GB address-space
limit and a time limit: no traceback, no crash, bounded memory, streamed == loaded (issue 15)."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MEMORY_LIMIT = 2 << 30
EXAMPLES = 1000  # about 20-40 s on 2 shared cores


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def test_fuzzed_files_never_crash_raise_or_outgrow_memory():
    res = subprocess.run([sys.executable, str(REPO / "tests" / "validate_fuzz.py"), "--examples", str(EXAMPLES)],
                         cwd=REPO, capture_output=True, text=True, timeout=300, preexec_fn=_limit)
    assert res.returncode == 0 and "fuzz: ok" in res.stdout, (res.returncode, res.stdout[-3000:], res.stderr[-6000:])
