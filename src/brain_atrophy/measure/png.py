"""Palette PNG files written with zlib alone, and text drawn into them from a bitmap font.

The QC mosaic is drawn once per subject, in a process of its own, so its import cost counts
per subject: without Pillow (its import, and its font's), the subject jobs of 1,040 subjects
took 90 s instead of 106 s (benchmarks/throughput.py, docs/performance.md). A palette PNG is a
few chunks around one zlib stream (PNG 1.2, ISO/IEC 15948), and the mosaic's text needs one
small font.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PALETTE_COLOUR_TYPE = 3


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_palette_png(path, indices: np.ndarray, palette: list[tuple[int, int, int]], level: int = 1) -> None:
    """Write ``indices`` (2D uint8, row 0 at the top) as an 8-bit palette PNG whose entry k
    is ``palette[k]``. Level 1 compresses ~3× faster than zlib's default; a QC preview
    does not need the last per cent of bytes."""
    if indices.ndim != 2 or indices.dtype != np.uint8:
        raise ValueError(f"a palette image is 2D uint8, not {indices.ndim}D {indices.dtype}")
    if not 0 < len(palette) <= 256 or int(indices.max(initial=0)) >= len(palette):
        raise ValueError(f"{len(palette)} palette entries for indices up to {int(indices.max(initial=0))}")
    height, width = indices.shape
    scanlines = np.zeros((height, width + 1), dtype=np.uint8)  # each row: filter type 0, then pixels
    scanlines[:, 1:] = indices
    header = struct.pack(">IIBBBBB", width, height, 8, PALETTE_COLOUR_TYPE, 0, 0, 0)
    plte = bytes(channel for entry in palette for channel in entry)
    with open(path, "wb") as out:
        out.write(PNG_SIGNATURE)
        out.write(_chunk(b"IHDR", header))
        out.write(_chunk(b"PLTE", plte))
        out.write(_chunk(b"IDAT", zlib.compress(scanlines.tobytes(), level)))
        out.write(_chunk(b"IEND", b""))


# A 5×8 bitmap font drawn for this module: rows top to bottom, "#" inked. Capitals and digits
# stand on row 6; row 7 is for descenders and the underscore.
GLYPH_WIDTH, GLYPH_HEIGHT, ADVANCE = 5, 8, 6
_GLYPHS = {
    " ": "..... ..... ..... ..... ..... ..... ..... .....",
    "A": ".###. #...# #...# ##### #...# #...# #...# .....",
    "B": "####. #...# #...# ####. #...# #...# ####. .....",
    "C": ".###. #...# #.... #.... #.... #...# .###. .....",
    "D": "####. #...# #...# #...# #...# #...# ####. .....",
    "E": "##### #.... #.... ####. #.... #.... ##### .....",
    "F": "##### #.... #.... ####. #.... #.... #.... .....",
    "G": ".###. #...# #.... #.### #...# #...# .#### .....",
    "H": "#...# #...# #...# ##### #...# #...# #...# .....",
    "I": ".###. ..#.. ..#.. ..#.. ..#.. ..#.. .###. .....",
    "J": "..### ...#. ...#. ...#. ...#. #..#. .##.. .....",
    "K": "#...# #..#. #.#.. ##... #.#.. #..#. #...# .....",
    "L": "#.... #.... #.... #.... #.... #.... ##### .....",
    "M": "#...# ##.## #.#.# #.#.# #...# #...# #...# .....",
    "N": "#...# #...# ##..# #.#.# #..## #...# #...# .....",
    "O": ".###. #...# #...# #...# #...# #...# .###. .....",
    "P": "####. #...# #...# ####. #.... #.... #.... .....",
    "Q": ".###. #...# #...# #...# #.#.# #..#. .##.# .....",
    "R": "####. #...# #...# ####. #.#.. #..#. #...# .....",
    "S": ".#### #.... #.... .###. ....# ....# ####. .....",
    "T": "##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#.. .....",
    "U": "#...# #...# #...# #...# #...# #...# .###. .....",
    "V": "#...# #...# #...# #...# #...# .#.#. ..#.. .....",
    "W": "#...# #...# #...# #.#.# #.#.# #.#.# .#.#. .....",
    "X": "#...# #...# .#.#. ..#.. .#.#. #...# #...# .....",
    "Y": "#...# #...# .#.#. ..#.. ..#.. ..#.. ..#.. .....",
    "Z": "##### ....# ...#. ..#.. .#... #.... ##### .....",
    "a": "..... ..... .###. ....# .#### #...# .#### .....",
    "b": "#.... #.... #.##. ##..# #...# #...# ####. .....",
    "c": "..... ..... .###. #.... #.... #...# .###. .....",
    "d": "....# ....# .##.# #..## #...# #...# .#### .....",
    "e": "..... ..... .###. #...# ##### #.... .###. .....",
    "f": "..##. .#..# .#... ###.. .#... .#... .#... .....",
    "g": "..... ..... .#### #...# #...# .#### ....# .###.",
    "h": "#.... #.... #.##. ##..# #...# #...# #...# .....",
    "i": "..#.. ..... .##.. ..#.. ..#.. ..#.. .###. .....",
    "j": "...#. ..... ..##. ...#. ...#. ...#. #..#. .##..",
    "k": "#.... #.... #..#. #.#.. ##... #.#.. #..#. .....",
    "l": ".##.. ..#.. ..#.. ..#.. ..#.. ..#.. .###. .....",
    "m": "..... ..... ##.#. #.#.# #.#.# #...# #...# .....",
    "n": "..... ..... #.##. ##..# #...# #...# #...# .....",
    "o": "..... ..... .###. #...# #...# #...# .###. .....",
    "p": "..... ..... ####. #...# #...# ####. #.... #....",
    "q": "..... ..... .##.# #..## #...# .#### ....# ....#",
    "r": "..... ..... #.##. ##..# #.... #.... #.... .....",
    "s": "..... ..... .###. #.... .###. ....# ####. .....",
    "t": ".#... .#... ###.. .#... .#... .#..# ..##. .....",
    "u": "..... ..... #...# #...# #...# #..## .##.# .....",
    "v": "..... ..... #...# #...# #...# .#.#. ..#.. .....",
    "w": "..... ..... #...# #...# #.#.# #.#.# .#.#. .....",
    "x": "..... ..... #...# .#.#. ..#.. .#.#. #...# .....",
    "y": "..... ..... #...# #...# #...# .#### ....# .###.",
    "z": "..... ..... ##### ...#. ..#.. .#... ##### .....",
    "0": ".###. #...# #..## #.#.# ##..# #...# .###. .....",
    "1": "..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###. .....",
    "2": ".###. #...# ....# ...#. ..#.. .#... ##### .....",
    "3": "##### ...#. ..#.. ...#. ....# #...# .###. .....",
    "4": "...#. ..##. .#.#. #..#. ##### ...#. ...#. .....",
    "5": "##### #.... ####. ....# ....# #...# .###. .....",
    "6": "..##. .#... #.... ####. #...# #...# .###. .....",
    "7": "##### ....# ...#. ..#.. .#... .#... .#... .....",
    "8": ".###. #...# #...# .###. #...# #...# .###. .....",
    "9": ".###. #...# #...# .#### ....# ...#. .##.. .....",
    "-": "..... ..... ..... ##### ..... ..... ..... .....",
    "_": "..... ..... ..... ..... ..... ..... ..... #####",
    ".": "..... ..... ..... ..... ..... .##.. .##.. .....",
    ",": "..... ..... ..... ..... .##.. ..#.. .#... .....",
    ":": "..... .##.. .##.. ..... .##.. .##.. ..... .....",
    "(": "...#. ..#.. .#... .#... .#... ..#.. ...#. .....",
    ")": ".#... ..#.. ...#. ...#. ...#. ..#.. .#... .....",
    "/": "..... ....# ...#. ..#.. .#... #.... ..... .....",
    "+": "..... ..#.. ..#.. ##### ..#.. ..#.. ..... .....",
    "%": "##... ##..# ...#. ..#.. .#... #..## ...## .....",
    "=": "..... ..... ##### ..... ##### ..... ..... .....",
    "#": ".#.#. .#.#. ##### .#.#. ##### .#.#. .#.#. .....",
    "'": "..#.. ..#.. ..... ..... ..... ..... ..... .....",
    "!": "..#.. ..#.. ..#.. ..#.. ..#.. ..... ..#.. .....",
    "?": ".###. #...# ....# ...#. ..#.. ..... ..#.. .....",
    "*": "..... ..#.. #.#.# .###. #.#.# ..#.. ..... .....",
}
# anything else: an empty box, so a missing glyph shows as such and never as another character
_MISSING = "##### #...# #...# #...# #...# #...# ##### ....."


def _bitmap(rows: str) -> np.ndarray:
    return np.array([[c == "#" for c in row] for row in rows.split()], dtype=bool)


GLYPHS = {char: _bitmap(rows) for char, rows in _GLYPHS.items()}
MISSING_GLYPH = _bitmap(_MISSING)


def draw_text(canvas: np.ndarray, x: int, y: int, text: str, index: int) -> None:
    """Ink ``text`` into ``canvas`` (2D palette indices) with its top-left corner at (x, y),
    in palette entry ``index``; what falls outside the canvas is clipped."""
    height, width = canvas.shape
    for k, char in enumerate(text):
        left = x + k * ADVANCE
        if left >= width:
            break
        glyph = GLYPHS.get(char, MISSING_GLYPH)
        rows = slice(max(y, 0), min(y + GLYPH_HEIGHT, height))
        cols = slice(max(left, 0), min(left + GLYPH_WIDTH, width))
        if rows.start >= rows.stop or cols.start >= cols.stop:
            continue
        ink = glyph[rows.start - y : rows.stop - y, cols.start - left : cols.stop - left]
        canvas[rows, cols][ink] = index
