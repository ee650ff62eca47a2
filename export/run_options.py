"""The options every training command takes, kept free of torch so ``python -m export --help``
stays quick (the commands import torch when they run)."""
from __future__ import annotations

import contextlib
import functools
import os
import shlex
import sys
from pathlib import Path
from typing import Any, Callable

import click

#: SVC2004 Task 2 in the shared data folder beside the checkout, the default ``--data``.
DEFAULT_DATA = str(Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "svc2004_task2")


def command_line() -> str:
    """The running ``python -m export ...`` command, recorded in results so they can be reproduced."""
    return "python -m export " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def run_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Click options ``--resume-dir``, ``--checkpoint-every`` and ``--amp``, applied before the command.

    Applying them joins the torchrun process group (when there is one) before any data is
    loaded; ranks other than 0 then run with stdout silenced, so every log line comes once.
    """
    @functools.wraps(command)
    def wrapped(*args: Any, resume_dir: str | None, checkpoint_every: int, amp: bool, **kw: Any) -> Any:
        from export.checkpoint import set_resume
        from export.distributed import set_amp
        set_amp(amp)
        set_resume(resume_dir, checkpoint_every)
        if is_main():
            return command(*args, **kw)
        with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
            return command(*args, **kw)

    for opt in reversed([
        click.option("--resume-dir", default=None, help="save the training state here every --checkpoint-every "
                     "steps; the same command run again resumes from it"),
        click.option("--checkpoint-every", default=50, show_default=True, help="steps between saved states"),
        click.option("--amp", is_flag=True, help="bfloat16 mixed precision on a GPU (ignored on CPU)"),
    ]):
        wrapped = opt(wrapped)
    return wrapped


def is_main() -> bool:
    """Whether this process writes files (rank 0 under torchrun, always on one process)."""
    from export.distributed import context
    return context().is_main
