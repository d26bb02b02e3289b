"""Small crops of the bundled real photos keep the codec tests fast but honest."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

PHOTOS = Path(__file__).resolve().parents[2] / "image_assets" / "data" / "photos"


def photo(name: str) -> np.ndarray:
    with Image.open(PHOTOS / name) as img:
        return np.asarray(img.convert("L" if img.mode in ("L", "I;16") else "RGB"))


def file_bytes(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


@pytest.fixture(scope="session")
def rgb_crop() -> np.ndarray:
    return np.ascontiguousarray(photo("astronaut.png")[40:168, 180:340])  # 128x160, face and suit


@pytest.fixture(scope="session")
def gray_crop() -> np.ndarray:
    return np.ascontiguousarray(photo("camera.png")[60:180, 150:270])


@pytest.fixture(scope="session")
def coffee_crop() -> np.ndarray:
    return np.ascontiguousarray(photo("coffee.png")[100:244, 150:342])
