"""Turn image file bytes (JPEG, PNG, WebP, TIFF, BMP, ...) into a uint8 array the codec can encode."""

from __future__ import annotations

import io
import struct
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from image_assets.codec.errors import CodecError, ImageTooLarge

_DECODE_ERRORS = (OSError, ValueError, SyntaxError, struct.error, EOFError, IndexError, TypeError, KeyError)


def load_image(data: bytes, *, max_pixels: int | None = None, keep_alpha: bool = True) -> np.ndarray:
    """Decode file bytes to uint8 HxW (grey) or HxWxC (C in 2, 3, 4), EXIF orientation applied.

    Pillow's decompression-bomb guard stays on; `max_pixels` tightens it per call without touching
    Pillow's global setting. Any failure is a one-line `CodecError`.
    """
    if not data:
        raise CodecError("empty input (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(bytes(data))) as img:
                width, height = img.size
                if max_pixels is not None and width * height > max_pixels:
                    raise ImageTooLarge(
                        f"image is {width}x{height} = {width * height} pixels, over the limit of {max_pixels}"
                    )
                img.load()
                oriented = ImageOps.exif_transpose(img) or img
                return _to_array(oriented, keep_alpha)
    except CodecError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLarge(f"image too large: {exc}") from None
    except UnidentifiedImageError:
        raise CodecError("not a recognised image file") from None
    except _DECODE_ERRORS as exc:
        raise CodecError(f"cannot decode image: {exc}") from None


def _to_array(img: Image.Image, keep_alpha: bool) -> np.ndarray:
    mode = img.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        # 16-bit grey (PNG/TIFF): scale 0..65535 to 0..255 rather than clip.
        wide = np.asarray(img, dtype=np.float64)
        peak = 65535.0 if mode.startswith("I;16") or wide.max(initial=0) > 255 else 255.0
        return np.clip(np.rint(wide * (255.0 / peak)), 0, 255).astype(np.uint8)
    if mode == "F":
        return np.clip(np.rint(np.asarray(img, dtype=np.float64)), 0, 255).astype(np.uint8)
    has_alpha = mode in ("LA", "La", "PA", "RGBA", "RGBa") or (mode == "P" and "transparency" in img.info)
    grey = mode in ("1", "L", "LA", "La")
    base = "L" if grey else "RGB"
    target = base + "A" if has_alpha and keep_alpha else base
    if mode != target:
        img = img.convert(target)
    return np.ascontiguousarray(np.asarray(img, dtype=np.uint8))
