"""Station settings: one TOML file, one section per component, defaults only in the components' dataclasses.

``station.toml`` at the project root documents the main settings with their units; any setting of a
component's config dataclass may be given in its section. Unknown keys and wrong types are errors
that name the key (``edge.config_io``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from edge.bus import BusConfig
from edge.camera import CameraConfig
from edge.config_io import ConfigError, from_table, load_toml
from edge.lifter import LifterConfig
from edge.overlay import OverlayConfig
from edge.recorder import RecorderConfig

DEFAULT_SETTINGS_FILE = Path(__file__).resolve().parent.parent / "station.toml"


@dataclass(frozen=True)
class SupervisorConfig:
    """Process supervision of ``bige run`` / ``bige demo``."""

    max_restarts: int = 3  # per worker, then the run stops with an error
    shutdown_timeout_s: float = 5.0  # per worker, after which it is terminated
    drain_timeout_s: float = 3.0  # after the source ends, how long downstream workers may finish
    heartbeat_timeout_s: float = 10.0  # a worker silent for this long is reported as stalled

    def __post_init__(self) -> None:
        if self.max_restarts < 0:
            raise ValueError(f"max_restarts must be >= 0, got {self.max_restarts}")
        for name in ("shutdown_timeout_s", "drain_timeout_s", "heartbeat_timeout_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")


@dataclass(frozen=True)
class StationSettings:
    """All settings of one station."""

    camera: CameraConfig = field(default_factory=CameraConfig)
    lifter: LifterConfig = field(default_factory=LifterConfig)
    overlay: OverlayConfig = field(default_factory=OverlayConfig)
    recorder: RecorderConfig = field(default_factory=RecorderConfig)
    bus: BusConfig = field(default_factory=BusConfig)
    supervisor: SupervisorConfig = field(default_factory=SupervisorConfig)


def load_settings(path: Path | None = None) -> StationSettings:
    """Settings from a TOML file (default: the project's ``station.toml``; defaults if that is absent).

    Raises:
        edge.config_io.ConfigError: the file is missing (when named), not TOML, or does not match.
    """
    if path is None:
        if not DEFAULT_SETTINGS_FILE.is_file():
            return StationSettings()
        path = DEFAULT_SETTINGS_FILE
    try:
        return from_table(StationSettings, load_toml(Path(path)), where="")
    except ConfigError as e:
        message = str(e)
        raise ConfigError(message if message.startswith(str(path)) else f"{path}: {message}") from None
