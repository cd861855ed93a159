"""Embedding a folder-per-person dataset, in parallel, with an on-disk cache.

The cache is a plain ``.npz`` of arrays (never a pickle; loaded with
``allow_pickle=False``) in the user's cache directory, keyed by the dataset
path and the pipeline settings, and invalidated per file by size and content hash.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import zipfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from recognition.images import IMAGE_SUFFIXES
from recognition.modelinfo import DEFAULT_MODEL, model_info

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PipelineSettings:
    detector: str = "hog"
    yunet_model: str = ""
    detect_width: int = 320
    upsample: int = 0
    jitters: int = 0
    # Photo datasets label the centred face; a bystander may be larger.
    main_face: Literal["largest", "central"] = "central"
    # The embedding model (recognition.modelinfo) and, for the Intel model,
    # whether the mirrored crop is averaged in (part of what a vector means).
    model: str = DEFAULT_MODEL
    mirror: bool = False

    @property
    def dim(self) -> int:
        return model_info(self.model).dim


@dataclass(frozen=True)
class DatasetEmbeddings:
    """Per image: person, path, and the embedding (NaN row when no usable face)."""

    persons: list[str]
    paths: list[str]
    vectors: npt.NDArray[np.float32]  # (n, dim), NaN where no face
    model: str = DEFAULT_MODEL

    @property
    def ok(self) -> npt.NDArray[np.bool_]:
        return np.asarray(np.isfinite(self.vectors).all(axis=1))


def list_dataset(root: Path) -> list[tuple[str, Path]]:
    """``(person, image path)`` for every image in ``root/<person>/``."""
    if not root.is_dir():
        raise FileNotFoundError(f"dataset folder not found: {root}")
    out: list[tuple[str, Path]] = []
    for person_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for img in sorted(person_dir.iterdir()):
            if img.is_file() and img.suffix.lower() in IMAGE_SUFFIXES:
                out.append((person_dir.name, img))
    if not out:
        raise ValueError(f"{root}: no person folders with images (expected DIR/<person>/<image>)")
    return out


def _embed_chunk(args: tuple[list[str], PipelineSettings]) -> list[list[float] | None]:
    """Worker: build the models once per chunk, embed each image's main face."""
    from recognition.faces import FaceEngine, FaceModels, make_detector
    from recognition.images import ImageError, load_image

    paths, settings = args
    detector = make_detector(
        settings.detector, settings.yunet_model, settings.detect_width, settings.upsample, 0.7
    )
    engine = FaceEngine(detector, FaceModels(model=settings.model, mirror=settings.mirror))
    out: list[list[float] | None] = []
    for path in paths:
        try:
            rgb = load_image(Path(path))
        except ImageError as exc:
            log.warning("skipping unreadable image: %s", exc)
            out.append(None)
            continue
        result = engine.analyze(
            rgb, gate=False, jitters=settings.jitters, main_face=settings.main_face
        )
        out.append(None if result.embedding is None else result.embedding.tolist())
    return out


def _cache_file(root: Path, settings: PipelineSettings, cache_dir: Path) -> Path:
    key = json.dumps({"root": str(root.resolve()), **asdict(settings)}, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:20]
    return cache_dir / f"{root.name}-{digest}.npz"


def _stamp(path: Path) -> str:
    """Size and content hash: a copied or re-mounted dataset (new mtimes) keeps
    its cache, an edited image does not."""
    data = path.read_bytes()
    return f"{len(data)}:{hashlib.sha256(data).hexdigest()[:24]}"


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hadir" / "embeddings"


def embed_dataset(
    root: Path,
    settings: PipelineSettings,
    *,
    workers: int = 2,
    cache_dir: Path | None = None,
) -> DatasetEmbeddings:
    items = list_dataset(root)
    persons = [p for p, _ in items]
    paths = [str(p) for _, p in items]
    # Cache rows are keyed by the path inside the dataset, so "../data/x" and
    # "/abs/data/x" share one cache.
    keys = [p.relative_to(root).as_posix() for _, p in items]
    stamps = [_stamp(p) for _, p in items]
    cached: dict[str, tuple[str, npt.NDArray[np.float32]]] = {}
    cache_path = _cache_file(root, settings, cache_dir) if cache_dir else None
    if cache_path is not None and cache_path.is_file():
        try:
            with np.load(cache_path, allow_pickle=False) as data:
                for p, s, v in zip(data["paths"], data["stamps"], data["vectors"], strict=True):
                    if v.shape == (settings.dim,):
                        cached[str(p)] = (str(s), v.astype(np.float32))
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            log.warning("ignoring unreadable embedding cache %s: %s", cache_path, exc)
            cached = {}
    vectors = np.full((len(paths), settings.dim), np.nan, dtype=np.float32)
    todo: list[int] = []
    for i, (p, s) in enumerate(zip(keys, stamps, strict=True)):
        hit = cached.get(p)
        if hit is not None and hit[0] == s:
            vectors[i] = hit[1]
        else:
            todo.append(i)
    if todo:
        _compute(paths, todo, vectors, settings, workers)
        if cache_path is not None:
            cache_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache_path.with_suffix(".tmp.npz")
            np.savez(tmp, paths=np.array(keys), stamps=np.array(stamps), vectors=vectors)
            tmp.replace(cache_path)
    return DatasetEmbeddings(persons=persons, paths=paths, vectors=vectors, model=settings.model)


def _compute(
    paths: Sequence[str],
    todo: list[int],
    vectors: npt.NDArray[np.float32],
    settings: PipelineSettings,
    workers: int,
) -> None:
    todo_paths = [paths[i] for i in todo]
    n = max(1, min(workers, len(todo_paths)))
    chunks = [todo_paths[k::n] for k in range(n)]
    if n == 1:
        results = [_embed_chunk((chunks[0], settings))]
    else:
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(n) as pool:
            results = pool.map(_embed_chunk, [(c, settings) for c in chunks])
    for k, res in enumerate(results):
        for j, vec in enumerate(res):
            idx = todo[k + j * n]
            if vec is not None:
                vectors[idx] = np.asarray(vec, dtype=np.float32)
