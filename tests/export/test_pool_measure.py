"""``python -m export offline pool measure ENGINE --record`` on tiny synthetic writers (the
pool is monkeypatched: no shared data needed), with the packaged SDINet file."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from edgesig.runtime import MODELS_DIR, Manifest, ModelEntry
from export.offline.data import VARIANTS, ImageWriter


def synthetic_writers(sets: dict[str, int], seed: int, size: tuple[int, int] = (155, 220),
                      ink: int = 255) -> dict[str, list[ImageWriter]]:
    """Per set, writers of sparse random ink (at SDINet's size unless ``size``): 7 genuine
    and 3 forgeries, one variant for a scan set ("cedar"), every style for a rendered one.
    tests/export/test_crosswriter_pool.py uses them too."""
    rng = np.random.default_rng(seed)
    out = {}
    for ds, n in sets.items():
        nv = 1 if ds == "cedar" else len(VARIANTS)
        out[ds] = [ImageWriter(f"{ds}:{k}", ((rng.random((7, nv, *size)) > 0.97) * ink).astype(np.uint8),
                               ((rng.random((3, nv, *size)) > 0.97) * ink).astype(np.uint8)) for k in range(n)]
    return out


def _pool_choosing_fp32(monkeypatch) -> None:
    """A ship's pool of tiny synthetic writers (train, validation and test parts of
    "cedar" and "svc") and a precision rule that ships fp32, for ship-sdinet and embed ship."""
    import export.offline.pool as pool
    import export.precision as precision
    from export.precision import PrecisionChoice
    parts = {name: synthetic_writers({"cedar": 2, "svc": 2}, seed)
             for seed, name in enumerate(("train", "val", "test"))}
    monkeypatch.setattr(pool, "load_pool", lambda sets, **kw: {})
    monkeypatch.setattr(pool, "part", lambda found, sets, name, fold=0: [w for ds in sets for w in parts[name][ds]])
    monkeypatch.setattr(pool, "held_out", lambda sets, fold, target="sdinet", **kw:
                        ([w for ds in sets for w in parts["val"][ds]], {ds: parts["test"][ds] for ds in sets}))
    monkeypatch.setattr(precision, "measure_precisions",
                        lambda fp32, int8, feeds, threads: PrecisionChoice(1.0, 1.0, threads))


def test_measure_record_gives_the_entry_the_terms_and_figures_of_its_own_file(tmp_path, monkeypatch):
    """--record wrote only the selection EER: the entry kept deciding with the threshold and
    terms measured on another file (sdinet 2.0: its int8 file's, while fp32 shipped)."""
    import export.offline.pool as pool
    from export.offline.pool_cli import measure
    val, test = synthetic_writers({"cedar": 2, "svc": 2}, 0), synthetic_writers({"cedar": 2, "svc": 2}, 1)
    monkeypatch.setattr(pool, "held_out", lambda sets, fold, target="sdinet", **kw:
                        ([w for ds in sets for w in val[ds]], {ds: test[ds] for ds in sets}))
    packaged = Manifest(MODELS_DIR).get("sdinet")
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(MODELS_DIR / packaged.file, models / packaged.file)
    stale = {"threshold": 9.0, "slope": 1.0, "bias": 0.0}
    Manifest(models).put(ModelEntry.from_dict({**packaged.to_dict(), "calibration": stale,
                                               "params": {**packaged.params, "combine": ["tmp"]},
                                               "metrics": {**packaged.metrics, "pool": {"file": "other.onnx"}}}))
    out = CliRunner().invoke(measure, ["sdinet", "--sets", "cedar,svc", "--models-dir", str(models), "--record",
                                       "--out", str(tmp_path / "m.json")])
    assert out.exit_code == 0, out.output
    r = json.loads((tmp_path / "m.json").read_text())
    entry = Manifest(models).get("sdinet")
    assert entry.file == packaged.file and entry.metrics["pool"]["file"] == entry.file
    assert entry.calibration == r["calibration"] != stale and entry.params["combine"] == r["combine"]
    assert entry.metrics["selection_eer"] == entry.metrics["val_eer"] == r["val_eer"]
    assert entry.metrics["shipped_fold"]["test"] == r["test"]
    assert set(r["test"]) == {f"{ds}/{c}/{i}" for ds, cs in (("cedar", ("scan",)), ("svc", ("clean", "camera")))
                              for c in cs for i in ("skilled", "random")}


@pytest.mark.usefixtures("one_thread")  # tests/conftest.py: skips without torch
def test_ship_sdinet_gives_the_entry_the_terms_of_the_precision_it_ships(tmp_path, monkeypatch):
    """ship-sdinet installed the int8 file with int8's terms; `python -m export precision`
    then pointed the entry at fp32 and kept them. Now ship-sdinet picks the precision itself
    and the entry decides with what was measured on the file it ships."""
    pytest.importorskip("onnx")
    import torch

    from export.checkpoint import save_checkpoint
    from export.offline.pool_cli import measure, ship
    from export.offline.sdinet import Sdinet, SdinetConfig
    from export.offline.train import TrainConfig
    torch.manual_seed(0)
    cfg = TrainConfig(steps=1, batch=4, net=SdinetConfig(c1=4, c2=4, c3=8, detail=2, hidden=8, lstm_layers=2,
                                                         fused=8))
    work = tmp_path / "work"
    save_checkpoint(Sdinet(cfg.net).eval(), cfg, work / "fold0.pt", {"fold": 0})
    (work / "fold0.json").write_text(json.dumps({"fold": 0, "sets": ["cedar", "svc"], "train_writers": ["cedar:0"],
                                                 "train_seconds": 1.0}))
    _pool_choosing_fp32(monkeypatch)
    models = tmp_path / "models"
    out = CliRunner().invoke(ship, ["--work", str(work), "--models-dir", str(models), "--version", "9.0.0"])
    assert out.exit_code == 0, out.output
    entry = Manifest(models).get("sdinet")
    assert entry.version == "9.0.0" and entry.file == entry.extra["fp32_file"] == "sdinet-fp32.onnx"
    out = CliRunner().invoke(measure, ["sdinet", "--sets", "cedar,svc", "--models-dir", str(models),
                                       "--out", str(tmp_path / "fp32.json")])
    assert out.exit_code == 0, out.output
    fp32 = json.loads((tmp_path / "fp32.json").read_text())
    assert entry.calibration == fp32["calibration"] and entry.params["combine"] == fp32["combine"]
    assert entry.metrics["selection_eer"] == fp32["val_eer"] and entry.metrics["pool"]["file"] == "sdinet-fp32.onnx"


@pytest.mark.usefixtures("one_thread")  # tests/conftest.py: skips without torch
def test_embed_ship_gives_both_routes_the_terms_and_background_of_the_precision_they_ship(tmp_path, monkeypatch):
    """embed ship installed sigembed and sigembed-wd as int8 files with int8's terms, threshold
    and background; `python -m export precision` then pointed them at fp32 and kept all three
    (sigembed 1.2.0). Now embed ship picks the precision itself, and `pool measure` of each
    installed route (the engine as the kiosk runs it) finds the terms and threshold it ships."""
    pytest.importorskip("onnx")
    import torch

    import export.offline.pool as pool
    from edgesig.engines.sigembed import load_background
    from export.checkpoint import save_checkpoint
    from export.offline.embed_cli import onnx_embedder, ship
    from export.offline.pool_cli import measure
    from export.offline.pool_eval import embedding_comparator, evaluate, user_model_comparator
    from export.offline.sigembed import EmbedConfig, SigEmbed
    torch.manual_seed(0)
    cfg = EmbedConfig(width=4, steps=1, batch=4)
    work = tmp_path / "work"
    save_checkpoint(SigEmbed.of(cfg).eval(), cfg, work / "fold0.pt", {"fold": 0})
    (work / "fold0.json").write_text(json.dumps({"fold": 0, "sets": ["cedar", "svc"], "train_writers": ["cedar:0"],
                                                 "train_seconds": 1.0, "config": cfg.to_dict()}))
    _pool_choosing_fp32(monkeypatch)
    models = tmp_path / "models"
    models.mkdir()
    out = CliRunner().invoke(ship, ["--work", str(work), "--models-dir", str(models), "--version", "9.0.0",
                                    "--threads", "1"])
    assert out.exit_code == 0, out.output
    manifest = Manifest(models)
    embedder = onnx_embedder(models / "sigembed-fp32.onnx", 1)
    shipped = {"sigembed": embedding_comparator(embedder),
               "sigembed-wd": user_model_comparator(embedder, *load_background(manifest.get("sigembed-wd"), manifest))}
    for name, compare in shipped.items():
        entry = manifest.get(name)
        assert entry.version == "9.0.0" and entry.file == entry.extra["fp32_file"] == "sigembed-fp32.onnx", name
        fp32 = evaluate(compare, *pool.held_out(["cedar", "svc"], 0))   # the shipped file and background
        assert entry.calibration == fp32["calibration"] and entry.params["combine"] == fp32["combine"], name
        assert entry.metrics["selection_eer"] == fp32["val_eer"] and entry.metrics["pool"]["file"] == entry.file
        out = CliRunner().invoke(measure, [name, "--sets", "cedar,svc", "--models-dir", str(models), "--record",
                                           "--parity"])
        assert out.exit_code == 0, out.output   # measure runs the installed route as the kiosk does
        measured = Manifest(models).get(name).metrics
        assert measured["pool"]["file"] == measured["parity_files"]["fp32"] == "sigembed-fp32.onnx"
        assert measured["parity"]["validation"]["fp32_eer"] == measured["val_eer"]
        assert set(measured["parity"]) == set(measured["pool"]["test"]) | {"validation"}


def test_parity_without_record_is_refused_before_measuring():
    """--parity alone scored the entry's file and its other precision on the pool, then
    recorded nothing and said nothing of it."""
    from export.offline.pool_cli import measure
    out = CliRunner().invoke(measure, ["sdinet", "--parity"])
    assert out.exit_code == 2 and "add --record" in out.output, out.output
