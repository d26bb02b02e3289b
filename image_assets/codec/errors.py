"""The codec's one exception type, so a batch can catch bad inputs without catching bugs."""


class CodecError(ValueError):
    """Bad input: not an image, truncated, corrupt or unsupported `.svdz`, impossible policy."""
