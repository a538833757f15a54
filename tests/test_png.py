"""Palette PNGs written with zlib alone, read back by Pillow; the mosaic's bitmap font."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from brain_atrophy.measure.png import (
    ADVANCE,
    GLYPH_HEIGHT,
    GLYPH_WIDTH,
    GLYPHS,
    MISSING_GLYPH,
    draw_text,
    write_palette_png,
)


def test_a_palette_png_reads_back_as_the_same_indices_and_colours(tmp_path):
    rng = np.random.default_rng(0)
    indices = rng.integers(0, 7, size=(13, 21), dtype=np.uint8)
    palette = [(k * 30, 255 - k * 30, (k * 77) % 256) for k in range(7)]
    path = tmp_path / "p.png"
    write_palette_png(path, indices, palette)
    with Image.open(path) as image:
        image.load()
        assert image.mode == "P" and image.size == (21, 13)
        assert np.array_equal(np.asarray(image), indices)
        assert np.array_equal(np.asarray(image.convert("RGB")), np.array(palette, dtype=np.uint8)[indices])


def test_indices_beyond_the_palette_or_not_2d_uint8_are_refused(tmp_path):
    with pytest.raises(ValueError, match="palette entries"):
        write_palette_png(tmp_path / "a.png", np.full((2, 2), 3, np.uint8), [(0, 0, 0)] * 3)
    with pytest.raises(ValueError, match="2D uint8"):
        write_palette_png(tmp_path / "b.png", np.zeros((2, 2), np.int16), [(0, 0, 0)])


def test_every_glyph_is_a_5_by_8_bitmap_and_no_two_printing_glyphs_are_alike():
    assert all(glyph.shape == (GLYPH_HEIGHT, GLYPH_WIDTH) for glyph in GLYPHS.values())
    shapes = {glyph.tobytes() for char, glyph in GLYPHS.items() if char != " "}
    assert len(shapes) == len(GLYPHS) - 1
    assert MISSING_GLYPH.tobytes() not in shapes and not GLYPHS[" "].any()


def test_text_is_inked_glyph_by_glyph_and_clipped_at_the_edges():
    canvas = np.zeros((12, 20), np.uint8)
    draw_text(canvas, 1, 2, "Hé", 9)  # é has no glyph: the empty box
    assert np.array_equal(canvas[2:10, 1:6] == 9, GLYPHS["H"])
    assert np.array_equal(canvas[2:10, 1 + ADVANCE : 6 + ADVANCE] == 9, MISSING_GLYPH)
    assert (canvas == 9).sum() == GLYPHS["H"].sum() + MISSING_GLYPH.sum()
    clipped = np.zeros((5, 8), np.uint8)
    draw_text(clipped, -2, 1, "AB", 1)  # A's left columns and every row past the bottom fall off
    assert np.array_equal(clipped[1:5, 0:3] == 1, GLYPHS["A"][:4, 2:])
    assert np.array_equal(clipped[1:5, 4:8] == 1, GLYPHS["B"][:4, :4])
