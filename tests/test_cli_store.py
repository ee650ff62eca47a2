"""`edgesig enroll / verify / users / delete` over an encrypted store, on the shipped samples."""
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgesig.cli import cli

SAMPLES = Path(__file__).resolve().parents[1] / "firmware_samples"
FORMATS = sorted(p.name for p in SAMPLES.iterdir() if p.is_dir() and (p / "genuine_1").parent.is_dir()
                 and any(f.stem == "genuine_6" for f in p.iterdir()))


def _files(fmt: str, stem: str) -> str:
    return str(next(f for f in (SAMPLES / fmt).iterdir() if f.stem == stem))


@pytest.fixture(scope="module")
def enrolled(tmp_path_factory):
    store = tmp_path_factory.mktemp("store") / "t.db"
    refs = [_files("svc2004", f"genuine_{k}") for k in range(1, 6)]
    result = CliRunner().invoke(cli, ["enroll", "--store", str(store), "--create", "--user", "writer9", "--engine", "dtw", *refs])
    assert result.exit_code == 0, result.output
    assert "enrolled 'writer9'" in result.output
    assert (Path(str(store) + ".key").stat().st_mode & 0o777) == 0o600
    return store


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_sample_format_verifies_end_to_end(enrolled, fmt):
    runner = CliRunner()
    genuine = runner.invoke(cli, ["verify", "--store", str(enrolled), "--user", "writer9", "--engine", "dtw",
                                  "--pen", _files(fmt, "genuine_6")])
    assert "score" in genuine.output, genuine.output
    assert genuine.exit_code in (0, 1)  # decided, not crashed
    forgery = runner.invoke(cli, ["verify", "--store", str(enrolled), "--user", "writer9", "--engine", "dtw",
                                  "--pen", _files(fmt, "forgery_1")])
    assert forgery.exit_code == 1 and "REJECTED" in forgery.output


def test_users_and_delete(enrolled):
    runner = CliRunner()
    assert "writer9" in runner.invoke(cli, ["users", "--store", str(enrolled)]).output
    out = runner.invoke(cli, ["verify", "--store", str(enrolled), "--user", "nobody", "--pen",
                              _files("svc2004", "genuine_6")])
    assert out.exit_code != 0


def test_wrong_key_is_a_clear_error(enrolled, tmp_path):
    other = tmp_path / "other.key"
    out = CliRunner().invoke(cli, ["users", "--store", str(enrolled), "--key-file", str(other)])
    assert out.exit_code != 0 and isinstance(out.exception, Exception)
    assert "key" in str(out.exception).lower()


def test_image_enrol_and_verify(tmp_path):
    """Rendered paper signatures of a synthetic writer through enroll-images / verify-image."""
    import cv2
    import numpy as np
    from edgesig.synth import make_writer
    from edgesig.synth.render import RenderStyle, render
    rng = np.random.default_rng(4)
    writer = make_writer(9)
    paths = []
    for k in range(6):
        img = render(writer.genuine(rng), rng, style=RenderStyle.random(rng, "scan"))
        paths.append(tmp_path / f"g{k}.png")
        cv2.imwrite(str(paths[-1]), img)
    store = tmp_path / "img.db"
    runner = CliRunner()
    out = runner.invoke(cli, ["enroll-images", "--store", str(store), "--create", "--user", "w9", *map(str, paths[:5])])
    assert out.exit_code == 0, out.output
    assert "enrolled 'w9'" in out.output
    result = runner.invoke(cli, ["verify-image", "--store", str(store), "--user", "w9", "--image", str(paths[5]),
                                 "--json"])
    assert result.exit_code in (0, 1), result.output
    assert '"engine"' in result.output and '"score"' in result.output


def test_identify_images_with_the_shipped_backbone(tmp_path):
    """`edgesig identify` over a gallery of rendered paper signatures (the id-image model)."""
    import cv2
    import numpy as np
    from edgesig.synth import make_writer
    from edgesig.synth.render import RenderStyle, render
    rng = np.random.default_rng(5)
    for name, seed in (("ann", 21), ("ben", 22), ("cat", 23)):
        writer = make_writer(seed)
        (tmp_path / "gallery" / name).mkdir(parents=True)
        for k in range(6):
            img = render(writer.genuine(rng), rng, style=RenderStyle.random(rng, "scan"))
            target = tmp_path / "gallery" / name / f"{k}.png" if k < 5 else tmp_path / f"{name}_query.png"
            cv2.imwrite(str(target), img)
    result = CliRunner().invoke(cli, ["identify", str(tmp_path / "ben_query.png"), "--gallery",
                                      str(tmp_path / "gallery"), "--closed-set", "--top-k", "3"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 3 and lines[0].startswith("1. ben "), result.output


def test_identify_exits_non_zero_on_unknown(tmp_path, monkeypatch):
    """An unknown writer is exit status 1 (a script cannot read the ranking as a match)."""
    import edgesig.identify as identify
    from edgesig.capture import save_pen
    from tests.conftest import wavy_pen
    for k, name in enumerate(("ann", "ben", "cat")):
        (tmp_path / name).mkdir()
        for i in range(3):
            save_pen(wavy_pen(10 * k + i), tmp_path / name / f"{i}.txt", "svc2004")
    save_pen(wavy_pen(99), tmp_path / "query.txt", "svc2004")
    args = ["identify", str(tmp_path / "query.txt"), "--gallery", str(tmp_path)]
    real = identify.load_identification
    monkeypatch.setattr(identify, "load_identification", lambda m: (real(m)[0], 0.9999))  # nobody passes
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1 and result.output.startswith("unknown: no enrolled user scores above"), result.output
    monkeypatch.setattr(identify, "load_identification", lambda m: (real(m)[0], -1.0))     # everybody passes
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0 and result.output.startswith("1. "), result.output


def _main(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """Run `edgesig ARGS` through main() (where errors become messages and exit codes)."""
    import sys

    from edgesig.cli import main
    monkeypatch.setattr(sys, "argv", ["edgesig", *args])
    with pytest.raises(SystemExit) as info:
        main()
    out = capsys.readouterr()
    return info.value.code, out.out, out.err


def test_verify_reports_its_own_time_apart_from_start_up(enrolled, monkeypatch, capsys):
    code, out, _ = _main(monkeypatch, capsys, "verify", "--store", str(enrolled), "--user", "writer9",
                         "--engine", "dtw", "--pen", _files("svc2004", "forgery_1"))
    assert code == 1 and out.startswith("REJECTED")
    import re
    verify_ms, startup_ms = map(float, re.search(r"verify ([\d.]+) ms in process; start-up ([\d.]+) ms", out).groups())
    assert 0 < verify_ms < startup_ms


def test_cli_errors_give_cli_advice(enrolled, monkeypatch, capsys):
    code, _, err = _main(monkeypatch, capsys, "verify", "--store", str(enrolled), "--user", "nobody",
                         "--pen", _files("svc2004", "genuine_6"))
    assert code == 2 and "enroll()" not in err
    assert "edgesig enroll --store STORE --user nobody" in err


def test_demo_prints_the_threshold():
    result = CliRunner().invoke(cli, ["demo", "--writers", "1", "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert "threshold: 0." in result.output.splitlines()[0]


def test_a_bad_pen_file_is_named_in_the_error(tmp_path, monkeypatch, capsys):
    """'SVC2004 line 104 has 2 numbers' did not say which of the five files to fix."""
    refs = [_files("svc2004", f"genuine_{k}") for k in range(1, 4)]
    torn = tmp_path / "torn.txt"
    torn.write_bytes(Path(refs[2]).read_bytes()[:3000])
    code, _, err = _main(monkeypatch, capsys, "enroll", "--store", str(tmp_path / "t.db"), "--create",
                         "--user", "a", refs[0], refs[1], str(torn))
    assert code == 2 and err.startswith(f"error: {torn}: SVC2004 line"), err


@pytest.mark.parametrize("command", ["verify-image", "explain-image", "identify"])
def test_an_unreadable_image_is_named_in_the_error(tmp_path, monkeypatch, capsys, command):
    """'unreadable image: the data is not an image OpenCV can decode' did not say which file."""
    bad = tmp_path / "gallery" / "ann" / "scan.png"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"\x89PNG\r\n\x1a\n torn off")
    args = {"verify-image": ["--store", str(tmp_path / "t.db"), "--create", "--user", "a", "--image", str(bad)],
            "explain-image": [str(bad), str(bad), "-q", str(bad)],
            "identify": [str(bad), "--gallery", str(tmp_path / "gallery")]}[command]
    code, _, err = _main(monkeypatch, capsys, command, *args)
    label = f"reference 0 ({bad})" if command == "explain-image" else str(bad)
    assert code == 2 and err.startswith(f"error: {label}: unreadable image"), err


def test_identify_skips_hidden_files_and_names_a_bad_one(tmp_path, monkeypatch, capsys):
    """A .DS_Store (macOS) in a user's folder stopped the search: 'could not recognise the
    pen format of .DS_Store', naming neither the folder nor the file's path."""
    from edgesig.capture import save_pen
    from tests.conftest import wavy_pen
    for k, name in enumerate(("ann", "ben")):
        (tmp_path / name).mkdir()
        for i in range(3):
            save_pen(wavy_pen(10 * k + i), tmp_path / name / f"{i}.txt", "svc2004")
    (tmp_path / "ann" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    args = ("identify", _files("svc2004", "genuine_6"), "--gallery", str(tmp_path), "--closed-set")
    code, out, err = _main(monkeypatch, capsys, *args)
    assert code == 0 and out.startswith("1. "), err
    (tmp_path / "ben" / "notes.md").write_text("signed at the front desk")
    code, _, err = _main(monkeypatch, capsys, *args)
    assert code == 2 and err.startswith(f"error: {tmp_path / 'ben' / 'notes.md'}: could not recognise"), err


def test_a_capture_accepted_by_one_verify_is_a_replay_to_the_next(tmp_path):
    """Each `edgesig verify` is a new process: without the replay memory in the store, the
    same accepted capture was accepted again on every run."""
    store = str(tmp_path / "t.db")
    refs = [_files("svc2004", f"genuine_{k}") for k in range(1, 6)]
    runner = CliRunner()
    assert runner.invoke(cli, ["enroll", "--store", store, "--create", "--user", "w", *refs]).exit_code == 0
    args = ["verify", "--store", store, "--user", "w", "--pen", _files("inkml", "genuine_6")]
    first, again = runner.invoke(cli, args), runner.invoke(cli, args)
    assert first.exit_code == 0, first.output
    assert again.exit_code == 1 and "near-duplicate of a recently accepted signature" in again.output


def test_a_store_whose_counter_file_is_lost_opens_with_a_flag_the_message_names(tmp_path, monkeypatch, capsys):
    """The error said 'open with accept_lost_writes=True', which the command had no way to do:
    a store that lost its counter file could not be used from the shell at all."""
    store = tmp_path / "t.db"
    refs = [_files("svc2004", f"genuine_{k}") for k in range(1, 6)]
    assert CliRunner().invoke(cli, ["enroll", "--store", str(store), "--create", "--user", "ann", "--engine", "dtw",
                                    *refs]).exit_code == 0
    Path(f"{store}.counter").unlink()
    code, _, err = _main(monkeypatch, capsys, "users", "--store", str(store))
    assert code == 2 and "rerun with --accept-lost-writes" in err and "accept_lost_writes=True" not in err
    for flags in (["--accept-lost-writes"], []):  # then the counter file is back
        result = CliRunner().invoke(cli, ["users", "--store", str(store), *flags])
        assert result.exit_code == 0 and result.output.startswith("ann"), result.output
