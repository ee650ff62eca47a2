"""What `edgesig serve` is started with, checked before anything binds a socket.

Kept free of the web stack so the CLI can check the options, and say which extra is
missing, without importing Starlette.
"""
from __future__ import annotations

import importlib.util
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from edgesig.errors import InvalidInputError, MissingExtraError

#: Host names a loopback server answers to (the Host header is checked against these).
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
#: The web stack the optional ``serve`` extra installs.
EXTRA_MODULES = ("starlette", "uvicorn", "orjson")


@dataclass(frozen=True)
class Limits:
    """Request body limits (bytes) and the failed-verification lockout.

    A 1,000-point pen signature with its coalesced events is about 200 kB as JSON, so
    one signature may take 2 MiB and an enrolment (up to 20) 16 MiB; a phone photo
    sent as a data URL is under 8 MiB. ``max_failures`` rejections in a row lock a user
    out for ``lockout_s`` seconds.
    """

    signature_bytes: int = 2 << 20
    enrol_bytes: int = 16 << 20
    image_bytes: int = 10 << 20
    small_bytes: int = 16 << 10
    max_failures: int = 5
    lockout_s: float = 300.0


@dataclass(frozen=True)
class ServeConfig:
    """Options of `edgesig serve`; :meth:`check` refuses unsafe combinations.

    Anything but loopback needs ``allow_remote`` and a TLS certificate and key: the
    page carries signatures and, from another host, browsers give camera access only
    to HTTPS pages. ``server_names`` are the host names remote clients use (the Host
    header is checked against them, which stops DNS-rebinding pages).
    """

    host: str = "127.0.0.1"
    port: int = 8765
    store: Path | None = None
    demo: bool = False
    allow_remote: bool = False
    tls_cert: Path | None = None
    tls_key: Path | None = None
    server_names: tuple[str, ...] = ()
    limits: Limits = Limits()

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    def check(self) -> "ServeConfig":
        if not 0 < self.port < 65536:
            raise InvalidInputError(f"--port must be 1-65535, got {self.port}")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise InvalidInputError("TLS needs both --tls-cert and --tls-key")
        if is_loopback(self.host):
            return self
        if not self.allow_remote:
            raise InvalidInputError(f"--host {self.host} would let other machines reach the signing pages; "
                                    "keep the default 127.0.0.1, or pass --allow-remote with --tls-cert and --tls-key")
        if not self.tls:
            raise InvalidInputError("serving other hosts needs TLS: pass --tls-cert CERT.pem --tls-key KEY.pem "
                                    "(browsers also allow the camera only on HTTPS pages)")
        if _is_wildcard(self.host) and not self.server_names:
            raise InvalidInputError(f"--host {self.host} listens on every address: name the host clients use "
                                    "with --server-name (the Host header is checked against it)")
        return self

    @property
    def audit_path(self) -> Path | None:
        """Where the audit log of a --store goes: beside it (in memory without a store)."""
        return None if self.store is None else self.store.with_name(self.store.name + ".audit.jsonl")

    def allowed_hosts(self) -> frozenset[str]:
        names = set(LOOPBACK_NAMES) | {n.lower() for n in self.server_names}
        if not _is_wildcard(self.host):
            names.add(self.host.lower())
        return frozenset(names)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_wildcard(host: str) -> bool:
    return host in ("0.0.0.0", "::", "")


def check_extra() -> None:
    """Raise MissingExtraError unless the ``serve`` extra's web stack is importable."""
    missing = [m for m in EXTRA_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise MissingExtraError(f"edgesig serve needs {', '.join(missing)}, from the optional extra: "
                                "pip install 'edgesig[serve]'")
