"""Where dlib's model files are (the ``face_recognition_models`` package).

Kept apart from :mod:`recognition.faces` so the kiosk's embedding helper
process can find the models without importing OpenCV.
"""

from __future__ import annotations

from pathlib import Path


def model_paths() -> dict[str, Path]:
    """Files of dlib's models in ``face_recognition_models``: five, sixtyeight, resnet."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import face_recognition_models as frm

    return {
        "five": Path(frm.pose_predictor_five_point_model_location()),
        "sixtyeight": Path(frm.pose_predictor_model_location()),
        "resnet": Path(frm.face_recognition_model_location()),
    }
