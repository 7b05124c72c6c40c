"""What IALS's direction files and latent codes say without any weights.

IALS's ``pretrain/`` folder holds, besides the networks, attribute-level directions in
StyleGAN-1's W space from three methods (InterFaceGAN, GANSpace and IALS's own average of
instance-specific directions, "ours"), the generators' average codes and W+ codes of real
faces. This module measures their geometry with plain linear algebra:

- :func:`leakage_matrix`: moving a code along one attribute's direction changes its
  projection on every other attribute's direction by their cosine; conditioning (projecting
  the others out, :func:`~s2e_lib.edit.ials.directions.condition_many`) removes that and
  costs part of the edit (the diagonal);
- :func:`method_agreement`: how far the three methods' directions for the same attribute
  agree (random unit vectors in 512-D have |cos| ≈ 0.035, :func:`chance_cosine`);
- :func:`layer_distances`, :func:`pca`, :func:`attribute_scores`: where real W+ codes lie
  relative to the average face, row by row;
- :func:`edit_scores`: the attribute projections along an edit of a real code;
- :func:`mix_cosine` / :func:`recipe_step_cosine`: the instance-aware direction
  ``λ·a + (1−λ)·s`` against ``a`` as a function of ``c = cos(a, s)``; with the weights,
  :func:`instance_angles` measures ``c`` at real codes.

Nothing here needs a generator except :func:`instance_angles`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from s2e_lib.edit.ials.classifier import ATTRIBUTES

if TYPE_CHECKING:
    from s2e_lib.edit.ials.editor import IALSModels

METHODS: tuple[str, ...] = ("interfacegan", "ganspace", "ours")
DATASETS: tuple[str, ...] = ("ffhq", "celebahq")


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64).reshape(-1)
    return v / max(float(np.linalg.norm(v)), 1e-12)


@dataclass
class DirectionData:
    """Attribute directions, average codes and real W+ codes of an IALS ``pretrain/``.

    Attributes
    ----------
    directions : dict (method, dataset) → dict attribute → unit direction (512,) float64
    avg_codes : dict dataset → mean w (512,)
    codes : dict name → W+ code (18, 512) (FFHQ generator)
    source : str
        The folder read, or a description of the synthetic stand-in.
    synthetic : bool
        True for :func:`synthetic_direction_data` (random numbers, for the mechanics only).
    """

    directions: dict[tuple[str, str], dict[str, np.ndarray]]
    avg_codes: dict[str, np.ndarray]
    codes: dict[str, np.ndarray]
    source: str
    synthetic: bool = False
    label: str = field(default="")

    def __post_init__(self):
        if not self.label:
            self.label = (
                "SYNTHETIC random directions and codes (no IALS files found): mechanics only"
                if self.synthetic
                else f"IALS's files in {self.source}"
            )

    def get(self, method: str = "interfacegan", dataset: str = "ffhq") -> dict[str, np.ndarray]:
        """The directions of one method and dataset (attribute → unit vector); {} if absent."""
        return self.directions.get((method, dataset), {})

    @property
    def real_codes(self) -> dict[str, np.ndarray]:
        """The codes of faces (``avg_latent``, the average code on every row, left out)."""
        return {k: v for k, v in self.codes.items() if k != "avg_latent"}


def load_direction_data(root: str | os.PathLike) -> DirectionData | None:
    """Read every direction, average code and real code under ``root`` (an IALS
    ``pretrain/`` or ``../shared/data/ials_pretrain``); None when it holds no directions.

    Arrays are read with ``allow_pickle=False``; directions are normalised (the files
    are unit already, InterFaceGAN's in float64).
    """
    root = Path(root)
    if not (root / "attr_level_direction").is_dir():
        return None
    directions: dict[tuple[str, str], dict[str, np.ndarray]] = {}
    for method in METHODS:
        for dataset in DATASETS:
            found = {}
            for attr in ATTRIBUTES:
                path = root / "attr_level_direction" / method / dataset / f"{attr}.npy"
                if path.is_file():
                    found[attr] = _unit(_npy(path))
            if found:
                directions[(method, dataset)] = found
    avg_codes = {
        d: _npy(root / "stylegan" / d / "avg_code.npy").reshape(-1).astype(np.float64)
        for d in DATASETS
        if (root / "stylegan" / d / "avg_code.npy").is_file()
    }
    codes = {p.stem: _npy(p).astype(np.float64) for p in sorted((root / "real_latent_code").glob("*.npy"))}
    return DirectionData(directions, avg_codes, codes, str(root))


def _npy(path: Path) -> np.ndarray:
    from s2e_lib.errors import InputError, one_line

    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise InputError(f"{path}: not a readable .npy array ({one_line(exc)})") from None


def synthetic_direction_data(seed: int = 0, n_codes: int = 2, entangle: float = 0.3) -> DirectionData:
    """A stand-in with the release's shapes, made of random numbers: for the mechanics only.

    Directions are random unit vectors, with ``smiling`` and ``male`` mixed so that their
    cosine is about ``-entangle`` (so that the figures have something to show); GANSpace's
    are orthonormalised like principal components; codes are the average code plus
    random offsets, larger in the middle rows.
    """
    rng = np.random.default_rng(seed)
    directions = {}
    for method in METHODS:
        for dataset in DATASETS:
            base = rng.normal(size=(len(ATTRIBUTES), 512))
            if method == "ganspace":
                base = np.linalg.qr(base.T)[0].T
            else:
                base[1] = base[1] - entangle * np.sqrt(512) * _unit(base[0])
            directions[(method, dataset)] = {a: _unit(v) for a, v in zip(ATTRIBUTES, base, strict=True)}
    avg_codes = {d: rng.normal(scale=0.07, size=512) for d in DATASETS}
    profile = np.sin(np.linspace(0.15, np.pi - 0.15, 18))[:, None]
    codes = {"avg_latent": np.repeat(avg_codes["ffhq"][None], 18, axis=0)}
    for i in range(n_codes):
        codes[f"synthetic{i + 1}"] = avg_codes["ffhq"] + 0.35 * profile * rng.normal(size=(18, 512))
    return DirectionData(directions, avg_codes, codes, f"random numbers (seed {seed})", synthetic=True)


# --- directions ---------------------------------------------------------------------------


def chance_cosine(dim: int = 512) -> float:
    """Standard deviation of the cosine between two random unit vectors in ``dim`` dimensions."""
    return 1.0 / np.sqrt(dim)


def cosines(directions: dict[str, np.ndarray]) -> tuple[list[str], np.ndarray]:
    """Pairwise cosines → (names, (k, k) matrix)."""
    names = list(directions)
    m = np.stack([_unit(directions[n]) for n in names])
    return names, m @ m.T


def conditioned(primary: np.ndarray, conditions: Sequence[np.ndarray]) -> np.ndarray:
    """``primary`` with the span of ``conditions`` projected out, normalised (least squares,
    as :func:`~s2e_lib.edit.ials.directions.condition_many`)."""
    p = _unit(primary)
    if not len(conditions):
        return p
    c = np.stack([_unit(v) for v in conditions], axis=1)
    return _unit(p - c @ (np.linalg.pinv(c.T @ c) @ (c.T @ p)))


def leakage_matrix(
    directions: dict[str, np.ndarray], conditions: str | Sequence[str] | None = None
) -> tuple[list[str], np.ndarray]:
    """How an edit along each attribute moves the projection on every attribute.

    Row ``i`` is the unit edit direction for attribute ``i``; entry ``(i, j)`` is the
    change of ``⟨w, a_j⟩`` per unit step along it, i.e. ``cos(edit_i, a_j)``.

    Parameters
    ----------
    conditions : None, "others" or names
        None: the plain attribute-level direction (the matrix is the cosine matrix);
        "others": every other attribute projected out (off-diagonal 0, the diagonal is
        the part of the edit that is left, ``|sin|`` of the angle to the others' span);
        names: those attributes projected out of every other attribute's edit (IALS's
        conditioning, e.g. ``("young", "male")``).
    """
    names = list(directions)
    rows = []
    for name in names:
        if conditions is None:
            cond = []
        elif conditions == "others":
            cond = [n for n in names if n != name]
        else:
            cond = [n for n in conditions if n != name and n in directions]
        edit = conditioned(directions[name], [directions[n] for n in cond])
        rows.append([float(edit @ _unit(directions[n])) for n in names])
    return names, np.array(rows)


def method_agreement(data: DirectionData, dataset: str = "ffhq") -> list[dict]:
    """Per attribute, the cosine between each pair of methods' directions (rows of dicts:
    attribute, pair, cosine)."""
    rows = []
    for attr in ATTRIBUTES:
        for m1, m2 in combinations(METHODS, 2):
            a, b = data.get(m1, dataset).get(attr), data.get(m2, dataset).get(attr)
            if a is not None and b is not None:
                rows.append({"attribute": attr, "pair": f"{m1} · {m2}", "cosine": float(a @ b)})
    return rows


def strongest_pairs(directions: dict[str, np.ndarray], k: int = 3) -> list[tuple[str, str, float]]:
    """The ``k`` attribute pairs with the largest |cosine| → [(a, b, cos), ...]."""
    names, m = cosines(directions)
    pairs = [(names[i], names[j], float(m[i, j])) for i, j in combinations(range(len(names)), 2)]
    return sorted(pairs, key=lambda p: -abs(p[2]))[:k]


def instance_cosine_bound(
    data: DirectionData, attribute: str, base: str = "interfacegan", dataset: str = "ffhq"
) -> float | None:
    """An upper bound on the mean of ``c = cos(a_base, s)`` over IALS's samples.

    IALS's own direction is the normalised mean of instance-specific directions,
    ``ours = s̄/‖s̄‖`` over ~500 sampled codes, so the mean of ``⟨s_i, a⟩`` equals
    ``‖s̄‖·cos(ours, a)``, and ``‖s̄‖ ≤ 1``: when ``cos(ours, a) ≥ 0`` it is a bound on the
    average agreement of one face's classifier gradient with ``a``. None when a file is
    missing.
    """
    ours, a = data.get("ours", dataset).get(attribute), data.get(base, dataset).get(attribute)
    return None if ours is None or a is None else float(ours @ a)


# --- latent codes -------------------------------------------------------------------------


def layer_distances(codes: dict[str, np.ndarray], origin: np.ndarray) -> dict[str, np.ndarray]:
    """Per code, the distance of each W+ row from ``origin`` (the average code) → (num_ws,)."""
    return {name: np.linalg.norm(np.asarray(w) - origin, axis=1) for name, w in codes.items()}


def attribute_scores(code: np.ndarray, directions: dict[str, np.ndarray], origin: np.ndarray) -> np.ndarray:
    """``⟨w_row − origin, a⟩`` for every W+ row and attribute → (num_ws, k), columns in
    ``directions``' order. (InterFaceGAN's boundaries' offsets are not released, so the
    average code stands in for the decision boundary: > 0 means more of the attribute
    than the average face along that direction.)"""
    a = np.stack([_unit(v) for v in directions.values()], axis=1)
    return (np.asarray(code, dtype=np.float64) - origin) @ a


def code_table(data: DirectionData, method: str = "interfacegan", dataset: str = "ffhq") -> list[dict]:
    """One row per code: its rows' distance from the average code (mean, min, max and the
    row where it is largest), how far its rows differ from one another (mean distance from
    their own mean: 0 for a W code; mean cosine between consecutive rows' offsets from the
    average: 1 for a W code), and its mean score on each attribute direction."""
    origin = data.avg_codes[dataset]
    directions = data.get(method, dataset)
    rows = []
    for name, w in data.codes.items():
        dist = np.linalg.norm(w - origin, axis=1)
        spread = np.linalg.norm(w - w.mean(0), axis=1).mean()
        x = w - origin
        adjacent = [float(_unit(x[i]) @ _unit(x[i + 1])) for i in range(len(x) - 1)] or [1.0]
        row = {
            "code": name,
            "mean distance": float(dist.mean()),
            "min": float(dist.min()),
            "max": float(dist.max()),
            "farthest row": int(dist.argmax()),
            "row spread": float(spread),
            "adjacent-row cos": float(np.mean(adjacent)),
        }
        if directions:
            scores = attribute_scores(w, directions, origin).mean(0)
            row.update({f"{attr} score": float(s) for attr, s in zip(directions, scores, strict=True)})
        rows.append(row)
    return rows


@dataclass
class PCAResult:
    """Principal components of a set of 512-vectors (rows)."""

    mean: np.ndarray  # (512,)
    components: np.ndarray  # (k, 512), unit rows
    explained: np.ndarray  # (k,), fraction of the variance
    scores: np.ndarray  # (n, k), the rows' coordinates


def pca(rows: np.ndarray, k: int = 5) -> PCAResult:
    """PCA by SVD of the centred ``rows`` (n, d); ``k`` is capped at n − 1."""
    x = np.asarray(rows, dtype=np.float64)
    mean = x.mean(0)
    u, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    k = max(1, min(k, len(x) - 1))
    var = s**2
    explained = var[:k] / max(var.sum(), 1e-300)
    return PCAResult(mean, vt[:k], explained, u[:, :k] * s[:k])


def code_rows(codes: dict[str, np.ndarray]) -> tuple[np.ndarray, list[str], list[int]]:
    """All W+ rows of ``codes`` stacked → (rows (n, 512), code name per row, row index per row)."""
    names, layers, rows = [], [], []
    for name, w in codes.items():
        w = np.asarray(w).reshape(-1, w.shape[-1])
        rows.append(w)
        names += [name] * len(w)
        layers += list(range(len(w)))
    return np.concatenate(rows), names, layers


def edit_scores(
    code: np.ndarray,
    directions: dict[str, np.ndarray],
    origin: np.ndarray,
    primary: str,
    conditions: Sequence[str] = (),
    step: float = 0.1,
    n_steps: int = 10,
) -> np.ndarray:
    """The mean attribute scores (:func:`attribute_scores` over the rows) of ``code`` along
    ``n_steps`` steps of ``step`` on the attribute-level direction of ``primary`` with
    ``conditions`` projected out → (n_steps + 1, k). Each row of a W+ code moves alike."""
    edit = conditioned(directions[primary], [directions[c] for c in conditions])
    path = [np.asarray(code, dtype=np.float64) + i * step * edit for i in range(n_steps + 1)]
    return np.stack([attribute_scores(w, directions, origin).mean(0) for w in path])


# --- instance-aware directions ------------------------------------------------------------


def mix_cosine(c: np.ndarray | float, lam: np.ndarray | float) -> np.ndarray:
    """``cos(λ·a + (1−λ)·s, a)`` for unit ``a``, ``s`` with ``cos(a, s) = c`` (before any
    conditioning). λ = 1 gives 1; for |λ| → ∞ it tends to ``sign(λ)·sqrt((1 − c)/2)``
    (the direction of ``a − s``); λ = 0 gives ``c``."""
    c, lam = np.asarray(c, dtype=np.float64), np.asarray(lam, dtype=np.float64)
    along = lam + (1.0 - lam) * c
    norm = np.sqrt(np.maximum(lam**2 + (1.0 - lam) ** 2 + 2.0 * lam * (1.0 - lam) * c, 1e-300))
    return along / norm


def recipe_step_cosine(c: np.ndarray | float, lambda1: float, step: float) -> np.ndarray:
    """Cosine of a recipe's step (``sign(step)`` times the mix) with the attribute-level
    direction, as a function of ``c = cos(a, s)`` (before conditioning)."""
    return np.sign(step) * mix_cosine(c, lambda1)


def instance_angles(
    models: IALSModels,
    codes: dict[str, np.ndarray],
    attributes: Sequence[str] | None = None,
    lambdas: Sequence[float] = (0.75,),
    progress: bool = True,
) -> list[dict]:
    """At each code and attribute: the instance-specific direction ``s`` (one classifier
    gradient step, :func:`~s2e_lib.edit.ials.directions.checked_instance_direction`)
    against the attribute-level ``a``: ``cos(a, s)``, its angle, and the angle between
    ``a`` and the instance-aware mix for each λ.

    Needs the generator and classifiers (IALS's weights; with untrained ones the numbers
    only show the mechanics). Codes must have the generator's number of W+ rows.

    Returns rows of dicts: code, attribute, cos(a,s), angle(a,s) [deg], angle(a,mix λ=…)
    [deg], p(attribute) (the classifier's probability at the code), saturated (reason or "").
    """
    import torch
    from tqdm.auto import tqdm

    from s2e_lib.edit.ials.directions import checked_instance_direction

    attributes = list(attributes or models.classifiers)
    rows = []
    pairs = [(name, attr) for name in codes for attr in attributes]
    for name, attr in tqdm(pairs, desc="instance-specific directions", disable=not progress, leave=False):
        w = torch.as_tensor(np.asarray(codes[name]), dtype=torch.float32, device=models.device)
        w = w.reshape(models.generator.num_ws, -1)
        a = models.directions[attr].detach().double().cpu().numpy()
        s, reason = checked_instance_direction(w, models.render, models.classifiers[attr])
        row = {"code": name, "attribute": attr, "p(attribute)": models.probability(attr, w)}
        if s is None:
            row.update({"cos(a,s)": float("nan"), "angle(a,s)": float("nan"), "saturated": reason})
        else:
            c = float(_unit(a) @ _unit(s.detach().double().cpu().numpy()))
            row.update({"cos(a,s)": c, "angle(a,s)": float(np.degrees(np.arccos(np.clip(c, -1, 1))))})
            row["saturated"] = ""
        for lam in lambdas:
            cos = mix_cosine(row["cos(a,s)"], lam)
            row[f"angle(a,mix λ={lam:g})"] = float(np.degrees(np.arccos(np.clip(cos, -1, 1))))
        rows.append(row)
    return rows
