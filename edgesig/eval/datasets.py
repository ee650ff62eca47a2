"""The signature sets in ``../shared/data``: writers, their samples, and one split file.

Training (``python -m export``) and evaluation (``edgesig eval``) both enumerate data
through this module, so a set is read one way and a writer's part (train, validation,
test) is the same everywhere. Enumeration lists file paths only; nothing is loaded.

Protocol per set (skilled forgeries, 5 references, as published results use them):

- ``svc2004-task2``, ``svc2004-task1`` (``U{w}S{k}.TXT``): references S1-S5, genuine
  tests S6-S20, skilled forgeries S21-S40. The competition captured the genuine
  signatures in two sessions a week apart, S1-S10 and S11-S20.
- ``susig`` (SUSig Visual, ``GENUINE/SESSION{s}/{w}_{s}_{k}.sig``, ``FORGERY/{w}_f_{k}.sig``):
  references the first 5 of session 1, genuine tests the rest of session 1 and all of
  session 2 (10 writers have no session 2), 10 skilled forgeries.
- ``mcyt`` (``enrollment/{w}-g-{k}.txt``, ``verification/{w}-{k}.txt`` labelled ``g``/``f``
  in ``gt.txt``): references the 5 enrolment files; writers 001-030 have 20 genuine tests
  and 25 skilled forgeries, writers 031-100 have the references only (train-only writers).
- ``cedar`` (``original_{w}_{k}.png``, ``forgeries_{w}_{k}.png``): references originals
  1-5, genuine tests originals 6-24, 24 skilled forgeries.

``Sample.session`` is the genuine capture session (1 or 2; 1 where a set has only one);
forgeries, written by other people, have session 0.

Splits (``splits.json`` beside this module, made by
``python -m edgesig.eval.datasets make-splits --out edgesig/eval/splits.json``): for each
set, the writers that have skilled forgeries are shuffled with a fixed seed and cut into
4 quarters. Fold ``i`` tests on quarter ``i``, validates on quarter ``(i+1) mod 4`` and
trains on the other two plus the writers without forgeries (MCYT 031-100), so no writer
is in two parts of a fold and every writer is tested in exactly one fold. Fold 0 is the
fixed train/validation/test split. Online writers rendered to paper for the offline
models keep their online set's parts, so a writer never crosses parts in any modality.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import zlib
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from edgesig.errors import DatasetError, InvalidInputError

SETS = ("svc2004-task2", "svc2004-task1", "susig", "mcyt", "cedar")
PARTS = ("train", "val", "test")
FOLDS = 4
SEED = 2026
REFERENCES = 5
#: ``../shared/data`` beside the repository, where tests/conftest.py looks too.
DEFAULT_ROOT = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SPLITS_FILE = Path(__file__).with_name("splits.json")
MAKE_SPLITS_COMMAND = "python -m edgesig.eval.datasets make-splits --out edgesig/eval/splits.json"

_FOLDERS = {"svc2004-task2": "svc2004_task2", "svc2004-task1": "svc2004_task1",
            "susig": "susig_visual", "mcyt": "mcyt_subset", "cedar": "cedar"}


@dataclass(frozen=True)
class Sample:
    """One signature file; ``session`` is 0 for a forgery."""

    path: Path
    writer: str
    genuine: bool
    session: int


@dataclass(frozen=True)
class WriterSamples:
    """One writer of a set under its protocol: enrolment references, genuine tests, forgeries."""

    dataset: str
    writer: str
    references: tuple[Sample, ...]
    genuine: tuple[Sample, ...]
    forgeries: tuple[Sample, ...]


def dataset_dir(dataset: str, root: str | Path | None = None) -> Path:
    """The folder of ``dataset`` under ``root`` (default ``../shared/data`` beside the repo)."""
    _check_set(dataset)
    folder = Path(root if root is not None else DEFAULT_ROOT) / _FOLDERS[dataset]
    if not folder.is_dir():
        raise DatasetError(f"the {dataset} folder {folder} does not exist; put the set there "
                           "(see ../shared/data/README.md) or pass root= / --data with the folder "
                           "that holds it")
    return folder


def writers(dataset: str, root: str | Path | None = None) -> list[WriterSamples]:
    """Every writer of ``dataset``, sorted by id, with the protocol's sample roles."""
    folder = dataset_dir(dataset, root)
    found = sorted(_ENUMERATORS[dataset](folder), key=lambda w: _writer_key(w.writer))
    if not found:
        raise DatasetError(f"no {dataset} signature files in {folder}; the folder must hold the set "
                           "as ../shared/data/README.md describes it")
    return found


def split(dataset: str, part: str, fold: int = 0) -> list[str]:
    """Writer ids of ``part`` ("train", "val" or "test") of ``fold`` of ``dataset``."""
    _check_set(dataset)
    if part not in PARTS:
        raise InvalidInputError(f"part must be one of {', '.join(PARTS)}, got {part!r}")
    if not (isinstance(fold, int) and 0 <= fold < FOLDS):
        raise InvalidInputError(f"fold must be an integer in 0..{FOLDS - 1}, got {fold!r}")
    return list(_splits()["sets"][dataset]["folds"][fold][part])


def make_splits(root: str | Path | None = None, seed: int = SEED) -> dict:
    """The content of ``splits.json`` for the sets under ``root`` (reads file names only)."""
    return {"command": MAKE_SPLITS_COMMAND, "seed": seed, "folds": FOLDS,
            "sets": {name: {"folds": _folds(name, writers(name, root), seed)} for name in SETS}}


def dumps_splits(splits: dict) -> str:
    """The split file's text: indented, with each list of writer ids on one line for review."""
    text = json.dumps(splits, indent=1)
    return re.sub(r"\[\s+([^\[\]{}]*?)\s+\]", lambda m: "[" + " ".join(m.group(1).split()) + "]", text) + "\n"


@lru_cache(maxsize=1)
def _splits() -> dict:
    try:
        return json.loads(SPLITS_FILE.read_text())
    except (OSError, ValueError) as exc:
        raise DatasetError(f"cannot read the split file {SPLITS_FILE} ({exc}); reinstall edgesig or "
                           f"regenerate it with `{MAKE_SPLITS_COMMAND}`") from None


def _folds(dataset: str, found: list[WriterSamples], seed: int) -> list[dict[str, list[str]]]:
    """Writer-disjoint folds: quarters of the forged writers, train-only writers always train."""
    forged = [w.writer for w in found if w.forgeries]
    train_only = [w.writer for w in found if not w.forgeries]
    rng = np.random.default_rng([seed, zlib.crc32(dataset.encode())])  # per set, not per set order
    quarters = [sorted(q.tolist(), key=_writer_key) for q in np.array_split(rng.permutation(forged), FOLDS)]
    folds = []
    for i in range(FOLDS):
        val_i = (i + 1) % FOLDS
        train = [w for j, q in enumerate(quarters) if j not in (i, val_i) for w in q] + train_only
        folds.append({"train": sorted(train, key=_writer_key), "val": quarters[val_i], "test": quarters[i]})
    return folds


def _check_set(dataset: str) -> None:
    if dataset not in SETS:
        raise InvalidInputError(f"unknown data set {dataset!r}; known: {', '.join(SETS)}")


def _writer_key(writer: str) -> tuple[int, str]:
    return (int(writer), writer) if writer.isdigit() else (sys.maxsize, writer)


def _numbered(folder: Path, pattern: str) -> dict[str, dict[int, Path]]:
    """Files of ``folder`` whose name fully matches ``pattern`` (groups: writer, number)."""
    out: dict[str, dict[int, Path]] = {}
    regex = re.compile(pattern, flags=re.IGNORECASE)
    for path in folder.iterdir() if folder.is_dir() else ():
        m = regex.fullmatch(path.name)
        if m:
            out.setdefault(m.group(1), {})[int(m.group(2))] = path
    return out


def _samples(files: dict[int, Path], numbers: Iterable[int], writer: str,
             session: int | Callable[[int], int] = 0) -> tuple[Sample, ...]:
    """Samples for the ``numbers`` present in ``files``; session 0 (the default) marks forgeries."""
    def session_of(k: int) -> int:
        return session(k) if callable(session) else session
    return tuple(Sample(files[k], writer, session_of(k) != 0, session_of(k)) for k in numbers if k in files)


def _svc2004_session(k: int) -> int:
    return 1 if k <= 10 else 2  # S1-S10 and S11-S20 were captured a week apart


def _svc2004(folder: Path, dataset: str) -> Iterator[WriterSamples]:
    for writer, files in _numbered(folder, r"U(\d+)S(\d+)\.txt").items():
        yield WriterSamples(dataset, writer, _samples(files, range(1, 6), writer, _svc2004_session),
                            _samples(files, range(6, 21), writer, _svc2004_session),
                            _samples(files, range(21, 41), writer))


def _susig(folder: Path) -> Iterator[WriterSamples]:
    sessions = [_numbered(folder / "GENUINE" / f"SESSION{s}", rf"(\d+)_{s}_(\d+)\.sig") for s in (1, 2)]
    forged = _numbered(folder / "FORGERY", r"(\d+)_f_(\d+)\.sig")
    for writer in sorted(set(sessions[0]) | set(sessions[1]) | set(forged)):
        one, two = sessions[0].get(writer, {}), sessions[1].get(writer, {})
        first = sorted(one)
        yield WriterSamples("susig", writer,
                            _samples(one, first[:REFERENCES], writer, 1),
                            _samples(one, first[REFERENCES:], writer, 1) + _samples(two, sorted(two), writer, 2),
                            _samples(forged.get(writer, {}), sorted(forged.get(writer, {})), writer))


def _mcyt(folder: Path) -> Iterator[WriterSamples]:
    enrolled = _numbered(folder / "enrollment", r"(\d+)-g-(\d+)\.txt")
    tests = _numbered(folder / "verification", r"(\d+)-(\d+)\.txt")
    labels = _mcyt_labels(folder / "gt.txt") if tests else {}
    for writer in sorted(set(enrolled) | set(tests)):
        files = tests.get(writer, {})
        unlabelled = [k for k in files if (writer, k) not in labels]
        if unlabelled:
            raise DatasetError(f"{files[unlabelled[0]]} has no label in {folder / 'gt.txt'}; the MCYT "
                               "ground truth must list every verification file as 'WWW-KK g|f'")
        refs = enrolled.get(writer, {})
        by_label = {lab: [k for k in sorted(files) if labels[writer, k] == lab] for lab in "gf"}
        yield WriterSamples("mcyt", writer, _samples(refs, sorted(refs), writer, 1),
                            _samples(files, by_label["g"], writer, 1), _samples(files, by_label["f"], writer))


def _mcyt_labels(path: Path) -> dict[tuple[str, int], str]:
    if not path.is_file():
        raise DatasetError(f"{path} is missing; MCYT verification files need their g/f labels from it")
    labels = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        m = re.fullmatch(r"\s*(\d+)-(\d+)\s+([gf])\s*", line)
        if not m and line.strip():
            raise DatasetError(f"{path} line {number} is {line!r:.40}; expected 'WWW-KK g' or 'WWW-KK f'")
        if m:
            labels[m.group(1), int(m.group(2))] = m.group(3)
    return labels


def _cedar(folder: Path) -> Iterator[WriterSamples]:
    originals = _numbered(folder, r"original_(\d+)_(\d+)\.png")
    forged = _numbered(folder, r"forgeries_(\d+)_(\d+)\.png")
    for writer in sorted(set(originals) | set(forged)):
        files = originals.get(writer, {})
        yield WriterSamples("cedar", writer, _samples(files, range(1, 6), writer, 1),
                            _samples(files, range(6, 25), writer, 1),
                            _samples(forged.get(writer, {}), sorted(forged.get(writer, {})), writer))


_ENUMERATORS: dict[str, Callable[[Path], Iterator[WriterSamples]]] = {
    "svc2004-task2": partial(_svc2004, dataset="svc2004-task2"),
    "svc2004-task1": partial(_svc2004, dataset="svc2004-task1"),
    "susig": _susig, "mcyt": _mcyt, "cedar": _cedar}


def main(argv: list[str] | None = None) -> None:
    """``make-splits``: write the split file; ``summary``: writers and samples per set."""
    parser = argparse.ArgumentParser(prog="python -m edgesig.eval.datasets", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    make = sub.add_parser("make-splits", help="regenerate splits.json from the data folders")
    make.add_argument("--root", default=None, help=f"data root (default {DEFAULT_ROOT})")
    make.add_argument("--out", default=None, help="write here instead of printing")
    summary = sub.add_parser("summary", help="writers and sample counts per set")
    summary.add_argument("--root", default=None)
    args = parser.parse_args(argv)
    if args.command == "make-splits":
        text = dumps_splits(make_splits(args.root))
        if args.out:
            Path(args.out).write_text(text)
        else:
            sys.stdout.write(text)
        return
    for name in SETS:
        found = writers(name, args.root)
        counts = [sum(len(getattr(w, role)) for w in found) for role in ("references", "genuine", "forgeries")]
        print(f"{name}: {len(found)} writers ({sum(bool(w.forgeries) for w in found)} with forgeries), "
              f"{counts[0]} references, {counts[1]} genuine tests, {counts[2]} forgeries")


if __name__ == "__main__":
    main()
