"""SVD image codec: truncated SVD of colour planes or tiles, quantised factors, a zstd `.svdz` container.

Pure numpy/scipy/Pillow/scikit-image/zstandard: nothing here knows about orchestration or storage.
See FORMAT.md for the file layout.
"""

from image_assets.codec.api import (
    SVDZ_SUFFIX,
    EncodeResult,
    compress_image,
    decode,
    encode,
    encode_pixels,
    inspect,
)
from image_assets.codec.errors import CodecError, ImageTooLarge
from image_assets.codec.loading import load_image
from image_assets.codec.policy import RankPolicy
from image_assets.codec.threads import blas_threads

__all__ = [
    "SVDZ_SUFFIX",
    "CodecError",
    "EncodeResult",
    "ImageTooLarge",
    "RankPolicy",
    "blas_threads",
    "compress_image",
    "decode",
    "encode",
    "encode_pixels",
    "inspect",
    "load_image",
]
