"""The 1:N face gallery: immutable snapshots, open-set search, an atomic holder.

A :class:`Gallery` is built once from the enrolled :class:`Template` rows
(several per person) and never changes; when the roster changes the kiosk
builds a new one and :meth:`GalleryHolder.swap` replaces the reference, so a
search running on another thread always sees one complete snapshot.

Distances are Euclidean, as dlib uses them. The search computes
``||a - b||^2 = ||a||^2 + ||b||^2 - 2 a.b`` with the template norms
precomputed and one float32 matrix-vector product, then re-computes the
distances of the two persons it returns exactly (float64), so the reported
distance and margin do not carry float32 cancellation error.

The search is open-set: it always names the nearest enrolled person, and it
is the decision (:mod:`recognition.decision`) that turns distance and margin
into MATCH, REVIEW or UNKNOWN. The margin (distance of the best *other*
person minus the best distance) is what keeps two look-alike colleagues
apart: a probe close to both is not a match for either.
"""

from __future__ import annotations

import math
import statistics
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt

from recognition.modelinfo import DLIB_DIM, DLIB_NAME, DLIB_VERSION, model_dim

#: Length of a dlib face descriptor (the default model of a bare Template / Gallery;
#: the kiosk and the commands name their model, see recognition.modelinfo).
EMBEDDING_DIM = DLIB_DIM
#: The model of a Template or Gallery built without naming one (shared contract).
MODEL_NAME = DLIB_NAME
MODEL_VERSION = DLIB_VERSION
#: Bytes of one dlib template on disk / on the wire: 128 float32, little-endian
#: (a template of another model is its dimension x 4 bytes: see template_bytes).
TEMPLATE_BYTES = EMBEDDING_DIM * 4
#: Longest vector accepted from a model this build does not know.
MAX_DIM = 4096
#: Embeddings lie well inside +-1; a larger component is a decoding error,
#: and would also overflow the float32 arithmetic of the search.
MAX_COMPONENT = 1000.0
# People averaged in SearchResult.cohort_distance.
COHORT_SIZE = 3
#: template_id of the synthetic per-person mean row (see Gallery.from_arrays).
MEAN_TEMPLATE_ID = "mean"

FloatArray = npt.NDArray[np.float32]
Scope = AbstractSet[str] | Callable[[str], bool] | None

# search_many works on blocks of (probes x templates) of at most this many cells,
# so a large evaluation does not allocate gigabytes at once.
_BLOCK_CELLS = 4_000_000


def dimension_of(model_name: str, fallback: int = EMBEDDING_DIM) -> int:
    """The vector length of ``model_name`` (``fallback`` for a model this build does not know)."""
    return model_dim(model_name) or fallback


def template_bytes(model_name: str) -> int:
    """Bytes of one template of a known model (dimension x 4, little-endian float32)."""
    return dimension_of(model_name) * 4


def check_vector(vector: Any, what: str = "vector", dim: int | None = None) -> FloatArray:
    """Return ``vector`` as a read-only float32 array of shape (dim,), or raise ValueError.

    ``dim`` defaults to :data:`EMBEDDING_DIM` (128). Refuses another length,
    more dimensions, non-numbers, NaN and infinity (also a finite float64
    that overflows float32).
    """
    n = EMBEDDING_DIM if dim is None else dim
    try:
        with np.errstate(over="ignore"):  # an overflow becomes inf, refused below
            array = np.array(vector, dtype=np.float32, copy=True)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be {n} numbers: {exc}") from None
    if array.shape != (n,):
        raise ValueError(f"{what} must have shape ({n},), got {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{what} contains NaN or infinity")
    if (np.abs(array) > MAX_COMPONENT).any():
        raise ValueError(f"{what} has components beyond +-{MAX_COMPONENT:g}; not a face descriptor")
    array.flags.writeable = False
    return array


@dataclass(frozen=True, eq=False)
class Template:
    """One enrolled face sample of one person.

    ``vector`` is stored as a read-only float32 copy; ``model_name`` and
    ``model_version`` say which embedding model produced it (a gallery refuses
    templates of another model, whose distances mean nothing here).
    """

    person_id: str
    vector: FloatArray
    template_id: str = ""
    model_name: str = MODEL_NAME
    model_version: str = MODEL_VERSION

    def __post_init__(self) -> None:
        if not isinstance(self.person_id, str) or not self.person_id:
            raise ValueError(f"template person_id must be a non-empty str, got {self.person_id!r}")
        label = f"template {self.template_id or '?'} of person {self.person_id}"
        dim = model_dim(self.model_name)
        if dim is None:  # a model this build does not know: any sensible length
            dim = int(np.size(self.vector))
            if not 1 <= dim <= MAX_DIM:
                raise ValueError(f"{label} has {dim} values (1-{MAX_DIM} allowed)")
        object.__setattr__(self, "vector", check_vector(self.vector, label, dim))

    @classmethod
    def from_bytes(
        cls,
        person_id: str,
        data: bytes,
        template_id: str = "",
        model_name: str = MODEL_NAME,
        model_version: str = MODEL_VERSION,
    ) -> Template:
        """Decode the little-endian float32 form (the storage and wire contract):
        512 bytes for dlib's model, 1024 for face-reidentification-retail-0095."""
        dim = model_dim(model_name)
        if (dim is not None and len(data) != dim * 4) or len(data) % 4 or not data:
            expected = f"{dim * 4}" if dim is not None else "a multiple of 4"
            raise ValueError(
                f"template {template_id or '?'} of person {person_id} (model {model_name!r}): "
                f"expected {expected} bytes, got {len(data)}"
            )
        vector = np.frombuffer(data, dtype="<f4").astype(np.float32)
        return cls(person_id, vector, template_id, model_name, model_version)

    def to_bytes(self) -> bytes:
        """The little-endian float32 form (4 bytes per value)."""
        return self.vector.astype("<f4").tobytes()


@dataclass(frozen=True)
class SearchResult:
    """The nearest enrolled person to a probe, and how clearly.

    ``margin`` is ``runner_up_distance - distance`` (never negative), infinite
    when the gallery holds a single person. ``template_id`` names the nearest
    template of ``person_id``.
    """

    person_id: str
    distance: float
    margin: float
    runner_up: str | None
    runner_up_distance: float
    template_id: str
    # Mean distance to the COHORT_SIZE nearest *other* people (fewer in a
    # small gallery; infinite when nobody else is enrolled). A genuine match
    # stands far below its cohort; a stranger's nearest person does not.
    cohort_distance: float = field(default=math.inf, compare=False)


@dataclass(frozen=True, eq=False)
class Gallery:
    """An immutable, person-sorted snapshot of templates; safe to search from many threads.

    Build it with :meth:`build` (from templates, with a scope filter) or
    :meth:`from_arrays`. Templates are laid out sorted by person, so each
    person's rows are one contiguous slice.
    """

    persons: tuple[str, ...]
    model_name: str
    model_version: str
    # (dim, N) float32, C-contiguous: the transposed layout makes the product
    # q @ columns about twice as fast as matrix @ q (measured, OpenBLAS).
    _columns: FloatArray = field(repr=False)
    _norms2: FloatArray = field(repr=False)
    _row_person: npt.NDArray[np.intp] = field(repr=False)
    _starts: npt.NDArray[np.intp] = field(repr=False)
    _template_ids: tuple[str, ...] = field(repr=False)
    _index: Mapping[str, int] = field(repr=False)
    _max_norm2: float = field(repr=False)

    # -- construction -------------------------------------------------

    @classmethod
    def empty(cls, model_name: str = MODEL_NAME, model_version: str = MODEL_VERSION) -> Gallery:
        dim = dimension_of(model_name)
        return cls.from_arrays([], np.zeros((0, dim), np.float32), None, model_name, model_version)

    @classmethod
    def build(
        cls,
        templates: Iterable[Template],
        include: Scope = None,
        model_name: str = MODEL_NAME,
        model_version: str = MODEL_VERSION,
        *,
        mean_templates: bool = False,
    ) -> Gallery:
        """A gallery of the templates whose person is in scope.

        ``include`` is ``None`` (everyone), a set of person ids, or a predicate
        on the person id; a kiosk passes its OPD's staff plus multi-office
        staff. A template of another model name/version raises ValueError
        naming it, even when its person is out of scope.
        """
        keep = _scope_predicate(include)
        person_ids: list[str] = []
        vectors: list[FloatArray] = []
        template_ids: list[str] = []
        for template in templates:
            if not isinstance(template, Template):
                raise TypeError(f"expected Template, got {type(template).__name__}")
            if (template.model_name, template.model_version) != (model_name, model_version):
                raise ValueError(
                    f"template {template.template_id or '?'} of person {template.person_id} "
                    f"comes from model {template.model_name!r} version "
                    f"{template.model_version!r}; this gallery needs {model_name!r} "
                    f"version {model_version!r} (re-enroll or re-embed it)"
                )
            if keep(template.person_id):
                person_ids.append(template.person_id)
                vectors.append(template.vector)
                template_ids.append(template.template_id)
        matrix = (
            np.stack(vectors) if vectors else np.zeros((0, dimension_of(model_name)), np.float32)
        )
        return cls.from_arrays(
            person_ids,
            matrix,
            template_ids,
            model_name,
            model_version,
            mean_templates=mean_templates,
        )

    @classmethod
    def from_arrays(
        cls,
        person_ids: Sequence[str],
        vectors: npt.ArrayLike,
        template_ids: Sequence[str] | None = None,
        model_name: str = MODEL_NAME,
        model_version: str = MODEL_VERSION,
        *,
        mean_templates: bool = False,
    ) -> Gallery:
        """A gallery from row-aligned person ids and an (N, dim) array (no scope filter).

        ``dim`` is the model's vector length (128 for dlib, 256 for
        face-reidentification-retail-0095; any length for an unknown model).

        With ``mean_templates`` every person with two or more templates also
        gets one synthetic row, the mean of their templates (template id
        :data:`MEAN_TEMPLATE_ID`). Averaging two photos cancels part of what
        differs between them (pose, light, expression), so the mean lies
        nearer to the person's other photos than either sample: on lfw-dev it
        lowered the false reject rate at about 0.1 % false accepts from 41 %
        to 37 % (``hadir evaluate --repeats 8``; see the README).
        """
        with np.errstate(over="ignore"):  # an overflow becomes inf, refused below
            matrix = np.array(vectors, dtype=np.float32, copy=True)
        dim = model_dim(model_name)
        if dim is None and matrix.ndim == 2 and 1 <= matrix.shape[1] <= MAX_DIM:
            dim = int(matrix.shape[1])
        if dim is None or matrix.ndim != 2 or matrix.shape[1] != dim:
            raise ValueError(
                f"vectors of model {model_name!r} must have shape (N, {dim or '?'}), "
                f"got {matrix.shape}"
            )
        n = matrix.shape[0]
        if len(person_ids) != n:
            raise ValueError(f"{len(person_ids)} person ids for {n} vectors")
        if template_ids is None:
            template_ids = [""] * n
        elif len(template_ids) != n:
            raise ValueError(f"{len(template_ids)} template ids for {n} vectors")
        finite = np.isfinite(matrix).all(axis=1)
        if not finite.all():
            row = int(np.flatnonzero(~finite)[0])
            raise ValueError(
                f"template {template_ids[row] or row} of person {person_ids[row]} "
                "contains NaN or infinity"
            )
        large = (np.abs(matrix) > MAX_COMPONENT).any(axis=1)
        if large.any():
            row = int(np.flatnonzero(large)[0])
            raise ValueError(
                f"template {template_ids[row] or row} of person {person_ids[row]} has "
                f"components beyond +-{MAX_COMPONENT:g}; not a face descriptor"
            )
        for pid in person_ids:
            if not isinstance(pid, str) or not pid:
                raise ValueError(f"person ids must be non-empty str, got {pid!r}")

        persons, row_person = np.unique(np.asarray(person_ids, dtype=object), return_inverse=True)
        row_person = row_person.astype(np.intp).reshape(-1)
        if mean_templates and n:
            counts = np.bincount(row_person, minlength=len(persons))
            several = np.flatnonzero(counts >= 2)
            sums = np.zeros((len(persons), dim), np.float64)
            np.add.at(sums, row_person, matrix.astype(np.float64))
            means = (sums[several] / counts[several, None]).astype(np.float32)
            matrix = np.concatenate([matrix, means])
            row_person = np.concatenate([row_person, several.astype(np.intp)])
            template_ids = [*template_ids, *([MEAN_TEMPLATE_ID] * len(several))]
            n = matrix.shape[0]
        order = np.argsort(row_person, kind="stable")
        row_person = np.ascontiguousarray(row_person[order])
        matrix = matrix[order]
        counts = np.bincount(row_person, minlength=len(persons))
        starts = np.zeros(len(persons) + 1, dtype=np.intp)
        np.cumsum(counts, out=starts[1:])
        columns = np.ascontiguousarray(matrix.T)
        norms2 = np.einsum("ij,ij->i", matrix, matrix, dtype=np.float64).astype(np.float32)
        for array in (columns, norms2, row_person, starts):
            array.flags.writeable = False
        return cls(
            persons=tuple(str(p) for p in persons),
            model_name=model_name,
            model_version=model_version,
            _columns=columns,
            _norms2=norms2,
            _row_person=row_person,
            _starts=starts,
            _template_ids=tuple(template_ids[int(i)] for i in order),
            _max_norm2=float(norms2.max()) if n else 0.0,
            _index=MappingProxyType({str(pid): i for i, pid in enumerate(persons)}),
        )

    # -- inspection ---------------------------------------------------

    def __len__(self) -> int:
        """Number of templates."""
        return int(self._columns.shape[1])

    @property
    def dim(self) -> int:
        """Length of each template vector (the model's dimension)."""
        return int(self._columns.shape[0])

    def __contains__(self, person_id: object) -> bool:
        return person_id in self._index

    @property
    def matrix(self) -> FloatArray:
        """The templates as a read-only (N, dim) float32 view, sorted by person."""
        return self._columns.T

    @property
    def row_persons(self) -> tuple[str, ...]:
        """Person id of each row of :attr:`matrix`."""
        return tuple(self.persons[int(i)] for i in self._row_person)

    def templates_of(self, person_id: str) -> FloatArray:
        """The (k, dim) templates of one person (read-only); KeyError if absent."""
        p = self._index[person_id]
        return self.matrix[self._starts[p] : self._starts[p + 1]]

    # -- search -------------------------------------------------------

    def search(self, vector: npt.ArrayLike) -> SearchResult | None:
        """The nearest person, its distance, the margin to the best other person.

        ``None`` when the gallery is empty. Raises ValueError for a probe that
        is not :attr:`dim` finite numbers. The result equals a brute-force nearest
        neighbour search in float64 (ties go to the smaller person id).
        """
        probe = check_vector(vector, "probe", self.dim)
        if len(self) == 0:
            return None
        # Squared distances minus the constant ||q||^2, in float32.
        d2 = probe @ self._columns  # a fresh (N,) array we may edit
        d2 *= -2.0
        d2 += self._norms2
        best = int(self._row_person[int(np.argmin(d2))])
        if len(self.persons) == 1:
            return self._rank(probe, np.array([best]))
        per_person = np.minimum.reduceat(d2, self._starts[:-1])
        cohort = _cohort(per_person, best, float(np.dot(probe, probe)))
        d2[self._starts[best] : self._starts[best + 1]] = np.inf
        # Every person whose float32 estimate is within the rounding bound of
        # the best other person's may truly be best or second: decide exactly.
        limit = float(d2.min()) + 2.0 * self._tolerance(probe)
        near = self._row_person[np.flatnonzero(d2 <= limit)]
        return replace(self._rank(probe, np.union1d(near, [best])), cohort_distance=cohort)

    def search_many(self, vectors: npt.ArrayLike) -> list[SearchResult | None]:
        """:meth:`search` for each row of a (B, dim) array of probes (for evaluation)."""
        with np.errstate(over="ignore"):  # an overflow becomes inf, refused below
            probes = np.array(vectors, dtype=np.float32, copy=True)
        if probes.ndim != 2 or probes.shape[1] != self.dim:
            raise ValueError(f"probes must have shape (B, {self.dim}), got {probes.shape}")
        if not np.isfinite(probes).all():
            raise ValueError("probes contain NaN or infinity")
        if (np.abs(probes) > MAX_COMPONENT).any():
            raise ValueError(f"probes have components beyond +-{MAX_COMPONENT:g}")
        if len(self) == 0:
            return [None] * probes.shape[0]
        block = max(1, _BLOCK_CELLS // len(self))
        results: list[SearchResult | None] = []
        for lo in range(0, probes.shape[0], block):
            chunk = probes[lo : lo + block]
            d2 = chunk @ self._columns
            d2 *= -2.0
            d2 += self._norms2
            per_person = np.minimum.reduceat(d2, self._starts[:-1], axis=1)
            if len(self.persons) == 1:
                results.extend(self._rank(q, np.array([0])) for q in chunk)
                continue
            second = np.partition(per_person, 1, axis=1)[:, 1]
            for q, row, m2 in zip(chunk, per_person, second, strict=True):
                limit = float(m2) + 2.0 * self._tolerance(q)
                ranked = self._rank(q, np.flatnonzero(row <= limit))
                cohort = _cohort(row, int(np.argmin(row)), float(np.dot(q, q)))
                results.append(replace(ranked, cohort_distance=cohort))
        return results

    def _tolerance(self, probe: FloatArray) -> float:
        """A bound on the float32 rounding error of one estimated squared distance."""
        eps = float(np.finfo(np.float32).eps)
        q2 = float(np.dot(probe.astype(np.float64), probe.astype(np.float64)))
        cross = 2.0 * math.sqrt(q2 * self._max_norm2)
        return 2.0 * eps * (self.dim + 2) * (self._max_norm2 + cross + q2) + 1e-30

    def _rank(self, probe: FloatArray, candidates: npt.NDArray[np.intp]) -> SearchResult:
        """Exact (float64) distances of the candidate persons; the best two win."""
        scored = sorted((*self._exact_min(probe, int(p)), int(p)) for p in candidates)
        best_dist, best_row, best = scored[0]
        if len(scored) == 1:
            return SearchResult(
                self.persons[best],
                best_dist,
                math.inf,
                None,
                math.inf,
                self._template_ids[best_row],
            )
        second_dist, _, second = scored[1]
        return SearchResult(
            person_id=self.persons[best],
            distance=best_dist,
            margin=second_dist - best_dist,
            runner_up=self.persons[second],
            runner_up_distance=second_dist,
            template_id=self._template_ids[best_row],
        )

    def _exact_min(self, probe: FloatArray, person: int) -> tuple[float, int]:
        lo, hi = int(self._starts[person]), int(self._starts[person + 1])
        rows = self._columns[:, lo:hi].T.astype(np.float64)
        dists = np.sqrt(((rows - probe.astype(np.float64)) ** 2).sum(axis=1))
        i = int(np.argmin(dists))
        return float(dists[i]), lo + i


def _cohort(per_person: FloatArray, best: int, q2: float) -> float:
    """Mean distance to the COHORT_SIZE nearest people other than ``best``.

    ``per_person`` holds each person's smallest ``||x||^2 - 2 q.x`` (the
    squared distance less ``||q||^2``); float32 precision is plenty for a
    normaliser.
    """
    others = np.delete(per_person, best)
    if others.size == 0:
        return math.inf
    k = min(COHORT_SIZE, others.size)
    nearest = np.partition(others, k - 1)[:k].astype(np.float64) + q2
    return float(np.sqrt(np.maximum(nearest, 0.0)).mean())


def _scope_predicate(include: Scope) -> Callable[[str], bool]:
    if include is None:
        return lambda _pid: True
    if isinstance(include, AbstractSet):
        allowed = include
        return lambda pid: pid in allowed
    if callable(include):
        return include
    raise TypeError(
        f"include must be None, a set of person ids or a predicate, got {type(include).__name__}"
    )


class GalleryHolder:
    """The current gallery of a running kiosk, replaced atomically on roster changes.

    Readers take :attr:`gallery` (or call :meth:`search`) and keep that one
    snapshot for as long as they need it; :meth:`swap` only replaces the
    reference, so a reader never sees half a roster.
    """

    def __init__(self, gallery: Gallery | None = None) -> None:
        self._lock = threading.Lock()
        self._gallery = gallery if gallery is not None else Gallery.empty()
        self._generation = 0

    @property
    def gallery(self) -> Gallery:
        with self._lock:
            return self._gallery

    @property
    def generation(self) -> int:
        """How many times the gallery was swapped."""
        with self._lock:
            return self._generation

    def swap(self, new_gallery: Gallery) -> Gallery:
        """Install ``new_gallery``; return the one it replaced."""
        if not isinstance(new_gallery, Gallery):
            raise TypeError(f"expected Gallery, got {type(new_gallery).__name__}")
        with self._lock:
            old, self._gallery = self._gallery, new_gallery
            self._generation += 1
            return old

    def search(self, vector: npt.ArrayLike) -> SearchResult | None:
        """Search the current snapshot."""
        return self.gallery.search(vector)


def look_alikes(
    persons: Sequence[str], matrix: npt.ArrayLike, max_distance: float, *, block: int = 256
) -> list[tuple[str, str, float]]:
    """Pairs of different people whose closest two templates are at most
    ``max_distance`` apart: ``(person_a, person_b, distance)`` with
    ``person_a < person_b``, closest first.

    These are the people a kiosk may take for each other (dlib puts some
    unrelated faces as close as two photos of one person). Compares the
    enrolled templates (not the kiosk's synthetic per-person means). Exact (float64),
    in blocks of ``block`` templates so 10,000 templates need no N x N matrix.
    """
    x = np.asarray(matrix, dtype=np.float64)
    if x.ndim != 2 or len(persons) != len(x):
        raise ValueError("need one person per row of an (N, dim) matrix")
    if not math.isfinite(max_distance) or max_distance < 0:
        raise ValueError(f"max_distance must be a finite number >= 0, got {max_distance!r}")
    ids, owner = np.unique(np.asarray(persons, dtype=object), return_inverse=True)
    norms = (x * x).sum(axis=1)
    limit = max_distance * max_distance
    best: dict[tuple[int, int], float] = {}
    for lo in range(0, len(x), block):
        d2 = norms[lo : lo + block, None] - 2.0 * (x[lo : lo + block] @ x.T) + norms[None, :]
        d2[owner[lo : lo + block, None] == owner[None, :]] = np.inf
        # The expanded form rounds: keep a margin, then decide on the exact distance.
        for r, c in zip(*np.nonzero(d2 <= limit * (1 + 1e-9) + 1e-9), strict=True):
            a, b = sorted((int(owner[lo + r]), int(owner[c])))
            dist = math.sqrt(float(((x[lo + r] - x[c]) ** 2).sum()))
            if dist <= max_distance and dist < best.get((a, b), math.inf):
                best[(a, b)] = dist
    pairs = [(str(ids[a]), str(ids[b]), d) for (a, b), d in best.items()]
    return sorted(pairs, key=lambda t: (t[2], t[0], t[1]))


def bench_search(
    n_templates: int,
    repeats: int,
    rng: np.random.Generator,
    per_person: int = 5,
    model_name: str = MODEL_NAME,
) -> float:
    """Median milliseconds of one :meth:`Gallery.search` at ``n_templates`` synthetic templates.

    Used by ``hadir bench`` (``search_10k_ms``, ``search_100k_ms``). Vectors
    are random unit vectors of ``model_name``'s dimension, ``per_person``
    templates per person; each repeat searches a new random probe.
    """
    if n_templates < 1 or repeats < 1 or per_person < 1:
        raise ValueError("n_templates, repeats and per_person must be >= 1")
    dim = dimension_of(model_name)
    vectors = rng.standard_normal((n_templates, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    person_ids = [f"p{i // per_person}" for i in range(n_templates)]
    gallery = Gallery.from_arrays(person_ids, vectors, model_name=model_name)
    probes = rng.standard_normal((repeats + 3, dim)).astype(np.float32)
    probes /= np.linalg.norm(probes, axis=1, keepdims=True)
    for probe in probes[:3]:  # warm-up: page in the matrix, start BLAS threads
        gallery.search(probe)
    times: list[float] = []
    for probe in probes[3:]:
        start = time.perf_counter()
        gallery.search(probe)
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)
