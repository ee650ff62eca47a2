"""An exclusive advisory lock on a file, across processes, with a bounded wait.

SQLite makes each write atomic, but a read-merge-write (a replay record that gains a
fingerprint, a template that gains an adapted reference) is a read, some work and a
write: two processes doing it at once each write their own merge of the same old record,
and one's change is lost. Holding this lock around the whole step makes it exclusive.
The audit log holds it on its own file around each append, so lines of several
processes chain in order.

Standard library only: ``fcntl.flock`` on POSIX, ``msvcrt.locking`` on Windows. The
operating system drops the lock when its holder exits, killed or not, so a lock file
left on disk is never a stale lock; a lock that stays held is held by a live process.
"""
from __future__ import annotations

import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from edgesig.errors import StoreBusyError, StoreError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None
    import msvcrt

#: Longest pause between two tries while another process holds the lock.
_MAX_PAUSE_S = 0.05
#: The byte Windows locks: past any real file's end, as Windows locks are mandatory and a
#: lock on byte 0 would stop the audit log's readers.
_WINDOWS_BYTE = 2 ** 31 - 2


@contextmanager
def exclusive(path: Path, *, timeout: float, what: str, append: bool = False,
              read: bool = False) -> Iterator[int]:
    """Hold the lock on ``path`` (made owner-only if missing) and yield its descriptor.

    Waits up to ``timeout`` seconds for another holder, then raises StoreBusyError
    naming the lock file; ``what`` says what the lock guards ("store x.db"). ``append``
    opens the file for appending (the audit log writes its line through the descriptor);
    ``read`` opens an existing file for reading only, so a reader that may not write the
    file (an auditor's read-only copy) still takes the lock and reads between appends.
    """
    fd = _open(path, append, what, read)
    try:
        _acquire(fd, path, timeout, what)
        try:
            yield fd
        finally:
            _release(fd)
    finally:
        os.close(fd)


def _open(path: Path, append: bool, what: str, read: bool = False) -> int:
    # O_BINARY (Windows only): in the C runtime's default text mode each b"\n" the audit
    # log writes through the descriptor would land as b"\r\n", and its lines' hashes break
    mode = os.O_RDONLY if read else (os.O_WRONLY | os.O_APPEND if append else os.O_RDWR) | os.O_CREAT
    flags = mode | getattr(os, "O_BINARY", 0)
    try:
        return os.open(path, flags, 0o600)
    except OSError as exc:
        raise StoreError(f"cannot open {path} to lock {what}: {exc.strerror}; check the file's and its "
                         "folder's permissions") from None


def _acquire(fd: int, path: Path, timeout: float, what: str) -> None:
    """Try without blocking until the lock is ours or ``timeout`` has passed."""
    deadline = time.monotonic() + timeout
    pause = 0.001
    while not _try_lock(fd):
        if time.monotonic() >= deadline:
            raise StoreBusyError(
                f"{what} is busy: another process has held the lock on {path} for over {timeout:g} s. "
                "Retry, or give a longer timeout. The lock goes with its holder, even a killed one, so it is "
                f"never stale: a live process holds it (`fuser {path}` or `lsof {path}` names it); stop it if "
                "it hangs. Do not delete the lock file while edgesig runs: that lets two writers in at once",
                path=path)
        time.sleep(pause)
        pause = min(pause * 2, _MAX_PAUSE_S)


def _try_lock(fd: int) -> bool:
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:  # pragma: no cover - Windows: one byte stands for the file
            os.lseek(fd, _WINDOWS_BYTE, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except (BlockingIOError, PermissionError):
        return False
    except OSError as exc:
        if fcntl is None:  # pragma: no cover - msvcrt reports a held lock as EDEADLOCK / EACCES
            return False
        raise StoreError(f"cannot lock a file ({exc.strerror}); the file system may not support locks: "
                         "put the file on a local disk") from None
    return True


def _release(fd: int) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
    else:  # pragma: no cover - Windows
        os.lseek(fd, _WINDOWS_BYTE, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
