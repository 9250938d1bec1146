"""Encoding result pictures as image files (LiberTEM's ``libertem.common.viz``); the colour
mapping itself is in :mod:`ferrotem.viz`."""

from __future__ import annotations

from io import BytesIO
from typing import Any

import numpy as np

__all__ = ["encode_image"]


def encode_image(result: np.ndarray, save_kwargs: dict[str, Any] | None = None) -> BytesIO:
    """RGB(A) bytes as an image file in memory (PNG unless ``save_kwargs`` says otherwise;
    they go to ``PIL.Image.save``)."""
    from PIL import Image

    buf = BytesIO()
    Image.fromarray(np.asarray(result)).convert(mode="RGB").save(
        buf, **(save_kwargs or {"format": "png"})
    )
    buf.seek(0)
    return buf
