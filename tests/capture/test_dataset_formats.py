"""The data-set readers (SUSig, MCYT, SVC2004 Task 1, headed .hwr): small synthetic files
with each real-device quirk, then a sample of every shared set (skipped when absent)."""
from __future__ import annotations

import numpy as np
import pytest

from edgesig.capture import hwr, load_pen, mcyt, susig, svc2004
from edgesig.errors import DatasetError, FormatError, PenStreamError
from edgesig.eval import datasets

from tests.capture.test_detection import _detected


def _susig_file(rows: list[tuple[int, int, int, int, int]], count: int | None = None) -> bytes:
    body = "".join(f"{x} {y} {t} {p} {e}\n" for x, y, t, p, e in rows)
    return f"{susig.HEADER}\nDataSize: {len(rows) if count is None else count}\n{body}".encode()


def _two_strokes(n: int = 40, step_back_at: tuple[int, ...] = ()) -> list[tuple[int, int, int, int, int]]:
    """Two 20-sample strokes 300 ms apart; the first ends with endpts 1 (the last never does).

    A sample in ``step_back_at`` is stamped 10 ms before its predecessor, as SUSig's pad does.
    """
    rows = []
    for i in range(n):
        t = 10 * i + (300 if i >= n // 2 else 0) - (20 if i in step_back_at else 0)
        rows.append((1000 + 50 * i, 2000 + (i % 7) * 30, t, 100 + i, int(i == n // 2 - 1)))
    return rows


def test_susig_keeps_every_sample_down_and_marks_each_lift():
    rows = _two_strokes()
    pen = load_pen(_susig_file(rows))
    assert pen.device == susig.DEVICE and pen.has_pressure
    assert len(pen) == len(rows) + 1 and pen.n_down == len(rows)
    lift = int(np.flatnonzero(~pen.pen_down)[0])
    assert lift == 20 and pen.pressure[lift] == 0
    assert (pen.x[lift], pen.y[lift]) == (pen.x[lift - 1], pen.y[lift - 1])  # where the pen left the pad
    assert pen.t[lift - 1] < pen.t[lift] < pen.t[lift + 1]
    assert pen.pressure[0] == pytest.approx(100 / susig.PRESSURE_MAX)


def test_susig_holds_a_stamp_taken_one_tick_early_however_often():
    """12 early stamps in 40 samples: more than PenStream's resync rule allows on its own."""
    early = tuple(range(2, 38, 3))
    pen = susig.read(_susig_file(_two_strokes(step_back_at=early)))
    assert np.all(np.diff(pen.t) > 0)
    with pytest.raises(PenStreamError, match="backwards"):  # what the bare rows would give
        rows = np.array(_two_strokes(step_back_at=early), dtype=float)
        type(pen).from_arrays(rows[:, 0], rows[:, 1], rows[:, 2], pen_down=np.ones(len(rows)))


def test_susig_refuses_a_clock_jumping_far_back():
    rows = _two_strokes()
    rows[30] = (*rows[30][:2], rows[30][2] - 200, *rows[30][3:])
    with pytest.raises(PenStreamError, match="backwards"):
        susig.read(_susig_file(rows))


@pytest.mark.parametrize("data, message", [
    (_susig_file(_two_strokes(), count=41), "header says 41 points but the file has 40"),
    (b"X Y T P E\nDataSize: 1\n1 2 3 4 0\n", "begin with the line"),
    (f"{susig.HEADER}\nDataSize: 2\n1 2 3 4 0\n1 2 3\n".encode(), "line 4 has 3 numbers"),
])
def test_susig_malformed_files_say_what_is_wrong(data, message):
    with pytest.raises(FormatError, match=message):
        susig.read(data)


def _mcyt_file(pressure: list[float]) -> bytes:
    """Rows at 100 Hz in seconds and mm; penup 1 where the pen state changes, as MCYT marks it."""
    lines = []
    for i, p in enumerate(pressure):
        changed = i == 0 or (p > 0) != (pressure[i - 1] > 0)
        lines.append(f"{i / 100:.4f} {10 + i * 0.5:.4f} {20 + (i % 5):.4f} {p:.6f} {float(changed):.6f} "
                     f"{120 + i:.6f} {60:.6f}")
    return ("\n".join(lines) + "\n").encode()


def test_mcyt_pen_state_comes_from_pressure_not_the_penup_marks():
    pressure = [300.0] * 10 + [0.0] * 5 + [500.0] * 10
    pen = load_pen(_mcyt_file(pressure))
    assert pen.device == mcyt.DEVICE and pen.device.units_per_mm == 1.0
    assert pen.pen_down.tolist() == [p > 0 for p in pressure]
    assert np.allclose(np.diff(pen.t), 10.0)  # seconds in the file, ms in the stream
    assert pen.altitude[0] == 60 and pen.azimuth[3] == 123
    assert pen.pressure.max() == pytest.approx(500 / mcyt.PRESSURE_MAX)


def test_small_negative_pressure_is_a_lift_and_a_large_one_an_error():
    pressure = [300.0] * 10 + [-3.0] * 3 + [400.0] * 10
    pen = mcyt.read(_mcyt_file(pressure))
    assert not pen.pen_down[10:13].any() and pen.pressure.min() == 0
    with pytest.raises(PenStreamError, match="pressure must lie"):
        mcyt.read(_mcyt_file([300.0] * 10 + [-200.0] + [400.0] * 10))


def test_task1_has_no_pressure_and_reads_buttons_2_to_5_as_pen_down():
    buttons = [1, 1, 2, 3, 4, 5, 1, 1, 0, 0, 1, 1]
    data = ("12\r\n" + "".join(f"{100 + 9 * i} {200 + 4 * i} {10 * i} {b}\r\n" for i, b in enumerate(buttons))).encode()
    pen = load_pen(data)
    assert not pen.has_pressure and pen.device == svc2004.DEVICE
    assert pen.pen_down.tolist() == [b > 0 for b in buttons]
    back = svc2004.read(svc2004.write(pen))
    assert not back.has_pressure and np.array_equal(back.pen_down, pen.pen_down)
    assert load_pen(svc2004.write(pen.with_meta(has_pressure=True))).has_pressure


def test_hwr_with_a_sigcomp_header_line_loads():
    body = b"".join(b"%d %d %d\n" % (10 * i, 20 + i, 5 + i) for i in range(12))
    pen = load_pen(b"ABCDE-012_345_678 12\n" + body)
    assert len(pen) == 12 and pen.has_pressure and pen.x[-1] == 110
    assert _detected(b"ABCDE-012_345_678 12\n" + body) == "hwr"
    with pytest.raises(FormatError, match="header says 13 points but the file has 12"):
        hwr.read(b"ABCDE-012_345_678 13\n" + body)


def test_each_dataset_format_is_detected_and_nothing_else_takes_it():
    assert _detected(_susig_file(_two_strokes())) == "susig"
    assert _detected(_mcyt_file([300.0] * 10)) == "mcyt"
    assert not mcyt.sniff(b"3\n10 20 30 1 1 2 3\n", "") and not susig.sniff(b"3\n10 20 30 1\n", "")


PEN_SETS = ("svc2004-task2", "svc2004-task1", "susig", "mcyt")


@pytest.mark.parametrize("dataset", PEN_SETS)
def test_a_sample_of_each_shared_set_loads(dataset):
    try:
        found = datasets.writers(dataset)
    except DatasetError:
        pytest.skip(f"{dataset} not found under {datasets.DEFAULT_ROOT}")
    forged = [w for w in found if w.forgeries]
    for w in (found[0], forged[len(forged) // 2], found[-1]):
        for sample in (*w.references[:2], *w.genuine[-1:], *w.forgeries[:1]):
            pen = load_pen(sample.path)
            assert pen.n_down >= 20 and pen.duration_ms > 200
            assert pen.has_pressure == (dataset != "svc2004-task1")
            if dataset == "susig":
                marks = int(susig.table(sample.path.read_bytes())[:-1, 4].sum())
                assert len(pen) - pen.n_down == marks
