import json

from click.testing import CliRunner

from edgesig.cli import cli


def test_demo_runs_and_reports_eer():
    result = CliRunner().invoke(cli, ["demo", "--writers", "2", "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert "EER over these writers" in result.output
    assert result.output.count("genuine") >= 8 and "forgery" in result.output


def test_eval_svc2004_writes_report(svc_dir, tmp_path):
    result = CliRunner().invoke(cli, ["eval", "svc2004", str(svc_dir), "--users", "21-22",
                                      "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["users"] == 2 and report["genuine_tests"] == 30 and report["forgery_tests"] == 40
    assert 0.0 <= report["eer"] <= 1.0 and 0.5 <= report["auc"] <= 1.0
    assert {"far", "frr", "threshold", "mean_user_eer"} <= report.keys()
    for name in ("roc.png", "det.png", "scores.png"):
        assert (tmp_path / name).stat().st_size > 1000


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
    from edgesig.eval.tuning import ADDABLE, MIN_GAIN
    channels = details["channel_trials"]
    assert len(channels) >= 1 + len(ADDABLE)                 # the start, then every candidate once
    added = [c for c in entry.params["features"]["extra"] if c not in channels[0]["extra"]]
    chosen = min((t["val_eer"] for t in channels if t["extra"] == entry.params["features"]["extra"]))
    assert not added or chosen <= channels[0]["val_eer"] - MIN_GAIN
