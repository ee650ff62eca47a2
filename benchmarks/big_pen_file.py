"""Time and memory of loading a million-line SVC2004 file (issue 20 point 5: stop at the cap).

Writes the file on first use: a header that states the true count (refused from the
header alone) or, with ``--lying-header``, one that says 500 (the reader must count rows).
Time is measured without tracemalloc (it slows parsing several-fold); a second load
under tracemalloc gives the peak of Python allocations; ``maxrss`` is the process's.

    PYTHONPATH=. python benchmarks/big_pen_file.py /tmp/big1e6_lying.txt --lying-header
"""
from __future__ import annotations

import argparse
import resource
import time
import tracemalloc
from pathlib import Path

import edgesig
from edgesig.errors import EdgesigError

LINES = 1_000_000


def load(path: Path) -> str:
    try:
        edgesig.load_pen(path)
        return "loaded"
    except EdgesigError as exc:
        return f"{type(exc).__name__}: {exc}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--lying-header", action="store_true")
    args = parser.parse_args()
    if not args.path.exists():
        header = 500 if args.lying_header else LINES
        args.path.write_bytes((f"{header}\r\n" + "".join(
            f"{1000 + i % 997} {2000 + i % 991} {10 * i} 1 1200 600 {i % 1000}\r\n" for i in range(LINES))).encode())
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    outcome = load(args.path)
    seconds = time.perf_counter() - start
    rss_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss) / 1024
    tracemalloc.start()
    load(args.path)
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    print(f"{edgesig.__file__}: {args.path.stat().st_size / 2**20:.1f} MiB file, {seconds:.2f} s, "
          f"maxrss +{rss_mib:.0f} MiB, tracemalloc peak {peak:.1f} MiB; {outcome}")


if __name__ == "__main__":
    main()
