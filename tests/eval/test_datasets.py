"""The dataset layer: protocol roles per set, and the committed writer-disjoint split file."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from edgesig.errors import DatasetError, InvalidInputError
from edgesig.eval import datasets
from edgesig.eval.datasets import FOLDS, PARTS, SETS, split, writers


def _need(dataset: str) -> None:
    try:
        datasets.dataset_dir(dataset)
    except DatasetError:
        pytest.skip(f"{dataset} not found under {datasets.DEFAULT_ROOT} (../shared/data beside the repo)")


@pytest.mark.parametrize("dataset", SETS)
def test_every_fold_is_writer_disjoint(dataset):
    for fold in range(FOLDS):
        parts = [set(split(dataset, part, fold)) for part in PARTS]
        assert all(parts), f"{dataset} fold {fold} has an empty part"
        assert sum(map(len, parts)) == len(set.union(*parts)), f"{dataset} fold {fold} repeats a writer"


@pytest.mark.parametrize("dataset", SETS)
def test_every_forged_writer_is_tested_once_and_validated_once(dataset):
    every = {frozenset().union(*(split(dataset, p, f) for p in PARTS)) for f in range(FOLDS)}
    assert len(every) == 1, "each fold must cover the same writers"
    tested = Counter(w for f in range(FOLDS) for w in split(dataset, "test", f))
    validated = Counter(w for f in range(FOLDS) for w in split(dataset, "val", f))
    assert set(tested.values()) == {1} and set(validated.values()) == {1}
    assert set(tested) == set(validated)
    always_train = set.intersection(*(set(split(dataset, "train", f)) for f in range(FOLDS)))
    assert always_train | set(tested) == set(every.pop()) and not always_train & set(tested)
    assert max(map(len, (split(dataset, "test", f) for f in range(FOLDS)))) - \
        min(map(len, (split(dataset, "test", f) for f in range(FOLDS)))) <= 1


def test_fold_i_validates_on_the_next_folds_test_writers():
    for dataset in SETS:
        for fold in range(FOLDS):
            assert split(dataset, "val", fold) == split(dataset, "test", (fold + 1) % FOLDS)


def test_mcyt_writers_without_forgeries_only_ever_train():
    train_only = {f"{w:03d}" for w in range(31, 101)}
    for fold in range(FOLDS):
        assert train_only <= set(split("mcyt", "train", fold))
        assert not train_only & set(split("mcyt", "test", fold) + split("mcyt", "val", fold))


@pytest.mark.parametrize("args", [("susig", "dev", 0), ("susig", "test", 4), ("nist", "test", 0)])
def test_split_rejects_unknown_arguments(args):
    with pytest.raises(InvalidInputError):
        split(*args)


def test_a_missing_set_folder_is_named(tmp_path):
    with pytest.raises(DatasetError, match=str(tmp_path / "susig_visual")):
        writers("susig", tmp_path)


def _touch(root: Path, *names: str) -> None:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("")


def test_susig_roles_from_file_names(tmp_path):
    base = tmp_path / "susig_visual"
    _touch(base, *(f"GENUINE/SESSION1/007_1_{k}.sig" for k in range(1, 11)),
           *(f"GENUINE/SESSION2/007_2_{k}.sig" for k in range(1, 11)),
           *(f"FORGERY/007_f_{k}.sig" for k in range(1, 11)), "ReadMe.txt")
    (w,) = writers("susig", tmp_path)
    assert [s.path.name for s in w.references] == [f"007_1_{k}.sig" for k in range(1, 6)]
    assert [s.session for s in w.genuine] == [1] * 5 + [2] * 10
    assert all(s.genuine for s in w.references + w.genuine)
    assert len(w.forgeries) == 10 and {s.session for s in w.forgeries} == {0}
    assert not any(s.genuine for s in w.forgeries)


def test_mcyt_labels_come_from_gt(tmp_path):
    base = tmp_path / "mcyt_subset"
    _touch(base, *(f"enrollment/{w}-g-0{k}.txt" for w in ("001", "042") for k in range(1, 6)),
           "verification/001-01.txt", "verification/001-02.txt")
    (base / "gt.txt").write_text("001-01 f\n001-02 g\n")
    one, forty_two = writers("mcyt", tmp_path)
    assert [s.path.name for s in one.genuine] == ["001-02.txt"]
    assert [s.path.name for s in one.forgeries] == ["001-01.txt"]
    assert len(forty_two.references) == 5 and not forty_two.genuine and not forty_two.forgeries


def test_mcyt_file_without_a_label_is_an_error(tmp_path):
    _touch(tmp_path / "mcyt_subset", "enrollment/001-g-01.txt", "verification/001-03.txt")
    (tmp_path / "mcyt_subset" / "gt.txt").write_text("001-01 g\n")
    with pytest.raises(DatasetError, match="001-03.txt has no label"):
        writers("mcyt", tmp_path)


#: Per set: writers, and (references, genuine tests, forgeries) -> number of writers with them.
EXPECTED = {
    "svc2004-task2": (40, {(5, 15, 20): 40}),
    "svc2004-task1": (40, {(5, 15, 20): 40}),
    "susig": (104, {(5, 15, 10): 94, (5, 5, 10): 10}),
    "mcyt": (100, {(5, 20, 25): 30, (5, 0, 0): 70}),
    "cedar": (55, {(5, 19, 24): 55}),
}


@pytest.mark.parametrize("dataset", SETS)
def test_enumeration_of_the_shared_sets(dataset):
    _need(dataset)
    found = writers(dataset)
    n, shapes = EXPECTED[dataset]
    assert len(found) == n
    assert Counter((len(w.references), len(w.genuine), len(w.forgeries)) for w in found) == shapes
    assert all(s.path.is_file() for w in found[:3] for s in w.references + w.genuine + w.forgeries)
    assert {w.writer for w in found} == set().union(*(split(dataset, p) for p in PARTS))


def test_the_committed_split_file_is_what_the_generator_makes():
    for dataset in SETS:
        _need(dataset)
    assert datasets.dumps_splits(datasets.make_splits()) == datasets.SPLITS_FILE.read_text(), \
        f"regenerate with `{datasets.MAKE_SPLITS_COMMAND}`"


def test_load_set_gives_the_split_writers_references_first():
    from edgesig.eval.protocols import load_set
    _need("mcyt")
    users = load_set("mcyt", "train", 0, loader=lambda path: path)  # paths only: nothing is read
    assert {u.user for u in users} == {int(w) for w in split("mcyt", "train", 0)} - set(range(31, 101))
    for u in users:
        assert [p.parent.name for p in u.genuine] == ["enrollment"] * 5 + ["verification"] * 20
        assert len(u.forgery) == 25
