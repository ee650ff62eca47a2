"""Shared fixtures: the SVC2004 folder (skipped cleanly when absent) and simple pen streams."""
from __future__ import annotations

import os
import socket
from pathlib import Path

import numpy as np
import pytest

from edgesig.pen import PenStream

SVC_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "svc2004_task2"


@pytest.fixture(autouse=True, scope="session")
def _no_user_models(tmp_path_factory):
    """Tests see the packaged models only: a developer's ~/.edgesig/models (written by
    `edgesig tune`) would otherwise replace entries under them. Subprocesses inherit it."""
    from edgesig.runtime import USER_MODELS_ENV
    saved = os.environ.get(USER_MODELS_ENV)
    os.environ[USER_MODELS_ENV] = str(tmp_path_factory.mktemp("user-models"))
    yield
    if saved is None:
        os.environ.pop(USER_MODELS_ENV)
    else:
        os.environ[USER_MODELS_ENV] = saved


@pytest.fixture(scope="session")
def svc_dir() -> Path:
    if not (SVC_DIR / "U1S1.TXT").exists():
        pytest.skip(f"SVC2004 data not found at {SVC_DIR} (../shared/data beside the repo)")
    return SVC_DIR


@pytest.fixture
def one_thread():
    """Torch on one thread for the test (skipped without torch): a killed training run and
    its resumption must run on the same threads to match bit for bit (float sums over two
    threads round differently: bit equality failed in CI, 2 cores), and training tests
    share the machine's cores."""
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (for a server a test starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wavy_pen(seed: int = 0, n: int = 200, noise: float = 0.02, speed: float = 1.0) -> PenStream:
    """A smooth loopy stroke with a little noise: stands in for a signature in unit tests."""
    rng = np.random.default_rng(seed)
    s = np.linspace(0, 4 * np.pi, n)
    s = s + 0.25 * np.sin(s / 2 + rng.uniform(0, 2 * np.pi))  # each signature is drawn a bit differently
    sx, sy = rng.uniform(0.9, 1.1, 2)
    x = 1000 * sx * (s + 0.6 * np.sin(2 * s)) + rng.normal(0, noise * 1000, n)
    y = 1000 * sy * (np.cos(3 * s) + 0.3 * np.sin(s)) + rng.normal(0, noise * 1000, n)
    t = np.cumsum(rng.uniform(9.0, 11.0, n)) / speed
    p = np.clip(0.5 + 0.3 * np.sin(s) + rng.normal(0, 0.02, n), 0.05, 1.0)
    return PenStream.from_arrays(x, y, t, p)


@pytest.fixture
def pens() -> list[PenStream]:
    return [wavy_pen(seed) for seed in range(6)]
