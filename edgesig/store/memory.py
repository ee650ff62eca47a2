"""MemoryStore: templates in a dict. For tests, demos and short-lived kiosk sessions."""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterable, Iterator

from edgesig.errors import UnknownUserError
from edgesig.store.base import Template, check_user_id, checked_template


class MemoryStore:
    """A thread-safe in-memory TemplateStore; nothing survives the process."""

    def __init__(self) -> None:
        self._records: dict[tuple[str, str], Template] = {}
        self._lock = threading.Lock()
        self._exclusive = threading.RLock()  # taken before _lock, never after it

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """No other thread writes until the block ends (a read-merge-write; see store.base.locked)."""
        with self._exclusive:
            yield

    def put(self, template: Template) -> None:
        self.put_many([template])

    def put_many(self, templates: Iterable[Template]) -> None:
        """Store several records at once: all of them or, on a bad one, none."""
        templates = [checked_template(t) for t in templates]
        with self._exclusive, self._lock:
            self._records.update({(t.user_id, t.engine): t for t in templates})

    def get(self, user_id: str, engine: str) -> Template:
        user_id = check_user_id(user_id)
        with self._lock:
            record = self._records.get((user_id, engine))
        if record is None:
            raise UnknownUserError.not_enrolled(user_id, engine)
        return record

    def delete(self, user_id: str) -> int:
        user_id = check_user_id(user_id)
        with self._exclusive, self._lock:
            keys = [k for k in self._records if k[0] == user_id]
            for key in keys:
                del self._records[key]
        return len(keys)

    def users(self) -> list[str]:
        with self._lock:
            return sorted({u for u, _ in self._records})

    def engines(self, user_id: str) -> list[str]:
        user_id = check_user_id(user_id)
        with self._lock:
            return sorted(e for u, e in self._records if u == user_id)
