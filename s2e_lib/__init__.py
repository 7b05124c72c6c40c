"""speech2expression: hear the emotion in a voice and change a face's expression to match.

Stages (one subpackage each):

- :mod:`s2e_lib.data` — MEAD / RAVDESS scanning, preparation, the offline sample corpus
- :mod:`s2e_lib.audio` — audio loading and MFCC features
- :mod:`s2e_lib.ser` — speech emotion recognition models and training
- :mod:`s2e_lib.face` — dlib landmarks, FFHQ alignment, identity distance
- :mod:`s2e_lib.edit` — expression editors: ``warp`` (FACS), ``pix2pixhd``, ``ials``
- :mod:`s2e_lib.pipeline` — voice → emotion → face, end to end
- :mod:`s2e_lib.viz` — plots shared by the notebooks
- :mod:`s2e_lib.cli` — the ``s2e`` command line
"""

__version__ = "0.1.0"
