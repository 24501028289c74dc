import dataclasses

import pytest

from edge.config_io import ConfigError, load_toml, to_table
from edge.settings import DEFAULT_SETTINGS_FILE, StationSettings, load_settings


def _leaves(table, prefix=""):
    for key, value in table.items():
        if isinstance(value, dict):
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def test_station_toml_documents_the_true_defaults():
    written = dict(_leaves(load_toml(DEFAULT_SETTINGS_FILE)))
    defaults = dict(_leaves(to_table(StationSettings())))
    assert written, "station.toml is empty"
    for key, value in written.items():
        assert key in defaults, f"station.toml names an unknown setting {key}"
        assert defaults[key] == value, f"station.toml says {key} = {value!r}, the default is {defaults[key]!r}"
    assert load_settings() == StationSettings()


def test_settings_file_errors_name_the_file_and_key(tmp_path):
    bad = tmp_path / "station.toml"
    bad.write_text('[lifter]\nworld_weight = "heavy"\n')
    with pytest.raises(ConfigError, match=r"station.toml: lifter.world_weight: expected a number"):
        load_settings(bad)
    bad.write_text('[camera.source]\nspec = ""\n')
    with pytest.raises(ConfigError, match="station.toml"):
        load_settings(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml")


def test_a_partial_file_overrides_only_what_it_names(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('[camera.source]\nspec = "clip.mp4"\n[lifter]\ncalibration_frames = 12\n')
    settings = load_settings(path)
    assert settings.camera.source.spec == "clip.mp4" and settings.lifter.calibration_frames == 12
    assert dataclasses.replace(settings.lifter, calibration_frames=30) == StationSettings().lifter
