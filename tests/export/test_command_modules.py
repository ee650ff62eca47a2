"""Each ``python -m export offline`` command module imports on its own.

``export.offline.cli`` gathers the subcommands; a module that took its helpers from
``cli`` could only be imported through it (alone it hit a circular import), so tools
and tests importing one command module failed.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("module", ["export.offline.embed_cli", "export.offline.pool_cli",
                                    "export.offline.crosswriter_cli", "export.offline.cli"])
def test_command_module_imports_alone(module):
    done = subprocess.run([sys.executable, "-c", f"import {module}"], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr


def test_command_line_records_the_export_invocation(monkeypatch):
    from export.run_options import command_line
    monkeypatch.setattr(sys, "argv", ["__main__.py", "offline", "embed", "cv", "--sets", "a b"])
    assert command_line() == "python -m export offline embed cv --sets 'a b'"
