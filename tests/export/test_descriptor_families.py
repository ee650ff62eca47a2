"""benchmarks/offline_descriptor_families.py: the contour-hinge describes what it claims to (a
straight run), both families are unit rows that follow the ink's box (concavity's own test is
in tests/offline/test_descriptor.py), the stroke texture reads grey levels and relative widths,
and ``decide`` / ``judge`` apply the rules fixed before the folds were run (bases, most folds,
the four-fold mean; the stroke family's weight line)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from benchmarks.offline_descriptor_families import (DARK_BINS, HINGE_BINS, LINE_MAX, MEMBERS, SHIPPED, SHIPPED_260,
                                                WIDTH_BINS, along_line, decide, describe, hinge, judge,
                                                stroke_row, stroke_texture)

SETS = ["cedar", "task2", "task1", "susig", "mcyt"]


def _bar() -> np.ndarray:
    """A long horizontal stroke, 3 px thick, on SDINet's canvas."""
    img = np.zeros((155, 220), np.float32)
    img[70:73, 20:200] = 1.0
    return img


def test_hinge_of_a_straight_stroke_is_mostly_straight_through() -> None:
    """Along a straight outline the two legs leave in opposite directions (0 and 180 degrees)."""
    whole = hinge(_bar()[70:73, 20:200])[0]
    lo, hi = 0, HINGE_BINS // 2
    straight = lo * HINGE_BINS - lo * (lo - 1) // 2 + (hi - lo)
    assert whole.size == HINGE_BINS * (HINGE_BINS + 1) // 2 and whole.argmax() == straight
    assert whole[straight] > 0.8 * whole.sum()


def test_families_are_unit_rows_that_ignore_where_the_ink_sits() -> None:
    img = _bar()
    img[40:100, 100:103] = 1.0
    moved = np.roll(np.roll(img, 30, axis=0), -15, axis=1)
    for family in ("hinge", "concavity"):
        row = describe(img, family)
        assert np.isclose(np.linalg.norm(row), 1.0) and np.allclose(row, describe(moved, family))


def _fit(joint: list[float], weights: dict[str, float] | None = None) -> dict:
    """A fit's result with these joint EER per set (random EER 0: judged = skilled / 2)."""
    skilled = {s: 2 * e for s, e in zip(SETS, joint)}
    return {"val_by_set": skilled, "val_random_by_set": {s: 0.0 for s in SETS},
            "val_objective": float(np.mean(joint)), "weights": weights or {}}


def _write(work: Path, members: str, folds: list[list[float]], tag: str = "", weights=None) -> None:
    for k, joint in enumerate(folds):
        (work / f"ensemble-{members.replace(',', '+')}{tag}_fold{k}.json").write_text(json.dumps(_fit(joint, weights)))


def test_decide_needs_both_bases_and_fold_0_weighing_the_member(tmp_path: Path) -> None:
    """``hinge`` beats both bases on 3 of 4 folds; ``concavity`` beats the skilled-fit base
    only (its joint refit is as good): only ``hinge`` wins, and it ships with a weight."""
    _write(tmp_path, SHIPPED, [[0.2] * 5] * 4, "-skilled")
    _write(tmp_path, SHIPPED, [[0.15] * 5] * 4)
    better = [[0.1] * 5] * 3 + [[0.2] * 5]
    _write(tmp_path, f"{SHIPPED},hinge", better, weights={"hinge": 0.3})
    _write(tmp_path, f"{SHIPPED},concavity", [[0.15] * 5] * 4, weights={"concavity": 0.2})
    out = CliRunner().invoke(decide, ["0", "1", "2", "3", "--work", str(tmp_path)])
    assert out.exit_code == 0, out.output
    assert f"{SHIPPED},hinge against 3 members, joint fit: 3/4 folds won" in out.output
    assert f"{SHIPPED},concavity against 3 members, joint fit: 0/4 folds won" in out.output
    assert out.output.rstrip().endswith(f"ships: {SHIPPED},hinge (pooled 12.50 %)")
    _write(tmp_path, f"{SHIPPED},hinge", better, weights={"hinge": 0.0})
    out = CliRunner().invoke(decide, ["0", "1", "2", "3", "--work", str(tmp_path)])
    assert "fold 0 weighs hinge at 0: nothing to ship" in out.output
    assert MEMBERS in SHIPPED


def test_pool_descriptor_refuses_layouts_it_cannot_install() -> None:
    """No grid of any family, or a writer-dependent route for concavity (only ``descriptor-wd``
    exists): refused before any writer is read."""
    from export.offline.pool_cli import descriptor
    empty = CliRunner().invoke(descriptor, ["--direction-grids", ""])
    wd = CliRunner().invoke(descriptor, ["--name", "concavity", "--direction-grids", "", "--concavity-grids", "2x3",
                                         "--ridge", "0.001"])
    assert empty.exit_code == 2 and "no grid of any family" in empty.output
    assert wd.exit_code == 2 and "not concavity-wd" in wd.output


def _stroke_crop(width: int, level: int) -> np.ndarray:
    """A grey crop as ``prepare`` cuts it: paper 235, one horizontal stroke of this width and grey."""
    crop = np.full((60, 200), 235, np.uint8)
    crop[28:28 + width, 20:180] = level
    return crop


def test_stroke_texture_reads_grey_levels_and_widths_relative_to_the_image() -> None:
    """A uniform stroke puts every centre pixel in the median-width bin and the darkest bin; a
    stroke whose left half is lighter moves half of them to a lighter bin (which the binarised
    image SDINet sees could not show); widths are relative, so a 2x thicker stroke reads the same."""
    uniform = stroke_texture(_stroke_crop(5, 40))[0].reshape(WIDTH_BINS, DARK_BINS)
    assert uniform.sum() > 0 and uniform[WIDTH_BINS // 2, DARK_BINS - 1] == uniform.sum()
    faded = _stroke_crop(5, 40)
    faded[28:33, 20:100] = 150
    light = stroke_texture(faded)[0].reshape(WIDTH_BINS, DARK_BINS)
    assert 0.4 < light[:, :DARK_BINS - 1].sum() / light.sum() < 0.6
    assert np.allclose(stroke_row(_stroke_crop(5, 40))[:WIDTH_BINS * DARK_BINS],
                       stroke_row(_stroke_crop(10, 40))[:WIDTH_BINS * DARK_BINS])


def test_judge_is_the_rule_against_2_6_0(tmp_path: Path) -> None:
    """``stroke`` lowers most sets on 3 of 4 folds and the four-fold mean: it wins, and ships only
    when fold 0 weighs it; one fold won is no win."""
    _write(tmp_path, SHIPPED_260, [[0.15] * 5] * 4)
    _write(tmp_path, f"{SHIPPED_260},stroke", [[0.1] * 5] * 3 + [[0.2] * 5], weights={"stroke": 0.1})
    out = CliRunner().invoke(judge, ["0", "1", "2", "3", "--work", str(tmp_path)])
    assert out.exit_code == 0, out.output
    assert "3/4 folds won" in out.output and out.output.rstrip().endswith(f"WINS: ships {SHIPPED_260},stroke")
    _write(tmp_path, f"{SHIPPED_260},stroke", [[0.1] * 5] * 3 + [[0.2] * 5], weights={"stroke": 0.0})
    out = CliRunner().invoke(judge, ["0", "1", "2", "3", "--work", str(tmp_path)])
    assert out.output.rstrip().endswith("wins but fold 0 weighs stroke at 0: nothing to ship")
    _write(tmp_path, f"{SHIPPED_260},stroke", [[0.1] * 5] + [[0.2] * 5] * 3, weights={"stroke": 0.1})
    out = CliRunner().invoke(judge, ["0", "1", "2", "3", "--work", str(tmp_path)])
    assert "1/4 folds won" in out.output and out.output.rstrip().endswith("does not win: nothing ships")


def test_along_line_keeps_the_base_in_proportion() -> None:
    """s = 0 is the base itself; every point sums to 1 with the base's ratios kept."""
    line = along_line({"a": 0.6, "b": 0.4}, "a,b,stroke", 0.05)
    assert line[0] == (0.6, 0.4, 0.0) and line[-1][-1] == LINE_MAX and len(line) == 11
    assert all(np.isclose(sum(w), 1.0) and np.isclose(w[0] / w[1], 1.5) for w in line)
