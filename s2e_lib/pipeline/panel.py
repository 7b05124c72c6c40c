"""The quickstart's interactive panel (ipywidgets): pick or upload a voice and a face, choose the
editor and strength, and see the result update.

The panel's logic is plain Python (:meth:`QuickstartPanel.run`), so papermill and the tests can
drive it without a browser; in JupyterLab the widgets call the same method.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from s2e_lib.errors import S2EError


class QuickstartPanel:
    """Widgets around :class:`s2e_lib.pipeline.run.Pipeline`.

    Parameters
    ----------
    audio_choices, face_choices : dict of label → path
        What the dropdowns offer (uploads are added to them).
    out_dir : path
        Where each run writes its result (overwritten by the next run).
    editor, strength : str
        Initial editor and strength (``"auto"`` or a number).
    """

    def __init__(
        self,
        audio_choices: dict[str, Path],
        face_choices: dict[str, Path],
        out_dir: Path,
        editor: str = "warp",
        strength: str | float = "auto",
    ):
        import ipywidgets as w

        self.out_dir = Path(out_dir)
        self._pipelines: dict[str, object] = {}
        self.upload_dir = Path(tempfile.mkdtemp(prefix="s2e_upload_"))
        self.audio = w.Dropdown(options=list(audio_choices.items()), description="voice")
        self.face = w.Dropdown(options=list(face_choices.items()), description="face")
        self.audio_upload = w.FileUpload(
            accept="audio/*,.wav,.m4a,.mp3,.flac", multiple=False, description="upload voice"
        )
        self.face_upload = w.FileUpload(accept="image/*", multiple=False, description="upload face")
        self.editor = w.Dropdown(options=["warp", "pix2pixhd", "ials"], value=editor, description="editor")
        self.auto = w.Checkbox(value=str(strength) == "auto", description="auto strength")
        self.strength = w.FloatSlider(
            value=1.0 if str(strength) == "auto" else float(strength),
            min=0.0,
            max=1.5,
            step=0.05,
            description="strength",
            continuous_update=False,
        )
        self.button = w.Button(description="Run", button_style="primary")
        self.output = w.Output()
        self.status = w.HTML()
        self.audio_upload.observe(
            lambda change: self._take_upload(self.audio_upload, self.audio), names="value"
        )
        self.face_upload.observe(lambda change: self._take_upload(self.face_upload, self.face), names="value")
        self.button.on_click(lambda _: self.show())
        self.strength.observe(lambda change: self.auto.value or self.show(), names="value")
        self.widget = w.VBox(
            [
                w.HBox([self.audio, self.audio_upload]),
                w.HBox([self.face, self.face_upload]),
                w.HBox([self.editor, self.auto, self.strength]),
                w.HBox([self.button, self.status]),
                self.output,
            ]
        )

    def _take_upload(self, upload, dropdown) -> None:
        for item in upload.value:
            path = self.upload_dir / Path(item["name"]).name
            path.write_bytes(bytes(item["content"]))
            dropdown.options = list(dropdown.options) + [(f"uploaded: {path.name}", path)]
            dropdown.value = path

    def pipeline(self):
        from s2e_lib.pipeline.run import Pipeline, RunConfig

        key = self.editor.value
        if key not in self._pipelines:
            self._pipelines[key] = Pipeline(RunConfig(editor=key, overwrite=True))
        return self._pipelines[key]

    def run(self) -> dict:
        """Run the pipeline on the current choices; returns the result dict."""
        pipeline = self.pipeline()
        pipeline.fixed_strength = None if self.auto.value else float(self.strength.value)
        return pipeline.run_pair(self.audio.value, self.face.value, self.out_dir)

    def show(self) -> dict | None:
        """Run and display the summary figure in the panel's output area."""
        from IPython.display import Image, display

        self.status.value = "running…"
        self.output.clear_output(wait=True)
        with self.output:
            try:
                result = self.run()
            except S2EError as exc:
                self.status.value = f"<span style='color:#c00'>error: {exc}</span>"
                return None
            display(Image(filename=result["outputs"]["summary.png"]))
        self.status.value = (
            f"{result['emotion']} (p={result['probabilities'][result['emotion']]:.2f}), "
            f"strength {result['strength']}, {result['seconds']['total']:.2f} s"
        )
        return result
