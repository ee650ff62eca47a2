"""The flow engine as an optional ensemble member: its protocol distances are the engine's
own, a flow model that saw a held-out writer is refused, and the weight search takes a
third member. No data needed: toy flow trees and drawn curves stand in for signatures."""
from __future__ import annotations

import json

import numpy as np
import pytest

from edgesig.engines.flow import FlowEngine
from edgesig.errors import ModelError
from edgesig.offline.flow import to_grid
from edgesig.runtime import ModelEntry
from export.offline.data import ImageWriter
from export.offline.ensemble_fit import fit, flow_distances, load_flow
from export.offline.evaluate import UserDistances
from tests.offline.test_flow import CFG, _toy_model, blob_image


def _entry(**metrics: str) -> ModelEntry:
    model = _toy_model()
    return ModelEntry(name="flow", version="test", modality="image",
                      params={"flow": CFG.to_dict(), "prior": model.prior.to_dict(), "trees": model.trees.to_dict()},
                      calibration={"threshold": 1.0, "slope": 1.0}, metrics=dict(metrics))


def _writer(n_genuine: int = 7, n_forgery: int = 3) -> ImageWriter:
    """uint8 (n, 4 variants, 155, 220) ink = 255, as the cached renders; forgeries drawn further off."""
    def stack(shifts: list[int], seed: int) -> np.ndarray:
        imgs = [np.round(255 * blob_image(dx=s, seed=seed + k)).astype(np.uint8) for k, s in enumerate(shifts)]
        return np.stack([np.stack([im] * 4) for im in imgs])
    return ImageWriter("svc99", stack(list(range(n_genuine)), 0), stack([8] * n_forgery, 50))


def test_flow_distances_are_the_engines() -> None:
    engine, writer = FlowEngine(_entry()), _writer()
    d = flow_distances(engine, writer, variant=0, refs=5)
    assert d.refs.shape == (5, 5) and np.allclose(d.refs, d.refs.T) and np.all(np.diag(d.refs) == 0)
    assert d.genuine.shape == (2, 5) and d.forgery.shape == (3, 5)
    grid = [to_grid(a.astype(np.float32) / 255, CFG) for a in writer.genuine[:, 0]]
    assert np.allclose(d.genuine[1], engine.distances(grid[6], grid[:5]))
    assert np.allclose(d.refs, engine.pairwise(grid[:5]))


def test_load_flow_refuses_a_model_that_saw_held_out_writers(tmp_path) -> None:
    path = tmp_path / "flow.json"
    path.write_text(json.dumps({"entry": _entry(train_users="16-30", val_users="31-40").to_dict()}))
    assert isinstance(load_flow(path, range(1, 16)), FlowEngine)
    with pytest.raises(ModelError, match=r"\[31\]"):
        load_flow(path, [1, 31])
    path.write_text(json.dumps(_entry().to_dict()))
    with pytest.raises(ModelError, match="which writers"):
        load_flow(path, [1])


def _member(rng: np.random.Generator, separates: bool) -> dict[str, list[UserDistances]]:
    def user(k: int) -> UserDistances:
        refs = rng.uniform(0.05, 0.15, (5, 5))
        refs = (refs + refs.T) / 2
        np.fill_diagonal(refs, 0.0)
        far = (0.85, 0.95) if separates else (0.05, 0.95)
        return UserDistances(f"u{k}", refs, rng.uniform(0.05, 0.15, (6, 5)) if separates
                             else rng.uniform(0.05, 0.95, (6, 5)), rng.uniform(*far, (6, 5)))
    return {c: [user(k) for k in range(3)] for c in ("clean", "camera")}


def test_weight_search_takes_a_third_member() -> None:
    rng = np.random.default_rng(0)
    fitted = fit([_member(rng, False), _member(rng, False), _member(rng, True)], step=0.25)
    assert len(fitted.weights) == 3 and sum(fitted.weights) == pytest.approx(1.0)
    assert len(fitted.grid) == 15                      # the 0.25 grid of the 3-simplex
    assert fitted.weights[2] > 0 and fitted.val_eer == 0.0
