"""Regenerate the sample recordings in firmware_samples/ from one synthetic writer.

Every format edgesig reads gets the same person: six genuine signatures (five to enrol,
one to verify) and one skilled forgery, drawn from ``edgesig.synth`` with fixed seeds,
so the files are reproducible and contain nobody's biometric data::

    PYTHONPATH=. python firmware_samples/make_samples.py            # rewrite in place
    PYTHONPATH=. python firmware_samples/make_samples.py --out /tmp/s

Files are ``<format>/genuine_<k>.<ext>`` and ``<format>/forgery_1.<ext>``.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Callable

import numpy as np

from edgesig.capture import evdev, framing, hid, hwr, inkml, iso19794_7, pointer_events, svc2004
from edgesig.pen import PenStream
from edgesig.synth import make_writer

#: The synthetic writer: one whose genuine signature the default engine accepted and whose
#: forgery it rejected when the samples were made, so the demo shows both outcomes.
WRITER_SEED = 9
SIGNATURE_SEED = 2024
N_GENUINE = 6
#: SigComp .hwr has no timestamps and is read at 200 Hz: its files hold the same signatures
#: resampled onto a uniform 200 Hz grid.
HWR_RATE_HZ = 200.0


def pointer_json(pen: PenStream) -> bytes:
    """Pointer events as a browser dispatches them: pairs of moves become one ``pointermove``
    (the later sample) whose ``coalesced`` list holds both, as at a 100 Hz pen and 50 Hz frames."""
    events = [_compact(e) for e in json.loads(pointer_events.write(pen))["events"]]
    batched: list[dict] = []
    held: dict | None = None
    for event in events:
        if event["type"] != "pointermove":
            batched += ([held] if held else []) + [event]
            held = None
        elif held is None:
            held = event
        else:
            batched.append({**event, "coalesced": [_sample(held), _sample(event)]})
            held = None
    batched += [held] if held else []
    return json.dumps({"events": batched}, separators=(",", ":")).encode("utf-8")


def _sample(event: dict) -> dict:
    """A coalesced sample carries the fields that change; the rest comes from its parent."""
    return {k: v for k, v in event.items() if k not in ("type", "pointerType", "pointerId", "isPrimary", "buttons")}


def _compact(event: dict) -> dict:
    """What most browsers report, at screen precision: no orientation angles (tilt only)."""
    out = {k: v for k, v in event.items() if k not in ("azimuthAngle", "altitudeAngle")}
    for key, digits in (("offsetX", 2), ("offsetY", 2), ("tiltX", 1), ("tiltY", 1), ("pressure", 4)):
        if key in out:
            out[key] = round(out[key], digits)
    return out


#: The serial number of the sample pad (frame version 2 carries it).
PAD_ID = b"EDGESIG\x01"


def frames(pen: PenStream, index: int) -> bytes:
    nonce = np.random.default_rng(SIGNATURE_SEED + index).bytes(8)
    return framing.encode_session(pen, nonce=nonce, session_counter=index + 1, pad_id=PAD_ID)


#: format directory -> (file suffix, writer(pen, index) -> bytes)
FORMATS: dict[str, tuple[str, Callable[[PenStream, int], bytes]]] = {
    "svc2004": (".txt", lambda pen, i: svc2004.write(pen)),
    "hwr": (".hwr", lambda pen, i: hwr.write(uniform(pen, HWR_RATE_HZ))),
    "iso19794_7": (".sdi", lambda pen, i: iso19794_7.write(pen)),
    "inkml": (".inkml", lambda pen, i: inkml.write(pen)),
    "pointer_events": (".json", lambda pen, i: pointer_json(pen)),
    "hid": (".hid", lambda pen, i: hid.write(pen, name="edgesig reference pen pad")),
    "evdev": (".evdev", lambda pen, i: evdev.write(pen, absinfo=ABSINFO)),
    "evtest": (".evtest", lambda pen, i: evdev.write_text(pen, absinfo=ABSINFO)),
    "frames": (".esf", frames),
}
#: Verbose text formats (evtest, pointer-event JSON) get only the files to verify (genuine_6
#: and the forgery), to keep the folder well under 1 MB; enrol from another format's
#: genuine_1..5 (same writer).
TWO_FILE_FORMATS = frozenset({"evtest", "pointer_events"})
#: Axis ranges of the evdev samples: the reference pad (216 x 135 mm at 100 units/mm).
ABSINFO = {"ABS_X": evdev.AbsInfo(0, 21600, 100), "ABS_Y": evdev.AbsInfo(0, 13500, 100),
           "ABS_PRESSURE": evdev.AbsInfo(0, 4095)}


def uniform(pen: PenStream, rate_hz: float) -> PenStream:
    """The stream linearly resampled at ``rate_hz`` (pen state: the last sample's)."""
    t = np.arange(pen.t[0], pen.t[-1] + 1e-9, 1000.0 / rate_hz)
    last = np.searchsorted(pen.t, t, side="right") - 1

    def resample(values: np.ndarray | None) -> np.ndarray | None:
        return None if values is None else np.interp(t, pen.t, values)

    return PenStream.from_arrays(resample(pen.x), resample(pen.y), t, resample(pen.pressure),
                                 pen.pen_down[last], azimuth=resample(pen.azimuth),
                                 altitude=resample(pen.altitude), device=pen.device)


def signatures() -> list[PenStream]:
    """Six genuine signatures then one forgery of the sample writer."""
    writer = make_writer(WRITER_SEED)
    rng = np.random.default_rng(SIGNATURE_SEED)
    pens = [writer.genuine(rng) for _ in range(N_GENUINE)]
    return pens + [writer.forgery(rng)]


def main(argv: list[str] | None = None) -> list[Path]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args(argv)
    pens = signatures()
    written = []
    for directory, (suffix, encode) in FORMATS.items():
        folder = args.out / directory
        folder.mkdir(parents=True, exist_ok=True)
        for index, pen in enumerate(pens):
            stem = f"genuine_{index + 1}" if index < N_GENUINE else "forgery_1"
            path = folder / (stem + suffix)
            if directory in TWO_FILE_FORMATS and index < N_GENUINE - 1:
                continue
            path.write_bytes(encode(pen, index))
            written.append(path)
    total = sum(p.stat().st_size for p in written)
    print(f"wrote {len(written)} files, {total / 1024:.0f} KiB, under {args.out}")
    return written


if __name__ == "__main__":
    main()
