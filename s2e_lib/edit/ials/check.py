"""Check a user's IALS ``pretrain/`` folder file by file: names, shapes, dtypes, sha256.

What "complete" means here
--------------------------
*Required* are the data files IALS's code and this project read by name, as the IALS
release holds them (the layout of ``../shared/data/ials_pretrain``, described in
``../shared/README.md`` as "data files of the IALS release as the original project used
them"):

- ``attr_level_direction/{interfacegan,ganspace}/{ffhq,celebahq}/<attr>.npy`` for the five
  attributes, and the seven ``ours`` directions (all five for FFHQ, smiling and male for
  CelebA-HQ): shape (1, 512); InterFaceGAN's are float64, the others float32;
- ``stylegan/{ffhq,celebahq}/avg_code.npy``: mean w, (512,) float32;
- ``real_latent_code/{real1,real2,avg_latent}.npy``: W+ codes, (18, 512) float32 (any
  other ``.npy`` there must have that shape and dtype too).

Their sha256 sums are :data:`EXPECTED_SHA256` (measured on ``../shared``'s copy, see there).

*Optional* are the weights: ``stylegan/<dataset>/weight.pkl`` (StyleGAN-1 1024² generator,
:meth:`StyleGANConfig.ffhq1024`'s 116 tensors), ``classifier/<attr>/weight.pkl``
(ResNet-18 attribute classifiers) and ``vgg/imagenet_vgg16.pth`` (torchvision VGG-16).
The direction analysis needs none of them; ``s2e ials invert``/``edit`` and the
:class:`~s2e_lib.edit.ials.IALSEditor` need the FFHQ generator, its average code, the
classifiers of the recipe's attributes and (to invert) VGG-16. A missing weight file is a
note, not an error, unless ``require_weights=True``; a weight file that is present is
read with ``torch.load(weights_only=True)`` and its keys, shapes and dtypes are compared
with the modules that load it. Their hashes are not known (no copy was available), so
they are not hashed.
"""

from __future__ import annotations

import hashlib
import os
import stat
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from s2e_lib.edit.ials.classifier import ATTRIBUTES
from s2e_lib.errors import one_line

DATASETS: tuple[str, ...] = ("ffhq", "celebahq")
#: IALS's own ("ours") directions in the release: CelebA-HQ has only smiling and male.
OURS_ATTRIBUTES: dict[str, tuple[str, ...]] = {"ffhq": ATTRIBUTES, "celebahq": ("male", "smiling")}
#: dtype of each direction method's files as released (InterFaceGAN's SVM normals are float64).
DIRECTION_DTYPES: dict[str, str] = {"interfacegan": "<f8", "ganspace": "<f4", "ours": "<f4"}
REAL_CODES: tuple[str, ...] = ("avg_latent", "real1", "real2")
NUM_WS, LATENT = 18, 512

#: sha256 of each required data file, relative to ``pretrain/``. Source: the files in
#: ``../shared/data/ials_pretrain`` ("data files of the IALS release as the original project
#: used them", ``../shared/README.md``), hashed with ``sha256sum`` on 2026-12 for issue #27.
#: The release itself publishes no sums; a mismatch means the file differs from that copy.
EXPECTED_SHA256: dict[str, str] = {
    "attr_level_direction/ganspace/celebahq/eyeglasses.npy": "cd9b1c04193c9449661c916a7c0e434c60171aaa2f8a1203ab474e3420c72eb7",
    "attr_level_direction/ganspace/celebahq/male.npy": "d5998010ed519ab9a217d2a85ea85d84464200fa73fcfbff0a447f00deb0e20c",
    "attr_level_direction/ganspace/celebahq/pose.npy": "e4fb8ed1dfab89c5f7a715c76929a90cf5d8f8fcba7cda90ebab657cfcbae06e",
    "attr_level_direction/ganspace/celebahq/smiling.npy": "a04c91b9c1a7f519b99525226a959b652b049272660d39878705bb03346ccad7",
    "attr_level_direction/ganspace/celebahq/young.npy": "72110907cb3afd389251203599e606f4589b1d4033a099ed139604a3a3713ad2",
    "attr_level_direction/ganspace/ffhq/eyeglasses.npy": "5e132c61146a9c008435d1049341034959208d454240fa1a5c688e323b74e325",
    "attr_level_direction/ganspace/ffhq/male.npy": "e0d387919d6ac31826055cd4a268e5195ab9503d1819514404b5a48ddc786920",
    "attr_level_direction/ganspace/ffhq/pose.npy": "86c1ba3ae6dbba92452b82a3b79516c0fdcc59c734630fe54d6e4a5e9d18b95e",
    "attr_level_direction/ganspace/ffhq/smiling.npy": "1bf0e5a392e6e7200dc64456192d0111a8dafe631554787444b322363ebfab02",
    "attr_level_direction/ganspace/ffhq/young.npy": "e93dd822f7df9037a60bd8dde4a0414cb8aa7e509a377e55cd96701df085af2e",
    "attr_level_direction/interfacegan/celebahq/eyeglasses.npy": "897301c31db00bab38f709252ed7acff4c3b827abac1e0deed0c8ea590c6ebf9",
    "attr_level_direction/interfacegan/celebahq/male.npy": "efa7d73ce4186bd791aa61a8deb2a2b7fae975381b80f3d48fa4361b80d00300",
    "attr_level_direction/interfacegan/celebahq/pose.npy": "7fd4cb3bec7200a514c4de806ecafbd2b5713a981670c26b4d0bbfa2ad89769c",
    "attr_level_direction/interfacegan/celebahq/smiling.npy": "a722af195a3b6372027edbbd1aed3880bbb882fae45cfc4cb24a21a6ef37c82e",
    "attr_level_direction/interfacegan/celebahq/young.npy": "85cc45009e0f4dbce9790b3a9f118cd63c2be2bc115345797c28a8d8863938e3",
    "attr_level_direction/interfacegan/ffhq/eyeglasses.npy": "ac826235cc7347eb1f57ba9e6e2904e52f34a6052a4db03dc693648a4f231cc5",
    "attr_level_direction/interfacegan/ffhq/male.npy": "077953b129bbb52605b3391d4824938c9ded35337f60d282478c72dcc3c5c28f",
    "attr_level_direction/interfacegan/ffhq/pose.npy": "263a0c6cf05694e7aeb9e910bcd4cf073476b110b36a4496ceb221c34c9a6222",
    "attr_level_direction/interfacegan/ffhq/smiling.npy": "5a729c200c2c933806116cb77624ccedbd6fce21aa98fca8be49aeaa35caa1c7",
    "attr_level_direction/interfacegan/ffhq/young.npy": "25ee5afabd25aaba5662c7c40917723601f71750875ffd69ea775b77551b832e",
    "attr_level_direction/ours/celebahq/male.npy": "de6ef3f1afcf885a64e003602620b23e4b659f4c9507e36f928cb7eab0928992",
    "attr_level_direction/ours/celebahq/smiling.npy": "69ce3dc73336c7ad4aff7a4b5af8abce40dd6f47cd110e189a12c40c7399f039",
    "attr_level_direction/ours/ffhq/eyeglasses.npy": "28dc9e27860bfa0bddd34da671f8513bf6e7f76c14f711de8ac153237459c014",
    "attr_level_direction/ours/ffhq/male.npy": "85e27b7b731ddae1707af64401bef40a0741f8217bcaed069e4568235d9606a0",
    "attr_level_direction/ours/ffhq/pose.npy": "fa2fbbe1a4bbfb3ef2ac2691a6d4370e954edc51444d5f5c2b78790d3680bbd0",
    "attr_level_direction/ours/ffhq/smiling.npy": "84d351ea2a9b2c5c29b5c97dc4c3b8653085c3501939bd70762e673e39bf80c7",
    "attr_level_direction/ours/ffhq/young.npy": "ebbdf21f2454b244bcd7526f184f6ace861242e9025b4c51a319c4abefac5279",
    "real_latent_code/avg_latent.npy": "704de9f5c1959a62077ef03d1fd26a819bde884d536e818ac66764e5d81c4a70",
    "real_latent_code/real1.npy": "511874ea3817e38bf2f091b871a3a71d5afd42a495f4d487015b8ee696503808",
    "real_latent_code/real2.npy": "288912219a3bf5fd4d87b7485de66e1aa8734ae55bdf1663e7f7e4220469567f",
    "stylegan/celebahq/avg_code.npy": "8e1b83105d21672623af1699b94a354d4d9aed808618260f6d703d477066835c",
    "stylegan/ffhq/avg_code.npy": "5119b10bc4ce351afe49f4da8995d8bf8145ab1ae1b064de8b9d687ade869766",
}


@dataclass(frozen=True)
class ArraySpec:
    """A required ``.npy`` file: where, what, shape, dtype (numpy ``dtype.str``), sha256."""

    path: str
    what: str
    shape: tuple[int, ...]
    dtype: str
    sha256: str | None = None


@dataclass(frozen=True)
class WeightSpec:
    """An optional torch-saved state dict and the module layout it must match."""

    path: str
    what: str
    layout: Callable[[], dict]  # key → meta tensor (shape, dtype)
    extra_keys_ok: bool = False  # torchvision's VGG file has classifier.* we do not use


def required_arrays(sha256s: Mapping[str, str] | None = None) -> list[ArraySpec]:
    """Every required data file of IALS's ``pretrain/`` (see the module docstring), with its
    expected sha256 from ``sha256s`` (default :data:`EXPECTED_SHA256`; None where not known)."""
    sha256s = EXPECTED_SHA256 if sha256s is None else sha256s
    specs = []
    for method, dtype in DIRECTION_DTYPES.items():
        for dataset in DATASETS:
            attrs = OURS_ATTRIBUTES[dataset] if method == "ours" else ATTRIBUTES
            for attr in attrs:
                rel = f"attr_level_direction/{method}/{dataset}/{attr}.npy"
                specs.append(
                    ArraySpec(rel, f"{method} {attr} direction", (1, LATENT), dtype, sha256s.get(rel))
                )
    for dataset in DATASETS:
        rel = f"stylegan/{dataset}/avg_code.npy"
        specs.append(ArraySpec(rel, f"{dataset} average W code", (LATENT,), "<f4", sha256s.get(rel)))
    for name in REAL_CODES:
        rel = f"real_latent_code/{name}.npy"
        specs.append(ArraySpec(rel, "real W+ latent code", (NUM_WS, LATENT), "<f4", sha256s.get(rel)))
    return specs


def _generator_layout() -> dict:
    import torch

    from s2e_lib.edit.ials.stylegan1 import Generator, StyleGANConfig

    with torch.device("meta"):
        return dict(Generator(StyleGANConfig.ffhq1024()).state_dict())


def _classifier_layout() -> dict:
    import torch

    from s2e_lib.edit.ials.classifier import AttributeClassifier

    with torch.device("meta"):
        return dict(AttributeClassifier().state_dict())


def _vgg_layout() -> dict:
    import torch

    from s2e_lib.nn.vgg import make_features

    with torch.device("meta"):
        return {f"features.{k}": v for k, v in make_features("vgg16").state_dict().items()}


def optional_weights() -> list[WeightSpec]:
    """The weight files (optional unless asked for; see the module docstring)."""
    specs = [
        WeightSpec(f"stylegan/{d}/weight.pkl", f"{d} StyleGAN-1 generator", _generator_layout)
        for d in DATASETS
    ]
    specs += [
        WeightSpec(f"classifier/{a}/weight.pkl", f"{a} attribute classifier", _classifier_layout)
        for a in ATTRIBUTES
    ]
    specs.append(WeightSpec("vgg/imagenet_vgg16.pth", "VGG-16 weights", _vgg_layout, extra_keys_ok=True))
    return specs


@dataclass
class Problem:
    path: Path
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass
class CheckReport:
    """What :func:`check_pretrain` found. ``ok`` is True when ``problems`` is empty."""

    root: Path
    problems: list[Problem] = field(default_factory=list)
    notes: list[Problem] = field(default_factory=list)  # optional files missing
    checked: int = 0  # files found and checked
    required: int = 0
    required_right: int = 0
    optional_present: int = 0
    optional_total: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        """One line: the verdict, how many required files are right, which weights are there."""
        bad = {p.path for p in self.problems}
        weights = f"{self.optional_present} of {self.optional_total} optional weight files present"
        if self.required_right == 0 and self.checked == 0 and bad == {self.root}:
            return f"{self.root}: 1 problem; nothing checked"
        head = "ok" if self.ok else f"{len(self.problems)} problem(s) in {len(bad)} file(s)"
        return (
            f"{self.root}: {head}; {self.required_right} of {self.required} required data files right "
            f"(name, shape, dtype, sha256); {weights}"
        )


def _file_problem(path: Path) -> str | None:
    """Why ``path`` is not a readable regular file (None when it is). Never opens it."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "broken symbolic link" if path.is_symlink() else "missing"
    except OSError as exc:
        return f"cannot be read ({exc.strerror or one_line(exc)})"
    if stat.S_ISDIR(st.st_mode):
        return "not a regular file (a directory)"
    if not stat.S_ISREG(st.st_mode):
        kind = (
            "a named pipe"
            if stat.S_ISFIFO(st.st_mode)
            else "a socket"
            if stat.S_ISSOCK(st.st_mode)
            else "a device"
        )
        return f"not a regular file ({kind})"
    if not os.access(path, os.R_OK):
        return "not readable (permission denied)"
    return None


def sha256(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _dtype_text(found: np.dtype, expected: np.dtype) -> str:
    if found.name == expected.name:  # same kind, other byte order
        return f"dtype {found.str}, expected {expected.str}"
    return f"dtype {found.name}, expected {expected.name}"


def check_array(path: Path, shape: tuple[int, ...], dtype: str, sha: str | None = None) -> list[str]:
    """Problems of one ``.npy`` file: header, pickled objects, shape, dtype, truncation,
    non-finite values, then (only when the rest is right) its sha256."""
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                found_shape, _, found_dtype = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                found_shape, _, found_dtype = np.lib.format.read_array_header_2_0(f)
            else:
                return [f"unsupported .npy format version {version[0]}.{version[1]}"]
            offset = f.tell()
    except (ValueError, OSError, SyntaxError) as exc:
        return [f"not a .npy array ({one_line(exc)})"]
    if found_dtype.hasobject:
        return ["holds Python objects (a pickled array), refused: loading it could run code"]
    problems = []
    if tuple(found_shape) != tuple(shape):
        problems.append(f"shape {tuple(found_shape)}, expected {tuple(shape)}")
    expected_dtype = np.dtype(dtype)
    if found_dtype != expected_dtype:
        problems.append(_dtype_text(found_dtype, expected_dtype))
    if problems:
        return problems
    expected_size = offset + int(np.prod(shape)) * expected_dtype.itemsize
    size = path.stat().st_size
    if size != expected_size:
        return [
            f"{'truncated' if size < expected_size else 'trailing data'}: {size} bytes, expected {expected_size}"
        ]
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        return [f"not a readable .npy array ({one_line(exc)})"]
    if not np.isfinite(array).all():
        return [f"{int((~np.isfinite(array)).sum())} non-finite value(s)"]
    if sha is not None:
        found = sha256(path)
        if found != sha:
            return [f"sha256 {found[:12]}…, expected {sha[:12]}… (differs from IALS's release file)"]
    return []


def check_state_dict(path: Path, layout: dict, extra_keys_ok: bool = False) -> list[str]:
    """Problems of a torch-saved state dict against ``layout`` (key → tensor of the right
    shape and dtype): unreadable with ``weights_only=True``, missing / unexpected keys,
    wrong shapes, wrong dtypes (one line per kind, naming the first example)."""
    import torch

    from s2e_lib.nn.vgg import load_problem

    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols it then reads fine
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a pickle of Python objects, a truncated or foreign file
        text = str(exc)
        if "Unsupported operand" in text or "invalid load key" in text:
            return ["not a torch-saved file (neither a zip archive nor a pickle)"]
        return [f"not a readable state dict ({load_problem(exc)})"]
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        return [f"holds a {type(state).__name__}, expected a state dict of tensors"]
    problems = []
    missing = [k for k in layout if k not in state]
    unexpected = [k for k in state if k not in layout]
    if missing:
        problems.append(f"{len(missing)} of {len(layout)} key(s) missing (first: {missing[0]})")
    if unexpected and not extra_keys_ok:
        problems.append(f"{len(unexpected)} unexpected key(s) (first: {unexpected[0]})")
    shapes = [k for k in layout if k in state and tuple(state[k].shape) != tuple(layout[k].shape)]
    if shapes:
        k = shapes[0]
        problems.append(
            f"{len(shapes)} tensor(s) with the wrong shape (first: {k} is {tuple(state[k].shape)}, "
            f"expected {tuple(layout[k].shape)})"
        )
    dtypes = [k for k in layout if k in state and state[k].dtype != layout[k].dtype]
    if dtypes:
        k = dtypes[0]
        problems.append(
            f"{len(dtypes)} tensor(s) with the wrong dtype (first: {k} is "
            f"{str(state[k].dtype).removeprefix('torch.')}, expected {str(layout[k].dtype).removeprefix('torch.')})"
        )
    bad = [
        k
        for k in layout
        if k in state and state[k].is_floating_point() and not torch.isfinite(state[k]).all()
    ]
    if bad:
        problems.append(f"{len(bad)} tensor(s) with non-finite values (first: {bad[0]})")
    return problems


def _extra_codes(root: Path) -> Iterator[Path]:
    folder = root / "real_latent_code"
    if folder.is_dir():
        known = {f"{n}.npy" for n in REAL_CODES}
        yield from (p for p in sorted(folder.glob("*.npy")) if p.name not in known)


def check_pretrain(
    root: str | os.PathLike,
    require_weights: bool = False,
    weights: bool = True,
    progress: bool = False,
    expected_sha256: Mapping[str, str] | None = None,
) -> CheckReport:
    """Check every file of an IALS ``pretrain/`` folder.

    Parameters
    ----------
    root : path
        The folder.
    require_weights : bool
        Report missing weight files as problems (for ``s2e ials invert``/``edit``).
    weights : bool
        Load and check the weight files that are present (False: only note their presence).
    progress : bool
        A tqdm bar over the files.
    expected_sha256 : mapping, optional
        Relative path → sha256 (default :data:`EXPECTED_SHA256`).

    Returns
    -------
    CheckReport
        ``problems``: one :class:`Problem` per problem (a file may have several);
        ``notes``: optional files that are missing.
    """
    from tqdm.auto import tqdm

    root = Path(root)
    report = CheckReport(root)
    arrays = required_arrays(expected_sha256)
    weight_specs = optional_weights()
    report.required, report.optional_total = len(arrays), len(weight_specs)
    if not root.is_dir():
        what = "missing" if not root.exists() and not root.is_symlink() else "not a directory"
        report.problems.append(Problem(root, f"IALS pretrain folder {what}"))
        return report
    extra = list(_extra_codes(root))
    items = [
        *arrays,
        *(ArraySpec(str(p.relative_to(root)), "W+ code", (NUM_WS, LATENT), "<f4") for p in extra),
    ]
    layouts: dict[Callable, dict] = {}
    for spec in tqdm([*items, *weight_specs], desc="checking pretrain", disable=not progress, leave=False):
        path = root / spec.path
        problem = _file_problem(path)
        if isinstance(spec, WeightSpec):
            if problem == "missing":
                line = Problem(
                    path, f"missing ({'required' if require_weights else 'optional'}: {spec.what})"
                )
                (report.problems if require_weights else report.notes).append(line)
                continue
            report.optional_present += problem is None
        if problem is not None:
            report.problems.append(
                Problem(path, f"{problem} ({spec.what})" if problem == "missing" else problem)
            )
            continue
        report.checked += 1
        if isinstance(spec, ArraySpec):
            found = check_array(path, spec.shape, spec.dtype, spec.sha256)
        elif weights:
            if spec.layout not in layouts:
                layouts[spec.layout] = spec.layout()
            found = check_state_dict(path, layouts[spec.layout], spec.extra_keys_ok)
        else:
            found = []
        report.problems.extend(Problem(path, p) for p in found)
        report.required_right += not found and spec in arrays
    return report
