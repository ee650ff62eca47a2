"""The README's integration example runs as written and does what the text says."""
import contextlib
import io
import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_integration_example_runs():
    text = (ROOT / "README.md").read_text()
    code = re.search(r"<!-- integration-example -->\s*```python\n(.*?)```", text, re.S).group(1)
    out = io.StringIO()
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(code, "README.md", "exec"), {})
    finally:
        os.chdir(cwd)
    lines = dict(line.split(": ", 1) for line in out.getvalue().splitlines())
    assert lines["HID pad"] == "True"
    assert lines["Pointer Events"] == "False"
    assert lines["ISO 19794-7 file"] == "False"
    assert lines["identified"].startswith("alice (score 0.") and "1 enrolled" in lines["identified"]
    assert "near-duplicate of reference 4" in lines["framed stream"]
