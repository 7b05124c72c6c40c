"""The action-unit warp editor: FACS displacements on dlib's 68 landmarks and a smooth warp,
inventing as little as it can, so that edits pass for photographs.

Works offline on any photo with dlib's landmark model and the smile exemplar library that
ships with the package (:mod:`s2e_lib.edit.warp.exemplars`, from the FRL London set). Per face:

1. Landmarks (dlib; detection on a downscaled copy); glasses are looked for
   (:mod:`s2e_lib.edit.warp.glasses`) and the photo's grain, blur and white balance
   measured (:mod:`s2e_lib.edit.warp.photo`).
2. Target landmarks: the mouth is first brought to rest (:func:`relax_mouth`, so a
   smiling photo can turn sad), then the emotion's recipe of action units
   (:mod:`s2e_lib.edit.warp.recipes`) is added, in inter-ocular units, times a saturating
   function of ``strength``; a smile on a closed mouth follows the mean of real toothy
   smiles. A photo's open mouth warps its own teeth with the lips; where happy, angry or
   fear part a closed mouth, a real person's mouth shows. No teeth are drawn.
3. Geometry: a thin-plate spline from target to source landmarks, pinned by fixed
   anchors around the face, on the border of a region of interest and along a spectacle
   frame, gives a backward map evaluated on a coarse grid and upsampled, shrunk until it
   does not fold; only that region is resampled, so hair, background and image size stay
   as they were. Inside the eyes the map is a rigid shift, so the iris keeps its size; a
   lowered lid slides over the eye, and skin outside the eye never shows its contents.
4. Appearance: a real mouth (teeth) from the exemplar library where lips part beyond the
   photo's own opening, closed lips over a closed wide-open mouth, the iris's own hidden
   arc and eye white under a raised lid, each with the photo's grain and blur
   (Poisson-blended); for a smile the expression ratio images of real smiles on the skin,
   otherwise faint shading for folds and furrows, limited by the skin's own texture.

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
