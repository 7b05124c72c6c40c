"""The action-unit warp editor: FACS displacements on dlib's 68 landmarks, a smooth warp,
and the appearance cues geometry cannot give (mouth interior, eye whites, folds, furrows).

Works offline on any photo with only dlib's landmark model. Per face:

1. Landmarks (dlib; detection on a downscaled copy).
2. Target landmarks: the mouth is first brought to rest (:func:`relax_mouth`, so a
   smiling photo can turn sad), then the emotion's recipe of action units
   (:mod:`s2e_lib.edit.warp.recipes`) is added, in inter-ocular units, times ``strength``.
3. Geometry: a thin-plate spline from target to source landmarks, pinned by fixed
   anchors around the face and on the border of a region of interest, gives a backward
   map evaluated on a coarse grid and upsampled; only that region is resampled, so
   hair, background and image size stay as they were. Inside the eyes the map is a
   rigid shift, so a raised lid uncovers new sclera instead of stretching the iris.
4. Appearance: newly opened mouth → dark cavity with teeth laid out along the lips'
   curves; a wide-open mouth closed → closed lips; newly opened eye → sclera; shading strokes (multiplicative, as in expression ratio images, Liu, Shan
   & Zhang 2001) for nasolabial folds, cheek raise, crow's feet, glabellar furrows,
   forehead wrinkles, the lip line and the chin.

>>> from s2e_lib.edit.warp import WarpEditor
>>> result = WarpEditor().edit(image, "happy", strength=1.0)  # doctest: +SKIP
>>> result.image.shape == image.shape                          # doctest: +SKIP
"""

from __future__ import annotations

from s2e_lib.edit.warp.editor import WarpEditor, warp_face
from s2e_lib.edit.warp.geometry import backward_map, smooth_closed, tps_apply, tps_fit
from s2e_lib.edit.warp.landmarks import (
    EMOTIONS,
    MAX_STRENGTH,
    FaceFrame,
    keep_brows_above_eyes,
    relax_mouth,
    target_landmarks,
)
from s2e_lib.edit.warp.recipes import RECIPES, recipe_field

__all__ = [
    "EMOTIONS",
    "MAX_STRENGTH",
    "FaceFrame",
    "RECIPES",
    "WarpEditor",
    "backward_map",
    "keep_brows_above_eyes",
    "recipe_field",
    "relax_mouth",
    "smooth_closed",
    "target_landmarks",
    "tps_apply",
    "tps_fit",
    "warp_face",
]
