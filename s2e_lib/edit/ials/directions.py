"""IALS directions in StyleGAN's W space as small pure functions (InterFaceGAN manipulator style).

Vocabulary (Han, Yang, Fu, "Disentangled Face Attribute Editing via Instance-Aware Latent
Space Search", IJCAI 2021):

- attribute-level direction ``a``: one unit vector per attribute for the whole latent
  space (InterFaceGAN's boundary normal, GANSpace's component, or IALS's average);
- instance-specific direction ``s``: the direction one classifier-gradient step takes at
  this particular code;
- instance-aware direction: ``λ·a + (1 − λ)·s`` (λ = 1 is plain InterFaceGAN / GANSpace);
- disentanglement by conditioning: remove from the primary direction its components
  along the condition attributes' directions, so editing smiling does not age the face.

Directions are 1-D tensors of size 512 (unit norm unless said otherwise). A code ``w``
is a W+ tensor (num_ws, 512) or (1, num_ws, 512); a direction moves every row alike.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

Render = Callable[[torch.Tensor], torch.Tensor]
"""W+ (1, num_ws, 512) → image (1, 3, R, R) in [-1, 1], differentiable."""

Classify = Callable[[torch.Tensor], torch.Tensor]
"""Image in [-1, 1] → two-class logits (N, 2); class 1 = attribute present."""


class SaturatedClassifierWarning(UserWarning):
    """A classifier's gradient vanished or overflowed, so its instance-specific direction
    is undefined (IALS's code returns inf/NaN there); the attribute-level direction was
    used instead for that attribute at that step."""


#: below this gradient norm the instance-specific direction is treated as vanished
VANISHING_GRADIENT_NORM = 1e-30


def gradient_problem(grad: torch.Tensor) -> str | None:
    """Why ``grad`` gives no usable direction (``"non-finite gradient"``,
    ``"vanishing gradient"``), or ``None`` when it is fine.

    Checked in the dtype the direction is computed in (:func:`unit`, float32): a gradient
    whose float64 norm is 1e-25 has a float32 norm of 0 (its squares underflow), and its
    "unit" direction would have length 1e-13 instead of 1.
    """
    if not bool(torch.isfinite(grad).all()):
        return "non-finite gradient"
    if float(grad.double().norm()) < VANISHING_GRADIENT_NORM:
        return "vanishing gradient"
    if abs(float(unit(grad).norm()) - 1.0) > 1e-3:
        return "vanishing gradient (below float32 precision)"
    return None


def unit(v: torch.Tensor | np.ndarray, eps: float = 1e-12) -> torch.Tensor:
    """``v`` flattened to 1-D float tensor of unit L2 norm."""
    v = torch.as_tensor(v, dtype=torch.float32).reshape(-1)
    return v / v.norm().clamp_min(eps)


def instance_specific_direction(
    wplus: torch.Tensor, render: Render, classify: Classify, target: int = 1
) -> torch.Tensor:
    """Direction of one classifier-gradient step at ``wplus`` (IALS's ``s``).

    A perturbation δ (one 512-vector added to every W+ row, starting at 0) takes one SGD
    step on ``cross_entropy(classify(render(w + δ)), target)``; the unit direction of the
    step is returned, i.e. ``−∇δ loss / ‖∇δ loss‖``. (IALS uses lr 0.1; the step size does
    not change the unit direction.)

    Parameters
    ----------
    wplus : Tensor (num_ws, 512) or (1, num_ws, 512)
    render : callable
        W+ → image in [-1, 1] (e.g. ``generator.synthesis``).
    classify : callable
        Image → logits (N, 2).
    target : {1, 0}
        1 pushes toward the attribute being present.

    Returns
    -------
    Tensor (512,), unit norm, on ``wplus``'s device; all zeros when the classifier is
    saturated (see :func:`checked_instance_direction`, which says so).
    """
    s, _ = checked_instance_direction(wplus, render, classify, target)
    return torch.zeros(wplus.shape[-1], device=wplus.device) if s is None else s


def checked_instance_direction(
    wplus: torch.Tensor, render: Render, classify: Classify, target: int = 1
) -> tuple[torch.Tensor | None, str | None]:
    """:func:`instance_specific_direction`, or ``(None, reason)`` when the classifier is
    saturated (its gradient vanished or is not finite)."""
    w = wplus.detach().reshape(1, -1, wplus.shape[-1])
    with torch.enable_grad():  # also works when called under torch.no_grad()
        delta = torch.zeros(1, 1, w.shape[-1], device=w.device, requires_grad=True)
        logits = classify(render(w + delta))
        labels = torch.full((logits.shape[0],), target, dtype=torch.long, device=logits.device)
        (grad,) = torch.autograd.grad(F.cross_entropy(logits, labels), delta)
    reason = gradient_problem(grad)
    if reason is not None:
        return None, reason
    return unit(-grad).to(w.device), None


def mix(attribute_dir: torch.Tensor, instance_dir: torch.Tensor, lam: float) -> torch.Tensor:
    """Instance-aware direction ``λ·a + (1 − λ)·s`` (not normalised).

    λ = 1 gives the attribute-level direction, λ = 0 the instance-specific one; λ outside
    [0, 1] extrapolates (as the original project's λ1 = ±100 did).
    """
    return lam * unit(attribute_dir).to(instance_dir) + (1.0 - lam) * unit(instance_dir)


def condition_one(primary: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
    """Remove ``condition`` from ``primary``: ``r = p − ⟨p, c⟩ c`` (unit p, c), normalised."""
    p, c = unit(primary), unit(condition).to(primary.device)
    return unit(p - (p @ c) * c)


def condition_two(primary: torch.Tensor, c1: torch.Tensor, c2: torch.Tensor) -> torch.Tensor:
    """Remove two condition directions from ``primary`` (IALS's closed form), normalised.

    With unit p, c1, c2 and ``k = ⟨c1, c2⟩``::

        α = (⟨p,c1⟩ − ⟨p,c2⟩ k) / (1 − k²)
        β = (⟨p,c2⟩ − ⟨p,c1⟩ k) / (1 − k²)
        r = p − α c1 − β c2

    ``r`` is orthogonal to both c1 and c2. In IALS, c1 is the condition attribute's
    instance-aware direction and c2 its attribute-level direction.
    """
    p, a, b = unit(primary), unit(c1).to(primary.device), unit(c2).to(primary.device)
    k = a @ b
    denom = 1.0 - k * k
    if denom < 1e-10:  # c1 ∥ c2: one condition
        return condition_one(p, a)
    alpha = ((p @ a) - (p @ b) * k) / denom
    beta = ((p @ b) - (p @ a) * k) / denom
    return unit(p - alpha * a - beta * b)


def condition_many(primary: torch.Tensor, conditions: Sequence[torch.Tensor]) -> torch.Tensor:
    """Remove any number of condition directions (least-squares projection), normalised.

    ``r = p − C (CᵀC)⁺ Cᵀ p`` with the conditions as columns of C; equals
    :func:`condition_one` / :func:`condition_two` for one / two conditions.
    """
    p = unit(primary)
    if not conditions:
        return p
    c = torch.stack([unit(v).to(p.device) for v in conditions], dim=1).double()
    coef = torch.linalg.pinv(c.T @ c) @ (c.T @ p.double())
    return unit((p.double() - c @ coef).float())


def step(wplus: torch.Tensor, direction: torch.Tensor, size: float) -> torch.Tensor:
    """``w + size · direction`` on every W+ row."""
    return wplus + size * direction.to(wplus).reshape(*([1] * (wplus.dim() - 1)), -1)


def edit_loop(
    wplus: torch.Tensor,
    direction_fn: Callable[[torch.Tensor], torch.Tensor],
    step_size: float,
    n_steps: int,
    progress: bool = False,
) -> list[torch.Tensor]:
    """IALS's edit loop: recompute the direction at the current code, step, repeat.

    Parameters
    ----------
    wplus : Tensor (num_ws, 512) or (1, num_ws, 512)
    direction_fn : callable
        Current W+ → unit direction (512,).
    step_size : float
        Signed step length (negative moves against the direction).
    n_steps : int

    Returns
    -------
    list of Tensor
        ``n_steps + 1`` codes, the first being ``wplus``; each row moves by exactly
        ``|step_size|`` per step, ``|step_size|·n`` in path length overall.
    """
    codes = [wplus.detach()]
    w = wplus.detach()
    for _ in tqdm(range(n_steps), desc="edit", disable=not progress, leave=False):
        w = step(w, unit(direction_fn(w)).to(w.device), step_size).detach()
        codes.append(w)
    return codes


def ials_direction(
    wplus: torch.Tensor,
    render: Render,
    primary_classifier: Classify,
    primary_attribute_dir: torch.Tensor,
    lambda1: float,
    conditions: Sequence[tuple[Classify, torch.Tensor]] = (),
    lambda2: float = 1.0,
    names: Sequence[str] | None = None,
    fallbacks: list[dict] | None = None,
) -> torch.Tensor:
    """IALS's disentangled instance-aware direction at ``wplus``.

    ``d_pri = λ1·a_pri + (1−λ1)·s_pri``; for each condition attribute
    ``d_cond = λ2·a_cond + (1−λ2)·s_cond``; the result is ``d_pri`` with both ``d_cond``
    and ``a_cond`` of every condition removed (:func:`condition_two` for one condition,
    :func:`condition_many` for several), normalised.

    When a classifier is saturated (its gradient vanished or overflowed; IALS's code
    then returns inf/NaN), that attribute's instance-aware direction falls back to its
    attribute-level direction ``a`` (as λ = 1), a :class:`SaturatedClassifierWarning`
    is issued and ``{"attribute": name, "reason": ...}`` is appended to ``fallbacks``.

    Parameters
    ----------
    conditions : sequence of (classifier, attribute-level direction)
        The attributes to keep unchanged (e.g. young, male).
    names : sequence of str, optional
        Attribute names, primary first then the conditions (for the fallback reports).
    fallbacks : list, optional
        Receives one dict per fallback.
    """
    device = wplus.device
    labels = (
        list(names) if names is not None else ["primary", *(f"condition{i}" for i in range(len(conditions)))]
    )

    def aware(classify: Classify, a: torch.Tensor, lam: float, name: str) -> torch.Tensor:
        s, reason = checked_instance_direction(wplus, render, classify)
        if s is None:
            warnings.warn(
                f"IALS: the {name} classifier is saturated ({reason}); "
                f"using its attribute-level direction instead of the instance-aware one",
                SaturatedClassifierWarning,
                stacklevel=3,
            )
            if fallbacks is not None:
                fallbacks.append({"attribute": name, "reason": reason})
            return unit(a)
        return mix(a, s, lam)

    d_pri = unit(primary_attribute_dir).to(device)
    if lambda1 != 1.0:
        d_pri = aware(primary_classifier, d_pri, lambda1, labels[0])
    removed: list[torch.Tensor] = []
    for i, (classify, a_cond) in enumerate(conditions):
        a_cond = a_cond.to(device)
        if lambda2 != 1.0:
            removed.append(aware(classify, a_cond, lambda2, labels[i + 1]))
        removed.append(unit(a_cond))
    if len(removed) == 2:
        return condition_two(d_pri, removed[0], removed[1])
    return condition_many(d_pri, removed)


def predicted_attribute(wplus: torch.Tensor, render: Render, classify: Classify) -> float:
    """P(attribute present) for the image of ``wplus``."""
    with torch.no_grad():
        return float(classify(render(wplus.reshape(1, -1, wplus.shape[-1]))).softmax(1)[0, 1])


def average_direction(
    sample_codes: Callable[[int], torch.Tensor],
    render: Render,
    classify: Classify,
    n_samples: int = 500,
    target: int = 1,
    batch: int = 1,
    progress: bool = True,
    max_skipped: int = 10_000,
) -> torch.Tensor:
    """IALS's attribute-level direction ("ours"): mean of instance-specific directions.

    Draws codes with ``sample_codes(batch)`` (→ W+ (batch, num_ws, 512)), keeps those the
    classifier does *not* already assign to ``target``, computes the instance-specific
    direction toward ``target`` at each, and returns their normalised mean.

    Returns
    -------
    Tensor (512,), unit norm.

    Raises
    ------
    RuntimeError
        If more than ``max_skipped`` samples are already classified as ``target``.
    """
    total: torch.Tensor | None = None
    used = skipped = 0
    bar = tqdm(total=n_samples, desc="average direction", disable=not progress, leave=False)
    while used < n_samples:
        for w in sample_codes(batch):
            if (predicted_attribute(w, render, classify) > 0.5) == bool(target):
                skipped += 1
                if skipped > max_skipped:
                    raise RuntimeError(
                        f"{skipped} sampled codes were already classified as the target; giving up"
                    )
                continue
            s = instance_specific_direction(w, render, classify, target)
            total = s if total is None else total + s
            used += 1
            bar.update(1)
            if used >= n_samples:
                break
    bar.close()
    return unit(total)


def cosine_matrix(directions: dict[str, torch.Tensor | np.ndarray]) -> tuple[list[str], np.ndarray]:
    """Pairwise cosines between named directions → (names, (k, k) array)."""
    names = list(directions)
    m = torch.stack([unit(directions[n]) for n in names])
    return names, (m @ m.T).numpy()
