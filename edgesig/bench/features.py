"""Feature extraction and preprocessing: LNPS alone, each engine's full pen pipeline, and
the offline image preparation when the offline pipeline is installed.

These are the stages under the verify latency; timing them alone shows where a
regression comes from.
"""
from __future__ import annotations

from edgesig.bench.context import NUMBA_NOTE, Context, installed_engines, optional_attr
from edgesig.bench.inputs import cycle, image_set, path_xy, pen_set, photo_set
from edgesig.bench.record import Row, Section
from edgesig.bench.timing import measure
from edgesig.engines import load_engine
from edgesig.errors import EdgesigError

#: The LNPS configuration timed alone: (x, y) path, the shipped window and level.
LNPS_WINDOW, LNPS_LEVEL = 9, 2


def _photo_rows(ctx: Context, section: Section, prepare, target: str) -> list[Row]:
    """The whole kiosk path: find the sheet in a photo, unwarp, clean, crop, normalise."""
    photos = photo_set(ctx.seed)
    if photos is None:
        section.notes.append("kiosk photo prepare: skipped: edgesig.synth.sheet_photo is not installed")
        return []
    if photos.refused:
        section.notes.append(f"offline prepare refused {len(photos.refused)} of "
                             f"{len(photos.refused) + len(photos.images)} synthetic kiosk photos; replaced")
    if not photos.images:
        return []
    h, w = photos.images[0].shape[:2]
    timed = measure(cycle(lambda img: prepare(img, target), photos.images), ctx.effort.lighter())
    return [Row.of(f"offline prepare -> {target}, kiosk photo {h}x{w} px", timed, None,
                   {"target": target, "image": [h, w]}, f"preprocess.offline.photo.{target}")]


def run_lnps(ctx: Context) -> Section:
    from edgesig.features.lnps import lnps
    section = Section("lnps", f"LNPS feature extraction (x, y path, window {LNPS_WINDOW}, level {LNPS_LEVEL})")
    for n in ctx.lengths:
        path = path_xy(pen_set(n, ctx.seed).queries[0])
        timed = measure(lambda: lnps(path, LNPS_WINDOW, LNPS_LEVEL), ctx.effort)
        section.rows.append(Row.of(f"lnps {n} pts", timed, None, {"points": n}, f"lnps.n{n}"))
    section.notes.append(NUMBA_NOTE)
    return section


def run_preprocess(ctx: Context) -> Section:
    """kinematics.extract with each installed pen engine's feature configuration."""
    from edgesig.features.kinematics import FeatureConfig, extract
    section = Section("preprocess", "Preprocessing (pen features per engine; offline image preparation)")
    configs = {e.name: FeatureConfig.from_dict(e.params.get("features", {}))
               for e in installed_engines(ctx, "pen")}
    if not configs:
        configs = {"default": FeatureConfig()}
        section.notes.append("no pen engine installed: timed the default FeatureConfig")
    for name, cfg in configs.items():
        for n in ctx.lengths:
            pen = pen_set(n, ctx.seed).queries[0]
            timed = measure(lambda: extract(pen, cfg), ctx.effort)
            section.rows.append(Row.of(f"extract ({name} features) {n} pts", timed, None,
                                       {"engine": name, "points": n, "dim": cfg.dim}, f"preprocess.{name}.n{n}"))
    section.rows.extend(_offline_rows(ctx, section))
    section.notes.append(NUMBA_NOTE)
    return section


def _offline_rows(ctx: Context, section: Section) -> list[Row]:
    """The offline pipeline (image -> model input) per target, and each image engine's prepare."""
    prepare = optional_attr("edgesig.offline.pipeline", "prepare")
    if prepare is None:
        section.notes.append("offline prepare: skipped: edgesig.offline.pipeline is not installed")
        return []
    from edgesig.offline.pipeline import TARGETS
    iset = image_set(ctx.seed)
    imgs = iset.images
    if iset.refused:
        section.notes.append(
            f"offline prepare refused {len(iset.refused)} of {len(iset.refused) + len(imgs)} rendered scans "
            f"of one writer with an ImageError; they were replaced. Reproduce: "
            f"edgesig.offline.pipeline.prepare(edgesig.bench.inputs.image_set({ctx.seed}).refused[0])")
    h, w = imgs[0].shape[:2]
    rows = []
    for target in TARGETS:
        timed = measure(cycle(lambda img, t=target: prepare(img, t), imgs), ctx.effort.lighter())
        rows.append(Row.of(f"offline prepare -> {target}, scan ~{h}x{w} px", timed, None,
                           {"target": target, "image": [h, w]}, f"preprocess.offline.{target}"))
    rows += _photo_rows(ctx, section, prepare, TARGETS[0])
    for entry in installed_engines(ctx, "image"):
        try:
            engine = load_engine(entry.name, ctx.manifest(), 1)
        except EdgesigError as exc:
            section.notes.append(f"prepare ({entry.name} engine): skipped: {exc}")
            continue
        timed = measure(cycle(engine.prepare, imgs), ctx.effort.lighter())
        rows.append(Row.of(f"engine.prepare ({entry.name}), scan ~{h}x{w} px", timed, None,
                           {"engine": entry.name, "image": [h, w]}, f"preprocess.{entry.name}.image"))
    return rows
