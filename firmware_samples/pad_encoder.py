"""Reference pad-side encoder for edgesig framed pen packets (CPython and MicroPython).

Copy this file to the pad's firmware (or port it to C: it is deliberately plain). It
uses only ``struct``; no numpy, no dataclasses, no f-strings. The frame layout is
documented in README.md next to this file; the host decoder is
``edgesig.capture.framing.FrameDecoder``.

Typical use on the pad::

    enc = PadEncoder(nonce=challenge_from_host, session_counter=load_counter() + 1,
                     tick_hz=1000, units_per_mm=100.0, pressure_max=4095, pad_id=SERIAL)
    uart.write(enc.start())
    while signing:
        uart.write(enc.pen(ticks_ms(), x, y, pressure, tip, in_range))
    uart.write(enc.end())
    store_counter(enc.session_counter)

``session_counter`` must grow by one per signing and survive power cycles (flash), so
the host can tell a fresh signing from a replayed one; the nonce should be the host's
random challenge for this signing (or ``os.urandom(8)`` when there is no back channel).
``pad_id`` (8 bytes: the serial number, or an id bound to the pad's key) lets the host
keep one counter per pad (frame version 2); without it the frames are version 1 and
the host cannot tell this pad's counter from another's.
"""
import struct

MAGIC = b"\xec\x5a"
VERSION = 2         # with a pad id in START
VERSION_NO_ID = 1   # without
KIND_START = 1
KIND_PEN = 2
KIND_END = 3
FLAG_TIP = 0x01
FLAG_IN_RANGE = 0x02
FLAG_BARREL = 0x04
REASON_DONE = 0
REASON_TIMEOUT = 1
REASON_CANCELLED = 2


def crc16_ccitt(data, crc=0xFFFF):
    """CRC-16/CCITT-FALSE, bit by bit (no table: 0 bytes of RAM). Check: b"123456789" -> 0x29B1."""
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            if crc & 0x8000:
                crc = ((crc << 1) ^ 0x1021) & 0xFFFF
            else:
                crc = (crc << 1) & 0xFFFF
    return crc


def frame(kind, payload, version=VERSION):
    """MAGIC, version, kind, length, payload, CRC (little-endian) over version..payload."""
    body = bytes([version, kind, len(payload)]) + payload
    return MAGIC + body + struct.pack("<H", crc16_ccitt(body))


def _clamp(value, low, high):
    return low if value < low else high if value > high else value


class PadEncoder:
    """Frames one signing session: start(), pen() per sample, end()."""

    def __init__(self, nonce, session_counter, tick_hz=1000, units_per_mm=100.0, pressure_max=4095,
                 pad_id=None):
        if len(nonce) != 8:
            raise ValueError("the session nonce must be 8 bytes")
        if pad_id is not None and len(pad_id) != 8:
            raise ValueError("the pad id must be 8 bytes")
        self.pad_id = None if pad_id is None else bytes(pad_id)
        self.version = VERSION_NO_ID if pad_id is None else VERSION
        self.nonce = bytes(nonce)
        self.session_counter = session_counter & 0xFFFFFFFF
        self.tick_hz = tick_hz
        self.units_per_mm = units_per_mm
        self.pressure_max = pressure_max
        self.seq = 0
        self.pen_count = 0

    def start(self):
        self.seq, self.pen_count = 0, 0
        payload = struct.pack("<I8sIIfH", 0, self.nonce, self.session_counter, self.tick_hz,
                              self.units_per_mm, self.pressure_max)
        if self.pad_id is not None:
            payload += self.pad_id
        self.seq = 1
        return frame(KIND_START, payload, self.version)

    def pen(self, ticks, x, y, pressure, tip, in_range=True, barrel=False, tilt_x=0, tilt_y=0):
        flags = (FLAG_TIP if tip else 0) | (FLAG_IN_RANGE if in_range else 0) | (FLAG_BARREL if barrel else 0)
        payload = struct.pack("<IIBHHHbb", self.seq, ticks & 0xFFFFFFFF, flags, _clamp(x, 0, 0xFFFF),
                              _clamp(y, 0, 0xFFFF), _clamp(pressure, 0, 0xFFFF), _clamp(tilt_x, -127, 127),
                              _clamp(tilt_y, -127, 127))
        self.seq += 1
        self.pen_count += 1
        return frame(KIND_PEN, payload, self.version)

    def end(self, reason=REASON_DONE):
        payload = struct.pack("<IIB", self.seq, self.pen_count, reason)
        self.seq += 1
        return frame(KIND_END, payload, self.version)


if __name__ == "__main__":
    # A 10-sample horizontal stroke, printed as hex: paste into a serial terminal to test a host.
    enc = PadEncoder(nonce=b"\x01\x02\x03\x04\x05\x06\x07\x08", session_counter=1)
    out = [enc.start()]
    for i in range(10):
        out.append(enc.pen(i * 5, 1000 + 40 * i, 2000, 1500, tip=True))
    out.append(enc.end())
    for chunk in out:
        print("".join("%02x" % b for b in chunk))
