"""Checked image loading and pixel-format normalisation.

Everything the engine reads from disk goes through :func:`load_image`: the
file is checked (a regular file, at most ``max_bytes``), its declared
dimensions are read from the header *before* anything is decoded (so a small
PNG claiming 30000x30000 pixels cannot exhaust memory), truncated and
unreadable files are refused, the EXIF orientation is applied, and the result
is always RGB ``uint8`` with three channels, whatever the file held (grey
PGM/JPEG, 16-bit PNG, PNG with alpha).

Limits, and why:

* ``MAX_FILE_BYTES`` (50 MiB): no face photo needs more; bigger files are
  refused before they are read.
* ``MAX_PIXELS`` (50 megapixels, declared in the header): an 8000x6000 photo
  (48 MP) and the 50 MP photos of current phones load; anything larger is
  refused with a message asking for a smaller copy. Checked before decoding
  for JPEG, PNG, BMP and PNM; other formats are checked right after decoding.
* ``DEFAULT_MAX_SIDE`` (4096 px): an image whose longest side is larger is
  shrunk by the smallest power of two that makes it fit, so the 8000x6000
  photo comes back as 4000x3000 (faces in such photos are far larger than
  any detector or the embedding needs). Powers of two are cheap: JPEGs are
  decoded directly at 1/2, 1/4 or 1/8 scale (libjpeg's DCT scaling, half
  the time and a quarter of the memory of a full decode), other formats
  are area-averaged by an integer factor. Pass ``max_side=None`` to keep
  the full size.

Alpha is composited over white (ID photos have plain backgrounds); 3-channel
arrays from OpenCV are BGR and are converted to RGB. Nothing is ever pickled.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_PIXELS = 50_000_000
DEFAULT_MAX_SIDE = 4096

#: File-name suffixes that :func:`load_image` is meant for (used to pick
#: images out of a folder; loading itself goes by content, not by name).
IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".pgm", ".ppm", ".pbm", ".pnm", ".webp", ".tif", ".tiff"}
)

Image = npt.NDArray[np.uint8]


def as_image(value: object) -> Image:
    """``value`` (an OpenCV result) typed as a uint8 array; no copy when it already is one."""
    return np.asarray(value, dtype=np.uint8)


class ImageError(ValueError):
    """An image file or array that cannot be used; the message names the file and the problem."""


def load_image(
    path: str | Path,
    *,
    max_side: int | None = DEFAULT_MAX_SIDE,
    max_bytes: int = MAX_FILE_BYTES,
    max_pixels: int = MAX_PIXELS,
) -> Image:
    """Read an image file into a contiguous RGB ``uint8`` array of shape (H, W, 3).

    Raises :class:`ImageError` (a ``ValueError``) naming the file when it is
    missing, not a regular file, too large, too many pixels, of an unknown
    format, truncated or otherwise undecodable.
    """
    p = Path(path)
    if max_side is not None and max_side < 1:
        raise ValueError(f"max_side must be >= 1 or None, got {max_side}")
    data = _read_checked(p, max_bytes)
    fmt = _sniff_format(data)
    declared = _declared_size(fmt, data, p)
    if declared is not None:
        _check_pixels(p, declared[0], declared[1], max_pixels)
    if fmt == "jpeg" and not _jpeg_complete(data):
        raise ImageError(f"{p}: truncated JPEG (no end-of-image marker after the image data)")

    buf = np.frombuffer(data, dtype=np.uint8)
    if fmt == "png" and _png_has_alpha(data):
        # IMREAD_COLOR would silently drop alpha; keep it and composite instead.
        decoded = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    else:
        flags = cv2.IMREAD_COLOR
        if fmt == "jpeg" and declared is not None and max_side is not None:
            flags = _JPEG_REDUCED.get(min(8, _shrink_factor(max(declared), max_side)), flags)
        # IMREAD_COLOR applies the EXIF orientation (and makes grey 3-channel).
        decoded = cv2.imdecode(buf, flags)
    if decoded is None or decoded.size == 0:
        what = fmt.upper() if fmt else "image"
        raise ImageError(f"{p}: cannot decode {what} data (corrupt, truncated or unsupported)")
    height, width = decoded.shape[:2]
    if declared is None:
        _check_pixels(p, width, height, max_pixels)
    if max_side is not None and max(height, width) > max_side:
        decoded = _shrink(decoded, _shrink_factor(max(height, width), max_side))
    try:
        return to_rgb(decoded)
    except ImageError as exc:
        raise ImageError(f"{p}: {exc}") from None


def to_rgb(frame: npt.NDArray[np.generic]) -> Image:
    """Normalise an image array to a contiguous RGB ``uint8`` array of shape (H, W, 3).

    Accepted: (H, W) grey, (H, W, 1) grey, (H, W, 3) BGR, (H, W, 4) BGRA
    (channel order as OpenCV gives it; alpha is composited over white).
    Dtypes: ``uint8`` as is; ``bool`` as 0/255; ``uint16``/``uint32`` scaled
    from their full range; signed integers clipped to 0..255; floats taken
    as 0..1 when no value exceeds 1, else clipped to 0..255. Raises
    :class:`ImageError` for empty, 1-D, oddly shaped, non-numeric or
    non-finite arrays. The input is never modified.
    """
    arr = np.asarray(frame)
    if arr.ndim not in (2, 3):
        raise ImageError(f"expected an image array of 2 or 3 dimensions, got shape {arr.shape}")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ImageError(f"empty image array of shape {arr.shape}")
    if arr.ndim == 3 and arr.shape[2] not in (1, 3, 4):
        raise ImageError(f"expected 1, 3 or 4 channels, got shape {arr.shape}")
    pixels = _to_uint8(arr)
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    if pixels.ndim == 2:
        out = as_image(cv2.cvtColor(np.ascontiguousarray(pixels), cv2.COLOR_GRAY2RGB))
    elif pixels.shape[2] == 3:
        out = as_image(cv2.cvtColor(np.ascontiguousarray(pixels), cv2.COLOR_BGR2RGB))
    else:
        out = _composite_bgra_over_white(pixels)
    return np.ascontiguousarray(out, dtype=np.uint8)


def to_bgr(frame: npt.NDArray[np.generic]) -> Image:
    """Like :func:`to_rgb` but in OpenCV's BGR order; a valid BGR uint8 frame is returned as is."""
    arr = np.asarray(frame)
    if arr.dtype == np.uint8 and arr.ndim == 3 and arr.shape[2] == 3 and arr.size > 0:
        return np.ascontiguousarray(arr)
    return as_image(cv2.cvtColor(to_rgb(arr), cv2.COLOR_RGB2BGR))


def downscale(frame: Image, max_width: int) -> tuple[Image, float]:
    """Shrink ``frame`` to at most ``max_width`` pixels wide, keeping the aspect ratio.

    Returns ``(small, scale)`` where ``small`` is ``frame`` resized by
    ``scale`` (<= 1.0). Map a coordinate found in ``small`` back to ``frame``
    by dividing it by ``scale``. A frame already narrow enough is returned
    as is (not copied) with scale 1.0.
    """
    if max_width < 1:
        raise ValueError(f"max_width must be >= 1, got {max_width}")
    if frame.ndim < 2 or frame.shape[0] < 1 or frame.shape[1] < 1:
        raise ImageError(f"cannot downscale an array of shape {frame.shape}")
    height, width = frame.shape[:2]
    if width <= max_width:
        return frame, 1.0
    scale = max_width / width
    new_height = max(1, round(height * scale))
    small = as_image(cv2.resize(frame, (max_width, new_height), interpolation=cv2.INTER_AREA))
    return small, scale


# --- file checks -------------------------------------------------------------


def _read_checked(p: Path, max_bytes: int) -> bytes:
    try:
        st = p.stat()
    except FileNotFoundError:
        raise ImageError(f"{p}: no such file") from None
    except OSError as exc:
        raise ImageError(f"{p}: cannot access file ({exc.strerror or exc})") from None
    if not p.is_file():
        raise ImageError(f"{p}: not a regular file")
    if st.st_size == 0:
        raise ImageError(f"{p}: empty file")
    if st.st_size > max_bytes:
        raise ImageError(
            f"{p}: file is {st.st_size / 1e6:.1f} MB, larger than the limit of "
            f"{max_bytes / 1e6:.1f} MB"
        )
    try:
        with p.open("rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise ImageError(f"{p}: cannot read file ({exc.strerror or exc})") from None
    if len(data) > max_bytes:  # grew between stat and read
        raise ImageError(f"{p}: file is larger than the limit of {max_bytes / 1e6:.1f} MB")
    return data


def _check_pixels(p: Path, width: int, height: int, max_pixels: int) -> None:
    if width < 1 or height < 1:
        raise ImageError(f"{p}: invalid image dimensions {width}x{height}")
    if width * height > max_pixels:
        raise ImageError(
            f"{p}: image is {width}x{height} ({width * height / 1e6:.1f} megapixels), more than "
            f"the limit of {max_pixels / 1e6:.0f} megapixels; use a smaller copy"
        )


def _sniff_format(data: bytes) -> str:
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"BM"):
        return "bmp"
    if len(data) >= 2 and data[0:1] == b"P" and data[1:2] in b"123456":
        return "pnm"
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "webp"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    return ""


def _declared_size(fmt: str, data: bytes, p: Path) -> tuple[int, int] | None:
    """(width, height) from the header, None when this format is not parsed here."""
    try:
        if fmt == "jpeg":
            return _jpeg_size(data)
        if fmt == "png":
            if data[12:16] != b"IHDR":
                raise ImageError(f"{p}: corrupt PNG (no IHDR header)")
            width, height = struct.unpack(">II", data[16:24])
            return int(width), int(height)
        if fmt == "bmp":
            (header_size,) = struct.unpack("<I", data[14:18])
            if header_size == 12:  # OS/2 BITMAPCOREHEADER: 16-bit dimensions
                width, height = struct.unpack("<HH", data[18:22])
            else:
                width, height = struct.unpack("<ii", data[18:26])
            return abs(int(width)), abs(int(height))
        if fmt == "pnm":
            return _pnm_size(data)
    except (struct.error, IndexError, ValueError) as exc:
        if isinstance(exc, ImageError):
            raise
        raise ImageError(f"{p}: corrupt {fmt.upper()} header") from None
    if fmt == "":
        raise ImageError(f"{p}: not an image file (unknown format)")
    return None


def _jpeg_size(data: bytes) -> tuple[int, int]:
    """Walk JPEG segments up to the first SOFn marker."""
    pos = 2
    n = len(data)
    while pos + 4 <= n:
        if data[pos] != 0xFF:
            raise ValueError("bad marker")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # standalone markers
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if length < 2:
            raise ValueError("bad segment length")
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return int(width), int(height)
        if marker == 0xDA:  # start of scan before any frame header
            break
        pos += 2 + length
    raise ValueError("no frame header")


def _jpeg_complete(data: bytes) -> bool:
    """True when an end-of-image marker follows the first start-of-scan.

    Inside entropy-coded data every 0xFF byte is stuffed, so 0xFFD9 after the
    scan starts can only be the real end marker (trailing bytes after it, as
    some cameras write, are fine).
    """
    sos = data.find(b"\xff\xda")
    return sos >= 0 and data.find(b"\xff\xd9", sos) >= 0


def _pnm_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PBM/PGM/PPM header (comments allowed)."""
    head = data[2:512]
    tokens: list[bytes] = []
    for line in head.split(b"\n"):
        line = line.split(b"#", 1)[0]
        tokens.extend(line.split())
        if len(tokens) >= 2:
            break
    width, height = int(tokens[0]), int(tokens[1])
    return width, height


def _png_has_alpha(data: bytes) -> bool:
    # IHDR colour type: 4 = grey + alpha, 6 = RGB + alpha.
    return len(data) > 25 and data[25] in (4, 6)


_JPEG_REDUCED = {
    2: cv2.IMREAD_REDUCED_COLOR_2,
    4: cv2.IMREAD_REDUCED_COLOR_4,
    8: cv2.IMREAD_REDUCED_COLOR_8,
}


def _shrink_factor(longest: int, max_side: int) -> int:
    """The smallest power of two f with longest / f <= max_side."""
    factor = 1
    while longest > max_side * factor:
        factor *= 2
    return factor


def _shrink(decoded: npt.NDArray[Any], factor: int) -> npt.NDArray[Any]:
    """Area-average by an integer factor (before RGB conversion: fewer pixels to convert)."""
    height, width = decoded.shape[:2]
    size = (max(1, -(-width // factor)), max(1, -(-height // factor)))
    out: npt.NDArray[Any] = np.asarray(cv2.resize(decoded, size, interpolation=cv2.INTER_AREA))
    return out


# --- pixel conversion --------------------------------------------------------


def _to_uint8(arr: npt.NDArray[np.generic]) -> Image:
    kind = arr.dtype.kind
    if arr.dtype == np.uint8:
        return as_image(arr)
    if kind == "b":
        return as_image(arr.astype(np.uint8) * np.uint8(255))
    if kind == "u":
        top = float(np.iinfo(arr.dtype.str).max)
        return np.rint(arr.astype(np.float64) * (255.0 / top)).astype(np.uint8)
    if kind == "i":
        return as_image(np.clip(arr, 0, 255))
    if kind == "f":
        values = arr.astype(np.float64)
        if not np.isfinite(values).all():
            raise ImageError("image array contains NaN or infinite values")
        if values.max(initial=0.0) <= 1.0:
            values = values * 255.0
        return np.rint(np.clip(values, 0.0, 255.0)).astype(np.uint8)
    raise ImageError(f"unsupported image array dtype {arr.dtype}")


def _composite_bgra_over_white(bgra: Image) -> Image:
    alpha = bgra[:, :, 3:4]
    bgr = bgra[:, :, :3]
    if bool((alpha == 255).all()):
        blended = bgr
    else:
        a = alpha.astype(np.float32) / 255.0
        blended = np.rint(bgr.astype(np.float32) * a + 255.0 * (1.0 - a)).astype(np.uint8)
    return as_image(cv2.cvtColor(np.ascontiguousarray(blended), cv2.COLOR_BGR2RGB))
