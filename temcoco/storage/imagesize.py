"""Image sizes from file headers, without decoding (a 1 MB PNG can decode to gigabytes).

Supports the frame-folder formats (PNG, JPEG, TIFF); :func:`header_size` returns None for
anything it cannot read, and the caller then decodes as usual.
"""

from __future__ import annotations

import io
import struct

_PNG = b"\x89PNG\r\n\x1a\n"
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}  # JPEG start-of-frame markers


def header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a PNG, JPEG or TIFF image from its header, or None."""
    if data.startswith(_PNG) and len(data) >= 24 and data[12:16] == b"IHDR":
        return struct.unpack(">II", data[16:24])
    if data.startswith(b"\xff\xd8"):
        return _jpeg_size(data)
    if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return _tiff_size(data)
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """Walk the JPEG segments to the first start-of-frame marker."""
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        length = struct.unpack(">H", data[i + 2 : i + 4])[0]
        if marker in _SOF:
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height
        i += 2 + length
    return None


def _tiff_size(data: bytes) -> tuple[int, int] | None:
    import tifffile

    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            page = tif.pages[0]
            return int(page.imagewidth), int(page.imagelength)
    except (ValueError, OSError, IndexError, tifffile.TiffFileError):
        return None
