"""The committed firmware_samples/: every file loads, as its format, and holds the same writer."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgesig.capture import framing, load_pen

from tests.capture.test_detection import _detected

SAMPLES = Path(__file__).resolve().parents[2] / "firmware_samples"
FOLDER_FORMAT = {"svc2004": "svc2004", "hwr": "hwr", "iso19794_7": "iso19794_7", "inkml": "inkml",
                 "pointer_events": "pointer_events", "hid": "hid", "evdev": "evdev", "evtest": "evtest",
                 "frames": "frames"}


def _files(folder: str) -> list[Path]:
    return sorted((SAMPLES / folder).iterdir())


def test_folder_is_small_and_complete():
    total = sum(p.stat().st_size for p in SAMPLES.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    assert total < 1_000_000
    for folder in FOLDER_FORMAT:
        names = {p.stem for p in _files(folder)}
        assert {"genuine_6", "forgery_1"} <= names
        assert len(names) in (2, 7)


@pytest.mark.parametrize("folder", sorted(FOLDER_FORMAT))
def test_every_sample_loads_as_its_format(folder):
    for path in _files(folder):
        data = path.read_bytes()
        assert _detected(data, path.name) == FOLDER_FORMAT[folder]
        pen = load_pen(path)
        assert pen.n_down >= 50


def test_the_same_signature_in_every_format():
    """genuine_6 from each folder: same pen-down count and duration (hwr is resampled at 200 Hz)."""
    reference = load_pen(SAMPLES / "iso19794_7" / "genuine_6.sdi")
    for folder in FOLDER_FORMAT:
        path = next(p for p in _files(folder) if p.stem == "genuine_6")
        pen = load_pen(path)
        assert abs(pen.duration_ms - reference.duration_ms) <= 10.0
        if folder != "hwr":
            assert pen.n_down == reference.n_down


def test_frame_samples_are_distinct_sessions():
    seen: set[bytes] = set()
    counters = [framing.frames_to_penstream(p.read_bytes(), seen_nonces=seen).sequence for p in _files("frames")]
    assert sorted(counters) == list(range(1, 8)) and len(seen) == 7


def test_make_samples_regenerates_every_file(tmp_path):
    sys.path.insert(0, str(SAMPLES))
    try:
        import make_samples
    finally:
        sys.path.remove(str(SAMPLES))
    written = make_samples.main(["--out", str(tmp_path)])
    assert len(written) == sum(len(_files(folder)) for folder in FOLDER_FORMAT)
    for path in written:
        assert load_pen(path).n_down >= 50


def test_pad_encoder_demo_runs_and_decodes():
    out = subprocess.run([sys.executable, str(SAMPLES / "pad_encoder.py")], capture_output=True, text=True,
                         check=True).stdout
    frames = framing.decode(bytes.fromhex("".join(out.split())))
    assert len(frames) == 12
    assert np.allclose([f.t_ms for f in frames[1:-1]], np.arange(10) * 5.0)
