"""GRU leave-one-dataset-out: a network trained without SET, with its threshold from the
other sets' validation writers, scored on SET's test writers (fold 0).

The checkpoint (the step with the best mean validation EER over the other sets) runs in
torch fp32, the same arithmetic as the shipped fp32 ONNX file. A set without pressure is
read without it (the pressure-free variant), and its threshold then comes from the other
sets read without pressure too.

    python -m export online train --sets svc2004-task1,susig,mcyt --steps 1500 --every 500 \\
        --hidden 64 --drop-pressure 0.3 --work build/lodo-svc2004-task2
    PYTHONPATH=. python benchmarks/online_gru_lodo.py build/lodo-svc2004-task2 svc2004-task2
"""
from __future__ import annotations

import json
from pathlib import Path

import click

from edgesig.decision import fit_calibration
from edgesig.eval.protocols import Report, set_figures
from edgesig.features.kinematics import FeatureConfig
from export.online.data import pooled_writers, set_writers
from export.online.evaluate import score_writers, torch_embedder
from export.online.ship import has_pressure, pressure_free
from export.online.train import load_checkpoint


@click.command()
@click.argument("work", type=click.Path(exists=True, file_okay=False))
@click.argument("left_out")
def main(work: str, left_out: str) -> None:
    model, saved = load_checkpoint(Path(work) / "gru.pt")
    sets = saved["info"]["sets"]
    if left_out in sets:
        raise click.ClickException(f"{work} was trained on {left_out}; train without it first")
    band = float(saved["train"]["band"])
    test = set_writers(left_out, "test")
    val = pooled_writers(sets, "val")
    embed = torch_embedder(model, FeatureConfig.from_dict(saved["train"]["features"]))
    if has_pressure(test):
        val = {name: writers for name, writers in val.items() if has_pressure(writers)}
    else:
        embed = pressure_free(embed)
    pooled = Report([u for writers in val.values() for u in score_writers(writers, embed, band).users])
    threshold = fit_calibration(pooled.genuine, pooled.forgery).threshold
    figures = set_figures(None, score_writers(test, embed, band), threshold)
    result = {"left_out": left_out, "trained_on": sets, "threshold_from": list(val), "step": saved["info"]["step"],
              **figures}
    click.echo(json.dumps(result))
    (Path(work) / f"lodo-{left_out}.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
