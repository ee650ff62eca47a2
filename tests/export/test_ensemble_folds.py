"""benchmarks/offline_ensemble_folds.py's table: per-fold cells and their mean from the fits'
JSON, and the weights judged by the validation grid averaged over folds (never by test)."""
from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from benchmarks.offline_ensemble_folds import CELLS, compare, table, weight_means


def _fold(val_eer: float, cedar: float, grid: list[tuple[float, float]]) -> dict:
    cell = {"eer": 0.3, "eer_interval": [0.2, 0.4], "far": 0.1, "frr": 0.2, "auc": 0.8, "writers": 10}
    test = {key: dict(cell) for _, key in CELLS}
    test["cedar/scan/skilled"] = {**cell, "eer": cedar, "writers": 14}
    return {"val_eer": val_eer, "val_random_eer": 0.02, "val_objective": (val_eer + 0.02) / 2,
            "weights": {"sigembed-wd": 0.5, "sdinet": 0.5}, "combine": ["min"], "test": test,
            "grid": [{"weights": [w, round(1 - w, 2)], "combine": ["min"], "objective": e} for w, e in grid]}


def test_weights_are_ranked_by_their_mean_validation_eer_over_folds() -> None:
    folds = [_fold(0.3, 0.1, [(0.5, 0.30), (0.6, 0.26)]), _fold(0.2, 0.2, [(0.5, 0.20), (0.6, 0.30)])]
    assert weight_means(folds) == [(0.25, [0.5, 0.5]), (0.28, [0.6, 0.4])]


def test_table_prints_each_fold_and_the_mean(tmp_path: Path) -> None:
    for k, cedar in enumerate((0.08, 0.12)):
        (tmp_path / f"ensemble_fold{k}.json").write_text(json.dumps(_fold(0.3, cedar, [(0.5, 0.3), (0.6, 0.4)])))
    out = CliRunner().invoke(table, ["0", "1", "--work", str(tmp_path)])
    assert out.exit_code == 0, out.output
    row = next(line for line in out.output.splitlines() if line.startswith("| CEDAR skilled"))
    assert "8.00 (20.0–40.0), 10.0 / 20.0, 0.800" in row and row.endswith("| **10.00** |")
    assert "shipped 0.50 / 0.50: 30.00 %" in out.output


def _by_set(val: dict[str, float], random: dict[str, float] | None = None) -> dict:
    random = random or {s: 0.0 for s in val}
    return {"val_eer": sum(val.values()) / len(val), "val_by_set": val,
            "val_random_eer": sum(random.values()) / len(random), "val_random_by_set": random}


def test_compare_needs_most_sets_and_the_mean_on_most_folds(tmp_path: Path) -> None:
    """Fold 0: lower on 3 of 5 sets and on the mean (won); fold 1: lower on 3 sets but the
    mean is higher (lost); fold 2: lower mean from one set only (lost): 1 of 3 folds."""
    sets = ["cedar", "task2", "task1", "susig", "mcyt"]
    base = [0.2] * 5
    others = [[0.1, 0.1, 0.1, 0.3, 0.3], [0.19, 0.19, 0.19, 0.5, 0.2], [0.0, 0.2, 0.2, 0.2, 0.2]]
    for k, other in enumerate(others):
        (tmp_path / f"ensemble_fold{k}.json").write_text(json.dumps(_by_set(dict(zip(sets, base)))))
        (tmp_path / f"ensemble-a+b+c_fold{k}.json").write_text(json.dumps(_by_set(dict(zip(sets, other)))))
    out = CliRunner().invoke(compare, ["0", "1", "2", "--work", str(tmp_path), "--members", "a,b,c"])
    assert out.exit_code == 0, out.output
    verdicts = [line.split(": ")[-1] for line in out.output.splitlines() if line.startswith("fold ")]
    assert verdicts == ["won", "lost", "lost"] and out.output.rstrip().endswith("wins 1/3 folds: does not win")


def test_compare_judges_two_fits_of_one_member_set_in_two_folders(tmp_path: Path) -> None:
    """Another layout of the same members (its fits in a folder of their own) against the first."""
    sets = ["cedar", "task2", "task1"]
    (tmp_path / "first").mkdir()
    (tmp_path / "first" / "ensemble-a+b_fold0.json").write_text(json.dumps(_by_set(dict(zip(sets, [0.2] * 3)))))
    (tmp_path / "ensemble-a+b_fold0.json").write_text(json.dumps(_by_set(dict(zip(sets, [0.1, 0.1, 0.3])))))
    out = CliRunner().invoke(compare, ["0", "--work", str(tmp_path), "--members", "a,b", "--base", "a,b",
                                       "--base-work", str(tmp_path / "first")])
    assert out.exit_code == 0, out.output
    assert "fold 0: lower on 2/3 sets (cedar, task2), mean lower: won" in out.output


def test_ship_descriptor_passes_the_layout_to_the_install_command(tmp_path: Path, monkeypatch) -> None:
    """``--lbp-grids ""`` (the shipped 1.1.0 layout) must reach ``pool descriptor`` as an
    empty grid list, and leaving it out must leave the command's own default."""
    import benchmarks.offline_ensemble_folds as folds
    calls: list[tuple[str, ...]] = []
    monkeypatch.setattr(folds, "export", lambda *args: calls.append(args))
    for extra in (["--lbp-grids", ""], []):
        out = CliRunner().invoke(folds.ship_descriptor, ["1", "--work", str(tmp_path), *extra])
        assert out.exit_code == 0, out.output
    with_layout, default = calls
    assert with_layout[with_layout.index("--lbp-grids") + 1] == "" and "--lbp-grids" not in default
    assert with_layout[with_layout.index("--models-dir") + 1] == str(tmp_path / "models" / "fold1")


def test_compare_by_the_joint_rule_counts_random_forgeries(tmp_path: Path) -> None:
    """Lower skilled EER on every set but random EER up by more (2.5.0's case): a win by the
    skilled rule, a loss by the joint rule; the base may be a skilled-only fit."""
    sets = ["cedar", "task2", "task1"]
    base = _by_set(dict(zip(sets, [0.2] * 3)), dict(zip(sets, [0.02] * 3)))
    other = _by_set(dict(zip(sets, [0.19] * 3)), dict(zip(sets, [0.05] * 3)))
    (tmp_path / "ensemble-skilled_fold0.json").write_text(json.dumps(base))
    (tmp_path / "ensemble-a+b-skilled_fold0.json").write_text(json.dumps(other))
    (tmp_path / "ensemble-a+b_fold0.json").write_text(json.dumps(other))
    skilled = CliRunner().invoke(compare, ["0", "--work", str(tmp_path), "--members", "a,b", "--objective", "skilled"])
    joint = CliRunner().invoke(compare, ["0", "--work", str(tmp_path), "--members", "a,b", "--base-fit", "skilled"])
    assert skilled.exit_code == 0 and joint.exit_code == 0, skilled.output + joint.output
    assert "fold 0: lower on 3/3 sets" in skilled.output and skilled.output.rstrip().endswith("WINS")
    assert "| 0 | cedar | 11.00 (20.00 / 2.00) | 12.00 (19.00 / 5.00) |" in joint.output
    assert "fold 0: lower on 0/3 sets" in joint.output and joint.output.rstrip().endswith("does not win")
