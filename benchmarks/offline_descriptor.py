"""Would a handcrafted descriptor of the normalised image help the offline engines? (issue 19)

The descriptor (gradient-direction histograms on a spatial pyramid of the ink's box, plus
uniform-LBP histograms, square-rooted and L2-normalised per group) needs no training; two
images are compared by 1 - cosine, and a query's distances to the references go through
the same Sharma-Sundaram protocol as every image engine (``export.offline.pool_eval``).

Its layout was looked at on fold 0's validation writers only (``--variant`` 'bins/direction
grids/LBP grids', ``--power``); ``fuse`` adds it to the installed members through the
ensemble's own fit, from distances cached under ``--cache``. The four-fold decision to ship
it is ``offline_ensemble_folds.py compare`` (``benchmarks/RESULTS_offline_pool.md``).

    PYTHONPATH=. python benchmarks/offline_descriptor.py alone --fold 0 [--variant 12/1x1,2x3,4x6/] [--ridge 0.001]
    PYTHONPATH=.:benchmarks python benchmarks/offline_descriptor.py fuse --fold 0 [--variant ...] --out build/desc/fuse_f0.json
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from edgesig.offline.descriptor import DescriptorConfig
from export.offline.pool_cli import parse_grids
from export.offline.pool_eval import descriptor_embedder

SETS = "cedar,svc2004-task2,svc2004-task1,susig,mcyt"
DEFAULT_VARIANT = "12/1x1,2x3,4x6/1x1,2x3"


def config(power: float, variant: str) -> DescriptorConfig:
    """``variant``: 'bins/direction grids/LBP grids'."""
    bins, hog, lbp = variant.split("/")
    return DescriptorConfig(int(bins), parse_grids(hog), parse_grids(lbp), power)


def writer_dependent(embed: Any, sets: list[str], fold: int, ridge: float) -> Any:
    """``sigembed-wd``'s user model on descriptor rows, its background from the fold's training writers."""
    from export.offline.pool import train_writers
    from export.offline.pool_eval import background, user_model_comparator
    return user_model_comparator(embed, *background(embed, train_writers(sets, fold), ridge))


@click.group()
def cli() -> None:
    pass


@cli.command()
@click.option("--fold", default=0)
@click.option("--sets", default=SETS)
@click.option("--power", default=0.5)
@click.option("--variant", default=DEFAULT_VARIANT, help="bins/direction grids/LBP grids")
@click.option("--ridge", type=float, default=None,
              help="writer-dependent: the user model against the training writers' background, this ridge")
@click.option("--out", default=None)
def alone(fold: int, sets: str, power: float, variant: str, ridge: float | None, out: str | None) -> None:
    """The descriptor alone: pooled validation EER, per-set validation (skilled, random)."""
    from export.offline.pool import held_out
    from export.offline.pool_eval import cell_distances, embedding_comparator, evaluate
    from export.offline.evaluate import to_report
    val, test = held_out(sets.split(","), fold, "sdinet")
    embed = descriptor_embedder(config(power, variant))
    compare = embedding_comparator(embed) if ridge is None else writer_dependent(embed, sets.split(","), fold, ridge)
    res: dict[str, Any] = evaluate(compare, val, test)
    by_set: dict[str, list] = {}
    for w in val:
        by_set.setdefault(w.key.split(":")[0], []).append(w)
    res["val_cells"] = {}
    for cell, d in cell_distances(compare, by_set).items():
        res["val_cells"][cell] = float(to_report(d, tuple(res["combine"])).summary()["eer"])
    for cell, v in sorted(res["val_cells"].items()):
        click.echo(f"val  {cell:34s} {100 * v:6.2f} %")
    click.echo(f"pooled validation {100 * res['val_eer']:.2f} % terms {res['combine']}")
    for cell, s in sorted(res["test"].items()):
        click.echo(f"test {cell:34s} {100 * s['eer']:6.2f} %")
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(res, indent=1))


@cli.command()
@click.option("--fold", default=0)
@click.option("--sets", default=SETS)
@click.option("--engines", default="sigembed-wd,sdinet", help="installed members (cached by offline_fusion.py)")
@click.option("--power", default=0.5)
@click.option("--variant", default=DEFAULT_VARIANT, help="bins/direction grids/LBP grids")
@click.option("--cache", default="build/fusion")
@click.option("--models-dir", default=None)
@click.option("--out", default="build/desc/fusion.json")
def fuse(fold: int, sets: str, engines: str, power: float, variant: str, cache: str, models_dir: str | None, out: str) -> None:
    """The descriptor as a third member: every subset of members through the ensemble's rule."""
    import itertools
    import pickle
    from offline_fusion import pair_fusion
    from edgesig.runtime import MODELS_DIR, Manifest
    from export.offline.ensemble_fit import cached_members, member_distances, single
    from export.offline.pool import held_out
    from export.offline.pool_eval import embedding_comparator
    names = [n for n in engines.split(",") if n]
    members = cached_members(Manifest(models_dir or MODELS_DIR), names, sets.split(","), fold, Path(cache))
    tag = variant.replace("/", "_").replace(",", "-")
    path = Path(cache) / f"descriptor-{tag}-p{power}-fold{fold}-{'+'.join(sets.split(','))}.pkl"
    if not path.is_file():
        compare = embedding_comparator(descriptor_embedder(config(power, variant)))
        path.write_bytes(pickle.dumps(member_distances(compare, *held_out(sets.split(","), fold, "sdinet"))))
    members["descriptor"] = pickle.loads(path.read_bytes())
    users = [u.user for u in members["descriptor"].val]
    assert all([u.user for u in m.val] == users for m in members.values()), "members scored other writers"
    result: dict[str, Any] = {"singles": {}, "fusions": {}}
    for n, m in members.items():
        result["singles"][n] = single(m)
    for k in range(1, len(members) + 1):
        for combo in itertools.combinations(members, k):
            result["fusions"]["+".join(combo)] = pair_fusion([members[n] for n in combo], 0.05)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(result, indent=1))
    for n, r in [*result["singles"].items(), *result["fusions"].items()]:
        by_set = " ".join(f"{s}:{100 * v:.2f}" for s, v in r["val_by_set"].items())
        click.echo(f"{n:40s} val {100 * r['val_eer']:.2f} %  [{by_set}] w={r.get('weights')}")


if __name__ == "__main__":
    cli()
