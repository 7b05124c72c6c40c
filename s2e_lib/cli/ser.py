"""``s2e ser``: train, evaluate and apply speech emotion classifiers."""

from __future__ import annotations

import json

import click

from s2e_lib.cli.types import CommaList, FiniteFloat, PositiveInt


@click.group()
def ser() -> None:
    """Speech emotion recognition: train, eval, predict (mission emotions by default)."""


def domain_options(fn):
    """--phone-copies, --mixup, --adversarial, --arousal-valence: the domain-shift recipes of
    :class:`s2e_lib.ser.train.TrainConfig` (docs/ser.md compares them), default the recipe's."""
    options = [
        click.option(
            "--phone-copies",
            type=click.IntRange(0, 100),
            default=None,
            help="Extra copies of every training clip through a phone: AGC, clipping, 300-3400 Hz, AMR-NB, noise.",
        ),
        click.option(
            "--mixup",
            type=click.FloatRange(0, 10),
            default=None,
            help="Cross-corpus mixup: Beta(a, a) mixing weight, e.g. 0.4 (0 = off).",
        ),
        click.option(
            "--adversarial",
            type=click.FloatRange(0, 100),
            default=None,
            help="Weight of the corpus-adversarial (gradient reversal) loss (0 = off).",
        ),
        click.option(
            "--arousal-valence",
            type=click.FloatRange(0, 100),
            default=None,
            help="Weight of the auxiliary arousal/valence regression head (0 = off).",
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _apply_domain_options(config, phone_copies, mixup, adversarial, arousal_valence) -> None:
    for name, value in (
        ("phone_copies", phone_copies),
        ("mixup", mixup),
        ("adversarial", adversarial),
        ("arousal_valence", arousal_valence),
    ):
        if value is not None:
            setattr(config, name, value)


@ser.command()
@click.option(
    "--data",
    "data",
    required=True,
    multiple=True,
    type=click.Path(),
    help="MEAD root, RAVDESS root or manifest CSV; repeat for a multi-corpus model (speakers become CORPUS/SPEAKER).",
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
    type=CommaList(),
    default="",
    help="Comma-separated speakers held out and scored (e.g. Actor_01,Actor_02).",
)
@click.option(
    "--epochs", type=PositiveInt(100_000), default=None, help="Maximum epochs (default: the model's recipe)."
)
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True)
@click.option(
    "--ensemble",
    "n_models",
    type=PositiveInt(100),
    default=None,
    help="Ensemble members (default: the model's recipe).",
)
@click.option(
    "--jobs", type=PositiveInt(256), default=1, show_default=True, help="Feature extraction processes."
)
@click.option(
    "--threads",
    type=PositiveInt(256),
    default=1,
    show_default=True,
    help="Torch CPU threads (small models: 1 is fastest).",
)
@click.option(
    "--augment-copies",
    type=click.IntRange(0, 100),
    default=None,
    help="Random waveform augmentations per training clip (gain, noise, band, codec, room, speed; default: the recipe's).",
)
@click.option(
    "--features",
    "feature_kind",
    default=None,
    help="Feature kind: stats, egemaps, stats+egemaps, stats+egemaps+ge2e, stats+egemaps+ge2e-layers, whisper, "
    "stats+egemaps+ge2e-layers+whisper, logmel, original (default: the model's recipe; docs/ser.md compares them).",
)
@click.option(
    "--speaker-centred",
    is_flag=True,
    help="Centre every clip on its speaker's mean features (a model used with a voice profile: "
    "s2e ser profile / predict --adapt; docs/ser.md).",
)
@domain_options
@click.option("--out", required=True, type=click.Path(), help="Checkpoint file to write.")
@click.option("--overwrite", is_flag=True, help="Replace an existing --out file.")
def train(
    data,
    model,
    test_speakers,
    epochs,
    seed,
    n_models,
    jobs,
    threads,
    augment_copies,
    feature_kind,
    speaker_centred,
    phone_copies,
    mixup,
    adversarial,
    arousal_valence,
    out,
    overwrite,
) -> None:
    """Train a classifier on one or several corpora and write one checkpoint file.

    Runs unchanged under torchrun (DDP: torchrun --nproc_per_node N -m s2e_lib.cli ser train
    ...); rank 0 logs and writes the checkpoint. See docs/scale.md.
    """
    import torch

    from s2e_lib.fileio import check_output
    from s2e_lib.nn.distributed import launch_environment
    from s2e_lib.ser.recipes import recipe
    from s2e_lib.ser.train import train as run_train

    check_output(out, overwrite=overwrite, suffixes=(".pt",))  # before any work
    torch.set_num_threads(max(1, threads))
    config, feature_config = recipe(model, speaker_centred=speaker_centred)
    config.seed = seed
    if epochs is not None:
        config.epochs = epochs
    if n_models is not None:
        config.n_models = n_models
    if augment_copies is not None:
        config.augment_copies = augment_copies
    _apply_domain_options(config, phone_copies, mixup, adversarial, arousal_valence)
    if feature_kind is not None:
        import dataclasses

        from s2e_lib.errors import InputError

        try:
            feature_config = dataclasses.replace(feature_config, kind=feature_kind)
        except ValueError as exc:
            raise InputError(f"--features: {exc}") from None
    result = run_train(
        list(data),
        out,
        config,
        feature_config,
        test_speakers=test_speakers,
        n_jobs=jobs,
        overwrite=overwrite,
        log=lambda line: click.echo(line, err=True),
    )
    if launch_environment()[0] != 0:  # rank 0 reports for the job
        return
    summary = {"path": result["path"], "model": model, "n_clips": result["data"]["n_clips"]}
    if "test" in result["metrics"]:
        test = result["metrics"]["test"]
        summary.update({k: test[k] for k in ("accuracy", "balanced_accuracy", "n")})
    click.echo(json.dumps(summary))


@ser.command(name="eval")
@click.option(
    "--data",
    "data",
    required=True,
    multiple=True,
    type=click.Path(),
    help="MEAD root, RAVDESS root or manifest CSV (repeat: one score per corpus, or the corpora of --loco).",
)
@click.option(
    "--model", "model_path", default=None, type=click.Path(), help="Checkpoint (default: the shipped model)."
)
@click.option(
    "--speakers", type=CommaList(), default="", help="Comma-separated speakers to score (default: all)."
)
@click.option(
    "--labels",
    "among",
    type=CommaList(),
    default="",
    help="Score a closed set: the model's choice among these emotions only, e.g. "
    "angry,happy,neutral,sad for a 4-class corpus (default: all the model's emotions; the JSON "
    "adds closed_set, scored among the emotions the data has, when it has fewer).",
)
@click.option(
    "--adapt",
    is_flag=True,
    help="Score the shipped speaker-centred model (unless --model names one): each speaker's clips "
    "relative to the voice profile of all their clips.",
)
@click.option(
    "--loco",
    is_flag=True,
    help="Leave-one-corpus-out evaluation of a training recipe (trains one model per held-out corpus).",
)
@click.option("--recipe", default="mlp", show_default=True, help="With --loco: the recipe to evaluate.")
@click.option(
    "--test-only",
    type=CommaList(),
    default="",
    help="With --loco: comma-separated corpora never trained on, only scored.",
)
@click.option("--within", is_flag=True, help="With --loco: add speaker-held-out CV inside each corpus.")
@click.option(
    "--robustness", is_flag=True, help="With --loco: add the gain/noise/band/codec/room/speed table."
)
@click.option(
    "--ensemble", "n_models", type=PositiveInt(100), default=None, help="With --loco: members per model."
)
@click.option(
    "--augment-copies",
    type=click.IntRange(0, 100),
    default=None,
    help="With --loco: augmented copies per clip.",
)
@click.option(
    "--speaker-centred",
    is_flag=True,
    help="With --loco: centre every clip on its speaker's mean features (a model used with a voice profile: "
    "s2e ser profile / predict --adapt; docs/ser.md).",
)
@domain_options
@click.option(
    "--jobs", type=PositiveInt(256), default=1, show_default=True, help="Feature extraction processes."
)
@click.option(
    "--out",
    "out_dir",
    default=None,
    type=click.Path(),
    help="With --loco: folder for report.json/.md/confusion.png.",
)
def evaluate(
    data,
    model_path,
    speakers,
    among,
    adapt,
    loco,
    recipe,
    test_only,
    within,
    robustness,
    n_models,
    augment_copies,
    speaker_centred,
    phone_copies,
    mixup,
    adversarial,
    arousal_valence,
    jobs,
    out_dir,
) -> int:
    """Score a model on labelled corpora, or (--loco) a recipe across corpora; the last stdout line is one JSON object."""
    _single_thread()
    if loco and (among or adapt):
        from s2e_lib.errors import InputError

        raise InputError(
            f"{'--labels' if among else '--adapt'} scores a model (without --loco); --loco scores "
            "a recipe (--speaker-centred for an adapted one)"
        )
    if loco:
        return _evaluate_loco(
            data,
            recipe,
            test_only,
            within,
            robustness,
            n_models,
            augment_copies,
            speaker_centred,
            jobs,
            out_dir,
            (phone_copies, mixup, adversarial, arousal_valence),
        )
    from s2e_lib.ser.evaluate import evaluate_files

    emotion_model = _model_for(model_path, adapt)
    chosen = speakers or None
    results = []
    for source in data:
        results.append(
            evaluate_files(
                emotion_model,
                source,
                speakers=chosen,
                log=lambda line: click.echo(f"error: {line}", err=True),
                among=list(among) or None,
            )
        )
    if len(results) == 1:
        result = results[0]
    else:
        bal = [r["balanced_accuracy"] for r in results]
        result = {
            "per_corpus": {str(src): r for src, r in zip(data, results, strict=True)},
            "mean_balanced_accuracy": float(sum(bal) / len(bal)),
            "worst_balanced_accuracy": float(min(bal)),
            "n_skipped": sum(r["n_skipped"] for r in results),
            "model": str(emotion_model.path),
        }
    click.echo(json.dumps(result))
    return 2 if result["n_skipped"] else 0


def _evaluate_loco(
    data,
    recipe_name,
    test_only,
    within,
    robustness,
    n_models,
    augment_copies,
    speaker_centred,
    jobs,
    out_dir,
    domain=(None, None, None, None),
) -> int:
    from s2e_lib.errors import InputError
    from s2e_lib.ser.crosscorpus import cross_corpus_report, load_corpora, loco_markdown, write_report
    from s2e_lib.ser.dataset import scan_corpora
    from s2e_lib.ser.recipes import recipe

    if len(data) < 2:
        raise InputError("--loco needs at least two corpora (repeat --data)")
    if out_dir:
        from s2e_lib.fileio import check_output

        for name in ("report.json", "report.md", "confusion.png"):
            check_output(f"{out_dir}/{name}")
    config, feature_config = recipe(recipe_name, speaker_centred=speaker_centred)
    if n_models is not None:
        config.n_models = n_models
    if augment_copies is not None:
        config.augment_copies = augment_copies
    _apply_domain_options(config, *domain)
    log = lambda line: click.echo(line, err=True)  # noqa: E731
    table = scan_corpora(list(data))
    names = sorted(set(table["corpus"]))
    only = list(test_only)
    unknown = [c for c in only if c not in names]
    if unknown:
        raise InputError(f"--test-only: unknown corpora {', '.join(unknown)} (corpora: {', '.join(names)})")
    if len(names) - len(only) < 2:
        raise InputError("--loco needs at least two training corpora besides --test-only")
    corpus_data = load_corpora(table, feature_config, config, n_jobs=jobs)
    report = cross_corpus_report(
        corpus_data,
        config,
        feature_config,
        test_only=only,
        within=within,
        robustness=robustness,
        n_jobs=jobs,
        log=log,
    )
    click.echo(loco_markdown(report), err=True)
    if out_dir:
        paths = write_report(report, out_dir)
        log("wrote " + ", ".join(str(p) for p in paths.values()))
    click.echo(
        json.dumps(
            {k: report[k] for k in ("selection", "loco", "corpora")}
            | {"test_only": report.get("test_only", {})}
        )
    )
    return 0


MAX_SECONDS_OPTION = click.option(
    "--max-seconds",
    type=FiniteFloat(0, min_open=True),
    default=600.0,
    show_default=True,
    help="Refuse longer recordings (one clip; checked before decoding).",
)


class _FileErrors:
    """``on_error`` of :meth:`EmotionModel.read_files`: one ``error:`` line per bad file;
    :attr:`status` becomes 2 after the first."""

    status = 0

    def __call__(self, path, exc) -> None:
        click.echo(f"error: {exc}", err=True)
        self.status = 2


def _expand_folders(paths) -> list:
    """Each folder among ``paths`` → its audio files (recursively, sorted); files stay as given
    (a missing one is reported with the others' results)."""
    from pathlib import Path

    out = []
    for path in paths:
        if Path(path).is_dir():
            from s2e_lib.pipeline.run import AUDIO_SUFFIXES, collect_files

            out += [str(f) for f in collect_files(path, AUDIO_SUFFIXES, "audio")]
        else:
            out.append(path)
    return out


def _model_for(model_path, speaker_centred: bool):
    """The model to use: --model, else the shipped default (the speaker-centred one with a profile)."""
    from s2e_lib.ser.predict import load_model

    return load_model(model_path, speaker_centred=speaker_centred and model_path is None)


@ser.command()
@click.argument("files", nargs=-1, required=True, type=click.Path())
@click.option(
    "--model", "model_path", default=None, type=click.Path(), help="Checkpoint (default: the shipped model)."
)
@click.option(
    "--profile",
    "profile_path",
    default=None,
    type=click.Path(),
    help="Voice profile of the speaker (s2e ser profile): classify relative to their usual voice "
    "with the speaker-centred model.",
)
@click.option(
    "--adapt",
    is_flag=True,
    help="The FILES are one speaker: make their voice profile from the FILES themselves, then "
    "classify each relative to it (best with 5+ clips in several moods).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line per file.")
@MAX_SECONDS_OPTION
def predict(files, model_path, profile_path, adapt, as_json, max_seconds) -> int:
    """Predict the emotion of each audio FILE (any format; a folder: its audio files), with
    every label's probability.

    A FILE longer than --max-seconds (10 minutes by default) is refused before it is decoded.
    With --profile or --adapt the shipped speaker-centred model hears each clip relative to
    the speaker's usual voice (docs/ser.md, "Speaker adaptation").
    """
    from s2e_lib.errors import InputError
    from s2e_lib.ser.adapt import VoiceProfile

    _single_thread()
    files = _expand_folders(files)
    if profile_path and adapt:
        raise InputError("--profile and --adapt are two sources of one voice profile: give one")
    profile = VoiceProfile.load(profile_path) if profile_path else None
    emotion_model = _model_for(model_path, bool(profile_path or adapt))
    if emotion_model.speaker_centred and not (profile or adapt):
        raise InputError(
            f"{emotion_model.path}: a speaker-centred model needs --profile (s2e ser profile) or --adapt"
        )
    if (profile or adapt) and not emotion_model.speaker_centred:
        raise InputError(
            f"{emotion_model.path}: not a speaker-centred model; --profile and --adapt need one "
            "(the shipped speaker.pt, or one trained with --speaker-centred)"
        )
    if profile is not None:
        profile.check(emotion_model.feature_config, profile_path)
        emotion_model.use_profile(profile)
    report_error = _FileErrors()
    results = emotion_model.predict_files(files, adapt=adapt, max_seconds=max_seconds, on_error=report_error)
    for result in results:
        if as_json:
            click.echo(json.dumps(result))
        else:
            probs = "  ".join(f"{k} {v:.2f}" for k, v in result["probabilities"].items())
            mark = " (uncertain)" if result.get("uncertain") else ""
            click.echo(f"{result['file']}\t{result['emotion']}{mark}\t{probs}")
            for line in result.get("warnings", []):
                click.echo(f"warning: {result['file']}: {line}", err=True)
    if emotion_model.speaker_centred and emotion_model.profile is not None:
        for line in emotion_model.profile.warnings:
            click.echo(f"warning: {line}", err=True)
    return report_error.status


@ser.command()
@click.argument("files", nargs=-1, required=True, type=click.Path())
@click.option("--out", required=True, type=click.Path(), help="Voice profile to write (.npz).")
@click.option(
    "--model",
    "model_path",
    default=None,
    type=click.Path(),
    help="Speaker-centred checkpoint the profile is for (default: the shipped one).",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing --out file.")
@MAX_SECONDS_OPTION
def profile(files, out, model_path, overwrite, max_seconds) -> int:
    """Make the voice profile of one speaker from their FILES (unlabelled audio files or folders
    of them; 5+ clips in several moods, or everyday speech), for `s2e ser predict --profile`
    and `s2e run --voice-profile`.

    The last stdout line is one JSON object (path, clips used, warnings).
    """
    from pathlib import Path

    from s2e_lib.errors import InputError
    from s2e_lib.fileio import check_output

    _single_thread()
    check_output(out, overwrite=overwrite, suffixes=(".npz",))
    missing = [str(p) for p in files if not Path(p).exists()]
    if missing:  # said before any work, in one line
        raise InputError(
            f"{missing[0]}: audio file not found"
            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
        )
    files = _expand_folders(files)
    emotion_model = _model_for(model_path, True)
    if not emotion_model.speaker_centred:
        raise InputError(f"{emotion_model.path}: not a speaker-centred model; a profile is of no use to it")
    report_error = _FileErrors()
    done = emotion_model.read_files(files, max_seconds, on_error=report_error)
    if not done:
        raise InputError("no clip with speech among the files: no profile written")
    voice = emotion_model.profile_of([f for _, f, _ in done], [str(p) for p, _, _ in done])
    written = voice.save(out, overwrite=overwrite)
    for line in voice.warnings:
        click.echo(f"warning: {line}", err=True)
    click.echo(json.dumps({"path": str(written), "n_clips": voice.n_clips, "warnings": voice.warnings}))
    return report_error.status


@ser.command()
@click.argument("model_path", type=click.Path())
@click.option(
    "--report",
    required=True,
    type=click.Path(),
    help="report.json of `s2e ser eval --loco --out DIR` (its held-out temperature is used).",
)
@click.option("--out", required=True, type=click.Path(), help="Calibrated checkpoint to write.")
@click.option("--overwrite", is_flag=True, help="Replace an existing --out file.")
def calibrate(model_path, report, out, overwrite) -> int:
    """Store in a copy of MODEL_PATH the temperature that a leave-one-corpus-out REPORT fitted on
    its held-out corpora: the model's probabilities then mean what they say on corpora it never
    heard (`s2e ser predict` calls a top probability below 0.45 uncertain).

    The last stdout line is one JSON object (path, temperature, ECE before and after).
    """
    from pathlib import Path

    from s2e_lib.errors import InputError
    from s2e_lib.fileio import check_output, require_file
    from s2e_lib.ser.checkpoint import write_calibration

    check_output(out, overwrite=overwrite, suffixes=(".pt",))
    require_file(model_path, "model checkpoint")
    report_path = require_file(report, "leave-one-corpus-out report")
    try:
        calibration = json.loads(Path(report_path).read_text(encoding="utf-8")).get("calibration")
    except (UnicodeDecodeError, json.JSONDecodeError, AttributeError) as exc:
        raise InputError(f"{report}: not a JSON report ({exc.__class__.__name__})") from None
    if not isinstance(calibration, dict):
        raise InputError(f"{report}: holds no calibration (made by `s2e ser eval --loco --out DIR`?)")
    written = write_calibration(model_path, out, {**calibration, "source": str(report)}, overwrite=overwrite)
    click.echo(
        json.dumps(
            {
                "path": str(written),
                **{k: calibration.get(k) for k in ("temperature", "ece_before", "ece_after")},
            }
        )
    )
    return 0


def _single_thread() -> None:
    # the models are small: one thread is fastest and never oversubscribes a shared CPU
    import torch

    torch.set_num_threads(1)
