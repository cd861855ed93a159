"""The embedding models this build knows: name and version on the wire, vector length.

Kept free of OpenCV and dlib so the gallery, the kiosk's helper process and
the tests can ask what a template is without loading a network.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

REID_NAME: Final = "face-reidentification-retail-0095"
#: Open Model Zoo release of the weights (the shipped ONNX file is their FP32 conversion).
REID_VERSION: Final = "omz-2023.0"
REID_DIM: Final = 256

DLIB_NAME: Final = "dlib_face_recognition_resnet_model_v1"
DLIB_VERSION: Final = "1"
DLIB_DIM: Final = 128


@dataclass(frozen=True)
class ModelInfo:
    """What a template of this model is: name and version on the wire, and its length."""

    name: str
    version: str
    dim: int
    licence: str


#: Every embedding model this build knows, by ``[recognition] model`` name.
MODELS: Final[dict[str, ModelInfo]] = {
    REID_NAME: ModelInfo(REID_NAME, REID_VERSION, REID_DIM, "Apache-2.0"),
    DLIB_NAME: ModelInfo(DLIB_NAME, DLIB_VERSION, DLIB_DIM, "CC0 / Boost (dlib, Davis King)"),
}
DEFAULT_MODEL: Final = REID_NAME


def model_info(name: str) -> ModelInfo:
    """The :class:`ModelInfo` of ``name``; ValueError naming the known models otherwise."""
    try:
        return MODELS[name]
    except KeyError:
        known = ", ".join(repr(k) for k in MODELS)
        raise ValueError(f"unknown face model {name!r} (known: {known})") from None


def model_dim(name: str) -> int | None:
    """The vector length of a known model, ``None`` for an unknown one."""
    info = MODELS.get(name)
    return info.dim if info is not None else None
