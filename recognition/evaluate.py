"""Open-set evaluation of the matcher on a folder-per-person dataset.

The kiosk meets mostly people who may not be enrolled, so the evaluation is
open-set: identities are split into folds; in each fold one fold's
identities are held out of the gallery and every image of theirs is an
impostor attempt, while every other identity is enrolled with K images and
probes with the rest (genuine attempts). Each probe is decided by the same
rule the kiosk applies to one frame (:func:`recognition.decision.decide_single`).

Counted per attempt:
- genuine: accepted as the right person (correct), accepted as someone else
  (a misidentification: a false reject, reported on its own as well because
  at a kiosk it punches the wrong person), or not accepted (false reject);
- impostor: accepted as anyone is a false accept (FAR = false accepts over
  impostor attempts).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from recognition.config import MatchSection
from recognition.decision import Outcome, decide_single
from recognition.embedcache import DatasetEmbeddings
from recognition.gallery import Gallery, SearchResult, Template
from recognition.modelinfo import model_info


@dataclass(frozen=True)
class EvalSettings:
    gallery_per_person: int = 2
    folds: int = 5
    seed: int = 0


@dataclass
class Attempts:
    """Search results of every probe, kept so thresholds can be swept."""

    genuine: list[tuple[str, SearchResult | None]] = field(default_factory=list)
    impostor: list[SearchResult | None] = field(default_factory=list)


@dataclass(frozen=True)
class Rates:
    threshold: float
    far: float
    frr: float
    false_accepts: int
    false_rejects: int
    misidentified: int


def collect_attempts(
    data: DatasetEmbeddings, settings: EvalSettings, *, mean_templates: bool = False
) -> tuple[Attempts, int]:
    """Run every fold; returns the attempts and the number of enrolled identities
    per fold on average (for the report). ``mean_templates`` builds each fold's
    gallery as the kiosk does with ``match.mean_template``."""
    rng = np.random.default_rng(settings.seed)
    info = model_info(data.model)
    usable: dict[str, list[int]] = defaultdict(list)
    for i, person in enumerate(data.persons):
        if data.ok[i]:
            usable[person].append(i)
    identities = sorted(set(data.persons))
    order = list(rng.permutation(len(identities)))
    shuffled = [identities[i] for i in order]
    # The K enrollment images of each person are drawn once, seeded.
    chosen = {p: [int(i) for i in rng.permutation(idx)] for p, idx in usable.items()}
    k = settings.gallery_per_person
    folds = max(2, min(settings.folds, len(identities)))
    attempts = Attempts()
    enrolled_total = 0
    for f in range(folds):
        held = set(shuffled[f::folds])
        templates: list[Template] = []
        probes: list[tuple[str, int]] = []
        for person, idx in chosen.items():
            if person in held or len(idx) < k:
                continue
            templates += [
                Template(person, data.vectors[i], str(i), info.name, info.version) for i in idx[:k]
            ]
            probes += [(person, i) for i in idx[k:]]
        gallery = Gallery.build(
            templates, None, info.name, info.version, mean_templates=mean_templates
        )
        enrolled_total += len(gallery.persons)
        if probes:
            results = gallery.search_many(data.vectors[[i for _, i in probes]])
            attempts.genuine += [(p, r) for (p, _), r in zip(probes, results, strict=True)]
        impostors = [i for p in held for i in usable.get(p, [])]
        if impostors:
            attempts.impostor += gallery.search_many(data.vectors[impostors])
    return attempts, round(enrolled_total / folds)


def rates(attempts: Attempts, params: MatchSection) -> Rates:
    fa = fr = mis = 0
    for truth, result in attempts.genuine:
        d = decide_single(result, params)
        if d.outcome is Outcome.MATCH and d.person_id == truth:
            continue
        fr += 1
        if d.outcome is Outcome.MATCH:
            mis += 1
    for result in attempts.impostor:
        if decide_single(result, params).outcome is Outcome.MATCH:
            fa += 1
    n_gen, n_imp = len(attempts.genuine), len(attempts.impostor)
    return Rates(
        threshold=params.threshold,
        far=fa / n_imp if n_imp else math.nan,
        frr=fr / n_gen if n_gen else math.nan,
        false_accepts=fa,
        false_rejects=fr,
        misidentified=mis,
    )


def rank1(attempts: Attempts) -> float:
    if not attempts.genuine:
        return math.nan
    hits = sum(1 for truth, r in attempts.genuine if r is not None and r.person_id == truth)
    return hits / len(attempts.genuine)


def sweep(attempts: Attempts, params: MatchSection, thresholds: Sequence[float]) -> list[Rates]:
    out = []
    for t in thresholds:
        p = params.model_copy(
            update={"threshold": t, "review_threshold": max(t, params.review_threshold)}
        )
        out.append(rates(attempts, p))
    return out


def report(
    data: DatasetEmbeddings, settings: EvalSettings, params: MatchSection, repeats: int = 1
) -> dict[str, Any]:
    """The evaluation as one JSON-ready dict (keys documented in the README).

    With ``repeats`` > 1 the whole evaluation is run again with the seeds
    ``seed + 1``, ``seed + 2``, ... (other identity folds and other enrollment
    images): ``splits`` lists each run and ``pooled`` sums their attempts. A
    false accept rate of 0.1 % rests on a handful of attempts, so one split
    can be lucky; the top-level figures stay those of ``seed``.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    attempts, enrolled = collect_attempts(data, settings, mean_templates=params.mean_template)
    at = rates(attempts, params)
    # Around the configured threshold (dlib's distances and the Intel model's differ in scale).
    grid = sorted(
        {round(params.threshold + x, 2) for x in np.arange(-0.20, 0.13, 0.04)} | {params.threshold}
    )
    grid = [t for t in grid if t >= 0]
    table = sweep(attempts, params, grid)
    return {
        "identities": len(set(data.persons)),
        "images": len(data.paths),
        "fte": int((~data.ok).sum()),
        "gallery_per_person": settings.gallery_per_person,
        "enrolled_per_fold": enrolled,
        "genuine": len(attempts.genuine),
        "impostor": len(attempts.impostor),
        "threshold": params.threshold,
        "min_margin": params.min_margin,
        "max_cohort_ratio": params.max_cohort_ratio,
        "max_runner_up_ratio": params.max_runner_up_ratio,
        "mean_template": params.mean_template,
        "far": at.far,
        "frr": at.frr,
        "false_accepts": at.false_accepts,
        "misidentified": at.misidentified,
        "misidentification_rate": at.misidentified / len(attempts.genuine)
        if attempts.genuine
        else math.nan,
        "rank1": rank1(attempts),
        "thresholds": [{"threshold": r.threshold, "far": r.far, "frr": r.frr} for r in table],
        **_repeated(data, settings, params, repeats, attempts, at),
    }


def _repeated(
    data: DatasetEmbeddings,
    settings: EvalSettings,
    params: MatchSection,
    repeats: int,
    first: Attempts,
    first_rates: Rates,
) -> dict[str, Any]:
    if repeats == 1:
        return {}
    splits: list[dict[str, Any]] = []
    for k in range(repeats):
        attempts, at = first, first_rates
        if k:
            split = replace(settings, seed=settings.seed + k)
            attempts, _ = collect_attempts(data, split, mean_templates=params.mean_template)
            at = rates(attempts, params)
        splits.append(
            {
                "seed": settings.seed + k,
                "genuine": len(attempts.genuine),
                "impostor": len(attempts.impostor),
                "false_accepts": at.false_accepts,
                "false_rejects": at.false_rejects,
                "far": at.far,
                "frr": at.frr,
            }
        )
    genuine = sum(s["genuine"] for s in splits)
    impostor = sum(s["impostor"] for s in splits)
    false_accepts = sum(s["false_accepts"] for s in splits)
    false_rejects = sum(s["false_rejects"] for s in splits)
    return {
        "splits": splits,
        "pooled": {
            "genuine": genuine,
            "impostor": impostor,
            "false_accepts": false_accepts,
            "far": false_accepts / impostor if impostor else math.nan,
            "frr": false_rejects / genuine if genuine else math.nan,
        },
    }
