import enum
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from edge.config_io import ConfigError, from_table, load_toml, to_table


class Mode(enum.Enum):
    FAST = "fast"
    EXACT = "exact"


@dataclass(frozen=True)
class Inner:
    rate_hz: float = 30.0
    names: tuple[str, ...] = ("a", "b")

    def __post_init__(self):
        if self.rate_hz <= 0:
            raise ValueError(f"rate_hz must be positive, got {self.rate_hz}")


@dataclass(frozen=True)
class Outer:
    mode: Mode = Mode.FAST
    count: int = 3
    path: Path | None = None
    inner: Inner = field(default_factory=Inner)


def test_table_converts_enums_tuples_paths_nested_and_ints_to_floats():
    cfg = from_table(Outer, {"mode": "exact", "path": "x/y", "inner": {"rate_hz": 60, "names": ["q"]}})
    assert cfg == Outer(Mode.EXACT, 3, Path("x/y"), Inner(60.0, ("q",)))
    assert to_table(cfg) == {"mode": "exact", "count": 3, "path": "x/y", "inner": {"rate_hz": 60.0, "names": ["q"]}}


@pytest.mark.parametrize("table, message", [
    ({"cuont": 1}, r"unknown setting\(s\) \['cuont'\]"),
    ({"count": "3"}, "count: expected int"),
    ({"count": True}, "count: expected int"),
    ({"mode": "slow"}, r"mode: 'slow' is not one of \['fast', 'exact'\]"),
    ({"inner": {"rate_hz": -1}}, "inner: rate_hz must be positive"),
    ({"inner": {"rate_hz": "fast"}}, "inner.rate_hz: expected a number"),
])
def test_bad_tables_name_the_key(table, message):
    with pytest.raises(ConfigError, match=message):
        from_table(Outer, table)


def test_bad_toml_file_names_the_file(tmp_path):
    bad = tmp_path / "station.toml"
    bad.write_text("[camera\nsource = 0\n")
    with pytest.raises(ConfigError, match="station.toml: not valid TOML"):
        load_toml(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_toml(tmp_path / "missing.toml")


@dataclass(frozen=True)
class Shapes:
    size: tuple[int, int] = (640, 480)
    weights: tuple[tuple[str, float], ...] = (("a", 1.0),)
    modes: frozenset[Mode] = frozenset({Mode.FAST})


def test_fixed_tuples_nested_tuples_and_frozensets():
    cfg = from_table(Shapes, {"size": [320, 240], "weights": [["b", 2], ["c", 0.5]], "modes": ["exact", "fast"]})
    assert cfg == Shapes((320, 240), (("b", 2.0), ("c", 0.5)), frozenset({Mode.EXACT, Mode.FAST}))
    assert to_table(cfg)["modes"] == ["exact", "fast"]
    with pytest.raises(ConfigError, match=r"size: expected 2 items, got 3"):
        from_table(Shapes, {"size": [1, 2, 3]})
