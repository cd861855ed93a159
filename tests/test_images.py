"""recognition.images: checked loading of real and hostile files, and array normalisation."""

from __future__ import annotations

import struct
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from recognition.images import (
    DEFAULT_MAX_SIDE,
    MAX_PIXELS,
    ImageError,
    downscale,
    load_image,
    to_bgr,
    to_rgb,
)


def _png(width: int, height: int, colour_type: int, bit_depth: int, raw: bytes) -> bytes:
    """A minimal PNG writer, for formats cv2.imencode cannot produce (grey+alpha) or lies."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def _assert_rgb(img: np.ndarray, shape: tuple[int, int]) -> None:
    assert img.dtype == np.uint8
    assert img.shape == (*shape, 3)
    assert img.flags.c_contiguous


# --- real files ---------------------------------------------------------------


def test_greyscale_pgm_becomes_three_equal_channels(shared_data: Path) -> None:
    path = shared_data / "faces" / "att-orl" / "s01" / "01.pgm"
    img = load_image(path)
    _assert_rgb(img, (112, 92))
    grey = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    for c in range(3):
        np.testing.assert_array_equal(img[:, :, c], grey)


def test_greyscale_jpeg_becomes_three_channels(shared_data: Path) -> None:
    path = next(iter(sorted((shared_data / "faces" / "lfw-dev").glob("*/*.jpg"))))
    img = load_image(path)
    _assert_rgb(img, (250, 250))
    assert np.array_equal(img[:, :, 0], img[:, :, 1])
    assert np.array_equal(img[:, :, 1], img[:, :, 2])


def test_greyscale_png(shared_data: Path) -> None:
    img = load_image(shared_data / "faces" / "yale" / "subject01" / "glasses.png")
    _assert_rgb(img, (243, 320))


def test_colour_jpeg_is_rgb_not_bgr(shared_data: Path) -> None:
    path = sorted((shared_data / "faces" / "deepface-colour").glob("*/*.jpg"))[0]
    img = load_image(path)
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert bgr is not None
    assert max(bgr.shape[:2]) <= DEFAULT_MAX_SIDE
    np.testing.assert_array_equal(img, bgr[:, :, ::-1])
    # Not grey: the channels differ somewhere, so the order test above means something.
    assert not np.array_equal(img[:, :, 0], img[:, :, 2])


@pytest.mark.parametrize("name", ["image_T1.jpg", "image_F1.jpg", "image_F2.jpg"])
def test_spoof_samples_get_exif_orientation_applied(shared_data: Path, name: str) -> None:
    path = shared_data / "spoof" / name
    raw = cv2.imread(str(path), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    assert raw is not None
    assert raw.shape[:2] == (480, 640)  # stored landscape, EXIF orientation 6
    img = load_image(path)
    _assert_rgb(img, (640, 480))  # displayed portrait
    expected = cv2.rotate(raw, cv2.ROTATE_90_CLOCKWISE)[:, :, ::-1]
    np.testing.assert_array_equal(img, expected)


# --- synthetic files -----------------------------------------------------------


def test_rgba_png_is_composited_over_white(tmp_path: Path) -> None:
    bgra = np.zeros((20, 30, 4), np.uint8)
    bgra[:, :, 0] = 255  # blue
    bgra[:, :15, 3] = 255  # left half opaque, right half transparent
    path = tmp_path / "alpha.png"
    assert cv2.imwrite(str(path), bgra)
    img = load_image(path)
    _assert_rgb(img, (20, 30))
    assert img[0, 0].tolist() == [0, 0, 255]
    assert img[0, 29].tolist() == [255, 255, 255]


def test_grey_alpha_png_and_16_bit_png(tmp_path: Path) -> None:
    # 2x1 grey+alpha: grey 100 half transparent, grey 10 opaque.
    la = _png(2, 1, 4, 8, b"\x00" + bytes([100, 128, 10, 255]))
    (tmp_path / "la.png").write_bytes(la)
    img = load_image(tmp_path / "la.png")
    _assert_rgb(img, (1, 2))
    assert img[0, 0].tolist() == [177, 177, 177]  # 100*128/255 + 255*127/255
    assert img[0, 1].tolist() == [10, 10, 10]
    # 1x1 RGB at 16 bits per channel: full red.
    rgb16 = _png(1, 1, 2, 16, b"\x00" + struct.pack(">HHH", 65535, 0, 0))
    (tmp_path / "rgb16.png").write_bytes(rgb16)
    assert load_image(tmp_path / "rgb16.png")[0, 0].tolist() == [255, 0, 0]


def test_one_pixel_image_loads(tmp_path: Path) -> None:
    path = tmp_path / "dot.png"
    assert cv2.imwrite(str(path), np.array([[[10, 20, 30]]], np.uint8))
    img = load_image(path)
    _assert_rgb(img, (1, 1))
    assert img[0, 0].tolist() == [30, 20, 10]


def _gradient(height: int, width: int) -> np.ndarray:
    row = np.linspace(0, 255, width, dtype=np.float32)
    col = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    img = np.empty((height, width, 3), np.uint8)
    img[:, :, 0] = row
    img[:, :, 1] = col
    img[:, :, 2] = 128
    return img


@pytest.mark.slow
def test_8000x6000_jpeg_loads_downscaled(tmp_path: Path) -> None:
    """48 MP is under MAX_PIXELS: it loads, shrunk to fit DEFAULT_MAX_SIDE."""
    assert MAX_PIXELS >= 8000 * 6000
    path = tmp_path / "big.jpg"
    assert cv2.imwrite(str(path), _gradient(6000, 8000), [cv2.IMWRITE_JPEG_QUALITY, 80])
    img = load_image(path)
    _assert_rgb(img, (3000, 4000))  # halved: the smallest power of two that fits 4096
    # Content survives: left edge dark, right edge bright in the (RGB) blue channel.
    assert img[:, :50, 2].mean() < 20
    assert img[:, -50:, 2].mean() > 235
    assert load_image(path, max_side=None).shape == (6000, 8000, 3)
    small = load_image(path, max_side=1000)  # decoded at 1/8 scale
    _assert_rgb(small, (750, 1000))
    assert small[:, :20, 2].mean() < 20
    assert small[:, -20:, 2].mean() > 235


@pytest.mark.slow
def test_8000x6000_png_loads_downscaled(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    grey = _gradient(6000, 8000)[:, :, 0]  # one channel: a third of the work to write
    assert cv2.imwrite(str(path), grey, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    img = load_image(path)
    _assert_rgb(img, (3000, 4000))


def test_too_many_pixels_is_refused_before_decoding(tmp_path: Path) -> None:
    # A tiny PNG whose header claims 30000x30000: decoding it would need 2.7 GB.
    path = tmp_path / "bomb.png"
    path.write_bytes(_png(30000, 30000, 2, 8, b""))
    start = time.monotonic()
    with pytest.raises(ImageError, match=r"bomb\.png.*30000x30000.*megapixels"):
        load_image(path)
    assert time.monotonic() - start < 1.0
    # The same for a JPEG whose frame header is patched to 20000x20000.
    ok, enc = cv2.imencode(".jpg", _gradient(8, 8))
    assert ok
    data = bytearray(enc.tobytes())
    sof = data.find(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", 20000, 20000)
    (tmp_path / "liar.jpg").write_bytes(bytes(data))
    with pytest.raises(ImageError, match=r"liar\.jpg.*20000x20000"):
        load_image(tmp_path / "liar.jpg")


@pytest.mark.parametrize("suffix", [".bmp", ".webp", ".tiff", ".ppm"])
def test_other_formats_load_and_respect_the_pixel_limit(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"a{suffix}"
    assert cv2.imwrite(str(path), _gradient(40, 50))
    img = load_image(path)
    _assert_rgb(img, (40, 50))
    with pytest.raises(ImageError, match=r"50x40 .*megapixels"):
        load_image(path, max_pixels=1999)


def test_pixel_limit_is_a_parameter(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    assert cv2.imwrite(str(path), _gradient(100, 100))
    with pytest.raises(ImageError, match="megapixels"):
        load_image(path, max_pixels=9_999)
    assert load_image(path, max_pixels=10_000).shape == (100, 100, 3)


@pytest.mark.parametrize("keep", [0.5, 0.95])
def test_truncated_jpeg_is_refused(shared_data: Path, tmp_path: Path, keep: float) -> None:
    data = (shared_data / "spoof" / "image_T1.jpg").read_bytes()
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ImageError, match=r"cut\.jpg.*truncated"):
        load_image(path)


def test_truncated_png_is_refused(tmp_path: Path) -> None:
    noise = np.random.default_rng(1).integers(0, 255, (64, 64, 3), np.uint8)
    ok, enc = cv2.imencode(".png", noise)
    assert ok
    path = tmp_path / "cut.png"
    path.write_bytes(enc.tobytes()[: len(enc) // 2])
    with pytest.raises(ImageError, match=r"cut\.png.*cannot decode"):
        load_image(path)


def test_random_bytes_named_jpg_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ImageError, match=r"photo\.jpg.*not an image"):
        load_image(path)
    # Garbage behind a valid JPEG signature is refused too.
    path.write_bytes(b"\xff\xd8\xff\xe0" + np.random.default_rng(0).bytes(4096))
    with pytest.raises(ImageError, match=r"photo\.jpg"):
        load_image(path)


def test_file_checks(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="no such file"):
        load_image(tmp_path / "missing.jpg")
    with pytest.raises(ImageError, match="not a regular file"):
        load_image(tmp_path)
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ImageError, match="empty file"):
        load_image(tmp_path / "empty.png")
    big = tmp_path / "big.png"
    assert cv2.imwrite(str(big), _gradient(64, 64))
    with pytest.raises(ImageError, match=r"big\.png.*larger than the limit"):
        load_image(big, max_bytes=100)
    assert issubclass(ImageError, ValueError)


# --- arrays -------------------------------------------------------------------


def test_to_rgb_shapes_and_channel_order() -> None:
    bgr = np.zeros((2, 3, 3), np.uint8)
    bgr[..., 0] = 200  # blue
    out = to_rgb(bgr)
    assert out[0, 0].tolist() == [0, 0, 200]
    assert bgr[0, 0].tolist() == [200, 0, 0]  # input untouched
    grey = np.full((2, 3), 7, np.uint8)
    assert to_rgb(grey).shape == (2, 3, 3)
    assert to_rgb(grey[:, :, None]).tolist() == to_rgb(grey).tolist()
    bgra = np.zeros((1, 1, 4), np.uint8)
    bgra[0, 0] = [255, 0, 0, 255]
    assert to_rgb(bgra)[0, 0].tolist() == [0, 0, 255]


def test_to_rgb_dtypes() -> None:
    assert to_rgb(np.array([[0, 65535]], np.uint16))[0, :, 0].tolist() == [0, 255]
    assert to_rgb(np.array([[-5, 300]], np.int64))[0, :, 0].tolist() == [0, 255]
    assert to_rgb(np.array([[0.0, 0.5, 1.0]]))[0, :, 0].tolist() == [0, 128, 255]
    assert to_rgb(np.array([[0.0, 100.0, 400.0]], np.float32))[0, :, 0].tolist() == [0, 100, 255]
    assert to_rgb(np.array([[True, False]]))[0, :, 0].tolist() == [255, 0]


def test_to_rgb_makes_views_contiguous() -> None:
    base = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    view = base[:, ::-2]
    out = to_rgb(view)
    assert out.flags.c_contiguous
    np.testing.assert_array_equal(out, view[:, :, ::-1])


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros((0, 5, 3), np.uint8), "empty"),
        (np.zeros((5, 0), np.uint8), "empty"),
        (np.zeros(10, np.uint8), "2 or 3 dimensions"),
        (np.zeros((2, 2, 2, 2), np.uint8), "2 or 3 dimensions"),
        (np.zeros((5, 5, 2), np.uint8), "channels"),
        (np.array([[object(), object()]]), "dtype"),
        (np.array([["a", "b"]]), "dtype"),
        (np.array([[np.nan, 0.5]]), "NaN"),
        (np.array([[1 + 2j]]), "dtype"),
    ],
)
def test_to_rgb_refuses_garbage(array: np.ndarray, message: str) -> None:
    with pytest.raises(ImageError, match=message):
        to_rgb(array)


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(
        dtype=st.sampled_from([np.uint8, np.uint16, np.int32, np.float32, np.bool_]),
        shape=st.tuples(st.integers(1, 12), st.integers(1, 12), st.sampled_from([1, 3, 4])).map(
            lambda s: s[:2] if s[2] == 1 else s
        ),
        elements={"allow_nan": False, "allow_infinity": False},
    )
)
def test_to_rgb_always_gives_rgb_uint8(array: np.ndarray) -> None:
    out = to_rgb(array)
    assert out.shape == (*array.shape[:2], 3)
    assert out.dtype == np.uint8
    assert out.flags.c_contiguous


def test_to_bgr_passes_bgr_through_and_converts_grey() -> None:
    bgr = np.zeros((3, 3, 3), np.uint8)
    assert to_bgr(bgr) is bgr
    assert to_bgr(np.zeros((3, 3), np.uint16)).shape == (3, 3, 3)


def test_downscale() -> None:
    frame = _gradient(480, 640)
    small, scale = downscale(frame, 320)
    assert small.shape == (240, 320, 3)
    assert scale == 0.5
    # A point found in the small image maps back by dividing by scale.
    assert round(100 / scale) == 200
    same, one = downscale(frame, 640)
    assert same is frame
    assert one == 1.0
    odd, s = downscale(np.zeros((3, 1001), np.uint8), 100)
    assert odd.shape == (1, 100)  # never 0 rows
    assert s == pytest.approx(100 / 1001)
    with pytest.raises(ValueError, match="max_width"):
        downscale(frame, 0)
