"""``hadir evaluate``, ``hadir bench``, ``hadir liveness`` and ``hadir fingerprint``.

Top-level imports stay light; numpy, OpenCV and dlib load inside ``run``.
Settings come from config.toml ([recognition.*]) and can be overridden by
flags for experiments.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

from hadir.command import Command, CommandError, add_config_argument, config_from_args
from recognition.config import DetectorSection, MatchSection, RecognitionConfig
from recognition.liveness_cmd import LIVENESS_COMMAND, detector_from_args

DEFAULT_VIDEO_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "video"


def _engine_args(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)
    parser.add_argument("--detector", choices=("hog", "yunet"), help="override the config")
    parser.add_argument("--yunet-model", help="YuNet ONNX file (with --detector yunet)")
    parser.add_argument(
        "--model",
        choices=("face-reidentification-retail-0095", "dlib_face_recognition_resnet_model_v1"),
        help="override [recognition] model",
    )
    parser.add_argument(
        "--mirror",
        action="store_true",
        help="Intel model: average the crop's and its mirror image's embeddings (experiment)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _model(args: argparse.Namespace) -> str:
    """The embedding model: ``--model`` or ``[recognition] model``."""
    if args.model:
        return str(args.model)
    return config_from_args(args, RecognitionConfig, data_dir_key=None).recognition.model


def _settings(args: argparse.Namespace) -> tuple[DetectorSection, MatchSection]:
    """(detector section, match section) from config plus flag overrides."""
    cfg = config_from_args(args, RecognitionConfig, data_dir_key=None)
    return detector_from_args(cfg.recognition.detector, args), cfg.recognition.match


# -- evaluate -------------------------------------------------------------


def _evaluate_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", type=Path, help="one folder per person with their images")
    parser.add_argument(
        "--gallery-per-person",
        type=int,
        default=2,
        metavar="K",
        help="enrollment images per person in the gallery (default 2)",
    )
    parser.add_argument("--folds", type=int, default=5, help="identity folds held out in turn")
    parser.add_argument(
        "--seed", type=int, default=0, help="first split of identities and images (default 0)"
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=1,
        metavar="N",
        help="also run N-1 more splits (seeds seed+1...) and report each and their pool",
    )
    parser.add_argument("--threshold", type=float, help="override the match threshold")
    parser.add_argument(
        "--same-person",
        action="append",
        default=[],
        metavar="A=B",
        help="count folders A and B as one identity (a dataset's known label error, "
        "e.g. lfw-dev's Joseph_Blatter=Sepp_Blatter); repeatable",
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="processes computing embeddings (default 2)"
    )
    parser.add_argument("--no-cache", action="store_true", help="do not reuse embeddings")
    _engine_args(parser)


def _finite(value: Any) -> Any:
    """NaN/inf (an undefined rate) become null so --json stays valid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _json(out: dict[str, Any]) -> str:
    return json.dumps(_finite(out), allow_nan=False)


def _fmt(x: float) -> str:
    return "n/a" if isinstance(x, float) and math.isnan(x) else f"{x * 100:.2f} %"


def _run_evaluate(args: argparse.Namespace) -> int:
    from recognition.embedcache import PipelineSettings, default_cache_dir, embed_dataset
    from recognition.evaluate import EvalSettings, report
    from recognition.faces import ModelError

    if args.gallery_per_person < 1:
        raise CommandError("--gallery-per-person must be >= 1")
    if args.repeats < 1:
        raise CommandError("--repeats must be >= 1")
    det, params = _settings(args)
    if args.threshold is not None:
        changes = {
            "threshold": args.threshold,
            "review_threshold": max(args.threshold, params.review_threshold),
        }
        try:
            params = MatchSection.model_validate({**params.model_dump(), **changes})
        except ValueError as exc:
            raise CommandError(f"--threshold: {exc}") from None
    settings = PipelineSettings(
        det.backend,
        det.yunet_model,
        det.detect_width,
        det.upsample,
        model=_model(args),
        mirror=args.mirror,
    )
    try:
        data = embed_dataset(
            args.dir,
            settings,
            workers=max(1, args.workers),
            cache_dir=None if args.no_cache else default_cache_dir(),
        )
    except (FileNotFoundError, ValueError, ModelError) as exc:
        raise CommandError(str(exc)) from None
    aliases: dict[str, str] = {}
    for pair in args.same_person:
        a, sep, b = pair.partition("=")
        if not sep or not a or not b:
            raise CommandError(f"--same-person expects A=B, got {pair!r}")
        aliases[a] = b
    if aliases:
        data = replace(data, persons=[aliases.get(p, p) for p in data.persons])
    out = report(
        data, EvalSettings(args.gallery_per_person, args.folds, args.seed), params, args.repeats
    )
    out["same_person"] = sorted(f"{a}={b}" for a, b in aliases.items())
    out["dataset"] = str(args.dir)
    out["detector"] = det.backend
    out["model"] = settings.model
    out["mirror"] = settings.mirror
    if args.json:
        print(_json(out))
        return 0
    print(f"dataset            {args.dir}")
    print(f"identities         {out['identities']}")
    print(f"images             {out['images']}")
    print(f"failures to enroll {out['fte']} images without a usable face")
    print(f"gallery            {out['gallery_per_person']} templates per person, ", end="")
    print(f"~{out['enrolled_per_fold']} people enrolled per fold (open set)")
    print(f"genuine attempts   {out['genuine']}")
    print(f"impostor attempts  {out['impostor']} (people not enrolled)")
    print(
        f"threshold          {out['threshold']} (min margin {out['min_margin']}, "
        f"cohort ratio {out['max_cohort_ratio']}, "
        f"runner-up ratio {out['max_runner_up_ratio']}, "
        f"mean template {'on' if out['mean_template'] else 'off'})"
    )
    print(f"false accept rate  {_fmt(out['far'])} ({out['false_accepts']})")
    print(f"false reject rate  {_fmt(out['frr'])}")
    print(f"misidentified      {out['misidentified']} genuine probes accepted as someone else")
    print(f"rank-1             {_fmt(out['rank1'])}")
    print("\nthreshold      FAR        FRR")
    for row in out["thresholds"]:
        print(f"  {row['threshold']:.2f}   {_fmt(row['far']):>9}  {_fmt(row['frr']):>9}")
    if "splits" in out:
        print("\nsplit (seed)   false accepts      FAR        FRR")
        for s in out["splits"]:
            print(
                f"  {s['seed']:>4}       {s['false_accepts']:>5} / {s['impostor']:<6}"
                f"{_fmt(s['far']):>9}  {_fmt(s['frr']):>9}"
            )
        pooled = out["pooled"]
        print(
            f"  pooled     {pooled['false_accepts']:>5} / {pooled['impostor']:<6}"
            f"{_fmt(pooled['far']):>9}  {_fmt(pooled['frr']):>9}"
        )
    return 0


# -- bench ----------------------------------------------------------------


def _bench_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("videos", nargs="*", type=Path, help="clips (default: shared videos)")
    parser.add_argument("--frames", type=int, default=24, help="frames per clip")
    parser.add_argument("--no-naive", action="store_true", help="skip the naive baseline")
    _engine_args(parser)


def _run_bench(args: argparse.Namespace) -> int:
    import numpy as np

    from recognition.bench import BenchSettings, run_bench
    from recognition.faces import FaceEngine, FaceModels, ModelError, make_detector
    from recognition.gallery import Gallery, Template

    if args.frames < 1:
        raise CommandError("--frames must be >= 1")
    det, _ = _settings(args)
    clips = list(args.videos)
    if not clips:
        if not DEFAULT_VIDEO_DIR.is_dir():
            raise CommandError(f"no clips given and {DEFAULT_VIDEO_DIR} does not exist")
        clips = sorted(DEFAULT_VIDEO_DIR.glob("*.mp4"))
    for clip in clips:
        if not clip.is_file():
            raise CommandError(f"video not found: {clip}")
    try:
        engine = FaceEngine(
            make_detector(det.backend, det.yunet_model, det.detect_width, det.upsample, 0.7),
            FaceModels(model=_model(args), mirror=args.mirror),
        )
    except ModelError as exc:
        raise CommandError(str(exc)) from None
    info = engine.models.info
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((1000, info.dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    gallery = Gallery.build(
        [Template(f"p{i // 2}", v, str(i), info.name, info.version) for i, v in enumerate(vectors)],
        None,
        info.name,
        info.version,
    )
    try:
        out = run_bench(
            engine,
            clips,
            BenchSettings(max_frames_per_clip=args.frames),
            gallery,
            naive=not args.no_naive,
        )
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    out["detector"] = det.backend
    out["model"] = info.name
    if args.json:
        print(_json(out))
        return 0
    for key, value in out.items():
        print(f"{key:24} {value}")
    return 0


# -- fingerprint --------------------------------------------------------------


def _fingerprint_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("port", help="serial port of the module, e.g. /dev/ttyUSB0 or /dev/serial0")
    parser.add_argument("--baud", type=int, default=57600, help="serial line speed (default 57600)")
    parser.add_argument("--password", type=lambda s: int(s, 0), default=0, help="module password")
    parser.add_argument(
        "--identify", action="store_true", help="also search the finger on the sensor now"
    )
    parser.add_argument(
        "--delete",
        type=_slot_list,
        metavar="SLOTS",
        help="delete these slots (comma separated) from the module, e.g. after erase-person",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _slot_list(text: str) -> list[int]:
    try:
        slots = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected slot numbers such as 3,7, got {text!r}"
        ) from None
    if not slots or any(not 0 <= s <= 0xFFFF for s in slots):
        raise argparse.ArgumentTypeError(f"slots are 0-65535, got {text!r}")
    return slots


def _run_fingerprint(args: argparse.Namespace) -> int:
    from recognition.fingerprint import (
        FingerprintError,
        FingerprintModule,
        check_module,
        open_serial,
    )

    try:
        module = FingerprintModule(open_serial(args.port, args.baud), password=args.password)
        if args.delete:
            module.verify_password()
            for slot in args.delete:
                module.delete(slot)
        out = check_module(module, args.identify)
        if args.delete:
            out["deleted"] = list(args.delete)
    except FingerprintError as exc:
        raise CommandError(str(exc)) from None
    out = {"port": args.port, **out}
    if args.json:
        print(_json(out))
    else:
        for key, value in out.items():
            print(f"{key:10} {value}")
    return 0


COMMANDS: dict[str, Command] = {
    "evaluate": Command(
        help="measure FAR/FRR/rank-1 of the matcher on a folder-per-person dataset",
        add_arguments=_evaluate_args,
        run=_run_evaluate,
    ),
    "bench": Command(
        help="median per-stage latency of the per-frame step vs the naive approach",
        add_arguments=_bench_args,
        run=_run_bench,
    ),
    "liveness": LIVENESS_COMMAND,
    "fingerprint": Command(
        help="check a UART fingerprint module (R307/R503/AS608): password, library size",
        add_arguments=_fingerprint_args,
        run=_run_fingerprint,
    ),
}
