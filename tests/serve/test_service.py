"""Service.verify_image: the heatmap explains the decision's own template, outside the lock."""
from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from edgesig.adaptation import AdaptPolicy
from edgesig.errors import InvalidInputError
from edgesig.serve import imaging
from edgesig.serve.demo import Demo
from edgesig.serve.service import Service
from edgesig.verifier import Verifier


@pytest.fixture(scope="module")
def photos() -> list[bytes]:
    demo = Demo.create(users=("dora",))
    return [demo.photo_sample("dora", True) for _ in range(5)]


def test_heatmap_uses_the_decisions_template_and_runs_outside_the_lock(monkeypatch, photos) -> None:
    service = Service.create(Verifier(adapt=AdaptPolicy(min_score=0.01)))
    service.verifier.enroll_images("dora", photos)
    engine = service.verifier.image_engine_name
    enrolled = service.verifier.store.get("dora", engine)
    seen: dict[str, Any] = {}

    def fake_heatmap(_engine, references, query) -> str:
        seen.update(references=references, locked=service._lock.locked())
        return "data:image/png;base64,"
    monkeypatch.setattr(imaging, "heatmap", fake_heatmap)
    result = service.verify_image("dora", imaging.data_url(photos[0], "jpeg"))
    # The query was accepted and joined the stored template (adaptation)...
    assert result["accepted"] and len(service.verifier.store.get("dora", engine).references) == \
        len(enrolled.references) + 1
    # ...but the heatmap compares it with the references the decision was made on, not with itself.
    assert len(seen["references"]) == len(enrolled.references)
    assert all(np.array_equal(a, b) for a, b in zip(seen["references"], enrolled.references))
    assert not seen["locked"]
    assert result["heatmap"] == "data:image/png;base64,"


def test_verify_image_refuses_another_users_template(photos) -> None:
    verifier = Verifier()
    verifier.enroll_images("dora", photos)
    theirs = replace(verifier.store.get("dora", verifier.image_engine_name), user_id="eve")
    with pytest.raises(InvalidInputError, match="'eve'"):
        verifier.verify_image("dora", photos[0], template=theirs)


def test_the_admin_audit_list_of_a_log_cut_short_shows_its_entries_under_a_gap_row(tmp_path) -> None:
    """A TruncatedLogError from the log would have emptied the admin page's audit table."""
    from edgesig.audit import AuditLog
    path = tmp_path / "audit.jsonl"
    service = Service.create(Verifier(), audit=AuditLog(path, key=b"k" * 32))
    for user in ("ann", "ben"):
        service.unlock(user)  # one audit entry each
    path.write_bytes(path.read_bytes().splitlines(keepends=True)[0])
    shown = service.audit_entries()
    assert [e["event"] for e in shown] == ["gap", "update"] and "line 1" in shown[0]["decision"]
