"""Fault injection on EncryptedStore: does every fault end in a typed error or an intact store?

Each trial damages a store whose contents are known, opens it again and reads every
record back. The outcome is one of:

* ``typed``: an ``EdgesigError`` (StoreError, TemplateIntegrityError, WrongKeyError...);
* ``intact``: the store opened and every committed record came back unchanged (the fault
  hit free space, or a process died outside a commit);
* ``silent loss``: the store opened without error but a committed record is missing or
  changed. Must be 0 for every fault the store can know about;
* ``untyped``: any other exception. Must be 0.

Faults: random byte flips (1-4) in the database and in a WAL holding a commit;
truncation of each; deletion of the database, of a WAL holding a commit and of the
counter file; ``kill -9`` of a process in the middle of a burst of writes and in the
middle of a key rotation. What no single store can know (the database, WAL and counter
file all rolled back together to an older copy) is out of scope: ``min_counter`` covers it.

    PYTHONPATH=. python benchmarks/store_faults.py [--trials 200] [--kills 10]
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Callable

import numpy as np

from edgesig.errors import EdgesigError
from edgesig.store import EncryptedStore, Template

USERS = [f"user{i}" for i in range(5)]
ROOT = Path(__file__).resolve().parents[1]

_COMMIT_AND_CRASH = """
import os, sys
sys.path.insert(0, sys.argv[3])
from benchmarks.store_faults import template
from edgesig.store import EncryptedStore
store = EncryptedStore(sys.argv[1], bytes.fromhex(sys.argv[2]))
store.put(template("late"))
os._exit(0)  # no close: the commit stays in the WAL, as after a power cut
"""

_BURST = """
import sys
sys.path.insert(0, sys.argv[3])
from benchmarks.store_faults import template
from edgesig.store import EncryptedStore
store = EncryptedStore(sys.argv[1], bytes.fromhex(sys.argv[2]))
for i in range(100000):
    store.put(template(f"burst{i}"))
    print(i, flush=True)
"""

_ROTATE = """
import sys
sys.path.insert(0, sys.argv[3])
from edgesig.store import EncryptedStore
store = EncryptedStore(sys.argv[1], bytes.fromhex(sys.argv[2]))
print("rotating", flush=True)
store.rotate_key(bytes.fromhex(sys.argv[4]))
print("rotated", flush=True)
"""


def template(user: str) -> Template:
    """A recognisable template for ``user`` (its arrays depend on the name only)."""
    rng = np.random.default_rng(sum(user.encode()))
    return Template(user_id=user, engine="dtw", model_version="m1",
                    references=tuple(rng.normal(size=(120, 20)) for _ in range(3)), stats={"d_mean": 1.0})


def _same(a: Template, b: Template) -> bool:
    return a.user_id == b.user_id and all(np.array_equal(x, y) for x, y in zip(a.references, b.references))


def outcome(path: Path, keys: list[bytes], expected: list[str]) -> str:
    """Open the store with the first key that opens it and read back every expected user."""
    error: str | None = None
    for key in keys:
        try:
            with EncryptedStore(path, key) as store:
                for user in expected:
                    if not _same(store.get(user, "dtw"), template(user)):
                        return "silent loss"
                return "intact"
        except EdgesigError as exc:
            if "is not enrolled" in str(exc):
                return "silent loss"
            error = "typed"
        except Exception as exc:  # what this script exists to find
            print(f"  untyped: {type(exc).__name__}: {exc}", file=sys.stderr)
            return "untyped"
    return error or "typed"


def _python(code: str, path: str, key_hex: str, *extra: str) -> subprocess.Popen:
    """``code`` in a child process, with argv = [path, key hex, repository root, *extra]."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", code, path, key_hex, str(ROOT), *extra], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


class Fixture:
    """A clean store and a crashed one (a commit left in its WAL), built once and copied per trial."""

    def __init__(self, work: Path):
        self.key = os.urandom(32)
        self.clean = work / "clean" / "store.db"
        self.crashed = work / "crashed" / "store.db"
        for path in (self.clean, self.crashed):
            path.parent.mkdir()
            with EncryptedStore(path, self.key, create=True) as store:
                store.put_many([template(u) for u in USERS])
        child = _python(_COMMIT_AND_CRASH, str(self.crashed), self.key.hex())
        child.wait()
        Path(f"{self.crashed}-shm").unlink(missing_ok=True)
        assert Path(f"{self.crashed}-wal").stat().st_size > 0, child.stderr.read()

    def copy(self, source: Path, target: Path) -> Path:
        target.mkdir()
        for f in source.parent.iterdir():
            shutil.copy(f, target / f.name)
        return target / source.name


def flip(path: Path, rng: np.random.Generator, region: tuple[int, int] | None = None) -> None:
    data = bytearray(path.read_bytes())
    lo, hi = region or (0, len(data))
    for _ in range(int(rng.integers(1, 5))):
        at = int(rng.integers(lo, hi))
        data[at] ^= 1 << int(rng.integers(0, 8))
    path.write_bytes(bytes(data))


def truncate(path: Path, rng: np.random.Generator) -> None:
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        fh.truncate(int(rng.integers(0, size)))


def static_faults(fx: Fixture, work: Path, trials: int, rng: np.random.Generator) -> dict[str, Counter]:
    """Flips, truncation and deletion on copies of the clean and crashed stores."""
    late = USERS + ["late"]
    cases: dict[str, tuple[Path, list[str], Callable[[Path], None]]] = {
        "db byte flips (1-4)": (fx.clean, USERS, lambda p: flip(p, rng)),
        "WAL byte flips (1-4), commit in WAL": (fx.crashed, late, lambda p: flip(Path(f"{p}-wal"), rng)),
        "db truncated": (fx.clean, USERS, lambda p: truncate(p, rng)),
        "WAL truncated, commit in WAL": (fx.crashed, late, lambda p: truncate(Path(f"{p}-wal"), rng)),
    }
    once: dict[str, tuple[Path, list[str], Callable[[Path], None]]] = {
        "db deleted": (fx.clean, USERS, lambda p: p.unlink()),
        "db emptied (0 bytes)": (fx.clean, USERS, lambda p: p.write_bytes(b"")),
        "WAL deleted after a commit": (fx.crashed, late, lambda p: Path(f"{p}-wal").unlink()),
        "counter file deleted": (fx.clean, USERS, lambda p: Path(f"{p}.counter").unlink()),
    }
    results: dict[str, Counter] = {}
    n = 0
    for name, (source, expected, damage) in list(cases.items()) + list(once.items()):
        results[name] = Counter()
        for _ in range(trials if name in cases else 1):
            n += 1
            path = fx.copy(source, work / f"t{n}")
            damage(path)
            results[name][outcome(path, [fx.key], expected)] += 1
            shutil.rmtree(path.parent)
    return results


def _kill_after(child: subprocess.Popen, delay: float) -> None:
    time.sleep(delay)
    child.send_signal(signal.SIGKILL)
    child.wait()


def kill_during_writes(fx: Fixture, work: Path, kills: int, rng: np.random.Generator) -> Counter:
    """kill -9 in a burst of puts; every put reported committed must be there."""
    results: Counter = Counter()
    for k in range(kills):
        path = fx.copy(fx.clean, work / f"k{k}")
        child = _python(_BURST, str(path), fx.key.hex())
        committed: list[str] = []
        wanted = int(rng.integers(2, 15))
        while len(committed) < wanted and (line := child.stdout.readline()):
            committed.append(f"burst{int(line)}")
        _kill_after(child, float(rng.uniform(0, 0.05)))
        results[outcome(path, [fx.key], USERS + committed)] += 1
        shutil.rmtree(path.parent)
    return results


def kill_during_rotation(fx: Fixture, work: Path, kills: int, rng: np.random.Generator) -> Counter:
    """kill -9 while re-encrypting under a new key: one of the two keys opens every record."""
    results: Counter = Counter()
    extra = [f"extra{i}" for i in range(40)]
    for k in range(kills):
        path = fx.copy(fx.clean, work / f"r{k}")
        with EncryptedStore(path, fx.key) as store:
            store.put_many([template(user) for user in extra])
        new_key = os.urandom(32)
        child = _python(_ROTATE, str(path), fx.key.hex(), new_key.hex())
        child.stdout.readline()  # "rotating"
        _kill_after(child, float(rng.uniform(0, 0.08)))
        results[outcome(path, [fx.key, new_key], USERS + extra)] += 1
        shutil.rmtree(path.parent)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200, help="trials per flip and truncation fault")
    parser.add_argument("--kills", type=int, default=10, help="kill -9 trials of each kind")
    parser.add_argument("--seed", type=int, default=20)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        fx = Fixture(work)
        results = static_faults(fx, work, args.trials, rng)
        results["kill -9 during a burst of writes"] = kill_during_writes(fx, work, args.kills, rng)
        results["kill -9 during key rotation"] = kill_during_rotation(fx, work, args.kills, rng)
    print("| fault | trials | typed error | intact | silent loss | untyped exception |")
    print("|---|---|---|---|---|---|")
    for name, counts in results.items():
        print(f"| {name} | {sum(counts.values())} | {counts['typed']} | {counts['intact']} | "
              f"{counts['silent loss']} | {counts['untyped']} |")


if __name__ == "__main__":
    main()
