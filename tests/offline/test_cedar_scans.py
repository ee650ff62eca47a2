"""Real 300 dpi scans (CEDAR): the pipeline finds the signature in the scans it once
refused as "no signature found". Skipped when ``../shared/data/cedar`` is absent."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgesig.offline import prepare
from edgesig.offline.pipeline import NOTE_NO_SHEET

CEDAR_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "cedar"
#: Scans whose signature spans the whole width (a long flourish or underline) or the
#: whole image: refused before, found now (57 such files of 2,640 in all, see
#: benchmarks/prepare_survey.py cedar).
ONCE_REFUSED = ["original_39_24.png", "forgeries_17_11.png", "forgeries_8_17.png",
                "forgeries_14_2.png", "original_13_1.png"]


@pytest.fixture(scope="module")
def cedar_dir() -> Path:
    if not (CEDAR_DIR / "original_1_1.png").exists():
        pytest.skip(f"CEDAR not found at {CEDAR_DIR} (../shared/data beside the repo)")
    return CEDAR_DIR


@pytest.mark.parametrize("name", ONCE_REFUSED)
def test_scan_spanning_the_frame_is_prepared(cedar_dir: Path, name: str) -> None:
    result = prepare(cedar_dir / name)
    assert NOTE_NO_SHEET in result.reasons
    w, h = result.sheet_size
    assert result.box.width >= 0.9 * w  # the whole signature, flourish included
    assert result.array.shape == (155, 220) and float(result.array.max()) > 0.5
    assert np.count_nonzero(result.array > 0.5) > 500


def test_slanting_flourish_through_a_signature_is_not_a_line(cedar_dir: Path) -> None:
    """Long, straight where it runs clear of the letters, but slanting: a printed line a
    signature is written over lies level (see ``edgesig.offline.lines._runs_under``)."""
    result = prepare(cedar_dir / "forgeries_27_3.png")
    assert result.box.width >= 0.9 * result.sheet_size[0]  # the flourish's bare end too


def test_explain_image_on_real_scans(cedar_dir: Path, tmp_path: Path) -> None:
    """The heatmap and the installed engine's decision on a scan prepare once refused."""
    from click.testing import CliRunner

    from edgesig.cli import cli
    refs = [str(cedar_dir / f"original_39_{k}.png") for k in range(1, 6)]
    out = tmp_path / "explain.png"
    result = CliRunner().invoke(cli, ["explain-image", *refs, "-q", str(cedar_dir / "original_39_24.png"),
                                      "-o", str(out), "--engine", "sdinet"])
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 1000 and "P(genuine) per reference" in result.output
    assert "sdinet" in result.output and "threshold" in result.output and "references kept" in result.output
