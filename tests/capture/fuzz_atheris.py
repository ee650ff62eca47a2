"""Coverage-guided fuzzing of the capture decoders with atheris (optional; pytest does not collect it).

The hypothesis tests in test_fuzz.py throw random and mutated bytes; atheris (libFuzzer)
instead follows code coverage into deep branches of the binary parsers. Run it when a
decoder changes::

    pip install atheris
    PYTHONPATH=. python tests/capture/fuzz_atheris.py -atheris_runs=200000
    EDGESIG_FUZZ_TARGET=hid_descriptor PYTHONPATH=. python tests/capture/fuzz_atheris.py -max_total_time=120

Without EDGESIG_FUZZ_TARGET the first input byte picks the decoder. A crash is any
exception that is not an EdgesigError; libFuzzer writes the input to ``crash-*``.
"""
import os
import sys

import atheris

with atheris.instrument_imports(include=["edgesig"]):
    from edgesig.capture import evdev, framing, hid, hwr, inkml, iso19794_7, load_pen, pointer_events
    from edgesig.errors import EdgesigError

TARGETS = {
    "iso19794_7": iso19794_7.read,
    "hid_descriptor": lambda b: hid.parse_descriptor(b).pen(),
    "hid_reports": lambda b: hid.decode_reports(hid.EXAMPLE_PEN_DESCRIPTOR, b, rate_hz=200.0),
    "hid_recorder": hid.read,
    "evdev": evdev.read,
    "evtest": evdev.read_text,
    "frames": lambda b: framing.frames_to_penstream(b, policy="drop"),
    "inkml": inkml.read,
    "pointer_events": pointer_events.read,
    "hwr": hwr.read,
    "load_pen": load_pen,
}
NAMES = sorted(TARGETS)
FIXED = os.environ.get("EDGESIG_FUZZ_TARGET")


def one_input(data: bytes) -> None:
    if FIXED:
        target = TARGETS[FIXED]
    elif data:
        target, data = TARGETS[NAMES[data[0] % len(NAMES)]], data[1:]
    else:
        return
    try:
        target(data)
    except EdgesigError:
        pass


if __name__ == "__main__":
    if FIXED and FIXED not in TARGETS:
        sys.exit(f"EDGESIG_FUZZ_TARGET must be one of {', '.join(NAMES)}")
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
