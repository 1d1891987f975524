"""Thumbnails of image evidence, made with Pillow: at most 320 px a side, JPEG, upright by EXIF."""

from __future__ import annotations

import io
import logging
import warnings

from PIL import Image, ImageOps, UnidentifiedImageError

log = logging.getLogger(__name__)

SIZE = (320, 320)
#: Larger images are not decoded: a small file can claim a huge canvas (a decompression bomb).
MAX_PIXELS = 60_000_000


def make_thumbnail(data: bytes) -> bytes | None:
    """A JPEG thumbnail of an image, or None if Pillow cannot read it (or it is too large to decode safely)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                if image.width * image.height > MAX_PIXELS:
                    return None
                image.draft("RGB", SIZE)  # JPEG: decode at a reduced scale, which is faster and smaller
                upright = ImageOps.exif_transpose(image)
                upright.thumbnail(SIZE)
                if upright.mode not in ("RGB", "L"):
                    background = Image.new("RGB", upright.size, "white")
                    rgba = upright.convert("RGBA")
                    background.paste(rgba, mask=rgba.getchannel("A"))
                    upright = background
                out = io.BytesIO()
                upright.save(out, "JPEG", quality=82, optimize=True)
                return out.getvalue()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        log.info("no thumbnail: the image cannot be read", exc_info=False)
        return None
