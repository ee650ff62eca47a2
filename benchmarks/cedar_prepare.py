"""How many real CEDAR scans the offline pipeline refuses, and why.

Runs ``prepare`` on every CEDAR file (or the first N) and prints each refusal with its
reason, then a count. A refusal of a signed scan is a false "no signature" that a kiosk
would show a customer who did sign.

    PYTHONPATH=. python benchmarks/cedar_prepare.py [../shared/data/cedar] [N]
"""
from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

from edgesig.errors import EdgesigError
from edgesig.offline import prepare


def survey(folder: Path, limit: int | None = None) -> list[tuple[str, str]]:
    """(file name, reason) of every file ``prepare`` refuses."""
    failures = []
    for path in sorted(folder.glob("*.png"))[:limit]:
        try:
            prepare(path)
        except EdgesigError as err:
            failures.append((path.name, str(err)))
            print(f"{path.name}: {err}", flush=True)
    return failures


if __name__ == "__main__":
    data = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("../shared/data/cedar")
    limit = int(sys.argv[2]) if len(sys.argv) > 2 else None
    n = len(sorted(data.glob("*.png"))[:limit])
    failed = survey(data, limit)
    print(f"{len(failed)} of {n} CEDAR files refused; by reason: "
          f"{dict(Counter(msg.split(':')[0] for _, msg in failed))}")
