"""The identification backbone end to end: a few training steps on synthetic renders ->
fp32 ONNX -> int8 QDQ -> manifest entry with hash -> runtime Embedder -> Identifier."""
from __future__ import annotations

import shutil
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from edgesig.errors import InvalidInputError, ModelError  # noqa: E402
from edgesig.identify import Embedder, Identifier, backbone_embedding  # noqa: E402
from edgesig.offline import Box, PreparedImage  # noqa: E402
from edgesig.runtime import InferSession, Manifest, ModelEntry, sha256_file  # noqa: E402
from export.identify_backbone import IdNet, export_int8, synthetic_genuine, to_input, train_classifier  # noqa: E402
from export.offline.to_onnx import inspect  # noqa: E402


def _prepared(array: np.ndarray) -> PreparedImage:
    h, w = array.shape
    return PreparedImage(array=array, target="sdinet", box=Box(0, 0, w, h), sheet_size=(w, h), sheet_corners=None)


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    writers = synthetic_genuine(4, per_writer=6)
    model = train_classifier(IdNet(width=4), writers, steps=3, lr=1e-3, batch=8)
    out = tmp_path_factory.mktemp("idnet")
    fp32, int8 = export_int8(model, out, to_input([a for w in writers for a in w[:2]]))
    return writers, model, fp32, int8


def test_int8_file_holds_int8_weights_but_the_stem(shipped):
    from export.offline.to_onnx import stem_convs
    _, _, fp32, int8 = shipped
    info = inspect(int8)
    assert info["float_weight_ops"] == stem_convs(fp32)
    assert info["ops"].get("DequantizeLinear", 0) > 0
    assert int8.stat().st_size < fp32.stat().st_size


def test_stem_convs_names_the_convolution_that_reads_the_image(shipped):
    import onnx
    from export.offline.to_onnx import stem_convs
    _, _, fp32, _ = shipped
    convs = [n.name for n in onnx.load(str(fp32)).graph.node if n.op_type == "Conv"]
    assert len(convs) > 2 and stem_convs(fp32) == convs[:1]


def test_int8_embedding_follows_torch(shipped):
    writers, model, _, int8 = shipped
    session = InferSession(int8)
    arrays = [a for w in writers for a in w[:3]]
    onnx_emb = np.stack([backbone_embedding(session, a) for a in arrays])
    with torch.no_grad():
        torch_emb = model(torch.from_numpy(to_input(arrays))).numpy()
    cos = (onnx_emb * torch_emb).sum(1) / (np.linalg.norm(onnx_emb, axis=1) * np.linalg.norm(torch_emb, axis=1))
    assert onnx_emb.shape == (len(arrays), 128)
    assert cos.min() > 0.95


def test_runtime_entry_checks_the_hash_and_embeds(shipped, tmp_path):
    writers, _, _, int8 = shipped
    shutil.copyfile(int8, tmp_path / "id-image-int8.onnx")
    entry = ModelEntry(name="id-image", version="test", modality="image", file="id-image-int8.onnx",
                       sha256=sha256_file(tmp_path / "id-image-int8.onnx"),
                       params={"source": "image-backbone", "mean": [0.0] * 128, "std": [1.0] * 128})
    manifest = Manifest(tmp_path)
    manifest.put(entry)
    embedder = Embedder.from_entry(manifest.get("id-image"), manifest)
    assert embedder.modality == "image"
    prepared = [[_prepared(a) for a in w] for w in writers]  # already normalised renders
    ident = Identifier()
    for i, w in enumerate(prepared):
        ident.add(f"w{i}", embedder.embed_many(w[:3]))
    ids, scores = ident.scores(embedder.embed(prepared[0][4]))
    assert len(ids) == len(writers) and np.all(np.isfinite(scores))
    with pytest.raises(InvalidInputError):
        backbone_embedding(embedder.engine, np.zeros((4, 4), np.float32))
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "id-image-int8.onnx").write_bytes(b"not a model")  # the recorded hash no longer matches
    Manifest(bad).put(entry)
    with pytest.raises(ModelError, match="id-image-int8.onnx"):
        Embedder.from_entry(Manifest(bad).get("id-image"), Manifest(bad))
