"""The Starlette application: three pages and a JSON API over :class:`Service`.

Security, in the order a request meets it (:class:`Guard`): the Host header must name
this server (a DNS-rebinding page cannot reach it), every ``/api`` call must come from
this origin and carry the CSRF token bound to the page's session cookie, and bodies are
read only up to the call's limit. Responses forbid framing and inline script. Errors
are JSON ``{"error", "type"}`` with a 4xx status for anything the caller can fix; an
unexpected failure is a 500 naming only the exception type, and the log holds its
traceback without its message, so no signature data ever reaches a log.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import traceback
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable
from urllib.parse import urlsplit

import numpy as np
import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from edgesig.audit import AuditLog
from edgesig.errors import (EdgesigError, EngineUnavailableError, EnrollmentError, FormatError, InvalidInputError,
                            LockedOutError, MissingExtraError, ModelError, ReplayError, RequestRefusedError,
                            RequestTooLargeError, UnknownUserError)
from edgesig.security import shared_guard
from edgesig.serve.config import Limits, ServeConfig
from edgesig.serve.demo import Demo
from edgesig.serve.imaging import data_url
from edgesig.serve.service import Service
from edgesig.store import EncryptedStore, TemplateStore
from edgesig.synth import make_writer
from edgesig.verifier import Verifier

log = logging.getLogger("edgesig.serve")
STATIC = Path(__file__).with_name("static")
PAGES = ("pen", "kiosk", "admin")
SESSION_COOKIE = "edgesig_session"
CSRF_HEADER = "x-csrf-token"
CSRF_PLACEHOLDER = "{{csrf_token}}"
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
                                 b"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(self), microphone=(), geolocation=()"),
]
#: Most specific first: the HTTP status of each error the SDK raises on purpose.
STATUS: tuple[tuple[type[EdgesigError], int], ...] = (
    (RequestTooLargeError, 413), (RequestRefusedError, 403), (LockedOutError, 429), (UnknownUserError, 404),
    (EnrollmentError, 422), (ReplayError, 409), (InvalidInputError, 400),
    (EngineUnavailableError, 503), (ModelError, 503), (MissingExtraError, 503))
Handler = Callable[[dict[str, Any]], Any]
#: The one call run on the event loop: verifying a pen signature takes 1-3 ms of CPU.
INLINE = "/api/pen/verify"


def status_of(exc: EdgesigError) -> int:
    return next((code for kind, code in STATUS if isinstance(exc, kind)), 500)


def error_response(exc: EdgesigError) -> JSONResponse:
    headers = {"retry-after": str(max(1, round(exc.retry_after_s)))} if isinstance(exc, LockedOutError) else None
    return JSONResponse({"error": str(exc), "type": type(exc).__name__}, status_code=status_of(exc), headers=headers)


def internal_error(where: str, exc: BaseException) -> JSONResponse:
    """Log the traceback without the exception's message (it may quote request data)."""
    frames = "".join(traceback.format_tb(exc.__traceback__))
    log.error("internal error in %s: %s\n%s", where, type(exc).__name__, frames)
    return JSONResponse({"error": f"internal error ({type(exc).__name__}); the server log has the details",
                         "type": "InternalError"}, status_code=500)


class Sessions:
    """Session cookies and the CSRF tokens bound to them (HMAC under a per-process secret)."""

    def __init__(self) -> None:
        self._secret = secrets.token_bytes(32)

    def token(self, session: str) -> str:
        return hmac.new(self._secret, session.encode(), hashlib.sha256).hexdigest()

    def valid(self, session: str | None, token: str | None) -> bool:
        # as bytes: compare_digest refuses str with non-ASCII characters (a header may hold any)
        return bool(session and token) and hmac.compare_digest(self.token(session).encode(),
                                                              token.encode("utf-8", "surrogateescape"))

    @staticmethod
    def new() -> str:
        return secrets.token_urlsafe(32)


class Guard:
    """ASGI middleware: Host check, same-origin and CSRF for ``/api``, security headers."""

    def __init__(self, app: ASGIApp, hosts: frozenset[str], sessions: Sessions):
        self.app, self.hosts, self.sessions = app, hosts, sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        try:
            self._check(request)
        except RequestRefusedError as exc:
            await error_response(exc)(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + SECURITY_HEADERS + (
                    [(b"cache-control", b"no-store")] if scope["path"].startswith("/api/") else [])
            await send(message)
        await self.app(scope, receive, send_with_headers)

    def _check(self, request: Request) -> None:
        host_header = request.headers.get("host", "")
        if _hostname(host_header) not in self.hosts:
            raise RequestRefusedError(f"this server does not answer to host {host_header!r:.80}; open it as "
                                      "http://127.0.0.1:PORT (or a --server-name given at start)")
        if not request.url.path.startswith("/api/"):
            return
        fetch_site = request.headers.get("sec-fetch-site")
        origin = request.headers.get("origin")
        if fetch_site not in (None, "same-origin", "none") or (
                origin is not None and origin != f"{request.url.scheme}://{host_header}"):
            raise RequestRefusedError("cross-origin requests are refused: the edgesig pages talk only to the "
                                      "server that served them")
        if not self.sessions.valid(request.cookies.get(SESSION_COOKIE), request.headers.get(CSRF_HEADER)):
            raise RequestRefusedError("missing or invalid CSRF token: reload the page (API calls must carry the "
                                      f"page's token in the {CSRF_HEADER} header with its session cookie)")


def _hostname(host_header: str) -> str:
    """The lower-case host name of a Host header ("" when it is malformed, e.g. "[")."""
    try:
        return (urlsplit(f"//{host_header}").hostname or "").lower()
    except ValueError:
        return ""


async def read_json(request: Request, limit: int) -> dict[str, Any]:
    """The JSON object in the body, refusing more than ``limit`` bytes before reading them."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise InvalidInputError("send the request body as JSON with Content-Type: application/json")
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise RequestTooLargeError(f"the request body ({declared} bytes) is over the {limit} bytes this call "
                                   "accepts; send fewer or shorter signatures, or a smaller photo")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise RequestTooLargeError(f"the request body is over the {limit} bytes this call accepts; "
                                       "send fewer or shorter signatures, or a smaller photo")
    try:  # orjson: a 1,000-point signature (260 kB) parses in 0.6 ms of CPU instead of 1.9 ms
        doc = orjson.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise FormatError("the request body is not UTF-8 JSON") from None
    except orjson.JSONDecodeError as exc:
        raise FormatError(f"the request body is not valid JSON: {exc.msg}", offset=exc.pos) from None
    if not isinstance(doc, dict):
        raise InvalidInputError(f"the request body must be a JSON object, got {type(doc).__name__}")
    return doc


def api(handler: Handler, limit: int | None = None, inline: bool = False) -> Callable[[Request], Awaitable[Response]]:
    """An endpoint calling ``handler(body)`` (POST: the JSON body up to ``limit``) in a worker
    thread, or ``inline`` on the event loop for a call of a few milliseconds where two
    thread hand-offs on a busy two-core device cost more than the work itself."""
    async def endpoint(request: Request) -> Response:
        try:
            body = await read_json(request, limit) if limit is not None else {}
            return JSONResponse(handler(body) if inline else await run_in_threadpool(handler, body))
        except EdgesigError as exc:
            return error_response(exc)
        except Exception as exc:  # noqa: BLE001 - any other failure: a clean 500, never a traceback
            return internal_error(request.url.path, exc)
    return endpoint


def page(name: str, sessions: Sessions, secure: bool) -> Callable[[Request], Awaitable[Response]]:
    """A page (its <main> in the shared layout) with the CSRF token of its session (a new
    session cookie when it has none)."""
    layout = (STATIC / "layout.html").read_text(encoding="utf-8")
    html = layout.replace("{{main}}", (STATIC / f"{name}.html").read_text(encoding="utf-8")).replace("{{page}}", name)
    session_length = len(Sessions.new())

    async def endpoint(request: Request) -> Response:
        session = request.cookies.get(SESSION_COOKIE)
        fresh = session is None or len(session) != session_length
        session = Sessions.new() if fresh else session
        response = HTMLResponse(html.replace(CSRF_PLACEHOLDER, sessions.token(session)),
                                headers={"cache-control": "no-store"})
        if fresh:
            response.set_cookie(SESSION_COOKIE, session, httponly=True, samesite="strict", secure=secure, path="/")
        return response
    return endpoint


async def not_found(request: Request, exc: HTTPException) -> Response:
    return JSONResponse({"error": f"{request.method} {request.url.path}: {exc.detail}", "type": "HTTPError"},
                        status_code=exc.status_code)


def create_app(service: Service, config: ServeConfig = ServeConfig(), demo: Demo | None = None) -> ASGIApp:
    """The ASGI app; ``demo`` adds the calls that hand out synthetic samples."""
    limits, sessions = config.limits, Sessions()
    routes = [Route("/", lambda request: RedirectResponse("/pen")),
              *(Route(f"/{name}", page(name, sessions, config.tls)) for name in PAGES),
              *_api_routes(service, limits, demo),
              Mount("/static", StaticFiles(directory=STATIC), name="static")]
    app = Starlette(routes=routes, exception_handlers={HTTPException: not_found}, lifespan=_lifespan(service))
    return Guard(app, config.allowed_hosts(), sessions)


def _lifespan(service: Service) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    """The app's shutdown closes the service (the replay memory it still holds is written)."""
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await run_in_threadpool(service.close)
    return lifespan


def _api_routes(service: Service, limits: Limits, demo: Demo | None) -> list[Route]:
    post = {
        "/api/pen/enroll": (lambda b: service.enroll_pen(b.get("user"), b.get("signatures")), limits.enrol_bytes),
        "/api/pen/verify": (lambda b: service.verify_pen(b.get("user"), b.get("signature")), limits.signature_bytes),
        "/api/image/locate": (lambda b: service.locate(b.get("image")), limits.image_bytes),
        "/api/image/enroll": (lambda b: service.enroll_images(b.get("user"), b.get("images")),
                              limits.enrol_bytes + limits.image_bytes),
        "/api/image/verify": (lambda b: service.verify_image(b.get("user"), b.get("image")), limits.image_bytes),
        "/api/users/delete": (lambda b: service.delete(b.get("user")), limits.small_bytes),
        "/api/users/unlock": (lambda b: service.unlock(b.get("user")), limits.small_bytes),
    }
    get = {"/api/info": lambda _: {**service.info(), "demo": list(demo.writers) if demo else []},
           "/api/users": lambda _: service.users(), "/api/audit": lambda _: service.audit_entries(),
           "/api/models": lambda _: service.models()}
    if demo is not None:
        post["/api/demo/pen"] = (lambda b: demo.pen_sample(b.get("user"), bool(b.get("genuine"))), limits.small_bytes)
        post["/api/demo/photo"] = (lambda b: {"image": data_url(demo.photo_sample(b.get("user"), bool(b.get("genuine"))),
                                                                "jpeg")}, limits.small_bytes)
    return ([Route(path, api(fn, limit, inline=path == INLINE), methods=["POST"]) for path, (fn, limit) in post.items()]
            + [Route(path, api(fn), methods=["GET"]) for path, fn in get.items()])


def build(config: ServeConfig, store: TemplateStore | None = None,
          echo: Callable[[str], None] = print) -> ASGIApp:
    """The app over one Verifier on ``store`` (memory when None), with the audit log
    beside an encrypted store (in memory otherwise) and the demo users when asked.

    A store keeps the accepted signatures' replay memory, written behind each decision
    (a synchronous commit made a verification 6-19 ms instead of 2-3), so a restart does not forget
    them: a signature accepted before it is a replay after it."""
    guard = None if store is None else shared_guard(store, persist=True, write_behind=True)
    verifier = Verifier(store=store, replay_guard=guard)
    # the compiled kernels load on first use: the first signer after a start waited 340-400 ms
    verifier.warm_up(make_writer(0).genuine(np.random.default_rng(0)))
    audit = None
    if isinstance(store, EncryptedStore) and config.audit_path is not None:
        audit = AuditLog(config.audit_path, key=store.audit_key)
    service = Service.create(verifier, config.limits, audit)
    demo = None
    if config.demo:
        demo = Demo.create()
        echo(f"enrolling the demo users {', '.join(demo.writers)} (pen signatures and photos)...")
        demo.enrol(verifier)
    return create_app(service, config, demo)


def run(config: ServeConfig, store: TemplateStore | None = None, echo: Callable[[str], None] = print) -> None:
    """Serve until interrupted (Ctrl+C, or SIGTERM from a service manager).

    uvicorn re-raises the signal that stopped it once it has shut down; SIGTERM's default
    action then killed the process before the caller closed the store, leaving its last
    commits in the -wal file. As an exception instead, it unwinds through the caller.
    """
    import signal
    import threading

    import uvicorn
    if threading.current_thread() is threading.main_thread():  # only there can a handler be set
        signal.signal(signal.SIGTERM, _exit_quietly)
    app = build(config, store, echo)
    base = f"{'https' if config.tls else 'http'}://{config.host}:{config.port}"
    echo(f"edgesig serve: {base}/pen  {base}/kiosk  {base}/admin")
    uvicorn.run(app, host=config.host, port=config.port, server_header=False,
                ssl_certfile=config.tls_cert, ssl_keyfile=config.tls_key, log_level="info")


def _exit_quietly(signum: int, frame: object) -> None:
    """Leave through the normal exit path (``finally`` and ``with`` blocks run), status 0."""
    raise SystemExit(0)
