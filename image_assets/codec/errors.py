"""The codec's one exception type, so a batch can catch bad inputs without catching bugs."""


class CodecError(ValueError):
    """Bad input: not an image, truncated, corrupt or unsupported `.svdz`, impossible policy."""


class ImageTooLarge(CodecError):
    """More pixels than the caller allows (`max_pixels`) or than Pillow's decompression-bomb guard allows."""
