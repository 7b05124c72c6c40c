"""``s2e ser``: train, evaluate and apply speech emotion classifiers."""

from __future__ import annotations

import json

import click


@click.group()
def ser() -> None:
    """Speech emotion recognition: train, eval, predict (mission emotions by default)."""


@ser.command()
@click.option(
    "--data", "data", required=True, type=click.Path(), help="MEAD root, RAVDESS root or manifest CSV."
)
@click.option(
    "--model",
    "model",
    default="mlp",
    show_default=True,
    help="linear | mlp | crnn (recipes in s2e_lib/ser/recipes.py)",
)
@click.option(
    "--test-speakers",
    default="",
    help="Comma-separated speakers held out and scored (e.g. Actor_01,Actor_02).",
)
@click.option("--epochs", type=int, default=None, help="Maximum epochs (default: the model's recipe).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--ensemble", "n_models", type=int, default=None, help="Ensemble members (default: the model's recipe)."
)
@click.option("--jobs", type=int, default=1, show_default=True, help="Feature extraction processes.")
@click.option(
    "--threads",
    type=int,
    default=1,
    show_default=True,
    help="Torch CPU threads (small models: 1 is fastest).",
)
@click.option("--out", required=True, type=click.Path(), help="Checkpoint file to write.")
@click.option("--overwrite", is_flag=True, help="Replace an existing --out file.")
def train(data, model, test_speakers, epochs, seed, n_models, jobs, threads, out, overwrite) -> None:
    """Train a classifier on a corpus and write one checkpoint file."""
    import torch

    from s2e_lib.ser.recipes import recipe
    from s2e_lib.ser.train import train as run_train

    torch.set_num_threads(max(1, threads))
    config, feature_config = recipe(model)
    config.seed = seed
    if epochs is not None:
        config.epochs = epochs
    if n_models is not None:
        config.n_models = n_models
    speakers = [s.strip() for s in test_speakers.split(",") if s.strip()]
    result = run_train(
        data,
        out,
        config,
        feature_config,
        test_speakers=speakers,
        n_jobs=jobs,
        overwrite=overwrite,
        log=lambda line: click.echo(line, err=True),
    )
    summary = {"path": result["path"], "model": model, "n_clips": result["data"]["n_clips"]}
    if "test" in result["metrics"]:
        test = result["metrics"]["test"]
        summary.update({k: test[k] for k in ("accuracy", "balanced_accuracy", "n")})
    click.echo(json.dumps(summary))


@ser.command(name="eval")
@click.option(
    "--data", "data", required=True, type=click.Path(), help="MEAD root, RAVDESS root or manifest CSV."
)
@click.option(
    "--model", "model_path", default=None, type=click.Path(), help="Checkpoint (default: the shipped model)."
)
@click.option("--speakers", default="", help="Comma-separated speakers to score (default: all).")
def evaluate(data, model_path, speakers) -> int:
    """Score a model on the mission emotions of a corpus; the last stdout line is one JSON object."""
    from s2e_lib.ser.evaluate import evaluate_files
    from s2e_lib.ser.predict import load_model

    _single_thread()

    emotion_model = load_model(model_path)
    chosen = [s.strip() for s in speakers.split(",") if s.strip()] or None
    result = evaluate_files(
        emotion_model, data, speakers=chosen, log=lambda line: click.echo(f"error: {line}", err=True)
    )
    click.echo(json.dumps(result))
    return 2 if result["n_skipped"] else 0


@ser.command()
@click.argument("files", nargs=-1, required=True, type=click.Path())
@click.option(
    "--model", "model_path", default=None, type=click.Path(), help="Checkpoint (default: the shipped model)."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line per file.")
def predict(files, model_path, as_json) -> int:
    """Predict the emotion of each audio FILE (any format), with every label's probability."""
    from s2e_lib.errors import S2EError
    from s2e_lib.ser.predict import load_model

    _single_thread()

    emotion_model = load_model(model_path)
    status = 0
    for path in files:
        try:
            result = emotion_model.predict_file(path)
        except S2EError as exc:
            click.echo(f"error: {exc}", err=True)
            status = 2
            continue
        if as_json:
            click.echo(json.dumps(result))
        else:
            probs = "  ".join(f"{k} {v:.2f}" for k, v in result["probabilities"].items())
            click.echo(f"{path}\t{result['emotion']}\t{probs}")
    return status


def _single_thread() -> None:
    # the models are small: one thread is fastest and never oversubscribes a shared CPU
    import torch

    torch.set_num_threads(1)
