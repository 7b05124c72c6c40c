"""Emotion → IALS edit recipe: which attribute to move, which way, how far, what to keep.

IALS edits five attributes it has classifiers and directions for: smiling, male, young,
pose, eyeglasses. Of these only *smiling* is an expression. So latent editing with IALS
can express **happy** well (a smile), **neutral** as "remove the smile", and **sad** /
**angry** only weakly, as a closed, unsmiling mouth: StyleGAN's W space has such
directions, but IALS has no classifier or direction for frowns, lowered brows or
widened eyes, so it cannot produce the brow and eye configurations that define anger
(AU4+5+7+23) or fear (AU1+2+4+5+20). Those emotions are better served by the warp
editor or pix2pixHD; the recipes here say so (``expressible``).

Two recipe sets:

``"original"``
    The original project's settings, reproduced: primary smiling, condition young,
    λ2 = 0.3, step −0.1, 10 steps, and λ1 from :data:`s2e_lib.emotions.IALS_LAMBDA1`.
    λ1 is a *mixing* weight between the attribute-level and the instance-specific
    direction, so λ1 = 100.5 or −100 does not set a strength: it extrapolates the mix to
    ``≈ ±100·(a − s)``, the difference of two directions that both point toward
    "smiling", and the step −0.1 is then taken along that. Worked out: with unit a, s and
    c = ⟨a, s⟩ < 1, the step's component along a is
    ``−0.1·(λ1 − (λ1 − 1)·c)/‖d‖``: for happy (λ1 = 100.5) it is negative for *every*
    classifier — the "happy" recipe moves away from the smiling direction — and for
    angry (λ1 = −100) it is positive whenever c < 0.99, i.e. toward smiling (before
    conditioning on young, which changes it little). Judged by an independent
    expression classifier the results showed the target emotion in 36% of happy, 45%
    of sad and 0% of angry/fear edits (../shared notes).

``"default"`` (ours)
    The sign of the step chooses the emotion's direction on the smiling axis; λ1 = λ2
    = 0.75 (mostly the stable attribute-level direction, with a quarter of the
    instance's own gradient so the edit adapts to this face, interpolating instead of
    extrapolating); the primary direction is conditioned on *young* and *male* so the
    edit changes expression and not apparent age or gender (identity); strength scales
    the step size (10 steps of 0.1 at strength 1: a total move of 1.0 along a unit
    direction in W, the range IALS edits in).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from s2e_lib.emotions import IALS_LAMBDA1, IALS_ORIGINAL_SETTINGS, MISSION_EMOTIONS, parse_emotion
from s2e_lib.errors import InputError

RECIPE_SETS: tuple[str, ...] = ("default", "original")


@dataclass(frozen=True)
class EditRecipe:
    """One emotion's IALS edit.

    Attributes
    ----------
    emotion : str
    primary : str
        Attribute moved (``smiling``).
    conditions : tuple of str
        Attributes kept constant by conditioning.
    lambda1, lambda2 : float
        Mixing weights of the primary / condition directions (1 = attribute-level only).
    step : float
        Signed step size along the primary direction (positive = more of the attribute).
    n_steps : int
        Steps; directions are recomputed at the current code before each.
    neutralize : bool
        Step away from the attribute only if the classifier says it is present now
        (``neutral``: remove a smile, leave an unsmiling face alone).
    expressible : bool
        Whether IALS's attributes can express this emotion at all (see module doc).
    method : str
        Attribute-level direction set (``interfacegan``, ``ganspace`` or ``ours``).
    note : str
        Why, in one sentence.
    """

    emotion: str
    primary: str = "smiling"
    conditions: tuple[str, ...] = ("young", "male")
    lambda1: float = 0.75
    lambda2: float = 0.75
    step: float = 0.1
    n_steps: int = 10
    neutralize: bool = False
    expressible: bool = True
    method: str = "interfacegan"
    note: str = ""

    @property
    def attributes(self) -> tuple[str, ...]:
        """Every attribute whose direction / classifier the recipe needs."""
        return (self.primary, *self.conditions)

    @property
    def total_move(self) -> float:
        """Path length in W (``|step| · n_steps``)."""
        return abs(self.step) * self.n_steps


DEFAULT_RECIPES: dict[str, EditRecipe] = {
    "happy": EditRecipe(
        "happy",
        step=0.1,
        note="a smile is the one expression IALS has a classifier for; conditioned on young/male to keep identity",
    ),
    "sad": EditRecipe(
        "sad",
        step=-0.1,
        expressible=False,
        note="an unsmiling, slightly downturned mouth at most; IALS has no inner-brow-raise (AU1) attribute",
    ),
    "angry": EditRecipe(
        "angry",
        step=-0.12,
        expressible=False,
        note="a closed, tense mouth at most; lowered brows and glare (AU4/5/7) are outside IALS's attributes",
    ),
    "fear": EditRecipe(
        "fear",
        step=-0.05,
        n_steps=6,
        expressible=False,
        note="barely expressible: widened eyes and raised brows are not IALS attributes; a slight un-smile only",
    ),
    "neutral": EditRecipe(
        "neutral",
        step=-0.1,
        neutralize=True,
        note="removes a smile if the smiling classifier sees one; an unsmiling face is left as it is",
    ),
}


def original_recipe(emotion: str) -> EditRecipe:
    """The original project's recipe for ``emotion`` (λ1 from its table, shared settings)."""
    s = IALS_ORIGINAL_SETTINGS
    return EditRecipe(
        emotion,
        primary=str(s["primary_attribute"]),
        conditions=(str(s["condition_attribute"]),),
        lambda1=IALS_LAMBDA1[emotion],
        lambda2=float(s["lambda2"]),
        step=float(s["step"]),
        n_steps=int(s["n_steps"]),
        expressible=emotion in ("happy", "sad", "neutral"),
        note="original project: λ1 table, smiling conditioned on young, λ2 0.3, step −0.1 × 10",
    )


def get_recipe(emotion: str, recipe: str = "default", strength: float = 1.0) -> EditRecipe:
    """The edit recipe for ``emotion``.

    Parameters
    ----------
    emotion : str
        One of the mission emotions (aliases accepted).
    recipe : {"default", "original"}
    strength : float
        Scales the step size (0 = no change, 1 = the recipe as written).

    Raises
    ------
    InputError
        Unknown recipe set or negative strength.
    """
    emotion = parse_emotion(emotion, MISSION_EMOTIONS)
    if recipe not in RECIPE_SETS:
        raise InputError(f"unknown IALS recipe {recipe!r}; expected one of: {', '.join(RECIPE_SETS)}")
    if strength < 0:
        raise InputError(f"strength must be >= 0, got {strength}")
    base = original_recipe(emotion) if recipe == "original" else DEFAULT_RECIPES[emotion]
    return replace(base, step=base.step * strength)


def recipe_table(recipe: str = "default") -> list[dict]:
    """All mission emotions' recipes as rows (for docs and notebooks)."""
    rows = []
    for emotion in MISSION_EMOTIONS:
        r = get_recipe(emotion, recipe)
        rows.append(
            {
                "emotion": emotion,
                "primary": r.primary,
                "conditions": "+".join(r.conditions),
                "lambda1": r.lambda1,
                "lambda2": r.lambda2,
                "step": r.step,
                "n_steps": r.n_steps,
                "expressible": r.expressible,
                "note": r.note,
            }
        )
    return rows
