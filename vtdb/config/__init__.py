"""videos_config.json: the settings and the video list, loaded, defaulted, overridden from the environment and
checked. One module per concern:

- `schema`: the settings with their defaults, ranges and choices (Settings), and ConfigError;
- `groups`: the frozen views of the settings each component receives (WhisperOptions, FrameOptions,
  AnalysisOptions, RecoveryOptions);
- `validate`: the checks of the loaded settings and their normalized values;
- `whisper`: Whisper's model names and devices as users write them;
- `entries`: the video list, each entry parsed by its kind (a file, a ZIM archive, a registered kind);
- `loading`: JSON and the environment read into a Config (load_config, parse_config, settings_only).

The names below are the package's API: import them from `vtdb.config`.
"""

from vtdb.config.entries import (
    EntryKind,
    EntryProblem,
    SourceEntry,
    VideoEntry,
    ZimEntry,
    entry_token,
    parse_audio_track,
    register_entry_kind,
    resolve_path,
)
from vtdb.config.groups import AnalysisOptions, FrameOptions, RecoveryOptions, WhisperOptions
from vtdb.config.loading import Config, build_settings, load_config, parse_config, settings_only, yes_no
from vtdb.config.schema import ANALYZERS, DEFAULT_CONTENT_TYPES, ConfigError, Settings, analysis_options
from vtdb.config.whisper import WHISPER_COMPUTE_TYPES, WHISPER_MODEL_NAMES, whisper_devices

__all__ = [
    "ANALYZERS", "DEFAULT_CONTENT_TYPES", "WHISPER_COMPUTE_TYPES", "WHISPER_MODEL_NAMES", "AnalysisOptions", "Config",
    "ConfigError", "EntryKind", "EntryProblem", "RecoveryOptions", "Settings", "SourceEntry", "VideoEntry",
    "FrameOptions", "WhisperOptions", "ZimEntry", "analysis_options", "build_settings", "entry_token", "load_config",
    "parse_audio_track", "parse_config", "register_entry_kind", "resolve_path", "settings_only", "whisper_devices",
    "yes_no",
]
