"""The quickstart's interactive panel (ipywidgets): pick or upload a voice and a face, choose the
editor, the strength and (optionally) the emotion, and see the result update.

The panel's logic is plain Python (:meth:`QuickstartPanel.show`), so papermill and the tests can
drive it without a browser; in JupyterLab the widgets call the same method.

The panel only shows what is true now: an error hides the previous result and names the file
the user picked; the editor menu offers only editors that can run here (the others are listed,
greyed out, with the reason); with automatic strength the slider is disabled and shows the
strength the last run used.
"""

from __future__ import annotations

import contextlib
import html
import itertools
import os
import shutil
import tempfile
import weakref
from pathlib import Path
from typing import Any

from s2e_lib.emotions import MISSION_EMOTIONS
from s2e_lib.errors import S2EError, user_message

#: What the editor menu calls each editor.
EDITOR_LABELS: dict[str, str] = {"warp": "warp", "pix2pixhd": "pix2pixHD", "ials": "IALS"}

#: The emotion menu's first entry: use the emotion heard in the voice.
FROM_THE_VOICE = "from the voice"


def editor_availability(
    checkpoint: str | os.PathLike | None = None, pretrain: str | os.PathLike | None = None
) -> dict[str, str | None]:
    """Which editors can run here, checked from their files without loading any network.

    Parameters
    ----------
    checkpoint : path, optional
        The pix2pixHD checkpoint (default: where :class:`~s2e_lib.edit.pix2pixhd.Pix2PixHDEditor`
        looks, ``models/pix2pixhd/generator.pt``).
    pretrain : path, optional
        IALS's ``pretrain/`` folder (default: ``$S2E_IALS_PRETRAIN`` or ``models/ials/pretrain``).

    Returns
    -------
    dict
        Editor name → ``None`` when it can run, else a short reason (``"needs a checkpoint
        (models/pix2pixhd/generator.pt not found)"``).
    """
    return {
        "warp": None,  # landmark warp: needs only the dlib models installed with the package
        "pix2pixhd": _pix2pixhd_missing(checkpoint),
        "ials": _ials_missing(pretrain),
    }


def _pix2pixhd_missing(checkpoint: str | os.PathLike | None) -> str | None:
    from s2e_lib.edit.pix2pixhd.editor import default_checkpoint

    path = Path(checkpoint) if checkpoint else default_checkpoint()
    return None if path.exists() else f"needs a checkpoint ({path} not found)"


def _ials_missing(pretrain: str | os.PathLike | None) -> str | None:
    """The first file :class:`~s2e_lib.edit.ials.IALSEditor` would miss (it checks the same
    files, for the same attributes, before loading anything)."""
    from s2e_lib.edit.ials.pretrain import Pretrain
    from s2e_lib.edit.ials.recipes import get_recipe

    pre = Pretrain(pretrain)
    if not pre.root.is_dir():
        return f"needs IALS weights ({pre.root} not found)"
    attributes = dict.fromkeys(a for e in MISSION_EMOTIONS for a in get_recipe(e).attributes)
    needed = [pre.generator_path, pre.avg_code_path, pre.vgg_path]
    for attribute in attributes:
        needed += [pre.classifier_path(attribute), pre.direction_path(attribute)]
    missing = [path for path in needed if not path.is_file()]
    return f"needs IALS weights ({missing[0]} not found)" if missing else None


class QuickstartPanel:
    """Widgets around :class:`s2e_lib.pipeline.run.Pipeline`.

    Parameters
    ----------
    audio_choices, face_choices : dict of label → path
        What the dropdowns offer (uploads are added to them).
    out_dir : path
        Where each run writes its result (overwritten by the next run).
    editor : str
        Initial editor; an editor that cannot run here falls back to ``warp``.
    strength : str or float
        ``"auto"`` (from the classifier's confidence) or a number in 0…1.5.
    checkpoint, pretrain : path, optional
        The pix2pixHD checkpoint and IALS ``pretrain/`` folder (default: their usual places).

    Attributes
    ----------
    widget : ipywidgets.VBox
        The panel to display.
    result : dict or None
        The last successful run's result (``None`` after an error).
    error : str or None
        The last run's one-line error, as shown (``None`` after a success).
    """

    def __init__(
        self,
        audio_choices: dict[str, Path],
        face_choices: dict[str, Path],
        out_dir: Path,
        editor: str = "warp",
        strength: str | float = "auto",
        checkpoint: str | os.PathLike | None = None,
        pretrain: str | os.PathLike | None = None,
    ):
        import ipywidgets as w

        self.out_dir = Path(out_dir)
        self.checkpoint, self.pretrain = checkpoint, pretrain
        self.result: dict[str, Any] | None = None
        self.error: str | None = None
        self._pipelines: dict[str, object] = {}
        self._started = False  # after the first run, every change re-runs
        self._quiet = False  # while the panel itself sets widgets: no re-run
        self.upload_dir = Path(tempfile.mkdtemp(prefix="s2e_upload_"))
        weakref.finalize(self, shutil.rmtree, self.upload_dir, ignore_errors=True)
        self._upload_count = itertools.count(1)
        self._picked_names: dict[str, str] = {}  # stored upload path → the name the user picked

        self.unavailable = {
            name: why for name, why in editor_availability(checkpoint, pretrain).items() if why
        }
        runnable = [name for name in EDITOR_LABELS if name not in self.unavailable]
        self.audio = w.Dropdown(options=list(audio_choices.items()), description="voice")
        self.face = w.Dropdown(options=list(face_choices.items()), description="face")
        self.audio_upload = w.FileUpload(
            accept="audio/*,.wav,.m4a,.mp3,.flac,.ogg", multiple=False, description="upload voice"
        )
        self.face_upload = w.FileUpload(
            accept="image/*,.heic,.heif,video/*", multiple=False, description="upload face"
        )
        self.editor = w.Dropdown(
            options=[(EDITOR_LABELS[name], name) for name in runnable],
            value=editor if editor in runnable else "warp",
            description="editor",
        )
        self.editor_note = w.HTML(
            "<br>".join(
                f"<span style='color:#888' title='{html.escape(why)}'>"
                f"{EDITOR_LABELS[name]} — unavailable: {html.escape(why)}</span>"
                for name, why in self.unavailable.items()
            )
        )
        self.emotion = w.Dropdown(
            options=[(FROM_THE_VOICE, "")] + [(e, e) for e in MISSION_EMOTIONS],
            value="",
            description="emotion",
        )
        auto = str(strength) == "auto"
        self.auto = w.Checkbox(value=auto, description="auto strength")
        self.strength = w.FloatSlider(
            value=1.0 if auto else float(strength),
            min=0.0,
            max=1.5,
            step=0.05,
            description="strength",
            continuous_update=False,
            disabled=auto,
        )
        self.button = w.Button(description="Run", button_style="primary")
        self.status = w.HTML()
        self.image = w.Image(format="png", layout=w.Layout(display="none", max_width="100%"))
        for widget, css in [
            (self.audio, "s2e-audio"),
            (self.face, "s2e-face"),
            (self.audio_upload, "s2e-audio-upload"),
            (self.face_upload, "s2e-face-upload"),
            (self.editor, "s2e-editor"),
            (self.editor_note, "s2e-editor-note"),
            (self.emotion, "s2e-emotion"),
            (self.auto, "s2e-auto"),
            (self.strength, "s2e-strength"),
            (self.button, "s2e-run"),
            (self.status, "s2e-status"),
            (self.image, "s2e-result"),
        ]:
            widget.add_class(css)

        # each upload button with its dropdown, its own label and the path of the upload it shows
        self._uploads = [
            [self.audio_upload, self.audio, self.audio_upload.description, None],
            [self.face_upload, self.face, self.face_upload.description, None],
        ]
        for entry in self._uploads:
            entry[0].observe(lambda _, entry=entry: self._take_upload(entry), names="value")
            entry[1].observe(lambda _, entry=entry: self._upload_still_selected(entry), names="value")
        self.button.on_click(lambda _: self.show())
        self.auto.observe(self._auto_changed, names="value")
        self.strength.observe(lambda _: self.auto.value or self._changed(), names="value")
        for widget in (self.audio, self.face, self.editor, self.emotion):
            widget.observe(lambda _: self._changed(), names="value")
        self.widget = w.VBox(
            [
                w.HBox([self.audio, self.audio_upload]),
                w.HBox([self.face, self.face_upload]),
                w.HBox([self.editor, self.editor_note]),
                w.HBox([self.emotion, self.auto, self.strength]),
                w.HBox([self.button, self.status]),
                self.image,
            ]
        )
        self.widget.add_class("s2e-panel")

    @contextlib.contextmanager
    def _setting(self):
        """Set widgets without the change re-running the pipeline."""
        quiet, self._quiet = self._quiet, True
        try:
            yield
        finally:
            self._quiet = quiet

    def _changed(self) -> None:
        if self._started and not self._quiet:
            self.show()

    def _auto_changed(self, change) -> None:
        self.strength.disabled = bool(change["new"])
        # switching auto off keeps the strength just used: the shown result stays true
        if change["new"]:
            self._changed()

    def _take_upload(self, entry: list) -> None:
        """Store an uploaded file under its own name (in a folder of its own, so two uploads
        of one name do not collide), select it and run.

        The button keeps the upload (ipywidgets shows its count, "(1)") and names the file
        while that upload is selected; choosing anything else in the menu resets it to
        "upload voice (0)", so picking the same file again is a change and selects it again.
        """
        from s2e_lib.fileio import safe_name

        upload, dropdown, label, _ = entry
        items = list(upload.value)
        if not items:
            return
        with self._setting():
            for item in items:
                folder = self.upload_dir / str(next(self._upload_count))
                folder.mkdir()
                path = folder / safe_name(Path(str(item["name"])).name or "upload")
                path.write_bytes(bytes(item["content"]))
                self._picked_names[str(path)] = str(item["name"])
                entry[3] = path
                dropdown.options = list(dropdown.options) + [(f"uploaded: {item['name']}", path)]
                dropdown.value = path
            names = [str(item["name"]) for item in items]
            upload.description = (
                f"uploaded: {names[0]}" if len(names) == 1 else f"uploaded {len(names)} files"
            )
            upload.tooltip = f"{label} (replaces {', '.join(names)})"
        self.show()

    def _upload_still_selected(self, entry: list) -> None:
        """After the menu moved off the file last uploaded, the button says so: back to its
        own label with no file held."""
        upload, dropdown, label, shown = entry
        if shown is None or dropdown.value == shown:
            return
        entry[3] = None
        with self._setting():
            upload.value = ()
            upload.description, upload.tooltip = label, None

    def pipeline(self):
        """The pipeline of the selected editor (loaded once per editor)."""
        from s2e_lib.pipeline.run import Pipeline, RunConfig

        key = self.editor.value
        if key not in self._pipelines:
            config = RunConfig(
                editor=key,
                overwrite=True,
                checkpoint=str(self.checkpoint) if self.checkpoint and key == "pix2pixhd" else None,
                pretrain=str(self.pretrain) if self.pretrain and key == "ials" else None,
            )
            self._pipelines[key] = Pipeline(config)
        return self._pipelines[key]

    def run(self) -> dict:
        """Run the pipeline on the current choices; returns the result dict."""
        pipeline = self.pipeline()
        pipeline.fixed_strength = None if self.auto.value else float(self.strength.value)
        return pipeline.run_pair(
            self.audio.value, self.face.value, self.out_dir, emotion=self.emotion.value or None
        )

    def user_message(self, message: str) -> str:
        """``message`` with each stored upload's path replaced by the name the user picked."""
        for stored, picked in self._picked_names.items():
            message = message.replace(str(Path(stored).resolve()), picked).replace(stored, picked)
        return message

    def show(self) -> dict | None:
        """Run and show the summary figure; on an error hide the previous result and show the
        error. Returns the result dict, or None after an error."""
        self._started = True
        self.status.value = "running…"
        try:
            result = self.run()
        except S2EError as exc:
            self._show_error(str(exc))
            return None
        except Exception as exc:  # a bug, not bad input: show it, and keep the traceback for the log
            message = user_message(exc)
            if message is not None:  # a PyAV (FFmpeg) error about an input, in readable words
                self._show_error(message)
                return None
            self._show_error(f"unexpected {type(exc).__name__}: {exc}")
            raise
        self.result, self.error = result, None
        self.image.value = Path(result["outputs"]["summary.png"]).read_bytes()
        self.image.layout.display = None
        if self.auto.value:
            with self._setting():
                self.strength.value = float(result["strength"])
        heard = max(result["probabilities"], key=result["probabilities"].get)
        shown = result["emotion"]
        face = f"face {shown} (override)" if self.emotion.value else f"face {shown}"
        self.status.value = html.escape(
            f"voice: {heard} (p={result['probabilities'][heard]:.2f}) → {face}, "
            f"strength {result['strength']:.2f} ({result['strength_mode']}), "
            f"{result['seconds']['total']:.2f} s"
        ) + "".join(  # what the result says besides (clipped audio, faces left unedited, ...)
            f"<br><span class='s2e-warning' style='color:#a65e00'>warning: {html.escape(self.user_message(w))}</span>"
            for w in result.get("warnings", [])
        )
        return result

    def _show_error(self, message: str) -> None:
        self.result, self.error = None, f"error: {self.user_message(message)}"
        self.image.layout.display = "none"
        self.image.value = b""
        self.status.value = f"<span class='s2e-error' style='color:#c00'>{html.escape(self.error)}</span>"
