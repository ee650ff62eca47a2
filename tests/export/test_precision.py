"""export.precision: int8 ships only where it is measurably faster; the entry keeps every field."""
from __future__ import annotations

import shutil

import pytest

import export.precision as precision
from edgesig.runtime import MODELS_DIR, Manifest, sha256_file
from export.precision import PrecisionChoice, ship_precision


@pytest.mark.parametrize("fp32_ms, int8_ms, shipped", [(1.0, 1.2, "fp32"), (1.0, 0.8, "fp32"), (1.3, 1.0, "int8")])
def test_int8_ships_only_when_at_least_the_minimum_speedup(fp32_ms, int8_ms, shipped):
    assert PrecisionChoice(fp32_ms, int8_ms, threads=1).chosen == shipped


@pytest.mark.parametrize("speedup", [0.84, 1.5])
def test_ship_precision_points_the_entry_at_the_faster_file(tmp_path, monkeypatch, speedup):
    source = Manifest(MODELS_DIR).get("gru")
    for name in (source.extra["fp32_file"], source.extra["int8_file"]):
        shutil.copy(MODELS_DIR / name, tmp_path / name)
    int8_entry = {**source.to_dict(), "file": source.extra["int8_file"], "extra": {}}
    int8_entry["metrics"] = {k: v for k, v in source.metrics.items() if k != "precision"}
    manifest = Manifest(tmp_path)
    manifest.put(type(source).from_dict(int8_entry))
    monkeypatch.setattr(precision, "measure_precisions",
                        lambda fp32, int8, feeds, threads: PrecisionChoice(speedup, 1.0, threads))
    choice = ship_precision(manifest, "gru", tmp_path / source.extra["fp32_file"],
                            tmp_path / source.extra["int8_file"], feeds={})
    entry = Manifest(tmp_path).get("gru")
    assert entry.file == entry.extra[f"{choice.chosen}_file"] and entry.sha256 == sha256_file(tmp_path / entry.file)
    assert entry.metrics["precision"]["int8_speedup"] == speedup
    assert {k: v for k, v in entry.metrics.items() if k != "precision"} == int8_entry["metrics"]
    assert entry.calibration == source.calibration and entry.params == source.params


@pytest.mark.parametrize("name", [e for e, entry in Manifest(MODELS_DIR).entries.items()
                                  if "precision" in entry.metrics])
def test_every_shipped_model_is_in_the_measured_precision(name):
    """Each packaged model with both files ships the precision its measurement chose."""
    entry = Manifest(MODELS_DIR).get(name)
    measured = entry.metrics["precision"]
    assert entry.file == entry.extra[f"{measured['shipped']}_file"]
    assert measured["shipped"] == PrecisionChoice(measured["fp32_ms"], measured["int8_ms"], threads=1).chosen


def test_every_packaged_onnx_model_has_its_precision_measured():
    """No ONNX model ships a precision nobody timed (SDINet 2.0 and the cross-writer
    network shipped int8 at 0.89-0.95x fp32 until 2026-12-07)."""
    manifest = Manifest(MODELS_DIR)
    onnx_entries = [n for n, e in manifest.entries.items() if e.file and e.file.endswith(".onnx")]
    assert {n for n in onnx_entries if "precision" not in manifest.get(n).metrics} == set()


def test_dequantize_rebuilds_fp32_from_the_int8_weights(tmp_path):
    """The shipped GRU's int8 file, dequantized, has no DequantizeLinear left and follows
    the fp32 export it was quantized from."""
    import numpy as np

    import onnx
    from edgesig.runtime import InferSession
    from export.precision import dequantize
    entry = Manifest(MODELS_DIR).get("gru")
    rebuilt = dequantize(MODELS_DIR / entry.extra["int8_file"], tmp_path / "gru-rebuilt.onnx")
    assert "DequantizeLinear" not in {n.op_type for n in onnx.load(str(rebuilt)).graph.node}
    feats = {"features": np.random.default_rng(0).standard_normal((80, 11)).astype(np.float32)}
    a = InferSession(rebuilt).run(feats)[0].ravel()
    b = InferSession(MODELS_DIR / entry.extra["fp32_file"]).run(feats)[0].ravel()
    assert float(a @ b / np.linalg.norm(a) / np.linalg.norm(b)) > 0.99


@pytest.mark.parametrize("name, shape", [("sdinet", (3, 2, 155, 220)), ("crosswriter", (3, 2, 224, 224))])
def test_dequantize_turns_dynamic_quantization_back_to_float(tmp_path, name, shape):
    """Dynamically quantized LSTMs and MatMuls (SDINet, the cross-writer network) come
    back as float LSTM / MatMul: no integer op is left, the graph is valid, and the
    output follows the int8 file's (the fp32 these models ship is rebuilt this way)."""
    import numpy as np

    import onnx
    from edgesig.runtime import InferSession
    from export.precision import dequantize
    entry = Manifest(MODELS_DIR).get(name)
    int8 = MODELS_DIR / entry.extra.get("int8_file", entry.file)
    rebuilt = onnx.load(str(dequantize(int8, tmp_path / f"{name}-rebuilt.onnx")))
    onnx.checker.check_model(rebuilt)
    ops = {n.op_type for n in rebuilt.graph.node}
    assert not ops & {"DynamicQuantizeLSTM", "MatMulInteger", "DynamicQuantizeLinear",
                      "QuantizeLinear", "DequantizeLinear"}, ops
    rng = np.random.default_rng(0)
    pair = {"pair": (rng.random(shape) * (rng.random(shape) > 0.9)).astype(np.float32)}
    a = InferSession(tmp_path / f"{name}-rebuilt.onnx").run(pair)[0]
    b = InferSession(int8).run(pair)[0]
    np.testing.assert_allclose(a, b, atol=0.05)


@pytest.mark.parametrize("speedup, warned", [(0.84, True), (1.5, False)])
def test_precision_command_says_when_the_entry_now_ships_a_file_its_threshold_was_not_measured_on(
        tmp_path, monkeypatch, speedup, warned):
    """`python -m export precision` swapped sdinet 2.0 to fp32 without a word: the entry kept
    deciding with the int8 file's threshold until someone noticed."""
    from click.testing import CliRunner

    from export.__main__ import precision as precision_command
    source = Manifest(MODELS_DIR).get("gru")
    for name in (source.extra["fp32_file"], source.extra["int8_file"]):
        shutil.copy(MODELS_DIR / name, tmp_path / name)
    Manifest(tmp_path).put(type(source).from_dict({**source.to_dict(), "file": source.extra["int8_file"]}))
    monkeypatch.setattr(precision, "measure_precisions",
                        lambda fp32, int8, feeds, threads: PrecisionChoice(speedup, 1.0, threads))
    out = CliRunner().invoke(precision_command, ["gru", "--fp32", str(tmp_path / source.extra["fp32_file"]),
                                                 "--int8", str(tmp_path / source.extra["int8_file"]),
                                                 "--models-dir", str(tmp_path)])
    assert out.exit_code == 0, out.output
    assert ("still those measured on gru_int8.onnx" in out.output) == warned
