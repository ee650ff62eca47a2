"""`edgesig serve --store` stopped as a service manager stops it (SIGTERM) closes the store."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import free_port

pytest.importorskip("uvicorn", reason="the serve extra is not installed (pip install 'edgesig[serve]')")
pytestmark = pytest.mark.skipif(os.name != "posix", reason="SIGTERM is a POSIX signal")

ROOT = Path(__file__).resolve().parents[2]


def _wait_until_up(url: str, proc: subprocess.Popen, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode()
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"edgesig serve did not answer {url} within {timeout_s:.0f} s")


def test_sigterm_closes_the_store(tmp_path):
    """uvicorn re-raises SIGTERM after its graceful shutdown, which killed the process
    before `edgesig serve` closed the store: the -wal file stayed beside it holding the
    last commits, so a copy of the store and its counter file (as the README says to
    keep them) opened as a store with committed writes missing."""
    store, port = tmp_path / "t.db", free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "edgesig.cli", "serve", "--store", str(store), "--create",
                             "--port", str(port)], env=env, cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_until_up(f"http://127.0.0.1:{port}/pen", proc)
        assert Path(f"{store}-wal").exists()             # open: SQLite's write-ahead log is in use
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not Path(f"{store}-wal").exists()             # closed: every commit folded into t.db
