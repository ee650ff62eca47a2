#!/usr/bin/env bash
# Regenerate the accuracy tables of benchmarks/RESULTS.md (see benchmarks/run_accuracy.py).
# Fast by default (the shipped engines through `edgesig eval`, minutes); --tune adds the
# DTW grid search, --train re-runs the k-fold training evaluations (hours on a CPU).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}" exec python3 benchmarks/run_accuracy.py "$@"
