"""``python -m edgesig.bench``: the same as the ``edgesig-bench`` console script."""
from edgesig.bench.cli import main

main()
