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


def test_tuning_flow_prints_what_the_readme_shows(tmp_path, monkeypatch):
    """The README's `edgesig tune` line, run as written (the grid search itself replaced by
    the shipped entry it produces), installs into the user folder and prints the README's
    lines; the package's manifest is untouched."""
    import shlex

    import pytest
    from click.testing import CliRunner

    import edgesig.eval.protocols as protocols
    import edgesig.eval.tuning as tuning
    from edgesig.cli import cli
    from edgesig.eval.protocols import UserSamples
    from edgesig.runtime import MODELS_DIR, USER_MODELS_ENV, Manifest, sha256_file
    from tests.conftest import wavy_pen
    text = (ROOT / "README.md").read_text()
    command = re.search(r"^(edgesig tune [^#\n]*?)\s*#[^\n]*see Tuning below", text, re.M).group(1)
    shown = re.search(r"### Tuning.*?```\n(.*?)```", text, re.S).group(1).splitlines()
    if not (ROOT.parent / "shared" / "data" / "susig_visual").is_dir():
        pytest.skip("../shared/data not found beside the repository")
    details = {"validation": {"eer": 0.1, "auc": 0.9, "mean_user_eer": 0.1}, "per_set": {},
               "test": {"eer": 0.1, "auc": 0.9, "mean_user_eer": 0.1, "far": 0.1, "frr": 0.1}}
    monkeypatch.setattr(protocols, "load_set", lambda *a, **k: [UserSamples(1, [wavy_pen()], [])])
    monkeypatch.setattr(tuning, "tune_dtw", lambda *a, **k: (Manifest(MODELS_DIR).get("dtw"), details))
    monkeypatch.setenv(USER_MODELS_ENV, str(tmp_path))
    monkeypatch.chdir(ROOT)
    digest = sha256_file(MODELS_DIR / "manifest.json")
    result = CliRunner().invoke(cli, shlex.split(command)[1:])
    assert result.exit_code == 0, result.output
    assert shown[0].startswith("installed dtw") and f"in {tmp_path / 'manifest.json'}" in result.output
    for line in shown[1:]:
        assert line in result.output.splitlines()
    assert sha256_file(MODELS_DIR / "manifest.json") == digest


def test_using_it_example_runs(tmp_path, monkeypatch):
    """The first example of the README, its file names given real captures (its last line
    used a `pen` it never defined)."""
    import shutil
    samples = ROOT / "firmware_samples" / "svc2004"
    for i in range(5):
        shutil.copy(samples / f"genuine_{i + 1}.txt", tmp_path / f"alice{i}.txt")
    shutil.copy(samples / "genuine_6.txt", tmp_path / "query.txt")
    shutil.copy(samples / "forgery_1.txt", tmp_path / "query2.txt")
    text = (ROOT / "README.md").read_text()
    code = re.search(r"## Using it\s*```python\n(.*?)```", text, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    with contextlib.redirect_stdout(io.StringIO()) as out:
        exec(compile(code, "README.md", "exec"), {})
    assert out.getvalue().startswith("(0, 1, 2, 3, 4) () ")
