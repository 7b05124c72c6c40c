"""pix2pixHD expression editing: a neutral face plus an emotion condition → that emotion.

- :mod:`.model`: generators (global, local enhancer), multi-scale discriminator, losses.
- :mod:`.signs`: the original project's five signs and the one-hot label condition.
- :mod:`.build`: neutral/emotion pairs built from a prepared tree's frames.
- :mod:`.dataset`: a built pair folder as a torch Dataset, and the step-seeded sampler.
- :mod:`.config`: the training config, presets (``tiny``, ``paper``, ``original``) and schedule.
- :mod:`.checkpoint`: saving / loading runs and the trained generator.
- :mod:`.nvidia`: NVIDIA pix2pixHD checkpoints ↔ s2e state dicts (the positional key map).
- :mod:`.train`: one training step and the resumable training loop.
- :mod:`.editor`: :class:`Pix2PixHDEditor`, the trained generator behind ``s2e edit``.
"""

from s2e_lib.edit.pix2pixhd.editor import Pix2PixHDEditor, default_checkpoint

__all__ = ["Pix2PixHDEditor", "default_checkpoint"]
