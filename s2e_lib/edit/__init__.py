"""Expression editors.

All editors share one interface (:class:`s2e_lib.edit.base.Editor`): ``edit(image,
emotion, strength) -> image`` on RGB uint8 arrays. :func:`get_editor` builds one by
name: ``warp`` (FACS landmark warp, works offline on any photo), ``pix2pixhd`` (needs a
trained checkpoint) and ``ials`` (needs IALS's ``pretrain/`` folder).
"""

from s2e_lib.edit.base import EDITORS, Editor, EditResult, get_editor

__all__ = ["EDITORS", "Editor", "EditResult", "get_editor"]
