"""`edgesig serve` through Starlette's test client: enrol, verify, images, delete, lockout,
and every refusal (CSRF, origin, host, size, malformed bodies) as a clear 4xx."""
from __future__ import annotations

import base64
import json
import logging
import re

import numpy as np
import pytest

pytest.importorskip("starlette", reason="the serve extra is not installed (pip install 'edgesig[serve]')")
from starlette.testclient import TestClient  # noqa: E402

from edgesig.capture import pointer_events  # noqa: E402
from edgesig.serve.app import build, create_app  # noqa: E402
from edgesig.serve.config import Limits, ServeConfig  # noqa: E402
from edgesig.serve.demo import Demo  # noqa: E402
from edgesig.serve.service import Service  # noqa: E402
from edgesig.store import EncryptedStore, KeyFile  # noqa: E402
from edgesig.synth import make_population  # noqa: E402
from edgesig.verifier import Verifier  # noqa: E402

BASE = "http://127.0.0.1:8765"
MAX_FAILURES = 3
STRANGER = make_population(2, 99)[1]
LIMITS = Limits(max_failures=MAX_FAILURES, signature_bytes=400_000)


@pytest.fixture(scope="module")
def demo() -> Demo:
    return Demo.create(users=("demo-anna",))


@pytest.fixture(scope="module")
def service(demo: Demo) -> Service:
    verifier = Verifier()
    demo.enrol(verifier)  # pen and photos of one synthetic person
    return Service.create(verifier, LIMITS)


@pytest.fixture(scope="module")
def client(service: Service, demo: Demo) -> TestClient:
    client = TestClient(create_app(service, ServeConfig(limits=LIMITS), demo), base_url=BASE)
    client.headers["x-csrf-token"] = token_of(client.get("/pen").text)
    return client


def token_of(html: str) -> str:
    return re.search(r'name="csrf-token" content="([0-9a-f]{64})"', html).group(1)


def enrol(client: TestClient, demo: Demo, user: str) -> dict:
    refs = [demo.pen_sample("demo-anna", True) for _ in range(5)]
    response = client.post("/api/pen/enroll", json={"user": user, "signatures": refs})
    assert response.status_code == 200, response.text
    return response.json()


def verify(client: TestClient, demo: Demo, user: str, genuine: bool):
    return client.post("/api/pen/verify", json={"user": user, "signature": demo.pen_sample("demo-anna", genuine)})


def stranger_sample(seed: int) -> dict:
    """Another person's own signature: rejected far more surely than a skilled forgery."""
    return json.loads(pointer_events.write(STRANGER.genuine(np.random.default_rng(seed))))


def assert_error(response, status: int, kind: str, words: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == kind and words in body["error"], body
    assert "Traceback" not in response.text


def test_pages_carry_a_token_a_strict_cookie_and_security_headers(client: TestClient) -> None:
    for page in ("/pen", "/kiosk", "/admin"):
        fresh = TestClient(client.app, base_url=BASE).get(page)
        assert fresh.status_code == 200 and token_of(fresh.text)
        cookie = fresh.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        assert "frame-ancestors 'none'" in fresh.headers["content-security-policy"]
    assert client.get("/static/pen.js").headers["content-type"].startswith("text/javascript")


def test_enrol_and_verify_a_pen_signature(client: TestClient, demo: Demo) -> None:
    report = enrol(client, demo, "alice")
    assert report["user_id"] == "alice" and len(report["kept"]) == 5 and report["redo"] == []
    assert 0 < report["consistency"] <= 1
    genuine = verify(client, demo, "alice", True).json()
    assert genuine["accepted"] and genuine["score"] >= genuine["threshold"] and genuine["latency_ms"] > 0
    forged = verify(client, demo, "alice", False).json()
    assert not forged["accepted"] and forged["reasons"]


def test_a_mouse_or_finger_signs_without_pressure(client: TestClient, demo: Demo) -> None:
    def as_mouse(recording: dict) -> dict:
        drop = ("pressure", "tiltX", "tiltY", "azimuthAngle", "altitudeAngle")
        return {"events": [{**{k: v for k, v in e.items() if k not in drop}, "pointerType": "mouse"}
                           for e in recording["events"]]}
    refs = [as_mouse(demo.pen_sample("demo-anna", True)) for _ in range(5)]
    assert client.post("/api/pen/enroll", json={"user": "mallory", "signatures": refs}).json()["redo"] == []
    signature = as_mouse(demo.pen_sample("demo-anna", True))
    assert client.post("/api/pen/verify", json={"user": "mallory", "signature": signature}).json()["accepted"]


def test_enrolment_names_the_reference_to_redo(client: TestClient, demo: Demo) -> None:
    refs = [demo.pen_sample("demo-anna", True) for _ in range(4)]
    refs.insert(2, stranger_sample(0))
    report = client.post("/api/pen/enroll", json={"user": "carol", "signatures": refs}).json()
    assert report["redo"] == [2] and report["kept"] == [0, 1, 3, 4]
    assert "reference 2" in report["reasons"][0]


def test_image_locate_and_verify_with_heatmap(client: TestClient) -> None:
    photo = client.post("/api/demo/photo", json={"user": "demo-anna", "genuine": True}).json()["image"]
    found = client.post("/api/image/locate", json={"image": photo}).json()
    assert len(found["sheet"]) == 4 and len(found["box"]) == 4
    xs, ys = [p[0] for p in found["sheet"]], [p[1] for p in found["sheet"]]
    assert all(min(xs) <= x <= max(xs) and min(ys) <= y <= max(ys) for x, y in found["box"])
    result = client.post("/api/image/verify", json={"user": "demo-anna", "image": photo}).json()
    assert result["engine"] and isinstance(result["accepted"], bool) and 0 <= result["score"] <= 1
    assert base64.b64decode(result["heatmap"].split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"


def test_image_enrolment_from_photos(client: TestClient) -> None:
    photos = [client.post("/api/demo/photo", json={"user": "demo-anna", "genuine": True}).json()["image"]
              for _ in range(3)]
    report = client.post("/api/image/enroll", json={"user": "heidi", "images": photos}).json()
    assert report["user_id"] == "heidi" and report["n_references"] == 3 and report["engine"]
    engines = [u["engines"] for u in client.get("/api/users").json() if u["user"] == "heidi"][0]
    assert report["engine"] in engines


def test_one_replay_guard_sees_every_request(client: TestClient, demo: Demo) -> None:
    enrol(client, demo, "ivan")
    signature = demo.pen_sample("demo-anna", True)
    first = client.post("/api/pen/verify", json={"user": "ivan", "signature": signature}).json()
    again = client.post("/api/pen/verify", json={"user": "ivan", "signature": signature}).json()
    assert first["accepted"] and not again["accepted"]
    assert any("duplicate" in reason for reason in again["reasons"]), again["reasons"]


def test_delete_forgets_the_user(client: TestClient, demo: Demo) -> None:
    enrol(client, demo, "dave")
    assert client.post("/api/users/delete", json={"user": "dave"}).json()["removed"] >= 1
    assert "dave" not in [u["user"] for u in client.get("/api/users").json()]
    assert_error(verify(client, demo, "dave", True), 404, "UnknownUserError", "dave")
    assert_error(client.post("/api/users/delete", json={"user": "dave"}), 404, "UnknownUserError", "nothing")


def test_failed_verifications_lock_the_user_out_and_are_audited(client: TestClient, service: Service,
                                                                demo: Demo) -> None:
    enrol(client, demo, "erin")
    for seed in range(MAX_FAILURES):
        attempt = client.post("/api/pen/verify", json={"user": "erin", "signature": stranger_sample(seed)})
        assert attempt.json()["accepted"] is False
    locked = verify(client, demo, "erin", True)
    assert_error(locked, 429, "LockedOutError", "locked out after 3 failed verifications")
    assert int(locked.headers["retry-after"]) > 0
    pseudonym = service.audit.user_hash("erin")
    events = [(e["event"], e.get("decision")) for e in client.get("/api/audit").json() if e["user"] == pseudonym]
    assert events[:2] == [("reject", "locked out"), ("lockout", "locked")]
    assert [u["locked_s"] > 0 for u in client.get("/api/users").json() if u["user"] == "erin"] == [True]
    assert client.post("/api/users/unlock", json={"user": "erin"}).json()["unlocked"] is True
    assert verify(client, demo, "erin", True).status_code == 200


def test_audit_and_models_hold_no_biometric_data(client: TestClient) -> None:
    text = json.dumps(client.get("/api/audit").json())
    assert "alice" not in text and "offsetX" not in text and "events" not in text
    models = {m["name"]: m for m in client.get("/api/models").json()}
    assert models["dtw"]["in_use"] and models["dtw"]["figures"]["test_eer"] > 0


@pytest.mark.parametrize("headers, words", [
    ({"x-csrf-token": ""}, "CSRF"),
    ({"x-csrf-token": "0" * 64}, "CSRF"),
    ({"x-csrf-token": b"\xe9" * 64}, "CSRF"),
    ({"origin": "http://evil.example"}, "cross-origin"),
    ({"sec-fetch-site": "cross-site"}, "cross-origin"),
    ({"host": "evil.example:8765"}, "does not answer to host"),
    ({"host": "[127.0.0.1"}, "does not answer to host"),
])
def test_refused_requests(client: TestClient, headers: dict, words: str) -> None:
    response = client.post("/api/users/delete", json={"user": "demo-anna"}, headers=headers)
    assert_error(response, 403, "RequestRefusedError", words)
    assert "demo-anna" in [u["user"] for u in client.get("/api/users").json()]


def test_api_reads_need_the_token_too(client: TestClient) -> None:
    assert_error(TestClient(client.app, base_url=BASE).get("/api/users"), 403, "RequestRefusedError", "CSRF")


def test_oversized_bodies_are_refused_before_reading(client: TestClient) -> None:
    body = json.dumps({"user": "alice", "signature": {"events": [], "pad": "x" * 500_000}})
    response = client.post("/api/pen/verify", content=body, headers={"content-type": "application/json"})
    assert_error(response, 413, "RequestTooLargeError", "over the 400000 bytes")


PEN = "/api/pen/verify"
IMAGE = "/api/image/verify"


@pytest.mark.parametrize("path, content, kind, words", [
    (PEN, b'{"user": "alice", "signature": ', "FormatError", "not valid JSON"),
    (PEN, b"\xff\xfe", "FormatError", "not UTF-8"),
    (PEN, b"[1, 2]", "InvalidInputError", "must be a JSON object"),
    (PEN, b'{"signature": {"events": []}}', "InvalidInputError", "user id"),
    (PEN, b'{"user": "alice", "signature": {"events": "many"}}', "FormatError", "array of events"),
    (PEN, b'{"user": "alice", "signature": [{"type": "pointerdown", "pointerType": "pen", "offsetX": "a"}]}',
     "FormatError", "finite number"),
    (PEN, b'{"user": "alice", "signature": []}', "FormatError", "no pointer events"),
    ("/api/pen/enroll", b'{"user": "alice", "signatures": {}}', "InvalidInputError", "list of 3 to 20"),
    ("/api/pen/enroll", b'{"user": "alice", "signatures": [[], [], []]}', "FormatError", "reference 0"),
    (IMAGE, b'{"user": "alice", "image": 5}', "ImageError", "data:image"),
    (IMAGE, b'{"user": "alice", "image": "data:image/png;base64,***"}', "ImageError", "corrupt"),
    (IMAGE, b'{"user": "demo-anna", "image": "data:image/png;base64,aGVsbG8="}', "ImageError", "unreadable"),
])
def test_malformed_bodies_give_a_clear_4xx(client: TestClient, path: str, content: bytes, kind: str,
                                           words: str) -> None:
    response = client.post(path, content=content, headers={"content-type": "application/json"})
    assert_error(response, 400, kind, words)


def test_a_body_that_is_not_json_is_refused(client: TestClient) -> None:
    response = client.post(PEN, content=b"user=alice", headers={"content-type": "application/x-www-form-urlencoded"})
    assert_error(response, 400, "InvalidInputError", "Content-Type: application/json")


def test_an_unexpected_failure_is_a_clean_500_that_logs_no_data(client: TestClient, service: Service,
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    secret = f"offsetX {12345 / 100} pressure 0.61"  # built at run time: not in the logged source lines

    def broken() -> list:
        raise RuntimeError(secret)
    monkeypatch.setattr(service, "users", broken)
    with caplog.at_level(logging.DEBUG):
        response = client.get("/api/users")
    assert response.status_code == 500 and response.json()["type"] == "InternalError"
    assert "123.45" not in response.text and "123.45" not in caplog.text
    assert "RuntimeError" in caplog.text


def test_encrypted_store_keeps_templates_and_audit_beside_it(tmp_path, demo: Demo) -> None:
    path = tmp_path / "templates.db"
    config = ServeConfig(store=path)
    with EncryptedStore(path, KeyFile(tmp_path / "key"), create=True) as store:
        client = TestClient(build(config, store), base_url=BASE)
        client.headers["x-csrf-token"] = token_of(client.get("/pen").text)
        enrol(client, demo, "frank")
        assert verify(client, demo, "frank", True).json()["accepted"]
    with EncryptedStore(path, KeyFile(tmp_path / "key"), create=True) as store:
        assert store.users() == ["frank"]
    audit = config.audit_path.read_text()
    assert [json.loads(line)["event"] for line in audit.splitlines()] == ["enrol", "verify"]
    assert "frank" not in audit and b"frank" not in path.read_bytes()


def test_the_server_warms_the_pen_path_before_its_first_signer(monkeypatch) -> None:
    """Verifier.warm_up exists so that a service pays for loading the compiled kernels at
    start; edgesig serve never called it, and the first signature after a restart took
    340-400 ms against 2-7 ms for the next ones."""
    from edgesig.pen import PenStream
    warmed = []
    monkeypatch.setattr(Verifier, "warm_up", lambda self, sample: warmed.append(sample))
    build(ServeConfig())
    assert len(warmed) == 1 and isinstance(warmed[0], PenStream)


def test_a_restart_does_not_forget_accepted_signatures(tmp_path, demo: Demo) -> None:
    """`edgesig serve --store` kept the replay memory in memory only, so a signature
    accepted before a restart was accepted again after it (`edgesig verify` keeps it)."""
    path, key = tmp_path / "templates.db", KeyFile(tmp_path / "key")
    config = ServeConfig(store=path)
    signature = demo.pen_sample("demo-anna", True)
    results = []
    for create in (True, False):  # two runs of the server on one store
        with EncryptedStore(path, key, create=create) as store, \
                TestClient(build(config, store), base_url=BASE) as client:
            client.headers["x-csrf-token"] = token_of(client.get("/pen").text)
            if create:
                enrol(client, demo, "gina")
            results.append(client.post("/api/pen/verify", json={"user": "gina", "signature": signature}).json())
    assert results[0]["accepted"] and not results[1]["accepted"]
    assert any("recently accepted" in reason for reason in results[1]["reasons"]), results[1]["reasons"]
