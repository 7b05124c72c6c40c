"""IALS expression editor: align → invert → edit in W+ → generate → paste back.

:class:`IALSModels` bundles the networks (generator, attribute classifiers, VGG, average
code, attribute-level directions), loaded from a user's IALS ``pretrain/`` folder or
built small and random for tests and demos. :class:`IALSEditor` implements the
project's :class:`~s2e_lib.edit.base.Editor` interface on top.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from s2e_lib.edit.base import EditResult, first_face
from s2e_lib.edit.ials.classifier import AttributeClassifier
from s2e_lib.edit.ials.directions import edit_loop, ials_direction, predicted_attribute, unit
from s2e_lib.edit.ials.invert import InversionConfig, InversionResult, invert
from s2e_lib.edit.ials.pretrain import Pretrain
from s2e_lib.edit.ials.recipes import EditRecipe, get_recipe
from s2e_lib.edit.ials.stylegan1 import Generator, StyleGANConfig, to_uint8
from s2e_lib.emotions import MISSION_EMOTIONS
from s2e_lib.errors import InputError
from s2e_lib.nn import default_device

if TYPE_CHECKING:
    from s2e_lib.face.detect import Face


@dataclass
class IALSModels:
    """The networks and vectors IALS edits with.

    Attributes
    ----------
    generator : Generator
    avg_code : Tensor (512,)
    classifiers : dict attribute → module (image in [-1, 1] → logits (N, 2))
    directions : dict attribute → Tensor (512,), unit attribute-level directions
    vgg : module or None
        Feature extractor for the inversion loss.
    untrained : bool
        True for randomly initialised models (mechanics only, meaningless images).
    randomize_noise : bool
        Draw fresh per-layer noise on every generator forward (IALS's behaviour, used by
        the ``original`` recipe) instead of the fixed seeded maps (reproducible figures).
    """

    generator: Generator
    avg_code: torch.Tensor
    classifiers: dict[str, torch.nn.Module]
    directions: dict[str, torch.Tensor]
    vgg: torch.nn.Module | None = None
    untrained: bool = False
    randomize_noise: bool = False

    @property
    def device(self) -> torch.device:
        return next(self.generator.parameters()).device

    @classmethod
    def from_pretrain(
        cls,
        pretrain: Pretrain | str | None = None,
        attributes: tuple[str, ...] = ("smiling", "young", "male"),
        method: str = "interfacegan",
        device: str | None = None,
        with_vgg: bool = True,
    ) -> IALSModels:
        """Load everything needed for ``attributes`` from an IALS ``pretrain/`` folder."""
        pre = pretrain if isinstance(pretrain, Pretrain) else Pretrain(pretrain)
        device = device or default_device()
        # check every file first so a missing one is reported before minutes of loading
        for path, what in [
            (pre.generator_path, "StyleGAN generator weights"),
            (pre.avg_code_path, "average W code"),
        ]:
            pre.require(path, what)
        for attr in attributes:
            pre.require(pre.classifier_path(attr), f"{attr} attribute classifier")
            pre.require(pre.direction_path(attr, method), f"{method} direction for {attr}")
        if with_vgg:
            pre.require(pre.vgg_path, "VGG-16 weights")
        return cls(
            generator=pre.load_generator(device),
            avg_code=pre.load_avg_code().to(device),
            classifiers={a: pre.load_classifier(a, device) for a in attributes},
            directions={a: pre.load_direction(a, method).to(device) for a in attributes},
            vgg=pre.load_vgg(device) if with_vgg else None,
        )

    @classmethod
    def random(
        cls,
        config: StyleGANConfig | None = None,
        attributes: tuple[str, ...] = ("smiling", "young", "male"),
        directions: dict[str, torch.Tensor] | None = None,
        seed: int = 0,
        device: str = "cpu",
    ) -> IALSModels:
        """Small randomly initialised models: **untrained, for the mechanics only**.

        ``directions`` (e.g. IALS's real attribute directions) are used when given,
        random unit vectors otherwise. Classifiers are random ResNet-18s (no pooling).
        """
        torch.manual_seed(seed)
        config = config or StyleGANConfig.small(64, 32, 32)
        generator = Generator(config).eval().requires_grad_(False).to(device)
        with torch.no_grad():
            avg = generator.mapping(torch.randn(2000, config.latent_size, device=device)).mean(0)
        classifiers = {
            a: AttributeClassifier(pool=1).eval().requires_grad_(False).to(device) for a in attributes
        }
        dirs = {}
        for a in attributes:
            v = directions[a] if directions and a in directions else torch.randn(config.latent_size)
            dirs[a] = unit(v).to(device)
        return cls(generator, avg, classifiers, dirs, vgg=None, untrained=True)

    def render(self, wplus: torch.Tensor) -> torch.Tensor:
        """W+ → image (1, 3, R, R) in [-1, 1] (differentiable)."""
        return self.generator.synthesis(
            wplus.reshape(1, self.generator.num_ws, -1), randomize_noise=self.randomize_noise
        )

    def image(self, wplus: torch.Tensor) -> np.ndarray:
        """W+ → RGB uint8 (R, R, 3)."""
        with torch.no_grad():
            return to_uint8(self.render(wplus.to(self.device)))

    def probability(self, attribute: str, wplus: torch.Tensor) -> float:
        """P(attribute present) for the image of ``wplus``."""
        return predicted_attribute(wplus.to(self.device), self.render, self.classifiers[attribute])

    def trajectory(
        self,
        wplus: torch.Tensor,
        recipe: EditRecipe,
        progress: bool = False,
        fallbacks: list[dict] | None = None,
    ) -> list[torch.Tensor]:
        """Codes along ``recipe``'s edit (``n_steps + 1`` W+ tensors, the first = ``wplus``).

        ``fallbacks`` receives ``{"step": k, "attribute": ..., "reason": ...}`` for every
        step where a saturated classifier's attribute-level direction replaced its
        instance-aware one (a :class:`SaturatedClassifierWarning` is issued as well)."""
        missing = [a for a in recipe.attributes if a not in self.classifiers or a not in self.directions]
        if missing:
            raise KeyError(f"recipe for {recipe.emotion} needs attribute(s) {missing} not loaded")
        w0 = wplus.to(self.device).reshape(self.generator.num_ws, -1)
        if recipe.step == 0 or (recipe.neutralize and self.probability(recipe.primary, w0) <= 0.5):
            return [w0] * (recipe.n_steps + 1)  # nothing to do; same length for grids
        conditions = [(self.classifiers[c], self.directions[c]) for c in recipe.conditions]
        step = 0

        def direction(w: torch.Tensor) -> torch.Tensor:
            nonlocal step
            found: list[dict] = []
            d = ials_direction(
                w,
                self.render,
                self.classifiers[recipe.primary],
                self.directions[recipe.primary],
                recipe.lambda1,
                conditions,
                recipe.lambda2,
                names=recipe.attributes,
                fallbacks=found,
            )
            if fallbacks is not None:
                fallbacks.extend({"step": step, **f} for f in found)
            step += 1
            return d

        return edit_loop(w0, direction, recipe.step, recipe.n_steps, progress=progress)


class IALSEditor:
    """Change a face's expression by IALS latent editing on StyleGAN-1 FFHQ.

    Parameters
    ----------
    pretrain : path or Pretrain, optional
        IALS's ``pretrain/`` folder (default: ``$S2E_IALS_PRETRAIN`` or
        ``models/ials/pretrain``). Missing files raise a one-line error naming them.
    recipe : {"default", "original"}
        Emotion → edit recipe set (:mod:`s2e_lib.edit.ials.recipes`).
    iterations : int
        Inversion iterations (IALS: 100–1000).
    inversion : InversionConfig, optional
        Full inversion settings (when given, ``iterations`` is ignored).
    models : IALSModels, optional
        Ready models (tests, demos); ``pretrain`` is then ignored.
    device : str, optional
        Default: CUDA when available.
    progress : bool
        tqdm bars for inversion and editing.
    noise : {"fixed", "random"}, optional
        Per-layer generator noise: ``"random"`` redraws it on every forward pass (IALS),
        ``"fixed"`` uses seeded maps (reproducible). Default: ``"random"`` for the
        ``original`` recipe set, ``"fixed"`` otherwise.

    Examples
    --------
    >>> editor = IALSEditor(pretrain="~/IALS/pretrain")        # doctest: +SKIP
    >>> result = editor.edit(photo, "happy", strength=1.0)       # doctest: +SKIP
    """

    name = "ials"

    def __init__(
        self,
        pretrain: Pretrain | str | None = None,
        recipe: str = "default",
        iterations: int = 300,
        inversion: InversionConfig | None = None,
        models: IALSModels | None = None,
        device: str | None = None,
        progress: bool = True,
        method: str = "interfacegan",
        noise: str | None = None,
        **_: Any,
    ):
        get_recipe("happy", recipe)  # validate the recipe set now
        self.recipe = recipe
        self.noise = noise_mode(recipe, noise)
        randomize = self.noise == "random"
        self.inversion = inversion or (
            InversionConfig.original(iterations=iterations, randomize_noise=randomize)
            if recipe == "original"
            else InversionConfig(iterations=iterations, randomize_noise=randomize)
        )
        self.progress = progress
        if models is None:
            attributes = tuple(
                dict.fromkeys(a for e in MISSION_EMOTIONS for a in get_recipe(e, recipe).attributes)
            )
            models = IALSModels.from_pretrain(pretrain, attributes, method=method, device=device)
        # a copy sharing the networks: the caller's models keep their own noise setting
        self.models = replace(models, randomize_noise=randomize)

    def invert(self, crop: np.ndarray) -> InversionResult:
        """Invert an aligned face crop (RGB uint8) to W+."""
        m = self.models
        return invert(m.generator, crop, m.avg_code, vgg=m.vgg, config=self.inversion, progress=self.progress)

    def edit_code(
        self, wplus: torch.Tensor, emotion: str, strength: float = 1.0, recipe: str | None = None
    ) -> list[torch.Tensor]:
        """The codes along the edit of ``wplus`` toward ``emotion``."""
        return self.models.trajectory(
            wplus, get_recipe(emotion, recipe or self.recipe, strength), self.progress
        )

    def edit_aligned(self, crop: np.ndarray, emotion: str, strength: float = 1.0) -> EditResult:
        """Edit an already aligned face crop; returns the generated crop (generator size)."""
        timings: dict[str, float] = {}
        start = time.perf_counter()
        inversion = self.invert(crop)
        timings["invert"] = _ms(start)
        start = time.perf_counter()
        recipe = get_recipe(emotion, self.recipe, strength)
        fallbacks: list[dict] = []
        codes = self.models.trajectory(inversion.wplus, recipe, self.progress, fallbacks=fallbacks)
        timings["edit"] = _ms(start)
        start = time.perf_counter()
        edited = self.models.image(codes[-1])
        timings["generate"] = _ms(start)
        info: dict[str, Any] = {
            "editor": self.name,
            "recipe": asdict(recipe),
            "recipe_set": self.recipe,
            "wplus": codes[-1].cpu().numpy(),
            "wplus_inverted": inversion.wplus.cpu().numpy(),
            "inversion_loss": inversion.losses["total"],
            "reconstruction": inversion.reconstruction,
            f"p_{recipe.primary}_before": self.models.probability(recipe.primary, codes[0]),
            f"p_{recipe.primary}_after": self.models.probability(recipe.primary, codes[-1]),
            "untrained": self.models.untrained,
            "noise": self.noise,
            "vgg_input": self.inversion.vgg_input,
            "fallbacks": fallbacks,
            "timings_ms": timings,
        }
        return EditResult(edited, info)

    def edit(
        self, image: np.ndarray, emotion: str, strength: float = 1.0, *, faces: list[Face] | None = None
    ) -> EditResult:
        """Edit the face in a full photo: align (FFHQ), invert, edit, generate, paste back.

        ``faces`` are faces already detected in ``image`` (the first is edited); the largest
        face is detected when omitted."""
        from s2e_lib.face import align_face, paste_back

        start = time.perf_counter()
        # small demo generators still align at 256² (inversion resizes the crop to the generator)
        aligned = align_face(image, size=max(self.models.generator.resolution, 256), face=first_face(faces))
        align_ms = _ms(start)
        result = self.edit_aligned(aligned.image, emotion, strength)
        start = time.perf_counter()
        pasted = paste_back(image, result.image, aligned)
        result.info["timings_ms"] = {"align": align_ms, **result.info["timings_ms"], "paste": _ms(start)}
        result.info["edited_crop"] = result.image
        return EditResult(pasted, result.info)


def noise_mode(recipe: str, noise: str | None = None) -> str:
    """``noise`` checked, or the recipe set's default (``"random"`` for ``original``)."""
    if noise is None:
        return "random" if recipe == "original" else "fixed"
    if noise not in ("fixed", "random"):
        raise InputError(f"unknown noise mode {noise!r}; expected 'fixed' or 'random'")
    return noise


def _ms(start: float) -> float:
    return round(1000 * (time.perf_counter() - start), 1)


def edit_rows(
    models: IALSModels,
    wplus: torch.Tensor,
    emotions=MISSION_EMOTIONS,
    recipe: str = "default",
    strength: float = 1.0,
    every: int = 1,
    overrides: dict[str, Any] | None = None,
    noise: str | None = None,
) -> dict[str, list[np.ndarray]]:
    """Images along each emotion's edit of ``wplus``: emotion → [step 0, step every, …, last].

    ``overrides`` replaces recipe fields for every emotion (e.g. ``{"lambda1": 0.5, "n_steps": 4}``).
    ``noise`` as in :class:`IALSEditor` (default: per-forward noise for ``original``).
    """
    models = replace(models, randomize_noise=noise_mode(recipe, noise) == "random")
    rows: dict[str, list[np.ndarray]] = {}
    for emotion in emotions:
        r = replace(get_recipe(emotion, recipe, strength), **(overrides or {}))
        codes = models.trajectory(wplus, r)
        keep = list(range(0, len(codes), every))
        if keep[-1] != len(codes) - 1:
            keep.append(len(codes) - 1)
        rows[emotion] = [models.image(codes[i]) for i in keep]
    return rows
