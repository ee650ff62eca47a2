"""load_pen picks the right reader for every format, from bytes alone."""
import numpy as np
import pytest

from edgesig.capture import evdev, formats, get_format, load_pen
from edgesig.capture.registry import _FORMATS, _load_builtin

WRITABLE = ["iso19794_7", "frames", "inkml", "pointer_events", "hid", "evtest", "svc2004", "hwr", "evdev"]
#: Detection order: the writable formats with the read-only data-set formats before evdev.
ORDER = [*WRITABLE[:-1], "susig", "mcyt", "evdev"]


def _detected(data: bytes, name: str = "") -> str:
    _load_builtin()
    return next(fmt.name for fmt in _FORMATS.values() if fmt.sniff(data, name))


def test_every_builtin_format_is_registered_most_specific_first():
    assert formats()[:len(ORDER)] == ORDER


@pytest.mark.parametrize("name", WRITABLE)
def test_each_writer_output_is_detected_as_its_format(name, synth_pen):
    data = get_format(name).write(synth_pen)
    assert _detected(data) == name
    options = {"absinfo": evdev.default_absinfo(synth_pen)} if name == "evdev" else {}
    pen = load_pen(data, **options)
    assert pen.n_down == synth_pen.n_down


@pytest.mark.parametrize("name", WRITABLE)
def test_svc2004_files_survive_every_format(name, svc_dir):
    """Real tablet data (WACOM, SVC2004) through each writer and back."""
    for path in sorted(svc_dir.glob("U1S*.TXT"))[:3]:
        pen = load_pen(path)
        back = load_pen(get_format(name).write(pen),
                        **({"absinfo": evdev.default_absinfo(pen)} if name == "evdev" else {}))
        assert np.array_equal(back.pen_down, pen.pen_down) or name == "hwr"
        assert np.allclose(back.x, pen.x, atol=0.01)  # resolution unknown: device units pass through


@pytest.mark.parametrize("encoding, named", [("utf-16", "UTF-16"), ("utf-8-sig", "UTF-8")])
def test_a_text_file_saved_with_a_byte_order_mark_says_how_to_save_it(synth_pen, encoding, named):
    """PowerShell 5's `>` writes UTF-16 and many Windows editors a UTF-8 signature: the file
    was 'not a recognised pen format' (or 'SVC2004 files are ASCII text') with no hint why."""
    from edgesig.errors import FormatError
    data = get_format("svc2004").write(synth_pen).decode("ascii").encode(encoding)
    for fmt in (None, "svc2004"):
        with pytest.raises(FormatError, match=f"{named} byte-order mark.*save it as plain ASCII"):
            load_pen(data, format=fmt)
