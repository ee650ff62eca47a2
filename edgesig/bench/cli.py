"""The ``edgesig-bench`` command: parse options, run the sections, print and write results.

Exit status: 0 when every ratio budget passes (or was not measured), 1 when a measured
ratio is below its budget, 2 on a usage or budget-file error, 3 when a section crashed.
Absolute times never change the exit status.
"""
from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import click

from edgesig.bench import budgets as budget_rules
from edgesig.bench import report as out
from edgesig.bench.context import Context
from edgesig.bench.record import Report
from edgesig.bench.runner import SECTIONS, run


def main() -> None:
    try:
        code = cli(standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2)
    except budget_rules.BudgetFileError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    sys.exit(code or 0)


@click.command()
@click.option("--quick", is_flag=True, help="CI mode, under 60 s: 1000-point signatures, 1 thread, "
                                            "fewer calls, one cold-start process per engine")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None,
              help="write the results as JSON here")
@click.option("--markdown", is_flag=True, help="update the edgesig-bench section of benchmarks/RESULTS.md "
                                               "(and write benchmarks/latency.png)")
@click.option("--results", type=click.Path(dir_okay=False), default=str(out.RESULTS_FILE), show_default=True,
              help="the RESULTS.md that --markdown updates")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None,
              help="write the latency plot (PNG) here; default with --markdown: beside RESULTS.md")
@click.option("--budgets", "budgets_path", type=click.Path(dir_okay=False),
              default=str(budget_rules.BUDGETS_FILE), show_default=True, help="ratio budgets (TOML)")
@click.option("--no-budgets", is_flag=True, help="do not check ratio budgets")
@click.option("--only", multiple=True, type=click.Choice(list(SECTIONS)), help="run only these sections")
@click.option("--skip", multiple=True, type=click.Choice(list(SECTIONS)), help="leave these sections out")
@click.option("--seed", default=2024, show_default=True, help="seed of the generated inputs")
@click.option("--models-dir", type=click.Path(file_okay=False), default=None,
              help="benchmark the models in this folder instead of the installed ones")
@click.option("--threads", default=None, help="comma-separated thread counts (default 1,2; quick: 1)")
@click.option("--checkpoint", multiple=True, metavar="ENGINE=PATH",
              help="training checkpoint for the torch eager comparison (default: build/*/ENGINE.pt)")
def cli(quick: bool, json_path: str | None, markdown: bool, results: str, plot_path: str | None,
        budgets_path: str, no_budgets: bool, only: tuple[str, ...], skip: tuple[str, ...], seed: int,
        models_dir: str | None, threads: str | None, checkpoint: tuple[str, ...]) -> int:
    """Latency, memory and speed-ratio benchmarks of the installed edgesig.

    Sections run only when their component is installed and print "skipped: <why>"
    otherwise. Ratios are measured interleaved in this run; budgets fail only on ratios.
    """
    ctx = replace(Context.make(quick, seed, models_dir), checkpoints=_checkpoints(checkpoint))
    if threads:
        ctx = _with_threads(ctx, threads)
    rules = None if no_budgets else _budget_rules(budgets_path)
    rep = Report(out.machine_meta(quick, seed, ctx.threads, ctx.lengths, sys.argv[1:]))
    run(ctx, rep, only, skip, progress=lambda msg: click.echo(msg, err=True))
    out.finish_meta(rep)
    if rules is not None:
        rep.budgets = budget_rules.check_ratios(rep, rules)
        rep.targets = budget_rules.check_targets(rep, rules)
    plot_file = plot_path or (str(Path(results).with_name("latency.png")) if markdown else None)
    plot_written, plot_note = out.plot(rep, plot_file) if plot_file else (None, "")
    click.echo(out.text(rep))
    if plot_note:
        click.echo(plot_note)
    if json_path:
        click.echo(f"wrote {out.write_json(rep, json_path)}")
    if markdown:
        rel = None if plot_written is None else _relative(plot_written, Path(results).parent)
        click.echo(f"updated {out.update_results(out.markdown(rep, rel), results)}")
    if any(s.error for s in rep.sections):
        return 3
    return 0 if rep.budgets_ok else 1


def _checkpoints(specs: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise click.BadParameter(f"{spec!r}: use ENGINE=PATH", param_hint="--checkpoint")
        out[name] = path
    return out


def _with_threads(ctx: Context, spec: str) -> Context:
    try:
        counts = tuple(int(x) for x in spec.split(",") if x.strip())
    except ValueError:
        raise click.BadParameter(f"{spec!r}: give thread counts like 1,2", param_hint="--threads") from None
    if not counts or min(counts) < 1:
        raise click.BadParameter(f"{spec!r}: thread counts must be positive", param_hint="--threads")
    return replace(ctx, threads=counts)


def _budget_rules(path: str) -> dict | None:
    try:
        return budget_rules.load(path)
    except budget_rules.BudgetFileError as exc:
        if "Python 3.11" in str(exc):
            click.echo(f"note: {exc}", err=True)
            return None
        raise


def _relative(path: Path, base: Path) -> str:
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path)
