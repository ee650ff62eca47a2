"""The `edgesig` command: a thin shell over the library (parse, call, print)."""
from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, TypeVar

import click

from edgesig.errors import EdgesigError, labelled
from edgesig.eval.combiner import SELECT  # light (its imports are protocols'): --select's choices
from edgesig.eval.protocols import ONLINE_SETS  # light (numpy, metrics): the --set choices need it

if TYPE_CHECKING:  # annotations only: the CLI imports engines when a command runs
    from edgesig.engines.base import Engine
    from edgesig.eval.protocols import Report, UserSamples


#: When the command started (this module is imported first): what a cold start costs is
#: reported apart from the verification itself.
_STARTED = time.perf_counter()


def main() -> None:
    try:
        cli(standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.Abort:
        sys.exit(1)
    except EdgesigError as exc:
        click.echo(f"error: {exc.cli_message}", err=True)
        sys.exit(2)


@click.group()
@click.version_option(package_name="edgesig")
def cli() -> None:
    """edgesig: verify handwritten signatures on the device."""


def _progress(label: str):
    def wrap(items):
        with click.progressbar(list(items), label=label, file=sys.stderr) as bar:
            yield from bar
    return wrap


@cli.command()
@click.option("--writers", default=6, show_default=True, help="synthetic writers to generate")
@click.option("--seed", default=7, show_default=True)
@click.option("--data", type=click.Path(exists=True, file_okay=False), default=None,
              help="run on an SVC2004 folder instead of synthetic writers")
@click.option("--engine", default="auto", show_default=True)
def demo(writers: int, seed: int, data: str | None, engine: str) -> None:
    """Enrol writers, verify genuine signatures and forgeries, print the decisions and the EER."""
    from edgesig.demo import run_demo
    run_demo(writers=writers, seed=seed, data=data, engine=engine, echo=click.echo)


def _store_options(f):
    """--store and the key source shared by the commands that keep templates."""
    f = _accept_lost_writes(f)
    f = click.option("--create", is_flag=True,
                     help="make the store (and its key file) if it does not exist yet: the first run")(f)
    f = click.option("--key-file", type=click.Path(dir_okay=False), default=None,
                     help="32-byte key file (created with 0600 permissions with a new store); "
                          "default: $EDGESIG_KEY if set, else STORE.key")(f)
    f = click.option("--store", "store_path", type=click.Path(dir_okay=False), required=True,
                     help="encrypted template store (SQLite file; --create makes a new one)")(f)
    return f


#: --accept-lost-writes, kept in the command's context for _open_store (every command that
#: opens a store takes it without a parameter of its own).
_accept_lost_writes = click.option(
    "--accept-lost-writes", is_flag=True, expose_value=False,
    callback=lambda ctx, param, value: ctx.meta.__setitem__("accept_lost_writes", value),
    help="open a store whose counter file says committed writes are missing (or is itself missing), "
         "as it is: only after deciding not to restore it from a backup")


def _open_store(store_path: str, key_file: str | None, key_env: str | None = None, create: bool = False):
    """The store at ``store_path``; a missing one is an error unless ``create`` (a typo must
    not become a new, empty store)."""
    import os
    from edgesig.store import EncryptedStore, EnvKey, KeyFile
    if key_env is not None:
        key = EnvKey(key_env)
    elif key_file is None and os.environ.get("EDGESIG_KEY"):
        key = EnvKey()
    else:
        key = KeyFile(key_file or f"{store_path}.key")
    context = click.get_current_context(silent=True)
    accept = bool(context is not None and context.meta.get("accept_lost_writes"))
    return EncryptedStore(store_path, key, create=create, accept_lost_writes=accept)


T = TypeVar("T")


def _each(files: Iterable[str | Path], read: Callable[[Any], T]) -> list[T]:
    """``read`` of each file, a failure naming its file (the reader's message alone does not
    say which of five references to fix)."""
    done = []
    for f in files:
        with labelled(str(f)):
            done.append(read(f))
    return done


def _load_pens(files: Iterable[str | Path], fmt: str | None = None, rate: float | None = None) -> list:
    """The pen files read, a failure naming its file."""
    from edgesig.capture import load_pen
    options = {"sample_rate_hz": rate} if rate else {}
    return _each(files, lambda f: load_pen(f, format=fmt, **options))


_pen_format = click.option("--format", "fmt", default=None,
                           help="pen file format (default: detected from the content)")
_sample_rate = click.option("--sample-rate", type=float, default=None,
                            help="samples per second, for formats without timestamps (.hwr)")


@cli.command()
@_store_options
@click.option("--user", required=True)
@click.option("--engine", default="auto", show_default=True)
@_pen_format
@_sample_rate
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
def enroll(store_path: str, key_file: str | None, create: bool, user: str, engine: str, fmt: str | None,
           sample_rate: float | None, files: tuple[str, ...]) -> None:
    """Enrol the --user from 3–20 reference pen files."""
    from edgesig.verifier import Verifier
    with _open_store(store_path, key_file, create=create) as store:
        report = Verifier(engine, store).enroll(user, _load_pens(files, fmt, sample_rate))
    click.echo(f"enrolled {user!r} with {len(report.kept)} of {report.n_references} references "
               f"(engine {report.engine}, consistency {report.consistency:.2f})")
    for reason in report.reasons:
        click.echo(f"  note: {reason}")


@cli.command()
@_store_options
@click.option("--user", required=True)
@click.option("--pen", "pen_file", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--engine", default="auto", show_default=True)
@_pen_format
@_sample_rate
@click.option("--json", "as_json", is_flag=True, help="print the VerifyResult as JSON")
def verify(store_path: str, key_file: str | None, create: bool, user: str, pen_file: str, engine: str,
           fmt: str | None, sample_rate: float | None, as_json: bool) -> None:
    """Verify a pen file against the --user's templates; exit status 0 accepted, 1 rejected."""
    from edgesig.verifier import Verifier
    with _open_store(store_path, key_file, create=create) as store:
        # one process per verification: accepted captures are remembered in the store, or
        # the next run would accept the same capture again
        verifier = Verifier(engine, store, persist_replays=True)
        pen = _load_pens((pen_file,), fmt, sample_rate)[0]
        verifier.warm_up(pen)
        startup_ms = (time.perf_counter() - _STARTED) * 1e3
        result = verifier.verify_stroke(user, pen)
    _print_result(result, as_json, startup_ms)


@cli.command("enroll-images")
@_store_options
@click.option("--user", required=True)
@click.option("--engine", default="auto", show_default=True, help="image engine")
@click.argument("images", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
def enroll_images(store_path: str, key_file: str | None, create: bool, user: str, engine: str,
                  images: tuple[str, ...]) -> None:
    """Enrol the --user from 3–20 photos or scans of paper signatures."""
    from edgesig.verifier import Verifier
    with _open_store(store_path, key_file, create=create) as store:
        report = Verifier(store=store, image_engine=engine).enroll_images(user, list(images))
    click.echo(f"enrolled {user!r} with {len(report.kept)} of {report.n_references} images "
               f"(engine {report.engine}, consistency {report.consistency:.2f})")
    for reason in report.reasons:
        click.echo(f"  note: {reason}")


@cli.command("verify-image")
@_store_options
@click.option("--user", required=True)
@click.option("--image", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--engine", default="auto", show_default=True, help="image engine")
@click.option("--json", "as_json", is_flag=True, help="print the VerifyResult as JSON")
def verify_image_cmd(store_path: str, key_file: str | None, create: bool, user: str, image: str, engine: str,
                     as_json: bool) -> None:
    """Verify a photo or scan against the --user's image templates; exit 0 accepted, 1 rejected."""
    from edgesig.verifier import Verifier
    with _open_store(store_path, key_file, create=create) as store:
        verifier = Verifier(store=store, image_engine=engine)
        with labelled(image):  # the first read of the image: an unreadable one names its file
            verifier.warm_up(image)
        startup_ms = (time.perf_counter() - _STARTED) * 1e3
        result = verifier.verify_image(user, image)
    _print_result(result, as_json, startup_ms)


def _print_result(result, as_json: bool, startup_ms: float) -> None:
    """The decision, with the verification's own time (what a running service spends per
    signature) apart from this command's start-up (imports, store, models, compiled kernels)."""
    if as_json:
        click.echo(json.dumps({**result.to_dict(), "startup_ms": startup_ms}, indent=2))
    else:
        click.echo(f"{'ACCEPTED' if result.accepted else 'REJECTED'}  score {result.score:.3f} "
                   f"(threshold {result.threshold:.3f}, engine {result.engine})")
        click.echo(f"  verify {result.latency_ms:.1f} ms in process; start-up {startup_ms:.0f} ms "
                   "(imports, store, models and compiled kernels, paid once by a running service)")
        for reason in result.reasons:
            click.echo(f"  {reason}")
    sys.exit(0 if result.accepted else 1)


@cli.command()
@_store_options
def users(store_path: str, key_file: str | None, create: bool) -> None:
    """List the enrolled users."""
    with _open_store(store_path, key_file, create=create) as store:
        for user in store.users():
            click.echo(f"{user}\t{', '.join(store.engines(user))}")


@cli.command()
@_store_options
@click.option("--user", required=True)
def delete(store_path: str, key_file: str | None, create: bool, user: str) -> None:
    """Delete every template of the --user."""
    with _open_store(store_path, key_file, create=create) as store:
        click.echo(f"removed {store.delete(user)} template(s) of {user!r}")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="address to listen on; anything but loopback needs --allow-remote and TLS")
@click.option("--port", default=8765, show_default=True)
@click.option("--store", "store_path", type=click.Path(dir_okay=False), default=None,
              help="encrypted template store (--create makes a new one); without it templates live in memory only")
@click.option("--create", is_flag=True, help="make the --store (and its key file) if it does not exist yet")
@click.option("--key-env", default=None, help="environment variable holding the store's key (base64 or hex)")
@_accept_lost_writes
@click.option("--key-file", type=click.Path(dir_okay=False), default=None, help="the store's key file (default STORE.key)")
@click.option("--demo", is_flag=True, help="enrol synthetic demo users at start, to try the pages at once")
@click.option("--allow-remote", is_flag=True, help="let --host be other than loopback (needs --tls-cert/--tls-key)")
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False), default=None)
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False), default=None)
@click.option("--server-name", multiple=True, help="host name remote clients use (repeatable)")
def serve(host: str, port: int, store_path: str | None, create: bool, key_env: str | None, key_file: str | None,
          demo: bool, allow_remote: bool, tls_cert: str | None, tls_key: str | None, server_name: tuple[str, ...]) -> None:
    """The local tablet and kiosk web app: /pen, /kiosk and /admin (needs the `serve` extra)."""
    from edgesig.serve.config import ServeConfig, check_extra
    check_extra()
    if store_path is None and (key_env or key_file):
        raise click.UsageError("--key-env and --key-file choose the key of a --store; give --store PATH too")
    config = ServeConfig(host=host, port=port, store=Path(store_path) if store_path else None, demo=demo,
                         allow_remote=allow_remote, tls_cert=Path(tls_cert) if tls_cert else None,
                         tls_key=Path(tls_key) if tls_key else None, server_names=server_name).check()
    from edgesig.serve.app import run
    if store_path is None:
        run(config, echo=click.echo)
        return
    with _open_store(store_path, key_file, key_env, create) as store:
        run(config, store, echo=click.echo)


@cli.group()
def tune() -> None:
    """Choose engine parameters on validation writers and install them in the user models folder."""


def _tune_outputs(f):
    """--refs, and where a tune command installs and writes what it chose."""
    for opt in reversed([
        click.option("--refs", default=5, show_default=True),
        click.option("--install", "install_dir", type=click.Path(file_okay=False), default=None,
                     help="models folder to install the chosen DTW entry into (default: $EDGESIG_MODELS, else "
                          "~/.edgesig/models; its entries replace the packaged ones; never the package's own)"),
        click.option("--no-install", is_flag=True, help="report only, install nothing"),
        click.option("--out", type=click.Path(file_okay=False), default=None, help="write tuning.json here"),
    ]):
        f = opt(f)
    return f


@tune.command("svc2004")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.option("--val-users", default="1-20", show_default=True)
@click.option("--test-users", default="21-40", show_default=True)
@_tune_outputs
def tune_svc2004(directory: str, val_users: str, test_users: str, refs: int, install_dir: str | None,
                 no_install: bool, out: str | None) -> None:
    """Grid-search the DTW engine on --val-users, report once on --test-users, install it
    and print what changed (parameters, threshold, figures, the engine auto chooses)."""
    from edgesig.eval.protocols import load_svc2004, parse_users
    from edgesig.eval.tuning import install, tune_dtw
    val = load_svc2004(directory, parse_users(val_users))
    test = load_svc2004(directory, parse_users(test_users))
    entry, details = tune_dtw(val, test, refs=refs, progress=_progress("grid"))
    chosen = {**{k: entry.params[k] for k in ("features", "band")}, "global_weight": entry.params["global"]["weight"]}
    click.echo(f"chosen on users {val_users}: {json.dumps(chosen)}")
    click.echo(_summary_line(f"validation users {val_users}", details["validation"]))
    click.echo(_summary_line(f"test users {test_users}", details["test"]))
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "tuning.json").write_text(json.dumps(details, indent=2))
    if not no_install:
        done = install(entry, made_by=f"edgesig tune svc2004 DATA --val-users {val_users} "
                                      f"--test-users {test_users} --refs {refs}", target=install_dir)
        for line in done.lines():
            click.echo(line)


@tune.command("online")
@click.option("--sets", default="all", show_default=True, help="comma-separated pen sets, or all of them")
@click.option("--fold", default=0, show_default=True, help="fold of edgesig/eval/splits.json (0: the fixed split)")
@click.option("--root", default=None, help="data root holding the sets (default: ../shared/data)")
@click.option("--pressure/--no-pressure", default=True, show_default=True,
              help="--no-pressure tunes the pressure-free variant (dtw-nopressure) on every set read "
                   "without pressure; the default tunes dtw on the sets that have pressure")
@click.option("--leave-one-out", is_flag=True,
              help="also tune without each set in turn and test on it (leave-one-dataset-out table)")
@click.option("--combiner", is_flag=True,
              help="also fit a learned decision on the sets' training writers (edgesig.eval.combiner); "
                   "kept where it beats the plain rule")
@click.option("--select", type=click.Choice(SELECT), default=SELECT[0], show_default=True,
              help="how --combiner chooses its terms and L2: lodo, the mean over sets of the validation EER "
                   "of a decision fitted without that set (how it carries to a new pad); pooled, the mean "
                   "validation EER of a decision fitted on every set")
@click.option("--up-time", is_flag=True,
              help="the global descriptor's pen-up share by time (pen-up gaps included) in place of down_fraction, "
                   "the share of pen-down samples, which a pad sending hover samples (MCYT) shifts")
@click.option("--extra", default=None,
              help="comma-separated raw channels appended to LNPS in place of the greedy channel stage, which "
                   "judges channels by the plain rule (e.g. vx,vy,p,ay,ax, chosen under the learned decision by "
                   "benchmarks/online_channels.py)")
@click.option("--path", "path_stats", default=None,
              help="comma-separated warping-path statistics the learned decision may weigh (with --combiner): "
                   "nondiag, cost_sd, cost_max (benchmarks/online_path.py chose cost_sd,cost_max for --no-pressure)")
@click.option("--stability", type=click.FloatRange(min=0.0, min_open=True), default=None,
              help="stability-modulated DTW: each local distance weighted by this floor plus the reference row's "
                   "stability, in the one distance pass (benchmarks/online_smpass.py chose 0.5 for --no-pressure)")
@_tune_outputs
def tune_online(sets: str, fold: int, root: str | None, pressure: bool, leave_one_out: bool, combiner: bool,
                select: str, up_time: bool, extra: str | None, path_stats: str | None, stability: float | None,
                refs: int, install_dir: str | None, no_install: bool, out: str | None) -> None:
    """Grid-search the DTW engine on the validation writers of several pen sets (the mean
    of their EERs), one threshold from all of them; report on each set's test writers."""
    from edgesig.eval.combiner import require_sets
    from edgesig.eval.datasets import split
    from edgesig.eval.protocols import load_set
    from edgesig.eval.tuning import (SetScorer, fixed_extra, install as install_entry, leave_one_out as lodo,
                                     path_names, tune_dtw)
    channels = fixed_extra(extra, pressure) if extra is not None else None
    path = path_names(path_stats, combiner)
    names = list(ONLINE_SETS) if sets == "all" else [x.strip() for x in sets.split(",") if x.strip()]
    val = {n: load_set(n, "val", fold, root) for n in names}
    if pressure:  # the pressure variant never sees a pen without pressure: Verifier picks the other
        val = {n: users for n, users in val.items() if users[0].genuine[0].has_pressure}
    test = {n: load_set(n, "test", fold, root) for n in val}
    train = {n: load_set(n, "train", fold, root) for n in val} if combiner else None
    if combiner:  # a left-out run fits its decision on one set fewer
        require_sets(select, list(val)[1:] if leave_one_out else list(val))
    name = "dtw" if pressure else "dtw-nopressure"
    click.echo(f"{name}: choosing on the validation writers of {', '.join(val)}")
    scorer = SetScorer(refs)
    entry, details = tune_dtw(val, test, refs=refs, progress=_progress("grid"), pressure=pressure, name=name,
                              scorer=scorer, protocol=f"{', '.join(val)} (fold {fold} of edgesig/eval/splits.json), "
                                                      f"skilled forgeries, {refs} references", train=train,
                              select=select, up_time=up_time, extra=channels, path=path, stability=stability)
    if "svc2004-task2" in val:  # the DTW engine looked at the validation writers, a learned decision at the training ones
        unseen = ("test",) if "decision" in entry.params else ("train", "test")
        entry.metrics["unseen_users"] = sorted(int(w) for part in unseen for w in split("svc2004-task2", part, fold))
    if "decision_trials" in details:
        d = details["decision_trials"]
        left_out = (f", left out {d['learned_left_out_val_eer']:.2%} (the pooled choice's "
                    f"{d['pooled_choice_left_out_val_eer']:.2%})" if select == "lodo" else "")
        click.echo(f"learned decision ({select}): validation {d['learned_val_eer']:.2%}{left_out} against the "
                   f"plain rule's {d['plain_val_eer']:.2%} (mean over sets): {'kept' if d['kept'] else 'not kept'}")
    click.echo(f"validation (mean over sets): EER {entry.metrics['val_eer']:.2%}")
    for set_name, fig in details["per_set"].items():
        click.echo(_summary_line(f"{set_name} test writers", _test_figures(fig)))
    if leave_one_out:
        details["leave_one_out"] = lodo(val, test, scorer, pressure, progress=_progress("leave one out"), train=train,
                                        select=select, up_time=up_time, extra=channels, path=path,
                                        stability=stability)
        for set_name, fig in details["leave_one_out"].items():
            kept = {True: ", learned decision kept", False: ", plain rule kept"}.get(fig.get("decision_kept"), "")
            click.echo(_summary_line(f"{set_name} test writers, tuned without {set_name}{kept}", _test_figures(fig)))
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "tuning.json").write_text(json.dumps({**details, "entry": entry.to_dict()}, indent=2))
    if not no_install:
        done = install_entry(entry, made_by=f"edgesig tune online --sets {sets} --fold {fold}"
                                            + ("" if pressure else " --no-pressure")
                                            + (f" --combiner --select {select}" if combiner else "")
                                            + (" --up-time" if up_time else "")
                                            + (f" --extra {','.join(channels)}" if channels else "")
                                            + (f" --path {','.join(path)}" if path else "")
                                            + (f" --stability {stability}" if stability is not None else ""),
                             target=install_dir)
        for line in done.lines():
            click.echo(line)


def _test_figures(fig: dict) -> dict:
    """A set's ``test_*`` figures under the names _summary_line reads."""
    return {k.removeprefix("test_"): v for k, v in fig.items() if k.startswith("test_")}


def _summary_line(label: str, s: dict) -> str:
    line = f"{label}: EER {s['eer']:.2%}"
    if "eer_ci95" in s:
        line += f" (95 % over writers {s['eer_ci95'][0]:.1%}-{s['eer_ci95'][1]:.1%})"
    line += f"  AUC {s['auc']:.4f}  mean per-user EER {s['mean_user_eer']:.2%}"
    if "far" in s:
        line += f"  FAR {s['far']:.2%} / FRR {s['frr']:.2%} at the validation threshold"
    return line


@cli.group("eval")
def eval_group() -> None:
    """Evaluate an installed engine on a signature database."""


@eval_group.command("svc2004")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.option("--refs", default=5, show_default=True)
@click.option("--engine", default="auto", show_default=True)
@click.option("--users", default="1-40", show_default=True, help="users to report on")
@click.option("--out", type=click.Path(file_okay=False), default="report", show_default=True)
def eval_svc2004(directory: str, refs: int, engine: str, users: str, out: str) -> None:
    """EER, FAR/FRR at the engine's validation threshold, AUC; report.json and plots in --out."""
    from edgesig.eval.protocols import load_svc2004, parse_users, run_protocol
    from edgesig.verifier import Verifier
    verifier = Verifier(engine)
    eng = verifier.engine(verifier.engine_name)
    wanted = parse_users(users)
    data = load_svc2004(directory, wanted)
    _note_seen_users(eng, wanted)
    report = run_protocol(data, eng.prepare, eng.distances, refs=refs, decide=eng.decide,
                          progress=_progress(f"{eng.name} on {len(data)} users"), pairwise=eng.pairwise)
    _write_report(report, eng, {"refs": refs, "users_spec": users}, out, f"SVC2004 users {users}")


@eval_group.command("online")
@click.option("--set", "sets", multiple=True, default=("all",), show_default=True,
              type=click.Choice([*ONLINE_SETS, "all"]),
              help="data set; repeat for several; all: the four online sets")
@click.option("--split", "part", type=click.Choice(["train", "val", "test"]), default="test", show_default=True,
              help="which writers of the committed split (edgesig/eval/splits.json) to report on")
@click.option("--fold", default="0", show_default=True, type=click.Choice(["0", "1", "2", "3", "all"]),
              help="writer fold (0 is the fixed split); all: each fold, then the mean over folds")
@click.option("--engine", default="auto", show_default=True)
@click.option("--data", type=click.Path(exists=True, file_okay=False), default=None,
              help="folder holding the sets (default: ../shared/data beside the repository)")
@click.option("--out", type=click.Path(file_okay=False), default="report-online", show_default=True)
def eval_online(sets: tuple[str, ...], part: str, fold: str, engine: str, data: str | None, out: str) -> None:
    """The pen engine on the online sets under their protocols (5 references, skilled
    forgeries): per set and fold, report.json and plots in --out/SET-SPLIT-foldK, and
    summary.json with every row and the mean EER over sets."""
    from edgesig.engines import pressure_free
    from edgesig.eval.datasets import FOLDS, REFERENCES
    from edgesig.eval.protocols import load_set, run_protocol
    from edgesig.verifier import Verifier
    verifier = Verifier(engine)
    main = verifier.engine(verifier.engine_name)
    variant = pressure_free(verifier.engine_name, verifier.manifest)
    chosen = ONLINE_SETS if "all" in sets else tuple(dict.fromkeys(sets))
    rows = []
    for name in chosen:
        for k in range(FOLDS) if fold == "all" else [int(fold)]:
            users = load_set(name, part, k, root=data)
            # as the verifier runs it: a set without pressure goes to the pressure-free variant
            eng = verifier.engine(variant) if variant and not users[0].genuine[0].has_pressure else main
            if name == "svc2004-task2":
                _note_seen_users(eng, [u.user for u in users])
            report = run_protocol(users, eng.prepare, eng.distances, refs=REFERENCES, decide=eng.decide,
                                  progress=_progress(f"{eng.name} on {name} fold {k}"), pairwise=eng.pairwise)
            extra = {"set": name, "split": part, "fold": k, "refs": REFERENCES, "writers": [u.user for u in users]}
            rows.append(_write_report(report, eng, extra, Path(out) / f"{name}-{part}-fold{k}",
                                      f"{name} {part} writers, fold {k}"))
    _write_online_summary(rows, main, Path(out))


def _write_online_summary(rows: list[dict], eng: Engine, out: Path) -> None:
    """summary.json: every set and fold, each set's mean EER over its folds, and the mean over sets."""
    per_set: dict[str, list[float]] = {}
    for row in rows:
        per_set.setdefault(row["set"], []).append(row["eer"])
    set_eer = {name: sum(v) / len(v) for name, v in per_set.items()}
    summary = {"engine": eng.name, "engine_version": eng.version, "command": "edgesig " + " ".join(sys.argv[1:]),
               "rows": [{k: r[k] for k in ("set", "engine", "split", "fold", "users", "eer", "eer_ci95", "far", "frr",
                                           "auc")
                         if k in r} for r in rows],
               "set_eer": set_eer, "mean_eer_over_sets": sum(set_eer.values()) / len(set_eer)}
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=float))
    click.echo(f"{eng.name}: EER per set " + ", ".join(f"{k} {v:.2%}" for k, v in set_eer.items())
               + f"; mean over sets {summary['mean_eer_over_sets']:.2%}; wrote {out / 'summary.json'}")


@eval_group.command("offline")
@click.argument("directory", required=False, type=click.Path(exists=True, file_okay=False))
@click.option("--set", "dataset", default=None,
              help="a set of edgesig.eval.datasets instead of DIRECTORY: cedar (real scans) or an online set "
                   "(svc2004-task2, svc2004-task1, susig, mcyt) rendered with --degradation")
@click.option("--split", "part", type=click.Choice(["train", "val", "test"]), default="test", show_default=True,
              help="with --set: the writers of this part of the fold (edgesig/eval/splits.json)")
@click.option("--fold", default=0, show_default=True, help="with --set: the fold (0 is the fixed split)")
@click.option("--data", type=click.Path(exists=True, file_okay=False), default=None,
              help="with --set: the folder holding the sets (default ../shared/data beside the repo)")
@click.option("--engine", default="auto", show_default=True, help="image engine (auto: the installed best)")
@click.option("--degradation", type=click.Choice(["clean", "scan", "camera"]), default="clean",
              show_default=True, help="how pen files are rendered (image files are used as they are)")
@click.option("--refs", default=5, show_default=True)
@click.option("--users", default="1-10", show_default=True,
              help="with DIRECTORY: users to report on (the shipped image models never saw users 1-10)")
@click.option("--seed", default=0, show_default=True, help="rendering seed")
@click.option("--out", type=click.Path(file_okay=False), default="report-offline", show_default=True)
def eval_offline(directory: str | None, dataset: str | None, part: str, fold: int, data: str | None, engine: str,
                 degradation: str, refs: int, users: str, seed: int, out: str) -> None:
    """The image engine on paper signatures: a folder of SVC2004-numbered files (U<u>S<n>,
    images as they are or pen files rendered to paper), or with --set a part of a shared
    set's writer-disjoint split; same report and plots as svc2004."""
    from edgesig.verifier import Verifier
    if (directory is None) == (dataset is None):
        raise click.UsageError("give either DIRECTORY or --set NAME")
    verifier = Verifier(image_engine=engine)
    eng = verifier.engine(verifier.image_engine_name)
    if dataset is not None:
        samples, title, extra = _set_samples(eng, dataset, part, fold, data, degradation, seed)
    else:
        samples, title, extra = _folder_samples(eng, directory, users, degradation, seed)
    report, unreadable = _image_protocol(eng, samples, refs)
    _write_report(report, eng, {"refs": refs, **extra, "unreadable_queries": unreadable}, out, title)
    if unreadable:
        n = len(unreadable)
        click.echo(f"{n} unreadable {'query' if n == 1 else 'queries'}, counted as rejected: "
                   + "; ".join(sorted(set(unreadable))[:3]))


def _folder_samples(eng: Engine, directory: str, users: str, degradation: str,
                    seed: int) -> tuple[list[UserSamples], str, dict]:
    """(samples, report title, report fields) for the users of an SVC2004-numbered folder:
    its images, or its pen files rendered."""
    from edgesig.eval.protocols import load_svc2004, parse_users, render_users
    wanted = parse_users(users)
    if any(p.suffix.lower() in IMAGE_SUFFIXES for p in Path(directory).iterdir()):
        samples, source = load_svc2004(directory, wanted, loader=str, suffixes=IMAGE_SUFFIXES), "images"
        _note_seen_users(eng, wanted)
    else:
        pens = load_svc2004(directory, wanted)
        _note_seen_users(eng, wanted)
        samples = render_users(_progress(f"render {degradation}")(pens), degradation, seed)
        source = f"pen files rendered {degradation}, seed {seed}"
    return samples, f"users {users}, {source}", {"users_spec": users, "source": source}


def _set_samples(eng: Engine, dataset: str, part: str, fold: int, root: str | None, degradation: str,
                 seed: int) -> tuple[list[UserSamples], str, dict]:
    """(samples, report title, report fields) for the writers of one part of a shared set's
    split: scans as they are, pen files rendered."""
    from edgesig.eval.protocols import load_set, render_users
    if dataset == "cedar":
        samples, how = load_set(dataset, part, fold, root, loader=str), "scans"
    else:
        pens = load_set(dataset, part, fold, root)
        if dataset == "svc2004-task2":  # the only set the manifest's unseen_users speak of
            _note_seen_users(eng, [u.user for u in pens])
        samples = render_users(_progress(f"render {degradation}")(pens), degradation, seed)
        how = f"rendered {degradation}, seed {seed}"
    title = f"{dataset} {part} writers of fold {fold} ({len(samples)}), {how}"
    return samples, title, {"set": dataset, "split": part, "fold": fold, "source": how}


def _image_protocol(eng: Engine, data: list[UserSamples], refs: int) -> tuple[Report, list[str]]:
    """run_protocol with unreadable queries scored as rejected (the worst dissimilarity seen + 1);
    returns the report and the unreadable queries' messages."""
    import numpy as np

    from edgesig.errors import ImageError
    from edgesig.eval.protocols import run_protocol
    unreadable: list[str] = []

    def prepare(sample):
        try:
            return eng.prepare(sample)
        except ImageError as exc:
            unreadable.append(str(exc))
            return None

    def distances(query, references):  # references are readable: pairwise checked them first
        return np.full(len(references), np.nan) if query is None else eng.distances(query, references)

    def pairwise(references):
        if any(r is None for r in references):
            raise ImageError("a reference image could not be read: " + unreadable[-1])
        return eng.pairwise(references)
    report = run_protocol(data, prepare, distances, refs=refs, decide=eng.decide,
                          progress=_progress(f"{eng.name} on {len(data)} users"), pairwise=pairwise)
    finite = np.concatenate([report.genuine, report.forgery])
    worst = float(np.nanmax(finite)) + 1.0 if np.isfinite(finite).any() else 1.0
    for u in report.users:
        u.genuine, u.forgery = np.nan_to_num(u.genuine, nan=worst), np.nan_to_num(u.forgery, nan=worst)
    return report, unreadable


def _note_seen_users(eng: Engine, wanted: list[int]) -> None:
    """Say when some of the users asked for were seen in training or tuning: their figures
    are in-sample, not writer-independent."""
    from edgesig.eval.protocols import format_users
    unseen = eng.entry.unseen_users
    seen = sorted(set(wanted) - set(unseen or ()))
    if unseen is not None and seen:
        click.echo(f"note: {eng.name} was trained, tuned or validated on users {format_users(seen)}, so their "
                   f"figures are in-sample; its unseen users are {format_users(unseen) or 'none'}"
                   + ("" if unseen else " (see the manifest's cross-validated metrics)"))


def _write_report(report: Report, eng: Engine, extra: dict, out: str | Path, title: str) -> dict:
    """Summary line, report.json and (with matplotlib) ROC, DET and score plots in ``out``;
    returns the summary written to report.json."""
    from edgesig.eval import plots
    report.threshold = eng.calibration.threshold
    ci95 = report.eer_interval()  # undefined (NaN) for one writer: then left out, not written as NaN
    summary = {**report.summary(), **({"eer_ci95": ci95} if all(map(math.isfinite, ci95)) else {}),
               "engine": eng.name, "engine_version": eng.version, "engine_metrics": eng.entry.metrics, **extra}
    click.echo(_summary_line(f"{eng.name} on {title}", summary))
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_text(json.dumps(summary, indent=2, default=float))
    if plots.available():
        written = plots.write_plots(report.genuine, report.forgery, out_dir, f"{eng.name}, {title}",
                                    report.threshold)
        click.echo("wrote " + ", ".join(str(p) for p in [out_dir / "report.json", *written]))
    else:
        click.echo(f"wrote {out_dir / 'report.json'} (install matplotlib for ROC/DET plots)")
    return summary


IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}


@cli.command("explain-image")
@click.argument("references", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--query", "-q", required=True, type=click.Path(exists=True, dir_okay=False),
              help="the signature image to explain")
@click.option("--out", "-o", default="explain.png", show_default=True, type=click.Path(dir_okay=False),
              help="heatmap PNG to write")
@click.option("--engine", default="auto", show_default=True,
              help="image engine whose decision is printed beside the heatmap (auto: the installed best)")
def explain_image_cmd(references: tuple[str, ...], query: str, out: str, engine: str) -> None:
    """Heatmap of where the REFERENCES are stable and where --query deviates (optical flow),
    and the installed image engine's decision on --query against them."""
    from edgesig.offline.flow import explain_image
    from edgesig.verifier import Verifier
    exp = explain_image(list(references), query, out)
    if exp.probabilities is not None:
        click.echo("P(genuine) per reference: " + " ".join(f"{p:.2f}" for p in exp.probabilities)
                   + f"; majority vote: {'genuine' if exp.vote else 'not genuine'}")
    click.echo(f"cells beyond 2 reference spreads: {int((exp.deviation > 2).sum())} of {exp.deviation.size}")
    verifier = Verifier(image_engine=engine)
    enrolment = verifier.enroll_images("explain", list(references))
    result = verifier.verify_image("explain", query)
    click.echo(f"{result.engine} {result.model_version}: {'accepted' if result.accepted else 'rejected'}, "
               f"score {result.score:.3f} (threshold {result.threshold:.3f}), references kept "
               f"{len(enrolment.kept)} of {enrolment.n_references}")
    click.echo(f"wrote {exp.path}")


@cli.command("identify")
@click.argument("query", type=click.Path(exists=True, dir_okay=False))
@click.option("--gallery", required=True, type=click.Path(exists=True, file_okay=False),
              help="one sub-folder per enrolled user, holding that user's reference signatures")
@click.option("--top-k", default=5, show_default=True)
@click.option("--closed-set", is_flag=True, help="always rank the users, never answer unknown")
def identify_cmd(query: str, gallery: str, top_k: int, closed_set: bool) -> None:
    """Which user of --gallery wrote QUERY (a pen file or an image); exit 0 identified,
    1 unknown (nobody scores above the open-set threshold)."""
    import numpy as np
    from edgesig.capture import load_pen
    from edgesig.identify import Identifier, load_identification
    is_image = Path(query).suffix.lower() in IMAGE_SUFFIXES
    embedder, threshold = load_identification("image" if is_image else "pen")
    read = str if is_image else load_pen

    def embedded(files: Iterable[Path | str]) -> np.ndarray:  # a file that fails is named
        return np.stack(_each(files, lambda f: embedder.embed(read(f))))
    ident = Identifier(threshold=None if closed_set else threshold)
    for user_dir in sorted(p for p in Path(gallery).iterdir() if p.is_dir()):
        files = sorted(f for f in user_dir.iterdir()  # hidden files are the OS's (.DS_Store), not references
                       if f.is_file() and not f.name.startswith(".")
                       and (f.suffix.lower() in IMAGE_SUFFIXES) == is_image)
        if files:
            ident.add(user_dir.name, embedded(files))
    if len(ident) == 0:
        raise click.UsageError(f"no {'image' if is_image else 'pen'} references in the sub-folders of {gallery}")
    result = ident.identify(embedded([query])[0], top_k)
    if result.unknown:
        click.echo(f"unknown: no enrolled user scores above the threshold {result.threshold:.3f} "
                   f"({result.gallery_size} users searched); the closest were:")
    for rank, (user, score) in enumerate(result.candidates, 1):
        click.echo(f"{rank}. {user}  {score:.3f}")
    sys.exit(1 if result.unknown else 0)


if __name__ == "__main__":
    main()
