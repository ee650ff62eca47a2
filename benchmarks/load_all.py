"""Load every file in ../shared/data the way a user would, and count what happens.

Pen sets go through ``edgesig.load_pen`` (format auto-detected), CEDAR's scans through
``edgesig.offline.load.load_image``. Each file either loads or raises one typed
``EdgesigError``; anything else is a bug and is counted as ``UNTYPED``. Files that are not
signatures (the sets' read-me and label files) are swept too and must give a typed error.
Per set it prints the outcomes, the device each loaded file was read as, how many
streams have no pressure, and how many loaded files had a clock that stepped back (held).

    PYTHONPATH=. python benchmarks/load_all.py [--root ../shared/data] [--json build/load_all.json]
"""
from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import numpy as np

from edgesig.capture import load_pen, mcyt, susig, svc2004
from edgesig.errors import EdgesigError
from edgesig.eval.datasets import DEFAULT_ROOT, SETS, dataset_dir, writers
from edgesig.offline.load import load_image

#: How to read each pen set's raw timestamps: the format's table and its time column.
RAW_TIME = {"svc2004-task2": (svc2004.table, 2), "svc2004-task1": (svc2004.table, 2),
            "susig": (susig.table, 2), "mcyt": (mcyt.table, 0)}


def clock_steps_back(dataset: str, path: Path) -> int:
    """How many raw timestamps of the file are behind their predecessor."""
    read, column = RAW_TIME[dataset]
    return int(np.count_nonzero(np.diff(read(path.read_bytes())[:, column]) < 0))


def sweep(dataset: str, root: Path) -> dict:
    """Outcome counts for every file under the set's folder."""
    folder = dataset_dir(dataset, root)
    enumerated = {s.path for w in writers(dataset, root) for s in (*w.references, *w.genuine, *w.forgeries)}
    outcomes: Counter[str] = Counter()
    devices: Counter[str] = Counter()
    examples: dict[str, str] = {}
    no_pressure = stepped_back = 0
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        kind = "signature" if path in enumerated else "other file"
        try:
            if dataset == "cedar":
                load_image(path)
                devices["image"] += 1
            else:
                pen = load_pen(path)
                devices[pen.device.name] += 1
                no_pressure += not pen.has_pressure
                stepped_back += clock_steps_back(dataset, path) > 0
            outcome = f"{kind}: loaded"
        except EdgesigError as exc:
            outcome = f"{kind}: {type(exc).__name__}"
            examples.setdefault(outcome, f"{path.name}: {exc}")
        except Exception as exc:  # noqa: BLE001 - the sweep exists to find these
            outcome = f"{kind}: UNTYPED {type(exc).__name__}"
            examples.setdefault(outcome, f"{path.name}: {exc}")
        outcomes[outcome] += 1
    missing = len(enumerated - {p for p in folder.rglob("*")})
    return {"files": sum(outcomes.values()), "outcomes": dict(outcomes), "devices": dict(devices),
            "no_pressure": no_pressure, "clock_stepped_back": stepped_back, "enumerated_missing": missing,
            "examples": examples}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--json", type=Path, default=None, help="also write the counts here")
    args = parser.parse_args()
    results = {name: sweep(name, args.root) for name in SETS}
    for name, r in results.items():
        print(f"{name}: {r['files']} files; " + ", ".join(f"{k} {v}" for k, v in sorted(r["outcomes"].items())))
        print(f"  read as: {', '.join(f'{k} {v}' for k, v in r['devices'].items())}; without pressure "
              f"{r['no_pressure']}; loaded with a clock that stepped back (held) {r['clock_stepped_back']}")
        for outcome, example in r["examples"].items():
            print(f"  e.g. {outcome}: {example}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
