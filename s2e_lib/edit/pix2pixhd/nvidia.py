"""NVIDIA pix2pixHD checkpoints (``latest_net_G.pth`` / ``latest_net_D.pth``) ↔ s2e state dicts.

NVIDIA's code (github.com/NVIDIA/pix2pixHD, ``models/networks.py``) keeps each network in
``nn.Sequential`` lists, so its keys are positions; s2e names its layers. The networks are
the same layer for layer (the outputs agree to 0.0 with this map), so the map is a
renaming, derived here from the sizes (``n`` downsamplings, ``nb`` residual blocks):

========================================  ============================================
NVIDIA ``GlobalGenerator``                 s2e :class:`~.model.GlobalGenerator`
========================================  ============================================
``model.1`` (``c7s1``)                     ``c7s1.1``
``model.{4+3i}`` (down ``i``)              ``down.{i}.0``
``model.{4+3n+b}.conv_block.{1,5}``        ``res.{b}.conv_block.{1,5}``
``model.{4+3n+nb+3i}`` (up ``i``)          ``up.{i}.0``
``model.{5+6n+nb}`` (to RGB)               ``to_rgb.1``
========================================  ============================================

``LocalEnhancer`` (one enhancer, ``n_local_enhancers=1``): ``model.*`` is G1 without its
output layers → ``global_generator.*``; ``model1_1.1`` / ``model1_1.4`` → ``front.0.1`` /
``front.1.0``; ``model1_2.{b}`` → ``res.{b}``; ``model1_2.{nbl}`` / ``model1_2.{nbl+4}``
→ ``up.0`` / ``to_rgb.1``. NVIDIA's enhancer has no G1 output layer, so s2e's
``global_generator.to_rgb`` (used only in the G1-alone training phase) stays at its
initialisation on import and is dropped on export.

``MultiscaleDiscriminator`` with intermediate features (NVIDIA's default, needed for
feature matching): ``scale{s}_layer{j}.0`` → ``discriminators.{num_D-1-s}.blocks.{j}.0``;
NVIDIA runs ``scale{num_D-1}`` on the full-resolution image, s2e runs
``discriminators.0`` there, hence the reversal. The flat layout (``--no_ganFeat_loss``:
``layer{s}.{k}``) is read too.

Only instance norm (NVIDIA's default ``--norm instance``, no parameters), no dropout and
3-channel inputs (``--label_nc 0 --no_instance``, no feature encoder) are supported: the
s2e label FiLM and residual options have no NVIDIA counterpart.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace

import torch

from s2e_lib.errors import InputError

#: What ``kind`` may be.
KINDS: tuple[str, ...] = ("global", "local", "discriminator")

_GENERATOR_PREFIXES = ("model.", "model1_1.", "model1_2.")
_DISCRIMINATOR_PATTERN = re.compile(r"^(scale\d+_layer\d+|layer\d+)\.")


def _strip_module(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop a ``module.`` prefix (a network saved while wrapped in DataParallel)."""
    if state_dict and all(k.startswith("module.") for k in state_dict):
        return {k[len("module.") :]: v for k, v in state_dict.items()}
    return dict(state_dict)


def detect_kind(state_dict: Mapping) -> str | None:
    """``global``, ``local`` or ``discriminator`` for an NVIDIA-layout state dict, else None."""
    if not isinstance(state_dict, Mapping) or not state_dict:
        return None
    keys = [k for k in _strip_module(state_dict) if isinstance(k, str)]
    if len(keys) != len(state_dict):
        return None
    if all(k.startswith(_GENERATOR_PREFIXES) for k in keys):
        return "local" if any(k.startswith("model1_1.") for k in keys) else "global"
    if all(_DISCRIMINATOR_PATTERN.match(k) for k in keys):
        return "discriminator"
    return None


def is_nvidia_state_dict(state_dict) -> bool:
    """True for a raw NVIDIA pix2pixHD state dict (keys ``model.*``, ``model1_1.*``, ``scale0_layer0.*``)."""
    return detect_kind(state_dict) is not None


# --- the positional map --------------------------------------------------------------


def _global_pairs(n: int, nb: int, with_rgb: bool, s2e_prefix: str = "") -> list[tuple[str, str]]:
    pairs = [("model.1", "c7s1.1")]
    pairs += [(f"model.{4 + 3 * i}", f"down.{i}.0") for i in range(n)]
    for b in range(nb):
        pairs += [(f"model.{4 + 3 * n + b}.conv_block.{k}", f"res.{b}.conv_block.{k}") for k in (1, 5)]
    pairs += [(f"model.{4 + 3 * n + nb + 3 * i}", f"up.{i}.0") for i in range(n)]
    if with_rgb:
        pairs.append((f"model.{5 + 6 * n + nb}", "to_rgb.1"))
    return [(a, s2e_prefix + b) for a, b in pairs]


def _local_pairs(n: int, nb: int, nbl: int) -> list[tuple[str, str]]:
    pairs = _global_pairs(n, nb, with_rgb=False, s2e_prefix="global_generator.")
    pairs += [("model1_1.1", "front.0.1"), ("model1_1.4", "front.1.0")]
    for b in range(nbl):
        pairs += [(f"model1_2.{b}.conv_block.{k}", f"res.{b}.conv_block.{k}") for k in (1, 5)]
    pairs += [(f"model1_2.{nbl}", "up.0"), (f"model1_2.{nbl + 4}", "to_rgb.1")]
    return pairs


def _discriminator_pairs(num_d: int, n_layers: int, flat: bool = False) -> list[tuple[str, str]]:
    pairs = []
    for s in range(num_d):
        for j in range(n_layers + 2):
            # flat layout: [conv, lrelu], then [conv, norm, lrelu] × n_layers, then [conv]
            nvidia = f"layer{s}.{0 if j == 0 else 2 + 3 * (j - 1)}" if flat else f"scale{s}_layer{j}.0"
            pairs.append((nvidia, f"discriminators.{num_d - 1 - s}.blocks.{j}.0"))
    return pairs


def key_pairs(kind: str, config, flat_discriminator: bool = False) -> list[tuple[str, str]]:
    """(NVIDIA module, s2e module) pairs for ``kind`` and a :class:`~.config.TrainConfig`."""
    if kind == "global":
        return _global_pairs(config.n_downsampling, config.n_blocks, with_rgb=True)
    if kind == "local":
        return _local_pairs(config.n_downsampling, config.n_blocks, config.n_blocks_local)
    if kind == "discriminator":
        return _discriminator_pairs(config.num_d, config.n_layers_d, flat_discriminator)
    raise InputError(f"unknown network kind {kind!r}; expected one of: {', '.join(KINDS)}")


def _reference(kind: str, config, in_channels: int) -> torch.nn.Module:
    from s2e_lib.edit.pix2pixhd.config import build_models

    if kind in ("global", "local") and config.local_enhancer != (kind == "local"):
        config = replace(config, local_enhancer=kind == "local")
    generator, discriminator = build_models(config, in_channels)
    return discriminator if kind == "discriminator" else generator


def _check_config(kind: str, config) -> None:
    if kind in ("global", "local") and config.residual:
        raise InputError("NVIDIA pix2pixHD has no residual generator (config residual=True)")


def _rename(
    state_dict: Mapping[str, torch.Tensor], pairs: list[tuple[str, str]], source: str
) -> dict[str, torch.Tensor]:
    lookup = dict(pairs)
    out: dict[str, torch.Tensor] = {}
    unknown = []
    for key, value in state_dict.items():
        module, _, leaf = key.rpartition(".")
        if module in lookup and leaf in ("weight", "bias"):
            out[f"{lookup[module]}.{leaf}"] = value
        else:
            unknown.append(key)
    if unknown:
        shown = ", ".join(unknown[:4]) + (" ..." if len(unknown) > 4 else "")
        raise InputError(
            f"{source}: {len(unknown)} key(s) outside the pix2pixHD map ({shown}); only instance norm, "
            f"no dropout and one local enhancer are supported, and the sizes must match the config"
        )
    return out


def _check_against(reference: dict[str, torch.Tensor], state: dict[str, torch.Tensor], source: str) -> None:
    for key, value in state.items():
        if key not in reference:
            raise InputError(f"{source}: {key} has no counterpart in the configured network")
        if tuple(reference[key].shape) != tuple(value.shape):
            raise InputError(
                f"{source}: {key} has shape {tuple(value.shape)}, the configured network "
                f"{tuple(reference[key].shape)} (wrong --config or sizes?)"
            )


def nvidia_to_s2e(
    state_dict: Mapping[str, torch.Tensor], kind: str | None = None, config=None, in_channels: int = 3
) -> dict[str, torch.Tensor]:
    """An NVIDIA pix2pixHD state dict in s2e's key names.

    Parameters
    ----------
    state_dict : mapping
        ``torch.load("latest_net_G.pth")`` or ``latest_net_D.pth``.
    kind : {"global", "local", "discriminator"}, optional
        Default: detected from the keys.
    config : TrainConfig, optional
        The sizes (``n_downsampling``, ``n_blocks``, ``n_blocks_local``, ``num_d``,
        ``n_layers_d``); default: inferred from the tensors (:func:`infer_config`).
    in_channels : int
        G's input channels (3; D sees ``in_channels + 3``).

    Returns
    -------
    dict
        Loads into the network :func:`~.config.build_models` builds from ``config`` (for
        ``local``, every key but ``global_generator.to_rgb.*``, which NVIDIA lacks).
    """
    state_dict = _strip_module(state_dict)
    detected = detect_kind(state_dict)
    if detected is None:
        raise InputError(
            "not an NVIDIA pix2pixHD state dict (expected model.*, model1_1.* or scale0_layer0.* keys)"
        )
    kind = kind or detected
    if kind != detected:
        raise InputError(f"the state dict holds an NVIDIA {detected} network, not a {kind} one")
    if config is None:
        is_d = kind == "discriminator"
        config = infer_config(None if is_d else state_dict, state_dict if is_d else None)
    _check_config(kind, config)
    flat = kind == "discriminator" and not any(k.startswith("scale") for k in state_dict)
    out = _rename(state_dict, key_pairs(kind, config, flat), f"NVIDIA {kind} state dict")
    _check_against(_reference(kind, config, in_channels).state_dict(), out, f"NVIDIA {kind} state dict")
    return out


def s2e_to_nvidia(
    state_dict: Mapping[str, torch.Tensor], kind: str, config, in_channels: int = 3
) -> dict[str, torch.Tensor]:
    """An s2e generator or discriminator state dict in NVIDIA's key names (the inverse of
    :func:`nvidia_to_s2e`), loadable by NVIDIA's ``networks.define_G`` / ``define_D``
    built with the same sizes. ``global_generator.to_rgb.*`` of a local enhancer is dropped."""
    _check_config(kind, config)
    if kind in ("global", "local") and in_channels != 3:
        raise InputError(
            f"NVIDIA export needs a 3-channel generator (label_nc 0, no instance map); this one has {in_channels}"
        )
    _check_against(
        _reference(kind, config, in_channels).state_dict(), dict(state_dict), f"s2e {kind} state dict"
    )
    inverse = {s2e: nv for nv, s2e in key_pairs(kind, config)}
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        module, _, leaf = key.rpartition(".")
        if module in inverse:
            out[f"{inverse[module]}.{leaf}"] = value
        elif not (kind == "local" and key.startswith("global_generator.to_rgb.")):
            raise InputError(f"s2e {kind} state dict: {key} has no NVIDIA counterpart")
    return out


# --- sizes from the tensors ----------------------------------------------------------


def _block_indices(keys, prefix: str) -> list[int]:
    pattern = re.compile(rf"^{re.escape(prefix)}(\d+)\.conv_block\.1\.weight$")
    return sorted(int(m.group(1)) for k in keys if (m := pattern.match(k)))


def infer_config(generator: Mapping | None = None, discriminator: Mapping | None = None, base=None):
    """A :class:`~.config.TrainConfig` (``base``, default the ``original`` preset) with the
    network sizes read off NVIDIA state dicts: ngf, downsamplings, blocks, local enhancer,
    ndf, D layers and scales."""
    from s2e_lib.edit.pix2pixhd.config import get_config

    config = base if base is not None else get_config("original")
    changes: dict = {}
    if generator is not None:
        g = _strip_module(generator)
        kind = detect_kind(g)
        if kind not in ("global", "local"):
            raise InputError("the generator state dict is not an NVIDIA pix2pixHD generator")
        blocks = _block_indices(g, "model.")
        if not blocks or "model.1.weight" not in g:
            raise InputError("NVIDIA generator state dict: no model.1 / residual blocks found")
        n = (blocks[0] - 4) // 3
        changes.update(ngf=int(g["model.1.weight"].shape[0]), n_downsampling=n, n_blocks=len(blocks))
        if kind == "local":
            changes.update(
                local_enhancer=True,
                ngf_local=int(g["model1_1.1.weight"].shape[0]),
                n_blocks_local=len(_block_indices(g, "model1_2.")),
            )
        else:
            changes.update(local_enhancer=False)
        multiple = 2 ** (n + (1 if kind == "local" else 0))
        if config.size % multiple:
            changes["size"] = max(multiple, config.size // multiple * multiple)
    if discriminator is not None:
        d = _strip_module(discriminator)
        if detect_kind(d) != "discriminator":
            raise InputError("the discriminator state dict is not an NVIDIA pix2pixHD discriminator")
        if any(k.startswith("scale") for k in d):
            scales = {int(m.group(1)) for k in d if (m := re.match(r"^scale(\d+)_layer(\d+)\.", k))}
            layers = {int(m.group(2)) for k in d if (m := re.match(r"^scale(\d+)_layer(\d+)\.", k))}
            first = d["scale0_layer0.0.weight"]
            n_layers = len(layers) - 2
        else:
            scales = {int(m.group(1)) for k in d if (m := re.match(r"^layer(\d+)\.", k))}
            convs = {int(m.group(1)) for k in d if (m := re.match(r"^layer0\.(\d+)\.weight$", k))}
            first = d["layer0.0.weight"]
            n_layers = len(convs) - 2
        changes.update(ndf=int(first.shape[0]), num_d=len(scales), n_layers_d=n_layers)
    return replace(config, **changes)


# --- whole checkpoints -----------------------------------------------------------------


def s2e_checkpoint(
    generator: Mapping[str, torch.Tensor],
    discriminator: Mapping[str, torch.Tensor] | None = None,
    base=None,
    data: dict | None = None,
) -> dict:
    """An s2e ``generator.pt`` dict (what :func:`~.checkpoint.load_checkpoint` returns) from
    NVIDIA's ``latest_net_G.pth`` (and optionally ``latest_net_D.pth``, stored under ``D``).

    The network sizes are read off the tensors on top of ``base`` (default: the
    ``original`` preset); ``data`` defaults to the original project's condition, a sign
    drawn at the centre of the frame (``position="center"``), at the config's size. A local
    enhancer's ``global_generator.to_rgb`` (absent in NVIDIA's) keeps a seed-0 initialisation.
    """
    from dataclasses import asdict

    from s2e_lib.edit.pix2pixhd.checkpoint import GENERATOR_FORMAT

    config = infer_config(generator, discriminator, base)
    kind = "local" if config.local_enhancer else "global"
    g_state = nvidia_to_s2e(generator, kind, config)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        reference = _reference(kind, config, 3).state_dict()
    g_state = {k: g_state.get(k, v) for k, v in reference.items()}
    if data is None:
        from s2e_lib.edit.pix2pixhd.build import BuildSettings

        data = BuildSettings(condition="sign", size=config.size, position="center").to_dict()
    state = {
        "format": GENERATOR_FORMAT,
        "config": asdict(config),
        "data": data,
        "in_channels": 3,
        "step": 0,
        "source": "nvidia-pix2pixhd",
        "G": g_state,
    }
    if discriminator is not None:
        state["D"] = nvidia_to_s2e(discriminator, "discriminator", config)
    return state


__all__ = [
    "KINDS",
    "s2e_checkpoint",
    "detect_kind",
    "infer_config",
    "is_nvidia_state_dict",
    "key_pairs",
    "nvidia_to_s2e",
    "s2e_to_nvidia",
]
