"""Remove printed lines from the binarised sheet: ruled lines, signature lines, boxes.

Forms carry lines that touch or cross the signature, and a box around a signature
would otherwise be taken for part of it. Printed lines are straight, thin, solid and
long, or meet at right angles as a box's sides do; handwriting is rarely all of that.
Each line found is fitted as a straight segment and exactly its own width is erased,
so the letters standing on a signature line keep their feet, and where a stroke
crossed a line the gap is closed again.

Binary images are uint8 with ink = 255 (see ``edgesig.offline.clean``).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Callable

import cv2
import numpy as np
from numba import njit

from edgesig.offline.locate import Box, component_boxes

#: Gaps along a line bridged while looking for it (light lines binarise as dashes)...
MAX_GAP = 6
#: ...and the drift across it tolerated (lines not perfectly axis-aligned after unwarping).
MAX_DRIFT = 1
#: A line's pixels (with gaps bridged) cover at least this fraction of its length.
LINE_COVERAGE = 0.85
#: A line is at most this thick (pixels); handwriting that lines up forms thicker bands.
MAX_LINE_WIDTH = 12
#: At least this fraction of a printed line's clear columns lie within a pixel of a
#: straight fit; the feet of cursive letters, which line up too, wander more.
MIN_STRAIGHT = 0.7
#: At most this many lines are looked for in one horizontal band of ink on a sheet (see ``_fit_all``).
MAX_LINES_PER_BAND = 3
#: At least this fraction of a line's length must be clear of other ink, to measure it
#: (a long signature can cover most of a signature line).
MIN_CLEAR = 0.1


#: A printed caption under a line ("Signature", "Sign here"): a row of at least
#: CAPTION_PARTS characters no taller than CAPTION_HEIGHT x the tallest ink component
#: (the signature), its top within CAPTION_GAP row heights below the line and its
#: characters at most CAPTION_SPACING row heights apart. Print keeps CAPTION_CLEARANCE
#: pixels clear of the line; the parts of letters that a line through a signature cuts
#: off start right at its edge. Text with another printed line under it within
#: CAPTION_OPEN row heights is between ruled lines or inside a box: handwriting, not a
#: caption (ruled lines lie 3-4 caption heights apart).
CAPTION_OPEN = 6
CAPTION_PARTS, CAPTION_HEIGHT, CAPTION_GAP, CAPTION_SPACING, CAPTION_CLEARANCE = 3, 0.5, 2.5, 1.5, 3
#: In a photo a caption's 2 mm letters blur into one or two blobs, too few parts for a
#: row. Such a blob is a printed word when it is at least CAPTION_WORD times as wide as
#: tall, ink fills CAPTION_FILL of its box and CAPTION_STEMS of its columns are inked over
#: half its height (the letters' stems): a handwritten stroke under a line, even a thick
#: flourish, is a curve across its box, filling less with few upright columns. (On 200
#: synthetic kiosk photos most captions' blobs filled 0.41-0.66 of their box, with stems
#: in 0.44-0.95 of their columns; most of the signature's own parts below its body
#: 0.16-0.43, with stems in at most 0.4.) The exceptions are thick strokes: a word is also
#: at least CAPTION_STROKES strokes tall, while an underline under the signature, or a
#: piece of one that a ruled line cut out, is a bar about as tall as the pen is wide, and
#: as dense as print; and the letters' feet that a line cut off (see ``_cut_by_line``).
#: The strokes are its own, or the signature's pen where that is thinner: blurred print
#: runs into a bar whose own "stroke" is its height (captions 1.4-1.9 of their own
#: strokes tall, 2-3 of a thin pen's). Under a thick pen a caption's words blurred into
#: bars pass neither; a row of two or more of them is print all the same, as an underline
#: is one stroke (see ``caption_under``).
#: Print also stands level: the mean height of a word's ink in its left and right halves
#: differs by at most CAPTION_LEVEL of its height (at most 0.06 on the captions of 200
#: synthetic kiosk photos), while a piece of a slanting stroke, such as the end of an
#: underline that a line cut off, descends across its box (0.3). And print keeps to one
#: height: the centres of its columns' ink lie within CAPTION_WANDER of its height (10th
#: to 90th percentile; at most 0.33 on the captions of 400 synthetic kiosk photos), while
#: a curved stroke's follow the curve down and up again, level end to end (0.42-0.69 on
#: eight pieces of underlines and loops those photos took for print).
CAPTION_WORD, CAPTION_FILL, CAPTION_STEMS, CAPTION_STROKES, CAPTION_LEVEL = 2.5, 0.4, 0.4, 2.0, 0.15
CAPTION_WANDER = 0.4
#: A caption printed under the signature with no line between them (a form without a
#: signature line, or with ruled lines) is anchored by the signature instead: at least
#: CAPTION_BELOW of the rest of the signature's ink lies above its top, and it is a word
#: of two blobs or more, or of one blob spanning at most CAPTION_BLOB_SPAN of the box's
#: width: a flourish or underline under a signature is one stroke too, but it spans most
#: of the signature, while a caption's 2 mm print blurred into one word is short. A row
#: of CAPTION_PARTS characters or more is print as it is under a line; only fewer, run
#: together, must look like a printed word (a sharp "Signature of recipient", its
#: descenders stretching the row, has upright stems in a third of its columns).
CAPTION_BELOW, CAPTION_BELOW_PARTS, CAPTION_BLOB_SPAN = 0.97, 2, 0.5
#: A caption printed close under the signature can touch it (a letter's foot or lead-in
#: stroke lands on the print), and then no row of its own is left to find. It still sticks
#: out of one end of the signature's box: the columns from that end hold ink only in a low
#: band, until the signature rises out of it. A column leaves the band when its ink reaches
#: CAPTION_BAND_SLACK band heights above or below the band (the median top and bottom of
#: the columns so far; ascenders and descenders stay within it), and the strip is taken
#: when it is a printed word (see ``CAPTION_WORD``) hanging under a printed line (its top
#: within CAPTION_GAP of its height below one) and under the signature: at least
#: CAPTION_STRIP_UNDER of the rest of the box's ink lies above its top. Without a line
#: over it, the end of a stroke trailing off low and level (a hook, an underline's tip)
#: passes for a blurred word too: a draft without the line cut such an end off 19 of the
#: 2,640 CEDAR boxes.
#: The small letters that end a signature on its baseline (a row of loops) make such a
#: strip as well, but the signature's body stands beside them, not above: most of its
#: ink (a capital's upper half, an underline flourish below) is not above their tops.
#: (On the 200 + 200 captioned kiosk photos of ``benchmarks/photo_iou.py`` the strip
#: ended within two columns of the signature's first in every photo where print touched
#: it, with 0.57-0.96 of the rest above it; a row of loops ending a signature had 0.42.)
#: The rest of the caption runs on under the signature in the strip's rows, joined to the
#: foot: its words follow the strip at word spacing and reach down to CAPTION_BASELINE of
#: the strip's height (its baseline), while the bottoms of the signature's loops dipping
#: into those rows end higher (at 0.13-0.73 of it on five touching captions of those photos,
#: the words at 0.79-1.0). The strip and what follows is taken when it is a printed word
#: hanging under the line; else the strip alone, when it is one.
CAPTION_BAND_SLACK, CAPTION_STRIP_UNDER, CAPTION_BASELINE = 1.0, 0.5, 0.75
#: A straight run this long (fraction of the width) with a caption printed under it is a
#: signature line even when shorter than ``long``: on a whole form scanned flat the line
#: spans a third or half of the page, too short to tell from a long stroke by length.
CAPTIONED_LONG = 0.25

#: A candidate this long (fraction of the width for horizontal lines, of the height for
#: vertical ones) is a printed line on a sheet; see ``remove_lines``.
LONG = (0.35, 0.5)


@dataclass(frozen=True)
class LineRemoval:
    """``binary`` without the lines; ``lines`` the pixels removed (255), for cleaning gray
    images; ``segments`` the printed lines found."""

    binary: np.ndarray
    lines: np.ndarray
    segments: tuple["Segment", ...] = ()


@dataclass(frozen=True)
class Segment:
    """A straight line candidate: across = slope * along + offset, for along in [start, end]."""

    horizontal: bool
    start: float
    end: float
    slope: float
    offset: float
    width: float

    @property
    def length(self) -> float:
        return self.end - self.start

    def across_at(self, along: float) -> float:
        return self.slope * along + self.offset


def remove_lines(binary: np.ndarray, *, evidence: np.ndarray | None = None,
                 long: tuple[float, float] = LONG, short: tuple[float, float] = (0.12, 0.12),
                 sheet: bool = False) -> LineRemoval:
    """Remove printed straight lines from ``binary`` (ink = 255).

    A candidate is a thin, solid, straight run at least ``short`` long (fractions of the
    width for horizontal lines, of the height for vertical ones). It is removed when it
    is ``long`` too, or when it meets perpendicular candidates at both of its ends that
    are long or box sides themselves, as a printed box's sides do; a capital's
    down-stroke standing on a line does not. A horizontal candidate a quarter of the
    width long with a printed caption under it is a signature line too. A ruler-straight
    handwritten underline longer than a third of the sheet is removed like a printed line.

    ``evidence`` is a more permissive ink mask of the same image (see
    ``edgesig.offline.clean.line_evidence``) to find faint lines in: light ruled lines
    binarise as short dashes with the signature's threshold but as lines with a lower one.

    ``sheet``: the image is a whole form, whose ruled lines a signature written across
    them can join into one band of ink; every line in such a band is looked for (see
    ``_fit_all``). Not on a crop or flat scan: there the extra fits took a scanner's faint
    streaks and long strokes through CEDAR signatures for lines.
    """
    h, w = binary.shape
    source = binary if evidence is None else cv2.bitwise_or(binary, evidence)
    candidates = _candidates(source, int(max(15, short[0] * w)), long[0] * w, horizontal=True, stacked=sheet) + \
        _candidates(source, int(max(15, short[1] * h)), long[1] * h, horizontal=False)
    printed = _printed(candidates, long[0] * w, long[1] * h, binary.shape)
    printed += _captioned(binary, candidates, printed, CAPTIONED_LONG * w)
    if not printed:
        return LineRemoval(binary=binary, lines=np.zeros_like(binary))
    horiz = cv2.bitwise_and(_draw([s for s in printed if s.horizontal], binary.shape), binary)
    vert = cv2.bitwise_and(_draw([s for s in printed if not s.horizontal], binary.shape), binary)
    lines = cv2.bitwise_or(horiz, vert)
    cleaned = cv2.bitwise_and(binary, cv2.bitwise_not(lines))
    width = int(np.ceil(max(s.width for s in printed)))
    # Strokes crossing a horizontal line left a vertical gap, and vice versa: bridge them.
    bridge_v = cv2.morphologyEx(cleaned, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (1, width + 3)))
    bridge_h = cv2.morphologyEx(cleaned, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (width + 3, 1)))
    restored = cv2.bitwise_or(cv2.bitwise_and(bridge_v, horiz), cv2.bitwise_and(bridge_h, vert))
    cleaned = cv2.bitwise_or(cleaned, restored)
    cleaned, leftovers = _drop_leftovers(cleaned, printed, width)
    removed = cv2.bitwise_or(cv2.bitwise_and(lines, cv2.bitwise_not(restored)), leftovers)
    return LineRemoval(binary=cleaned, lines=removed, segments=tuple(printed))


def caption_mask(binary: np.ndarray, segments: tuple[Segment, ...]) -> np.ndarray:
    """Printed captions under the horizontal printed lines ``segments``, as a mask (255).

    A form prints "Signature" under its signature line, close enough to join the
    signature's box; the caption is a row of small characters of one height, just below
    the line and along it. A signature's own parts below the line are few and joined to
    the letters above (line removal bridges the strokes that cross it), so they do not
    form such a row.
    """
    horizontal = _ruled(segments, binary.shape[0])
    if not horizontal:
        return np.zeros_like(binary)
    labels, boxes = _components(binary)
    caption = np.zeros(len(boxes) + 1, bool)
    pen = cache(lambda: _pen_width(labels, boxes))
    for s in horizontal:
        caption[1:] |= _caption_parts(labels, boxes, s, horizontal, pen)
    return np.where(caption[labels], np.uint8(255), np.uint8(0))


def caption_under(binary: np.ndarray, box: Box, segments: tuple[Segment, ...]) -> np.ndarray:
    """A caption printed under the signature in ``box``, found by the signature above it
    rather than by a line, as a mask (255) of ``binary``'s size.

    Forms without a signature line print "Signature" just under where one signs, close
    enough to join the signature's box, and so do ruled forms (where ``caption_mask``
    takes text between lines for handwriting) and boxed ones (the caption under the box,
    past its corner). Such a caption is a row of printed characters or words (see
    ``CAPTION_BELOW``) under nearly all of the signature's ink; not the parts of letters
    that a removed line cut off, which look alike (see ``_cut_by_line``). Print under a
    line that touches the signature is found where it sticks out of the box, and followed
    on under it (see ``CAPTION_BAND_SLACK``); print that a ruled line ran through, in its
    pieces along the line (see ``_print_across``).
    """
    crop = binary[box.slices]
    out = np.zeros_like(binary)
    labelled = cache(lambda: _components(crop))
    pen = cache(lambda: _pen_width(*labelled()))
    lines = _ruled(segments, binary.shape[0])
    for strip in _end_strips(crop) if lines else ():
        alone = np.zeros(crop.shape, bool)
        alone[strip[1]:strip[3], strip[0]:strip[2]] = crop[strip[1]:strip[3], strip[0]:strip[2]] > 0
        # The caption running on under the signature, else the end sticking out alone.
        for print_ in (_band_run(crop, *strip), alone):
            x0, x1 = (int(v) for v in np.flatnonzero(print_.any(axis=0))[[0, -1]] + [0, 1])
            y0, y1 = strip[1], strip[3]
            if _hangs_under(lines, x0 + box.x0, y0 + box.y0, x1 + box.x0, y1 + box.y0) and \
                    _printed_word(print_[y0:y1, x0:x1], pen):
                out[box.slices][print_] = 255
                break
    # Outlines first, labelling the crop costs more: a word-shaped row of outlines with at
    # least CAPTION_BELOW of the ink outside its box above it.
    outlines = component_boxes(crop)
    ink_rows = cv2.reduce(crop, 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel() / 255
    for x0, y0, x1, y1 in _print_across(crop, outlines, lines, box, ink_rows):
        labels, boxes = labelled()
        inside = np.flatnonzero((boxes[:, 0] >= x0) & (boxes[:, 1] >= y0) & (boxes[:, 2] <= x1) & (boxes[:, 3] <= y1))
        out[box.y0 + y0:box.y0 + y1, box.x0 + x0:box.x0 + x1][np.isin(labels[y0:y1, x0:x1], inside + 1)] = 255
    rows = _word_rows(outlines, box.width)
    if not rows:
        return out
    if not any(ink_rows[:y0].sum() >= CAPTION_BELOW * (ink_rows.sum() - cv2.countNonZero(crop[y0:y1, x0:x1]))
               for x0, y0, x1, y1 in (_span(outlines[r]) for r in rows)):
        return out
    offset = np.array([box.x0, box.y0, box.x0, box.y0])
    labels, boxes = labelled()
    for row in _word_rows(boxes, box.width):
        x0, y0, x1, y1 = _span(boxes[row])
        part = np.isin(labels[y0:y1, x0:x1], row + 1)
        rest = ink_rows.copy()
        rest[y0:y1] -= part.sum(axis=1)
        # characters, or words (two or more may be bars: an underline is one stroke)
        printed = len(row) >= CAPTION_PARTS and _level(part) or _printed_word(part, pen, bars=len(row) > 1)
        if rest[:y0].sum() >= CAPTION_BELOW * rest.sum() and printed and \
                not _cut_by_line(binary, lines, boxes[row] + offset):
            out[box.y0 + y0:box.y0 + y1, box.x0 + x0:box.x0 + x1][part] = 255
    return out


def _span(boxes: np.ndarray) -> tuple[int, int, int, int]:
    """The (x0, y0, x1, y1) box around ``boxes`` (rows of x0, y0, x1, y1)."""
    x0, y0 = boxes[:, :2].min(axis=0)
    x1, y1 = boxes[:, 2:].max(axis=0)
    return int(x0), int(y0), int(x1), int(y1)


def _end_strips(crop: np.ndarray) -> list[tuple[int, int, int, int]]:
    """The (x0, y0, x1, y1) boxes in ``crop`` (the signature's box) of the strips at either
    of its ends whose columns keep their ink in one low band, under the rest of the ink
    (see ``CAPTION_BAND_SLACK``): where print touching the signature sticks out. Those
    columns hold nothing but the strip."""
    ink = crop > 0
    height, width = ink.shape
    inked = ink.any(axis=0)
    top = np.where(inked, ink.argmax(axis=0), -1)
    bottom = np.where(inked, height - 1 - ink[::-1].argmax(axis=0), -1)
    ink_rows = ink.sum(axis=1)
    found = []
    for columns in (np.arange(width), np.arange(width)[::-1]):
        n = _band_columns(top[columns], bottom[columns], CAPTION_BAND_SLACK)
        if n == 0 or n >= width:  # nothing rises out of the band: the whole box is one strip
            continue
        x0, x1 = int(columns[:n].min()), int(columns[:n].max()) + 1
        y0 = int(top[x0:x1][inked[x0:x1]].min())
        y1 = int(bottom[x0:x1].max()) + 1
        rest = ink_rows.copy()
        rest[y0:y1] -= ink[y0:y1, x0:x1].sum(axis=1)
        if rest[:y0].sum() >= CAPTION_STRIP_UNDER * rest.sum() and y1 - y0 <= CAPTION_HEIGHT * height:
            found.append((x0, y0, x1, y1))
    return found


def _print_across(crop: np.ndarray, outlines: np.ndarray, lines: list[Segment], box: Box,
                  ink_rows: np.ndarray) -> list[tuple[int, int, int, int]]:
    """The (x0, y0, x1, y1) boxes in ``crop`` (the signature's ``box``, ``outlines`` its
    components' boxes, ``ink_rows`` its ink per row) of the words of a caption that one of
    ``lines`` ran through.

    Printed on a ruled line rather than under it, a caption is cut to pieces when the line
    is removed, or mostly erased with it: the print's ink above the line, below it, and
    letters bridged across it, rows too short or of too few parts for a caption. Along
    the line they are one all the same: small pieces (see ``CAPTION_HEIGHT``) touching the
    line in runs at character spacing, each a level word (see ``_word_on``), some ink under
    the line, and at least CAPTION_BELOW of the signature's other ink above them. The feet
    that a line cuts off a signature's letters lie under it too, but with the letters
    standing on the line over them.
    """
    if not lines or not len(outlines):
        return []
    heights = outlines[:, 3] - outlines[:, 1]
    small = heights <= CAPTION_HEIGHT * heights.max()
    centre = (outlines[:, 0] + outlines[:, 2]) / 2 + box.x0
    found = []
    for s in lines:
        top = s.across_at(centre) - s.width / 2 - box.y0
        bottom = top + s.width
        on = small & (outlines[:, 0] + box.x0 < s.end) & (outlines[:, 2] + box.x0 > s.start) & \
            (outlines[:, 1] <= bottom + CAPTION_CLEARANCE) & (outlines[:, 3] >= top - CAPTION_CLEARANCE)
        groups = [g for g in _runs_along(outlines, np.flatnonzero(on))
                  if _word_on(outlines, g, top, box.width) and _level_print(crop, outlines[g])]
        if not any((outlines[g, 3] > bottom[g] + 1).any() for g in groups):
            continue  # resting on the line, not printed across it
        words = [_span(outlines[g]) for g in groups]
        rest = ink_rows.copy()
        for x0, y0, x1, y1 in words:
            rest[y0:y1] -= np.count_nonzero(crop[y0:y1, x0:x1], axis=1)
        found += [w for w in words if rest[:w[1]].sum() >= CAPTION_BELOW * rest.sum()]
    return found


def _level_print(crop: np.ndarray, boxes: np.ndarray) -> bool:
    """Whether the ink of ``crop`` inside ``boxes`` stands level and keeps to one height as
    print does (see ``CAPTION_LEVEL``): a stroke that a line cut in two descends across it."""
    x0, y0, x1, y1 = _span(boxes)
    inside = np.zeros((y1 - y0, x1 - x0), bool)
    for a, b, c, d in boxes - [x0, y0, x0, y0]:
        inside[b:d, a:c] = True
    part = inside & (crop[y0:y1, x0:x1] > 0)
    return _level(part) and _straight(part)


def _word_on(outlines: np.ndarray, group: np.ndarray, top: np.ndarray, width: int) -> bool:
    """Whether the boxes ``group`` (indices into ``outlines``) touching a line whose top is
    ``top`` (at each box's centre) are shaped like a printed word as in ``CAPTION_BELOW``
    (wide, of two parts or more or spanning at most CAPTION_BLOB_SPAN of ``width``), with
    no other box standing on the line over them (a letter over its cut-off feet)."""
    x0, _, x1, _ = _span(outlines[group])
    others = np.ones(len(outlines), bool)
    others[group] = False
    stands = others & (outlines[:, 0] < x1) & (outlines[:, 2] > x0) & (outlines[:, 1] < top) & \
        (outlines[:, 3] >= top - CAPTION_CLEARANCE)
    return _word_shaped(outlines[group], width) and not stands.any()


def _runs_along(boxes: np.ndarray, indices: np.ndarray) -> list[np.ndarray]:
    """``indices`` (into ``boxes``) in runs left to right, each box at most CAPTION_SPACING
    of the run's height after the run's right end."""
    runs: list[list[int]] = []
    for i in indices[np.argsort(boxes[indices, 0], kind="stable")]:
        if runs:
            x0, y0, x1, y1 = _span(boxes[runs[-1] + [int(i)]])
            if boxes[i, 0] - boxes[runs[-1], 2].max() <= CAPTION_SPACING * (y1 - y0):
                runs[-1].append(int(i))
                continue
        runs.append([int(i)])
    return [np.array(r) for r in runs]


def _band_run(crop: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    """The ink of ``crop`` that runs on under the signature from the strip x0..x1, rows
    y0..y1, at one end of the box (see ``_end_strips``), as a boolean mask of ``crop``'s
    shape: the parts of those rows that hold the strip's ink, and those that follow on at
    most CAPTION_SPACING strip heights apart and reach down to its lower quarter as
    letters standing on the print's baseline do (the bottoms of the signature's loops
    dipping into those rows end higher), with descenders down to half the strip's height
    under it. A caption that a letter's foot touches runs on under the signature."""
    bottom = y1 + (y1 - y0) // 2  # a descender's tail
    band = np.ascontiguousarray(crop[y0:bottom])
    _, labels, stats, _ = cv2.connectedComponentsWithStats(band, connectivity=8)
    starts = stats[1:, cv2.CC_STAT_LEFT]
    ends = starts + stats[1:, cv2.CC_STAT_WIDTH]
    reach_down = stats[1:, cv2.CC_STAT_TOP] + stats[1:, cv2.CC_STAT_HEIGHT]
    # down to the baseline, not on past a descender's tail (a stroke crossing the print's rows)
    low = (reach_down >= CAPTION_BASELINE * (y1 - y0)) & ((reach_down < band.shape[0]) | (bottom >= crop.shape[0]))
    taken = (starts < x1) & (ends > x0)
    gap, from_left = CAPTION_SPACING * (y1 - y0), x0 == 0
    while True:
        reach = ends[taken].max() + gap if from_left else starts[taken].min() - gap
        more = ~taken & low & ((starts <= reach) if from_left else (ends >= reach))
        if not more.any():
            break
        taken |= more
    run = np.zeros(crop.shape, bool)
    run[y0:bottom] = np.concatenate([[False], taken])[labels]
    return run


@njit(cache=True)
def _band_columns(top, bottom, slack):  # pragma: no cover - numba
    """How many of the columns (in order; ``top``, ``bottom``: their ink's first and last
    rows, -1 where bare) keep their ink in the band of those before them: within
    ``slack`` band heights of the median top and bottom. The first three set the band."""
    tops = np.empty(top.size, np.int64)
    bottoms = np.empty(top.size, np.int64)
    k, n = 0, 0
    for i in range(top.size):
        if top[i] < 0:
            continue
        if k >= 3:
            t, b = np.median(tops[:k]), np.median(bottoms[:k])
            if top[i] < t - slack * (b - t + 1) or bottom[i] > b + slack * (b - t + 1):
                return n
        tops[k], bottoms[k] = top[i], bottom[i]
        k += 1
        n = i + 1
    return n


def _word_rows(boxes: np.ndarray, width: int) -> list[np.ndarray]:
    """Rows of small boxes shaped like a word or more: at least CAPTION_BELOW_PARTS of
    them, or one spanning at most CAPTION_BLOB_SPAN of ``width`` (the signature box's)."""
    if len(boxes) < 2:
        return []
    heights = boxes[:, 3] - boxes[:, 1]
    small = np.flatnonzero((heights <= CAPTION_HEIGHT * heights.max()) & (heights >= 3))
    return [r for r in _rows(boxes, small) if _word_shaped(boxes[r], width)]


def _word_shaped(boxes: np.ndarray, width: int) -> bool:
    """Whether one row's ``boxes`` span a printed word or more (see ``CAPTION_BELOW``): at least
    CAPTION_WORD times as wide as tall, and of CAPTION_BELOW_PARTS boxes or more, or spanning at
    most CAPTION_BLOB_SPAN of ``width`` (the signature box's)."""
    x0, y0, x1, y1 = _span(boxes)
    return x1 - x0 >= CAPTION_WORD * (y1 - y0) and (len(boxes) >= CAPTION_BELOW_PARTS
                                                    or x1 - x0 <= CAPTION_BLOB_SPAN * width)


def _captioned(binary: np.ndarray, candidates: list[Segment], printed: list[Segment],
               min_length: float) -> list[Segment]:
    """The horizontal candidates not yet ``printed``, at least ``min_length`` long, with a
    caption printed under them."""
    rest = [c for c in candidates if c.horizontal and c.length >= min_length and c not in printed]
    if not rest:
        return []
    labels, boxes = _components(binary)
    lines, pen = _ruled(candidates, binary.shape[0]), cache(lambda: _pen_width(labels, boxes))
    return [c for c in rest if _caption_parts(labels, boxes, c, lines, pen).any()]


def _ruled(segments: list[Segment] | tuple[Segment, ...], height: int) -> list[Segment]:
    """The horizontal ``segments`` inside the image: one along its top or bottom edge is
    the sheet's border left by unwarping (or a scan's frame), not a line printed on the
    form, and must not make the text above it look ruled."""
    return [s for s in segments if s.horizontal and
            s.width / 2 + 1 < s.across_at((s.start + s.end) / 2) < height - 1 - s.width / 2]


def _components(binary: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Component labels (0 = paper) and the (x0, y0, x1, y1) box of components 1..n."""
    _, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    boxes = stats[1:, :4].astype(np.int64)
    boxes[:, 2:] += boxes[:, :2]
    return labels, boxes


def _caption_parts(labels: np.ndarray, boxes: np.ndarray, s: Segment, lines: list[Segment],
                   pen: Callable[[], float]) -> np.ndarray:
    """Which boxes are the characters of a caption printed under the horizontal segment ``s``
    (``labels``: the binary image's components, 1..n; ``lines``: every horizontal line, one
    just under the text makes it not a caption; ``pen``: the signature's stroke width, measured
    when first needed)."""
    out = np.zeros(len(boxes), bool)
    if not len(boxes):
        return out
    heights = boxes[:, 3] - boxes[:, 1]
    under = _under(boxes, s)
    below = np.flatnonzero(under & (heights <= CAPTION_HEIGHT * heights.max()) & (heights >= 3))
    for row in _rows(boxes, below):
        x0, y0, x1, y1 = _span(boxes[row])
        if y0 - s.across_at((x0 + x1) / 2) > CAPTION_GAP * (y1 - y0) or \
                _line_within(lines, x0, x1, y1, y1 + CAPTION_OPEN * (y1 - y0)):
            continue
        if len(row) >= CAPTION_PARTS or _printed_word(np.isin(labels[y0:y1, x0:x1], row + 1), pen):
            top = y0 - (y1 - y0) // 3  # an i-dot may stand above the capitals
            out |= under & (boxes[:, 0] >= x0) & (boxes[:, 1] >= top) & (boxes[:, 2] <= x1) & (boxes[:, 3] <= y1)
    return out


def _printed_word(part: np.ndarray, pen: Callable[[], float], bars: bool = False) -> bool:
    """Whether ``part`` (a row's ink, boolean, cropped to the row) looks like a printed word
    whose letters ran together: wide, dense, with upright stems, several strokes tall (of
    its own strokes or of the signature's ``pen``, measured only when needed; any height
    with ``bars``), level and straight (see ``CAPTION_WORD``)."""
    h, w = part.shape
    return w >= CAPTION_WORD * h and part.mean() >= CAPTION_FILL and \
        np.mean(part.sum(axis=0) >= 0.5 * h) >= CAPTION_STEMS and _level(part) and _straight(part) and \
        (bars or h >= CAPTION_STROKES * min(_stroke_width(part), pen()))


def _level(part: np.ndarray) -> bool:
    """Whether ``part`` (boolean) stands level as print does: the mean height of its ink in its
    right half lies within CAPTION_LEVEL of its height from its left half's."""
    rows = np.arange(part.shape[0], dtype=np.float64)
    half = part.shape[1] // 2
    left, right = part[:, :half].sum(axis=1), part[:, half:].sum(axis=1)
    return abs(rows @ left / max(left.sum(), 1) - rows @ right / max(right.sum(), 1)) <= CAPTION_LEVEL * part.shape[0]


def _straight(part: np.ndarray) -> bool:
    """Whether the ink of ``part`` (boolean) keeps to one height across its columns as a line
    of print does: the centres of its columns' ink lie within CAPTION_WANDER of its height
    (10th to 90th percentile), where a curved stroke's follow the curve."""
    inked = part.any(axis=0)
    counts = part.sum(axis=0)[inked]
    centres = np.arange(part.shape[0], dtype=np.float64) @ part[:, inked] / counts
    low, high = np.percentile(centres, [10, 90])
    return high - low <= CAPTION_WANDER * part.shape[0]


def _pen_width(labels: np.ndarray, boxes: np.ndarray) -> float:
    """The stroke width of the tallest component (``labels``: 1..n, ``boxes`` theirs): the
    signature's pen, a yardstick for small print whose blurred letters ran into one bar."""
    if not len(boxes):
        return 0.0
    i = int(np.argmax(boxes[:, 3] - boxes[:, 1]))
    x0, y0, x1, y1 = boxes[i]
    return _stroke_width(labels[y0:y1, x0:x1] == i + 1)


def _stroke_width(part: np.ndarray) -> float:
    """The mean stroke width of ``part`` (boolean): its area over half its outlines' length
    (a stroke's outline runs along both of its sides)."""
    ink = part.astype(np.uint8)
    contours, _ = cv2.findContours(ink, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    perimeter = sum(cv2.arcLength(c, True) for c in contours)
    return 2.0 * cv2.countNonZero(ink) / perimeter if perimeter > 0 else 0.0


def _cut_by_line(binary: np.ndarray, lines: list[Segment], boxes: np.ndarray) -> bool:
    """Whether a box is the part of a stroke that a removed line cut off: its top lies on
    one of ``lines`` or within ``CAPTION_CLEARANCE`` under it, and ink stands on the line
    in its columns (the rest of the stroke). Print set close under a bare stretch of the
    line is not cut off."""
    centre = (boxes[:, 0] + boxes[:, 2]) / 2
    for s in lines:
        top = s.across_at(centre) - s.width / 2
        near = (boxes[:, 0] < s.end) & (boxes[:, 2] > s.start) & (boxes[:, 1] >= top - 1) & \
            (boxes[:, 1] <= top + s.width + CAPTION_CLEARANCE)
        for x0, x1, y in zip(boxes[near, 0], boxes[near, 2], top[near]):
            if binary[max(int(y) - CAPTION_CLEARANCE, 0):max(int(y), 0), x0:x1].any():
                return True
    return False


def _line_within(lines: list[Segment], x0: float, x1: float, y_from: float, y_to: float) -> bool:
    """Whether one of ``lines`` runs under columns x0..x1 between rows ``y_from`` and ``y_to``."""
    return any(o.start < x1 and o.end > x0 and y_from <= o.across_at((x0 + x1) / 2) <= y_to for o in lines)


def _hangs_under(lines: list[Segment], x0: int, y0: int, x1: int, y1: int) -> bool:
    """Whether the box x0..x1, y0..y1 hangs under one of ``lines``: the line runs over all of
    its columns (to within its own width, the precision of its ends) and at most
    ``CAPTION_GAP`` box heights above its top. A caption is printed from the line's start
    (on 12 kiosk photos its box began 0-62 px after it); the hook at the tip of an
    underline whose straight run was taken for a line reaches out beyond its end."""
    return any(s.start - s.width <= x0 and x1 <= s.end + s.width and
               0 <= y0 - s.across_at((x0 + x1) / 2) <= CAPTION_GAP * (y1 - y0) for s in lines)


def _under(boxes: np.ndarray, s: Segment) -> np.ndarray:
    """Boxes wholly below the horizontal segment, clear of it, and within its length (a
    caption aligned with the line's start may begin a little before the line's ink does:
    by up to a box height)."""
    centre = (boxes[:, 0] + boxes[:, 2]) / 2
    clear = boxes[:, 1] > s.slope * centre + s.offset + s.width / 2 + CAPTION_CLEARANCE
    slack = boxes[:, 3] - boxes[:, 1]
    return clear & (boxes[:, 0] >= s.start - slack) & (boxes[:, 2] <= s.end + slack)


def _rows(boxes: np.ndarray, candidates: np.ndarray) -> list[np.ndarray]:
    """Rows among the ``candidates`` (indices into ``boxes``), as index arrays: left to
    right, each box joins a row it is level with, next to and about as tall as: a taller
    part of the signature beside a caption is not its row, and a much lower box (an
    i-dot, a comma) does not extend one (the callers take everything inside a row's box).
    """
    rows: list[list[int]] = []
    for i in candidates[np.argsort(boxes[candidates, 0], kind="stable")]:
        b = boxes[i]
        for row in rows:
            top, bottom, right = boxes[row, 1].min(), boxes[row, 3].max(), boxes[row, 2].max()
            height = bottom - top
            if abs((b[1] + b[3] - top - bottom) / 2) <= 0.5 * height and b[0] - right <= CAPTION_SPACING * height \
                    and 0.5 * height <= b[3] - b[1] <= 2 * height:
                row.append(int(i))
                break
        else:
            rows.append([int(i)])
    return [np.array(r) for r in rows]


def _candidates(source: np.ndarray, length: int, long: float, horizontal: bool,
                stacked: bool = False) -> list[Segment]:
    """Straight, thin, solid runs at least ``length`` long, fitted as segments; those at
    least ``long`` need to be straight only where nothing crosses them (see ``_fit``).
    ``stacked``: look for more than one line in a band (see ``_fit_all``)."""
    work = source if horizontal else cv2.transpose(source)
    gap, drift = 2 * MAX_GAP + 1, 2 * MAX_DRIFT + 1
    thick = cv2.dilate(work, cv2.getStructuringElement(cv2.MORPH_RECT, (gap, drift)))
    band = _runs(thick, length)
    if not band.any():
        return []
    band = cv2.dilate(band, cv2.getStructuringElement(cv2.MORPH_RECT, (1, drift)))
    contours, _ = cv2.findContours(band, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    found = []
    for c in contours:
        x, y, bw, bh = cv2.boundingRect(c)
        part = cv2.bitwise_and(work[y:y + bh, x:x + bw], band[y:y + bh, x:x + bw])
        found += _fit_all(part, x, y, horizontal, long, MAX_LINES_PER_BAND if stacked else 1)
    return found


def _fit_all(part: np.ndarray, x: int, y: int, horizontal: bool, long: float, most: int) -> list[Segment]:
    """Up to ``most`` lines in one band: the densest first (see ``_fit``), then, with its
    ink taken out, any other that runs LINE_COVERAGE of the first's length and lies more
    than MAX_LINE_WIDTH from each line found. A signature written on a faint ruled line can
    join it and the next line, a letter's height away, into one band, and only one would be
    found; a straight stretch of a stroke beside a line is shorter, and a second fit of a
    thick line lies beside it. Only horizontal bands of a sheet hold more than one (see
    ``remove_lines``): vertical lines (box sides) lie too far apart for a signature to join
    two."""
    found: list[Segment] = []
    part = part.copy()
    rows = np.arange(part.shape[0], dtype=np.float64)[:, None]
    middle = x + part.shape[1] / 2
    for _ in range(most):
        segment = _fit(part, x, y, horizontal, long)
        if segment is None or (found and (segment.length < LINE_COVERAGE * found[0].length or any(
                abs(segment.across_at(middle) - s.across_at(middle)) <= MAX_LINE_WIDTH for s in found))):
            break
        found.append(segment)
        course = segment.across_at(np.arange(x, x + part.shape[1], dtype=np.float64)) - y
        part[np.abs(rows - course[None, :]) <= segment.width / 2 + 1] = 0
    return found


def _fit(part: np.ndarray, x: int, y: int, horizontal: bool, long: float) -> Segment | None:
    """Fit the ink of one band (rows = across, columns = along) as a straight thin line, or None.

    The line is looked for in the rows around the band's densest one (those at least
    half as dense, plus two): strokes that join the band elsewhere (the lower half of a
    signature written on the line) do not count. Its ink must line up along all the
    columns where the band is thin enough for a line, or, when the band is at least
    ``long``, along those where the band holds no more ink than the line's own width (its
    thinnest tenth's, plus a pixel): a signature written over most of a long line, its
    letters standing on it and their loops dipping just under it, adds ink to the other
    columns and pulls their centres off the line. A shorter band must be straight
    throughout: a handwritten down-stroke is straight along its middle too, and a box
    side is no longer than that.
    """
    rows_ink = cv2.reduce(part, 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel()
    peak = int(np.argmax(rows_ink))
    dense = rows_ink >= rows_ink[peak] / 2
    top, bottom = peak, peak
    while top > 0 and dense[top - 1]:
        top -= 1
    while bottom + 1 < dense.size and dense[bottom + 1]:
        bottom += 1
    top = max(top - 2, 0)
    part = part[top:bottom + 3]
    per_column = cv2.reduce(part, 0, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel() // 255
    ends = np.flatnonzero(per_column)
    if ends.size == 0:
        return None
    # Coverage over the inked extent: the band also holds the gap-bridging dilation's margins.
    n = int(ends[-1] - ends[0] + 1)
    if ends.size < LINE_COVERAGE * n:
        return None
    clear = (per_column > 0) & (per_column <= MAX_LINE_WIDTH)
    if np.count_nonzero(clear) < max(MIN_CLEAR * n, 2):  # too few columns for either fit below
        return None
    moments = np.arange(part.shape[0], dtype=np.float64) @ part / 255.0  # sum of row indices of ink
    fit = _straight_fit(np.flatnonzero(clear), per_column, moments, n)
    if fit is None and n >= long:
        alone = clear & (per_column <= np.percentile(per_column[ends], 10) + 1)
        fit = _straight_fit(np.flatnonzero(alone), per_column, moments, n)
        if fit is not None and not _runs_under(part, fit, ends[0], n):
            fit = None
    if fit is None:
        return None
    slope, offset, width, _ = fit
    return Segment(horizontal=horizontal, start=float(x + ends[0]), end=float(x + ends[-1] + 1), slope=slope,
                   offset=float(y + top + offset - slope * x), width=width)


def _straight_fit(along: np.ndarray, per_column: np.ndarray, moments: np.ndarray,
                  n: int) -> tuple[float, float, float, np.ndarray] | None:
    """(slope, offset, width, the columns on the line) of the line through the ink centres
    of the columns ``along`` (``per_column``: ink pixels per column, ``moments``: their
    summed row indices), or None when they are under MIN_CLEAR of the band's ``n`` columns
    or not ruler-straight."""
    if along.size < max(MIN_CLEAR * n, 2):
        return None
    counts = per_column[along]
    centre = moments[along] / counts
    u = along.astype(np.float64)
    slope, offset = _line_fit(u, centre)
    for _ in range(2):  # refit on the columns the line explains; strokes touching it do not count
        inliers = np.abs(centre - (slope * u + offset)) <= 1.0
        if inliers.sum() < 2:
            return None
        slope, offset = _line_fit(u[inliers], centre[inliers])
    inliers = np.abs(centre - (slope * u + offset)) <= 1.0
    if inliers.mean() < MIN_STRAIGHT:  # not ruler-straight: the feet of cursive letters wander
        return None
    return slope, offset, float(counts[inliers].mean()), along[inliers]


def _runs_under(part: np.ndarray, fit: tuple[float, float, float, np.ndarray], first: int, n: int) -> bool:
    """Whether the line ``fit`` found where the band ``part`` is bare (its columns
    ``first``..``first + n - 1``) is a printed line running on under the signature: inked
    on or next to its course in LINE_COVERAGE of the columns (letters stand on a printed
    line, they do not break it, while a long flourish through a signature curves off a
    straight course where it crosses the letters), and bare in one stretch at least
    MIN_CLEAR of its length (the bottoms of a row of loops line up too, in short arcs)."""
    slope, offset, _, bare = fit
    u = np.arange(first, first + n)
    course = np.rint(slope * u + offset).astype(np.int64)
    near = np.zeros(n, bool)
    for d in (-1, 0, 1):
        rows = course + d
        inside = (rows >= 0) & (rows < part.shape[0])
        near[inside] |= part[rows[inside], u[inside]] > 0
    if near.mean() < LINE_COVERAGE:
        return False
    breaks = np.flatnonzero(np.diff(bare) > 2)  # runs without a gap over a pixel wide
    return int(np.diff(np.concatenate([[-1], breaks, [bare.size - 1]])).max()) >= MIN_CLEAR * n


def _line_fit(u: np.ndarray, v: np.ndarray) -> tuple[float, float]:
    """Least-squares v = slope * u + offset."""
    mu, mv = float(u.sum()) / u.size, float(v.sum()) / v.size
    du = u - mu
    denom = float(du @ du)
    slope = float(du @ (v - mv)) / denom if denom > 0 else 0.0
    return slope, mv - slope * mu


def _printed(candidates: list[Segment], long_h: float, long_v: float, shape: tuple[int, int]) -> list[Segment]:
    """The candidates that are printed lines: long, or box sides.

    A box side meets a perpendicular candidate at each of its two ends, and those
    partners are long lines or box sides too; a letter's down-stroke standing on a line,
    or the bottoms of cursive letters ending at a capital, make one such corner at most.
    A side that runs into the edge of the image (of ``shape``) meets the sheet's border
    there: a box printed close to the edge merges with the line that unwarping leaves
    along it, and its sides end on that line, not at a corner of their own.
    """
    ok = [s.length >= (long_h if s.horizontal else long_v) for s in candidates]
    border = len(candidates)  # the sheet's border, a partner as long as the image
    partners: list[tuple[list[int], list[int]]] = [([], []) for _ in candidates]
    corners: list[tuple[int, int, int, int, float, float]] = []  # (i, its end, j, its end, distances)
    reach = 4.0
    for i, a in enumerate(candidates):
        if a.start <= reach:
            partners[i][0].append(border)
        if a.end >= shape[1 if a.horizontal else 0] - reach:
            partners[i][1].append(border)
        for j, b in enumerate(candidates):
            if not (a.horizontal and not b.horizontal):
                continue
            # a: horizontal (y = f(x)); b: vertical (x = g(y)). Corner: each ends at the other.
            x_of_b = b.across_at(a.across_at((a.start + a.end) / 2))
            y_of_a = a.across_at(x_of_b)
            tol_a, tol_b = reach + b.width + 0.1 * a.length, reach + a.width + 0.1 * b.length
            a_end = _which_end(x_of_b, a, tol_a)
            b_end = _which_end(y_of_a, b, tol_b)
            if a_end is not None and b_end is not None:
                corners.append((i, a_end, j, b_end, abs(x_of_b - (a.start, a.end)[a_end]),
                                abs(y_of_a - (b.start, b.end)[b_end])))
    # A straight down-stroke standing just inside a box, beside its side, reaches the ends
    # of its top and bottom too, but the side meets them nearer at both: a candidate that
    # each of its partners meets farther than another, parallel one makes no corner.
    nearest: dict[tuple[int, int], float] = {}
    for i, a_end, j, b_end, da, db in corners:
        nearest[i, a_end] = min(nearest.get((i, a_end), np.inf), da)
        nearest[j, b_end] = min(nearest.get((j, b_end), np.inf), db)
    shadowed = np.ones(len(candidates), bool)
    for i, a_end, j, b_end, da, db in corners:
        shadowed[i] &= db > nearest[j, b_end]
        shadowed[j] &= da > nearest[i, a_end]
    for i, a_end, j, b_end, _, _ in corners:
        if not (shadowed[i] or shadowed[j]):
            partners[i][a_end].append(j)
            partners[j][b_end].append(i)
    cornered = [bool(first) and bool(last) for first, last in partners] + [True]
    ok.append(True)
    # A box side's partners are box sides too (long, or cornered at both ends); a
    # handwritten underline between a capital and a loop has partners cornered once.
    framed = [any(ok[j] or cornered[j] for j in first) and any(ok[j] or cornered[j] for j in last)
              for first, last in partners]
    return [s for s, long_enough, boxed in zip(candidates, ok, framed) if long_enough or boxed]


def _which_end(along: float, segment: Segment, tolerance: float) -> int | None:
    """0 or 1 when ``along`` is within ``tolerance`` of the segment's start or end, else None."""
    if abs(along - segment.start) <= tolerance:
        return 0
    if abs(along - segment.end) <= tolerance:
        return 1
    return None


def _draw(segments: list[Segment], shape: tuple[int, int]) -> np.ndarray:
    """Mask of the segments, each drawn one pixel wider than its measured width."""
    mask = np.zeros(shape, np.uint8)
    scale = 16  # sub-pixel endpoints (cv2 shift=4)
    for s in segments:
        p0 = (s.start, s.across_at(s.start))
        p1 = (s.end, s.across_at(s.end))
        if not s.horizontal:
            p0, p1 = p0[::-1], p1[::-1]
        cv2.line(mask, tuple(int(round(v * scale)) for v in p0), tuple(int(round(v * scale)) for v in p1), 255,
                 max(int(round(s.width)) + 1, 1), cv2.LINE_8, shift=4)
    return mask


def _drop_leftovers(cleaned: np.ndarray, printed: list[Segment], width: int) -> tuple[np.ndarray, np.ndarray]:
    """Remove thin fragments lying along a removed line (dashes of a faint line, its frayed ends).

    They are specks or dashes as thin as the line and lie within a few pixels of it or
    of its extension; strokes crossing the line reach further and stay.
    """
    contours, _ = cv2.findContours(cleaned, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return cleaned, np.zeros_like(cleaned)
    boxes = np.array([cv2.boundingRect(c) for c in contours], np.float64)
    thin = width + 3
    drop = np.zeros(len(boxes), bool)
    for s in printed:
        x, y, bw, bh = boxes.T if s.horizontal else boxes[:, [1, 0, 3, 2]].T  # along, across, sizes
        mid = s.slope * (x + bw / 2) + s.offset
        # Along the line's extension too: its frayed ends may not have joined its band.
        speck_or_dash = (bh <= thin) & ((bw >= 2 * bh) | (bw <= thin))
        drop |= speck_or_dash & (y >= mid - thin) & (y + bh <= mid + thin)
    leftovers = np.zeros_like(cleaned)
    if drop.any():
        cv2.drawContours(leftovers, [c for c, d in zip(contours, drop) if d], -1, 255, cv2.FILLED)
        leftovers = cv2.bitwise_and(leftovers, cleaned)
        cleaned = cv2.bitwise_and(cleaned, cv2.bitwise_not(leftovers))
    return cleaned, leftovers


def _runs(binary: np.ndarray, length: int) -> np.ndarray:
    """255 on every row run of non-zero pixels at least ``length`` long."""
    runs = np.zeros_like(binary)
    # Only rows holding at least ``length`` ink pixels can hold such a run.
    counts = cv2.reduce(binary, 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel()
    _mark_long_runs(binary, length, runs, np.flatnonzero(counts >= 255 * length))
    return runs


@njit(cache=True)
def _mark_long_runs(src, length, out, rows):  # pragma: no cover - numba
    """Set ``out`` to 255 on every run of non-zero pixels at least ``length`` long in ``rows``.

    A linear scan: the morphological opening it replaces costs O(length) per pixel.
    """
    w = src.shape[1]
    for r in rows:
        start = -1
        for c in range(w + 1):
            on = c < w and src[r, c] != 0
            if on and start < 0:
                start = c
            elif not on and start >= 0:
                if c - start >= length:
                    for k in range(start, c):
                        out[r, k] = 255
                start = -1
