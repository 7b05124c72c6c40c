"""Expression editors.

All editors share one interface (:class:`s2e_lib.edit.base.Editor`): ``edit(image,
emotion, strength=1.0, *, faces=None) -> EditResult`` on RGB uint8 arrays, where ``faces``
are the faces already found by :func:`s2e_lib.face.detect_faces` (detected when omitted). :func:`get_editor` builds one by
name: ``warp`` (FACS landmark warp, works offline on any photo), ``pix2pixhd`` (needs a
trained checkpoint) and ``ials`` (needs IALS's ``pretrain/`` folder).
"""

from s2e_lib.edit.base import EDITORS, Editor, EditResult, edit_warnings, face_count_warnings, get_editor

__all__ = ["EDITORS", "Editor", "EditResult", "edit_warnings", "face_count_warnings", "get_editor"]
