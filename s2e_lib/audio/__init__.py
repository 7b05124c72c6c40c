"""Audio loading and features."""

from s2e_lib.audio.features import (
    FeatureConfig,
    extract,
    extract_file,
    extract_files,
    log_mel,
    mfcc_stats,
    original_recipe,
)
from s2e_lib.audio.io import SAMPLE_RATE, AudioDecodeError, load_audio, write_wav

__all__ = [
    "SAMPLE_RATE",
    "AudioDecodeError",
    "FeatureConfig",
    "extract",
    "extract_file",
    "extract_files",
    "load_audio",
    "log_mel",
    "mfcc_stats",
    "original_recipe",
    "write_wav",
]
