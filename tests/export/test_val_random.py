"""benchmarks/offline_val_random.py reads an ensemble entry from the manifest at a git revision."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from benchmarks.offline_val_random import ensemble_at
from edgesig.runtime import Manifest

ROOT = Path(__file__).resolve().parents[2]


def test_the_entry_at_head_is_the_installed_one():
    if subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True).returncode:
        pytest.skip("not a git checkout")
    if subprocess.run(["git", "-C", str(ROOT), "diff", "--quiet", "HEAD", "--", "edgesig/models/manifest.json"]).returncode:
        pytest.skip("the manifest has uncommitted changes")
    entry, installed = ensemble_at("HEAD"), Manifest().get("ensemble")
    assert (entry["version"], entry["params"]["members"]) == (installed.version, installed.params["members"])
