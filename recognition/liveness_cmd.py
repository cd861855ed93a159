"""``hadir liveness VIDEO --challenge blink|turn_left|turn_right|passive [--json]``.

Runs one liveness check on a recorded clip as if the kiosk had asked for it.
VIDEO may also be a still image, checked as a clip of that image held still
(so printed-photo and screen samples can be checked). Registered as
``"liveness"`` by :mod:`recognition.commands`. Top-level imports stay light;
numpy, OpenCV and dlib load inside ``run``.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from hadir.command import Command, CommandError, add_config_argument, config_from_args
from recognition.config import DetectorSection, RecognitionConfig

CHOICES = ("blink", "turn_left", "turn_right", "passive")


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("video", type=Path, help="a video file, or a still image")
    parser.add_argument(
        "--challenge", required=True, choices=CHOICES, help="the check the kiosk asks for"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--mirrored",
        action="store_true",
        help="the clip is mirrored (a selfie preview): swaps turn_left and turn_right",
    )
    parser.add_argument("--detector", choices=("hog", "yunet"), help="override the config")
    parser.add_argument("--yunet-model", help="YuNet ONNX file (with --detector yunet)")
    parser.add_argument(
        "--detect-width",
        type=int,
        help="detector working width (default: at least the frame width; twice it for hog)",
    )
    parser.add_argument(
        "--face-at",
        type=_point,
        metavar="X,Y",
        help="follow the face nearest this pixel of the frame (default: the largest face)",
    )
    add_config_argument(parser)


def detector_from_args(det: DetectorSection, args: argparse.Namespace) -> DetectorSection:
    """``[recognition.detector]`` with ``--detector`` / ``--yunet-model`` applied."""
    if args.detector:
        det = det.model_copy(update={"backend": args.detector})
    if args.yunet_model:
        det = det.model_copy(update={"yunet_model": args.yunet_model})
    return det


def _point(text: str) -> tuple[float, float]:
    parts = text.split(",")
    try:
        x, y = (float(v) for v in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected two pixel coordinates X,Y such as 120,100, got {text!r}"
        ) from None
    if not all(map(math.isfinite, (x, y))) or min(x, y) < 0:
        raise argparse.ArgumentTypeError(f"coordinates must be finite and >= 0, got {text!r}")
    return x, y


def _run(args: argparse.Namespace) -> int:
    from recognition.faces import FaceModels, ModelError, make_detector
    from recognition.liveness import check_clip
    from recognition.liveness_clip import ClipError, clip_landmarks, first_frame_width

    cfg = config_from_args(args, RecognitionConfig, data_dir_key=None)
    det = detector_from_args(cfg.recognition.detector, args)
    params = cfg.recognition.liveness
    try:
        width = args.detect_width
        if width is None:
            # Recorded clips are often small (480x270) with small faces that the
            # kiosk's downscaled detection would miss: never shrink the frame, and
            # enlarge it for HOG (it finds faces from about 80 px wide only).
            frame_width = first_frame_width(args.video)
            if det.backend == "hog":
                frame_width = min(2 * frame_width, 1280)
            width = max(det.detect_width, frame_width)
        if width < 80:
            raise CommandError(f"--detect-width must be >= 80, got {width}")
        detector = make_detector(det.backend, det.yunet_model, width, det.upsample, 0.7)
        models = FaceModels(with_68=True)
        landmarks, stamps = clip_landmarks(args.video, detector, models, args.face_at)
    except (ClipError, ModelError, ValueError) as exc:
        raise CommandError(str(exc)) from None
    result = check_clip(landmarks, stamps, args.challenge, params, mirrored=args.mirrored)
    faces = sum(1 for p in landmarks if p is not None)
    if args.json:
        out = {"live": result.live, "score": round(result.score, 4), "reason": result.reason}
        out.update({"challenge": args.challenge, "frames": len(landmarks), "face_frames": faces})
        print(json.dumps(out))
        return 0
    print(f"clip        {args.video} ({len(landmarks)} frames, a face in {faces})")
    print(f"challenge   {args.challenge}")
    print(f"live        {'yes' if result.live else 'no'}")
    print(f"score       {result.score:.4f}")
    print(f"reason      {result.reason}")
    if faces < len(landmarks) / 2:
        print(
            f"note        the followed face was found in only {faces} of {len(landmarks)} "
            "frames; HOG misses tilted heads, try --detector yunet"
        )
    return 0


LIVENESS_COMMAND = Command(
    help="run a liveness check (blink, head turn or passive) on a recorded clip or image",
    add_arguments=_add_arguments,
    run=_run,
)
