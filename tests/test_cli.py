import json

from click.testing import CliRunner

from edgesig.cli import cli


def test_demo_runs_and_reports_eer():
    result = CliRunner().invoke(cli, ["demo", "--writers", "2", "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert "EER over these writers" in result.output
    assert result.output.count("genuine") >= 8 and "forgery" in result.output


def test_eval_svc2004_writes_report(svc_dir, tmp_path):
    result = CliRunner().invoke(cli, ["eval", "svc2004", str(svc_dir), "--users", "7-8",
                                      "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["users"] == 2 and report["genuine_tests"] == 30 and report["forgery_tests"] == 40
    assert 0.0 <= report["eer"] <= 1.0 and 0.5 <= report["auc"] <= 1.0
    assert {"far", "frr", "threshold", "mean_user_eer"} <= report.keys()
    lo, hi = report["eer_ci95"]
    assert lo <= report["eer"] <= hi and "95 % over writers" in result.output
    for name in ("roc.png", "det.png", "scores.png"):
        assert (tmp_path / name).stat().st_size > 1000
    assert "in-sample" not in result.output                 # fold 0 test writers: DTW never saw them


def test_eval_says_which_users_the_engine_has_seen(svc_dir, tmp_path):
    """Figures on writers a model was tuned or trained on are in-sample; the command says
    so, naming them, instead of letting them pass for writer-independent ones."""
    result = CliRunner().invoke(cli, ["eval", "svc2004", str(svc_dir), "--engine", "dtw", "--users", "19-20",
                                      "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    from edgesig.eval.protocols import format_users
    from edgesig.runtime import Manifest
    assert "dtw was trained, tuned or validated on users 20, so their figures are in-sample" in result.output
    assert f"its unseen users are {format_users(Manifest().get('dtw').unseen_users)}" in result.output


def test_tune_on_tiny_split_without_install(svc_dir, tmp_path):
    from edgesig.eval.protocols import load_svc2004
    from edgesig.eval.tuning import DtwCandidate, tune_dtw
    from edgesig.features.kinematics import FeatureConfig
    val, test = load_svc2004(svc_dir, [1, 2]), load_svc2004(svc_dir, [3])
    grid = [DtwCandidate(FeatureConfig(), 0.1), DtwCandidate(FeatureConfig(level=3), 0.2)]
    entry, details = tune_dtw(val, test, grid=grid)
    assert entry.name == "dtw" and len(details["trials"]) == 2
    assert details["trials"][0]["val_eer"] <= details["trials"][1]["val_eer"]
    assert entry.metrics["test_users"] == 1 and entry.calibration["slope"] > 0
    assert entry.unseen_users == [3]                          # only the test writer was never looked at
    from edgesig.eval.tuning import ADDABLE, MIN_GAIN
    channels = details["channel_trials"]
    assert len(channels) >= 1 + len(ADDABLE)                 # the start, then every candidate once
    added = [c for c in entry.params["features"]["extra"] if c not in channels[0]["extra"]]
    chosen = min((t["val_eer"] for t in channels if t["extra"] == entry.params["features"]["extra"]))
    assert not added or chosen <= channels[0]["val_eer"] - MIN_GAIN


def test_tune_with_the_time_share_ships_a_new_layout_version(svc_dir):
    from edgesig.engines.dtw import DtwEngine
    from edgesig.eval.protocols import load_svc2004
    from edgesig.eval.tuning import DtwCandidate, tune_dtw
    from edgesig.features.kinematics import FeatureConfig
    entry, _ = tune_dtw(load_svc2004(svc_dir, [1, 2]), load_svc2004(svc_dir, [3]),
                        grid=[DtwCandidate(FeatureConfig(), 0.1)], up_time=True)
    assert entry.version == "1.5" and entry.params["global"]["up_time"] is True  # 1.3 templates hold down_fraction
    assert DtwEngine(entry).up_time


def test_tune_online_refuses_path_statistics_it_cannot_use_before_tuning(svc_dir):
    """--path names warping-path statistics for a learned decision: an unknown name, or no
    --combiner to weigh them, is refused before any tuning work."""
    from edgesig.errors import InvalidInputError
    root = str(svc_dir.parent)
    for args, message in ((["--combiner", "--path", "cost_sd,speed"], "unknown or no statistics ['speed']"),
                          (["--path", "cost_sd"], "add --combiner")):
        result = CliRunner().invoke(cli, ["tune", "online", "--no-pressure", "--root", root, "--no-install", *args])
        assert isinstance(result.exception, InvalidInputError) and message in str(result.exception)
        assert "choosing on the validation writers" not in result.output


def test_eval_offline_renders_pen_files_and_writes_report(svc_dir, tmp_path):
    result = CliRunner().invoke(cli, ["eval", "offline", str(svc_dir), "--users", "1", "--engine", "sdinet",
                                      "--degradation", "camera", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["engine"] == "sdinet" and report["source"] == "pen files rendered camera, seed 0"
    assert "eer_ci95" not in report and "nan" not in result.output   # one writer: no interval to give
    assert report["users"] == 1 and report["genuine_tests"] == 15 and report["forgery_tests"] == 20
    assert 0.0 <= report["eer"] <= 1.0 and {"far", "frr", "threshold", "auc"} <= report.keys()
    for name in ("roc.png", "det.png", "scores.png"):
        assert (tmp_path / name).stat().st_size > 1000


def test_eval_offline_reads_an_image_folder(tmp_path):
    """SVC2004 numbering over image files: S1-S20 genuine, S21-S40 forgeries; an unreadable
    query counts as a rejection and is reported, not a crash."""
    import cv2
    import numpy as np

    from edgesig.synth import make_population
    from edgesig.synth.render import render
    writer = make_population(1, seed=3)[0]
    rng = np.random.default_rng(0)
    folder = tmp_path / "scans"
    folder.mkdir()
    for s in range(1, 9):
        cv2.imwrite(str(folder / f"U7S{s}.png"), render(writer.genuine(rng), rng))
    for s in (21, 22, 23):
        cv2.imwrite(str(folder / f"U7S{s}.png"), render(writer.forgery(rng), rng))
    cv2.imwrite(str(folder / "U7S24.png"), np.full((120, 300), 240, np.uint8))  # a blank sheet
    out = tmp_path / "report"
    result = CliRunner().invoke(cli, ["eval", "offline", str(folder), "--users", "7", "--engine", "sdinet",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["source"] == "images" and report["genuine_tests"] == 3 and report["forgery_tests"] == 4
    assert len(report["unreadable_queries"]) == 1 and "no signature" in report["unreadable_queries"][0]
    assert "1 unreadable query, counted as rejected" in result.output


def test_eval_offline_reads_a_split_of_a_shared_set(tmp_path):
    """--set cedar --split test: the test writers of the fold from a CEDAR-named folder under
    --data (originals 1-5 are the references); writers of other parts are left out."""
    import cv2
    import numpy as np

    from edgesig.eval.datasets import split
    from edgesig.synth import make_population
    from edgesig.synth.render import render
    test_writer, train_writer = split("cedar", "test", 1)[0], split("cedar", "train", 1)[0]
    folder = tmp_path / "cedar"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for writer, synthetic in zip((test_writer, train_writer), make_population(2, seed=3)):
        for k in range(1, 9):
            cv2.imwrite(str(folder / f"original_{writer}_{k}.png"), render(synthetic.genuine(rng), rng))
        for k in (1, 2):
            cv2.imwrite(str(folder / f"forgeries_{writer}_{k}.png"), render(synthetic.forgery(rng), rng))
    out = tmp_path / "report"
    result = CliRunner().invoke(cli, ["eval", "offline", "--set", "cedar", "--split", "test", "--fold", "1",
                                      "--data", str(tmp_path), "--engine", "sdinet", "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert (report["set"], report["split"], report["fold"], report["source"]) == ("cedar", "test", 1, "scans")
    assert report["users"] == 1 and report["genuine_tests"] == 3 and report["forgery_tests"] == 2
    assert "cedar test writers of fold 1 (1), scans: EER" in result.output
    assert (out / "roc.png").exists() == (out / "scores.png").exists()


def test_eval_offline_wants_a_folder_or_a_set(tmp_path):
    for args in ([], [str(tmp_path), "--set", "cedar"]):
        result = CliRunner().invoke(cli, ["eval", "offline", *args, "--out", str(tmp_path)])
        assert result.exit_code == 2 and "give either DIRECTORY or --set NAME" in result.output


def test_eval_of_users_the_folder_lacks_names_the_users_it_holds(svc_dir, tmp_path):
    """--users 50-60 on SVC2004 (users 1-40): a DatasetError naming them, before any note
    claiming the engine was trained on users 50-60; an empty folder likewise."""
    from edgesig.errors import DatasetError
    result = CliRunner().invoke(cli, ["eval", "svc2004", str(svc_dir), "--users", "50-60", "--out", str(tmp_path)])
    assert isinstance(result.exception, DatasetError), result.output
    assert "no signatures of users 50-60" in str(result.exception) and "holds users 1-40" in str(result.exception)
    assert "note:" not in result.output
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(cli, ["eval", "svc2004", str(empty), "--out", str(tmp_path)])
    assert "no SVC2004-numbered files" in str(result.exception) and "note:" not in result.output


def test_tune_installs_into_the_user_models_folder_and_says_what_changed(tmp_path, monkeypatch):
    """`edgesig tune` never rewrites the package's manifest, keeps every field of the entry
    it replaces (selection_eer: without it auto switched to the GRU), and prints the change."""
    import edgesig.eval.protocols as protocols
    import edgesig.eval.tuning as tuning
    from edgesig.eval.tuning import _flat
    from edgesig.runtime import MODELS_DIR, USER_MODELS_ENV, Manifest, ModelEntry, sha256_file
    from edgesig.verifier import Verifier
    packaged = Manifest(MODELS_DIR).get("dtw")
    tuned = packaged.to_dict()
    for key in ("selection_eer", "selection_eer_definition"):
        tuned["metrics"].pop(key)                                 # what tune_dtw's entry lacks
    tuned["calibration"] = {**packaged.calibration, "threshold": packaged.calibration["threshold"] + 0.25}
    details = {"validation": {"eer": 0.1, "auc": 0.9, "mean_user_eer": 0.1},
               "test": {"eer": 0.1, "auc": 0.9, "mean_user_eer": 0.1, "far": 0.1, "frr": 0.1}}
    monkeypatch.setattr(protocols, "load_svc2004", lambda *a, **k: [])
    monkeypatch.setattr(tuning, "tune_dtw", lambda *a, **k: (ModelEntry.from_dict(tuned), details))
    user = tmp_path / "models"
    monkeypatch.setenv(USER_MODELS_ENV, str(user))
    digest = sha256_file(MODELS_DIR / "manifest.json")
    result = CliRunner().invoke(cli, ["tune", "svc2004", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert sha256_file(MODELS_DIR / "manifest.json") == digest
    installed = Manifest(user).get("dtw")
    assert set(_flat(packaged.to_dict())) <= set(_flat(installed.to_dict()))   # every field kept
    assert Manifest().get("dtw").calibration == tuned["calibration"]          # the user's entry wins
    assert Verifier().engine_name == "dtw"
    out = result.output
    assert f"installed dtw {packaged.version} in {user / 'manifest.json'}" in out
    assert "parameters: unchanged" in out and "pen engine chosen by auto: dtw -> dtw" in out
    assert f"threshold (distance): {packaged.calibration['threshold']:.4g} -> " in out
    refused = CliRunner().invoke(cli, ["tune", "svc2004", str(tmp_path), "--install", str(MODELS_DIR)])
    assert "never rewritten" in str(refused.exception)


def test_tune_online_refuses_a_left_out_choice_it_cannot_make_before_tuning(svc_dir):
    """--select lodo fits without each set in turn: one set (or two with --leave-one-out) is refused up front."""
    from edgesig.errors import InvalidInputError
    root = str(svc_dir.parent)
    for args in (["--sets", "svc2004-task1"], ["--sets", "svc2004-task1,svc2004-task2", "--leave-one-out"]):
        result = CliRunner().invoke(cli, ["tune", "online", "--no-pressure", "--combiner", "--root", root,
                                          "--no-install", *args])
        assert isinstance(result.exception, InvalidInputError) and "needs at least two sets" in str(result.exception)
        assert "choosing on the validation writers" not in result.output                  # no tuning ran


def test_tune_online_refuses_unknown_or_pressure_channels_before_tuning(svc_dir):
    """--extra names channels of edgesig.features.kinematics; the pressure-free variant none of pressure."""
    from edgesig.errors import InvalidInputError
    for args, says in ((["--extra", "vx,vy,jerk"], "unknown or no channels ['jerk']"),
                       (["--extra", "vx,p", "--no-pressure"], "reads no pressure")):
        result = CliRunner().invoke(cli, ["tune", "online", "--root", str(svc_dir.parent), "--no-install", *args])
        assert isinstance(result.exception, InvalidInputError) and says in str(result.exception)
        assert "choosing on the validation writers" not in result.output                  # no tuning ran


def test_tune_with_fixed_channels_skips_the_greedy_stage(svc_dir):
    from edgesig.eval.protocols import load_svc2004
    from edgesig.eval.tuning import DtwCandidate, tune_dtw
    from edgesig.features.kinematics import FeatureConfig
    entry, details = tune_dtw(load_svc2004(svc_dir, [1, 2]), load_svc2004(svc_dir, [3]),
                              grid=[DtwCandidate(FeatureConfig(extra=("vx", "vy", "p")), 0.1)],
                              extra=("vx", "vy", "p", "ay", "ax"))
    assert entry.params["features"]["extra"] == ["vx", "vy", "p", "ay", "ax"]
    assert [t["extra"] for t in details["channel_trials"]] == [["vx", "vy", "p", "ay", "ax"]]  # no greedy trials


def test_eval_online_reports_the_split_writers_of_a_set(svc_dir, tmp_path):
    """Two test writers of fold 1 of SVC2004 Task 1 (no pressure), from a data root holding only them."""
    from edgesig.eval.datasets import split
    task1 = svc_dir.parent / "svc2004_task1"
    writers = split("svc2004-task1", "test", 1)[:2]
    (tmp_path / "data" / "svc2004_task1").mkdir(parents=True)
    for w in writers:
        for path in task1.glob(f"U{w}S*.TXT"):
            (tmp_path / "data" / "svc2004_task1" / path.name).symlink_to(path)
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["eval", "online", "--set", "svc2004-task1", "--fold", "1", "--engine", "dtw",
                                      "--data", str(tmp_path / "data"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "svc2004-task1-test-fold1" / "report.json").read_text())
    assert report["writers"] == [int(w) for w in writers] and report["set"] == "svc2004-task1"
    assert report["genuine_tests"] == 30 and report["forgery_tests"] == 40 and {"far", "frr", "auc"} <= report.keys()
    assert (out / "svc2004-task1-test-fold1" / "det.png").exists()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["set_eer"] == {"svc2004-task1": report["eer"]} and len(summary["rows"]) == 1


def test_tune_fits_a_decision_on_training_writers_and_keeps_it_only_if_validation_improves(svc_dir):
    from edgesig.eval.protocols import load_svc2004
    from edgesig.eval.tuning import DtwCandidate, tune_dtw
    from edgesig.features.kinematics import FeatureConfig
    val, test, train = (load_svc2004(svc_dir, users) for users in ([1, 2], [3], [4, 5, 6]))
    entry, details = tune_dtw(val, test, grid=[DtwCandidate(FeatureConfig(), 0.1)], train=train,
                              select="pooled")  # one set: nothing to leave out
    trials = details["decision_trials"]
    assert trials["train_users"] == {"all": 3} and len(trials["trials"]) > 1
    assert trials["kept"] == ("decision" in entry.params) == (trials["learned_val_eer"] < trials["plain_val_eer"])
    assert entry.metrics["val_eer"] == min(trials["learned_val_eer"], trials["plain_val_eer"])
    from edgesig.engines.dtw import N_GLOBAL
    from edgesig.eval.combiner import EXTENDED_PREFIXES
    from edgesig.features.global_features import EXTENDED_FEATURES
    extended = any(t.startswith(EXTENDED_PREFIXES) for t in entry.params.get("decision", {}).get("terms", ()))
    assert {t["families"][-1] for t in trials["trials"]} >= {"ext", "ext_signed"}  # offered, shipped only if weighed
    assert entry.params["global"].get("extended", False) == extended and entry.version == ("1.4" if extended else "1.3")
    assert len(entry.params["global"]["scale"]) == N_GLOBAL + extended * len(EXTENDED_FEATURES)
