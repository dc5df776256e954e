from __future__ import annotations

import pytest

from storyline import config
from storyline.errors import ConfigError


def test_config_partial_file_overrides_only_its_keys(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text("[cluster]\nmerge_threshold = 0.5\n", encoding="utf-8")
    cfg = config.load(f)
    assert cfg.cluster.merge_threshold == 0.5 and cfg.cluster.window_days == config.ClusterConfig().window_days


@pytest.mark.parametrize(
    "text,match",
    [("[nope]\nx = 1\n", "allowed"), ("[cluster]\nthreshhold = 1\n", "allowed: "), ("[cluster]\nmerge_threshold = 3\n",
                                                                                      "out of range"),
     ("not toml [", "not valid TOML")],
)
def test_config_errors_name_the_fix(tmp_path, text, match):
    f = tmp_path / "c.toml"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=match):
        config.load(f)


def test_config_id_changes_with_values():
    assert config.config_id(config.ClusterConfig()) != config.config_id(config.ClusterConfig(merge_threshold=0.3))
    assert config.config_id(config.ClusterConfig()) == config.config_id(config.ClusterConfig())
