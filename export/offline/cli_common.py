"""What the ``python -m export offline`` command modules share.

Kept apart from ``export.offline.cli``, which gathers those modules as subcommands: a
module importing its helpers from ``cli`` could not be imported on its own.
"""
from __future__ import annotations

import click


def echo_fold(name: str, r: dict) -> None:
    """One line per fold result, for SDINet and the cross-writer network alike."""
    parts = [f"{c}: EER {100 * m['eer']:.2f} % FAR {100 * m['far']:.2f} % FRR {100 * m['frr']:.2f} % "
             f"AUC {m['auc']:.3f}" for c, m in r["test"].items()]
    timing = f"train {r['train_seconds']:.0f} s" + (f", eval {r['eval_seconds']:.0f} s" if "eval_seconds" in r else "")
    click.echo(f"{name} (val EER {100 * r['val_eer']:.2f} %, {'+'.join(r['combine'])}, {timing}) | "
               + " | ".join(parts))
