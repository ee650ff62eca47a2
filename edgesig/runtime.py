"""Models as files with a manifest, and the one place that touches onnxruntime.

``models/manifest.json`` lists every engine edgesig ships: its version, the feature or
input spec, the calibration fitted on validation writers, the measured metrics and the
command that made it. ONNX files are checked against their sha256 before a session is
created, so a corrupted or swapped model is refused with a message naming the file.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgesig.errors import EngineUnavailableError, ModelError

MODELS_DIR = Path(__file__).resolve().parent / "models"
#: Names the user models folder; default ``~/.edgesig/models``.
USER_MODELS_ENV = "EDGESIG_MODELS"
MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1
#: Parameters a parameters-only engine's decision reads but its distances do not (enrolment
#: policy, Sharma-Sundaram terms, learned combiner): recalibrating them must not unpin it
#: from an ensemble, which fuses the member's distances only.
DECISION_PARAMS = frozenset({"enroll", "combine", "decision"})
_RESTORE = ("restore it with `git checkout -- {path}` or rebuild it with the manifest's "
            "`made_by` command")


@dataclass(frozen=True)
class ModelEntry:
    """One manifest entry. ``file`` is None for engines that are parameters only (DTW)."""

    name: str
    version: str
    modality: str                       # "pen" or "image"
    params: dict[str, Any] = field(default_factory=dict)
    calibration: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    file: str | None = None
    sha256: str | None = None
    inputs: list[dict[str, Any]] = field(default_factory=list)
    made_by: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v not in (None, {}, [], "")}

    @property
    def unseen_users(self) -> list[int] | None:
        """The SVC2004 users this model never saw in training, tuning or threshold choice
        (``metrics["unseen_users"]``; None when the entry does not say). Evaluation on any
        other user is in-sample, and ``edgesig eval`` says so."""
        users = self.metrics.get("unseen_users")
        return None if users is None else [int(u) for u in users]

    @property
    def fingerprint(self) -> str:
        """What pins this model for an ensemble: its file's sha256 (joined with its background
        file's for the writer-dependent route, whose distances depend on both), or for an
        engine that is parameters only (flow's trees, the descriptor's layout), the sha256 of the
        parameters its distances depend on (all but ``DECISION_PARAMS``) as canonical JSON."""
        if self.sha256:
            background = self.params.get("background_sha256")
            return hashlib.sha256(f"{self.sha256}:{background}".encode()).hexdigest() if background else self.sha256
        own = {k: v for k, v in self.params.items() if k not in DECISION_PARAMS}
        return hashlib.sha256(json.dumps(own, sort_keys=True).encode()).hexdigest()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelEntry":
        known = set(cls.__dataclass_fields__)
        extra = {k: v for k, v in data.items() if k not in known}
        return cls(**{k: v for k, v in data.items() if k in known and k != "extra"},
                   extra={**data.get("extra", {}), **extra})


def user_models_dir() -> Path:
    """The user's models folder (``$EDGESIG_MODELS``, else ``~/.edgesig/models``): where
    ``edgesig tune`` installs what it chooses, since the package's own files are never
    rewritten at run time. Its entries replace the packaged ones of the same name."""
    env = os.environ.get(USER_MODELS_ENV)
    return Path(env).expanduser() if env else Path.home() / ".edgesig" / "models"


class Manifest:
    """The model registry.

    ``Manifest()`` is the packaged models with the user's models (:func:`user_models_dir`,
    or ``user_dir``) layered over them, entry by entry. ``Manifest(folder)`` is that folder
    alone (export tools, tests). :meth:`put` writes only this folder's own entries.
    """

    def __init__(self, models_dir: str | os.PathLike | None = None, *,
                 user_dir: str | os.PathLike | None = None):
        self.dir = Path(models_dir) if models_dir is not None else MODELS_DIR
        self.path = self.dir / MANIFEST_NAME
        self._own = _read_manifest(self.path)
        self.entries: dict[str, ModelEntry] = dict(self._own)
        self._dirs: dict[str, Path] = {name: self.dir for name in self._own}
        self.user_path: Path | None = None
        if models_dir is None:
            user = Path(user_dir) if user_dir is not None else user_models_dir()
            overlay = _read_manifest(user / MANIFEST_NAME)
            self.entries.update(overlay)
            self._dirs.update({name: user for name in overlay})
            self.user_path = user / MANIFEST_NAME if overlay else None

    def get(self, name: str) -> ModelEntry:
        if name not in self.entries:
            have = ", ".join(sorted(self.entries)) or "none"
            raise EngineUnavailableError(f"no model named {name!r} in {self.path} (installed: {have})")
        return self.entries[name]

    def origin(self, name: str) -> Path:
        """The folder whose manifest supplied the entry ``name`` (its files live there)."""
        return self._dirs.get(name, self.dir)

    def model_path(self, entry: ModelEntry) -> Path:
        """Path of the entry's file after checking it exists and its sha256 matches."""
        if entry.file is None:
            raise ModelError(f"model {entry.name!r} has no file")
        path = self.origin(entry.name) / entry.file
        if not path.is_file():
            raise ModelError(f"model file {path} for {entry.name!r} is missing; " + _RESTORE.format(path=path))
        digest = sha256_file(path)
        if entry.sha256 and digest != entry.sha256:
            raise ModelError(f"model file {path} is corrupted or replaced (sha256 {digest[:12]}… "
                             f"!= manifest {entry.sha256[:12]}…); " + _RESTORE.format(path=path))
        return path

    def put(self, entry: ModelEntry) -> None:
        """Add or replace an entry of this folder and write its manifest atomically."""
        self._own[entry.name] = entry
        if self._dirs.setdefault(entry.name, self.dir) == self.dir:  # a user entry still wins
            self.entries[entry.name] = entry
        self.dir.mkdir(parents=True, exist_ok=True)
        body = {"format": MANIFEST_FORMAT,
                "models": [self._own[k].to_dict() for k in sorted(self._own)]}
        fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=".manifest-")
        with os.fdopen(fd, "w") as fh:
            json.dump(body, fh, indent=2, sort_keys=True)
            fh.write("\n")
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the manifest is package data
        os.replace(tmp, self.path)


def _read_manifest(path: Path) -> dict[str, ModelEntry]:
    """The entries of one manifest file by name ({} when there is no file)."""
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
        return {e["name"]: ModelEntry.from_dict(e) for e in data["models"]}
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"{path} is not a valid model manifest ({exc}); "
                         + _RESTORE.format(path=path)) from None


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class InferSession:
    """A thin onnxruntime session: created once per model, reused, thread count fixed.

    One intra-op thread by default: on a 2-core pad the other core serves the UI, and
    small recurrent models gain nothing from more.
    """

    def __init__(self, path: str | os.PathLike, threads: int = 1):
        import onnxruntime as ort
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, int(threads))
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(str(path), sess_options=opts,
                                                 providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelError(f"onnxruntime could not load {path}: {exc}") from None
        self.input_names = [i.name for i in self._session.get_inputs()]
        self.output_names = [o.name for o in self._session.get_outputs()]

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self._session.run(self.output_names, feeds)


_SESSIONS: dict[tuple[str, int], InferSession] = {}
_SESSIONS_LOCK = threading.Lock()


def session_for(manifest: Manifest, entry: ModelEntry, threads: int = 1) -> InferSession:
    """A cached session for a manifest entry; the hash is checked on first load."""
    key = (str(manifest.origin(entry.name) / (entry.file or "")), int(threads))
    with _SESSIONS_LOCK:
        if key not in _SESSIONS:
            _SESSIONS[key] = InferSession(manifest.model_path(entry), threads)
        return _SESSIONS[key]
