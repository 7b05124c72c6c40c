"""Audio loading and features."""

from s2e_lib.audio.io import SAMPLE_RATE, AudioDecodeError, load_audio, write_wav

__all__ = ["SAMPLE_RATE", "AudioDecodeError", "load_audio", "write_wav"]
