"""The registry: the user's models over the packaged ones, entry by entry, files beside their manifest."""
import shutil

from edgesig.runtime import MODELS_DIR, Manifest, ModelEntry, session_for


def test_user_entries_replace_packaged_ones_and_keep_their_own_files(tmp_path, monkeypatch):
    import edgesig.runtime as runtime
    packaged, user = tmp_path / "packaged", tmp_path / "user"
    gru = Manifest(MODELS_DIR).get("gru")
    Manifest(packaged).put(gru)
    shutil.copy(MODELS_DIR / gru.file, packaged / gru.file)
    Manifest(packaged).put(ModelEntry(name="dtw", version="packaged", modality="pen"))
    Manifest(user).put(ModelEntry(name="dtw", version="user", modality="pen"))
    shutil.copy(MODELS_DIR / gru.file, user / gru.file)
    Manifest(user).put(gru)

    monkeypatch.setattr(runtime, "MODELS_DIR", packaged)
    layered = Manifest(user_dir=user)
    assert layered.get("dtw").version == "user"
    assert layered.origin("gru") == user and layered.model_path(gru) == user / gru.file
    assert session_for(layered, gru) is not session_for(Manifest(packaged), gru)  # one session per file

    own = Manifest(packaged)
    assert own.get("dtw").version == "packaged" and own.origin("dtw") == packaged


def test_put_on_the_layered_registry_writes_only_the_packaged_folders_entries(tmp_path, monkeypatch):
    import edgesig.runtime as runtime
    packaged, user = tmp_path / "packaged", tmp_path / "user"
    Manifest(packaged).put(ModelEntry(name="dtw", version="packaged", modality="pen"))
    Manifest(user).put(ModelEntry(name="dtw", version="user", modality="pen"))
    monkeypatch.setattr(runtime, "MODELS_DIR", packaged)
    layered = Manifest(user_dir=user)
    layered.put(ModelEntry(name="flow", version="1", modality="image"))
    assert layered.get("dtw").version == "user"                      # the user's entry still wins
    assert Manifest(packaged).get("dtw").version == "packaged"       # and never leaks into the package
    assert sorted(Manifest(packaged).entries) == ["dtw", "flow"]


def test_fingerprint_pins_the_writer_dependent_background_too():
    """sigembed-wd's distances depend on its background file as much as on the network: an
    ensemble fitted on one background must not accept another with the same ONNX file."""
    def entry(background: str | None) -> ModelEntry:
        params = {"background": "bg.npz", "background_sha256": background} if background else {}
        return ModelEntry(name="sigembed-wd", version="t", modality="image", file="m.onnx", sha256="a" * 64,
                          params=params)
    assert entry(None).fingerprint == "a" * 64
    assert entry("b" * 64).fingerprint == entry("b" * 64).fingerprint != entry("c" * 64).fingerprint
    assert entry("b" * 64).fingerprint != "a" * 64


def test_recalibrating_a_parameters_only_member_keeps_it_pinned():
    """Enrolment calibration (``params.enroll``) of the installed descriptor changed its
    fingerprint and made the ensemble that fuses it refuse to load; its distances had not
    changed. A change to what it measures (its layout) must still unpin it."""
    base = ModelEntry(name="descriptor", version="t", modality="image",
                      params={"descriptor": {"bins": 12}, "combine": ["min"]})
    recalibrated = ModelEntry(name="descriptor", version="t", modality="image",
                              params={"descriptor": {"bins": 12}, "combine": ["mean"],
                                      "enroll": {"outlier_ratio": 1.4, "max_spread": 0.6}})
    other = ModelEntry(name="descriptor", version="t", modality="image", params={"descriptor": {"bins": 8}})
    assert base.fingerprint == recalibrated.fingerprint != other.fingerprint


def test_a_pool_measured_entry_decides_and_reports_with_its_own_files_measurement():
    """The terms and threshold an image entry decides with, and the EERs it reports, are the
    pool measurement of the file it ships: sdinet 2.0 shipped its fp32 file with the threshold,
    selection EER and test figures measured on its int8 file."""
    for name, entry in Manifest(MODELS_DIR).entries.items():
        pool = entry.metrics.get("pool")
        if pool is None:
            continue
        assert pool.get("file") == entry.file, name
        assert entry.calibration == pool["calibration"] and entry.params["combine"] == pool["combine"], name
        assert entry.metrics["selection_eer"] == entry.metrics["val_eer"] == pool["val_eer"], name
        assert entry.metrics.get("shipped_fold", {}).get("test", pool["test"]) == pool["test"], name


def test_every_image_model_file_decides_with_a_threshold_measured_on_that_file():
    """An image entry that ships a model file names the file its threshold was measured on
    (``metrics.pool.file``), and it is that file: sigembed and sigembed-wd 1.2.0 shipped their
    fp32 file at thresholds fitted on their int8 file's scores by ``embed ship``, which named no
    file, so the check above (entries with a pool measurement) passed them by."""
    for name, entry in Manifest(MODELS_DIR).entries.items():
        if entry.modality == "image" and entry.file and entry.calibration:
            assert entry.metrics.get("pool", {}).get("file") == entry.file, name
