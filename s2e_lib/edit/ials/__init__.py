"""IALS instance-aware latent editing on StyleGAN-1 (Han, Yang, Fu, IJCAI 2021).

Loads IALS's released ``pretrain/`` folder unchanged (:class:`Pretrain`): the StyleGAN-1
FFHQ generator (:mod:`.stylegan1`), ResNet-18 attribute classifiers (:mod:`.classifier`)
and VGG-16. Directions (:mod:`.directions`), GAN inversion (:mod:`.invert`), emotion
recipes (:mod:`.recipes`) and the editor (:class:`IALSEditor`); :func:`check_pretrain`
checks a ``pretrain/`` folder file by file (:mod:`.check`).
"""

from s2e_lib.edit.ials.check import CheckReport, check_pretrain
from s2e_lib.edit.ials.classifier import ATTRIBUTES, AttributeClassifier
from s2e_lib.edit.ials.directions import SaturatedClassifierWarning
from s2e_lib.edit.ials.editor import IALSEditor, IALSModels, edit_rows
from s2e_lib.edit.ials.invert import InversionConfig, InversionResult, invert, load_code, save_inversion
from s2e_lib.edit.ials.pretrain import Pretrain
from s2e_lib.edit.ials.recipes import EditRecipe, get_recipe, recipe_table
from s2e_lib.edit.ials.stylegan1 import Generator, StyleGANConfig

__all__ = [
    "ATTRIBUTES",
    "AttributeClassifier",
    "CheckReport",
    "EditRecipe",
    "Generator",
    "IALSEditor",
    "IALSModels",
    "InversionConfig",
    "InversionResult",
    "Pretrain",
    "SaturatedClassifierWarning",
    "StyleGANConfig",
    "check_pretrain",
    "edit_rows",
    "get_recipe",
    "invert",
    "load_code",
    "recipe_table",
    "save_inversion",
]
