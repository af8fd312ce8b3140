"""ModelConfig's sections, its choices (one Literal each) and the layouts it reads."""

import dataclasses
import re
import typing

import pytest
from conftest import REPO_ROOT

from tfrec.errors import ConfigError
from tfrec.model import config as config_module
from tfrec.model.config import SECTION_OF, SECTIONS, ModelConfig
from tfrec.model.config_check import CHOICES

CHANGED = ModelConfig(embedding_dim=16, negatives="mixed", examples="interactions", epochs=3, top_k=20,
                      refit=True, validation_ratio=0.1, history_linear=False)


def test_every_option_is_in_exactly_one_section():
    listed = [name for names in SECTIONS.values() for name in names]
    assert sorted(listed) == sorted(f.name for f in dataclasses.fields(ModelConfig))
    assert len(listed) == len(set(listed))


def test_the_grouped_form_round_trips_and_the_flat_form_still_reads():
    grouped = CHANGED.to_sections()
    assert set(grouped) == {"model", "training", "evaluation"}
    assert grouped["training"]["negatives"] == "mixed" and grouped["evaluation"]["top_k"] == 20
    assert ModelConfig.from_dict(grouped) == CHANGED
    assert ModelConfig.from_dict(CHANGED.to_dict()) == CHANGED, "saved models and configs of earlier releases"


def test_three_toml_layouts_give_one_config(tmp_path):
    flat = "embedding_dim = 16\nepochs = 3\ntop_k = 20\n"
    layouts = {
        "top_level": flat,
        "old_model_table": "[model]\n" + flat,
        "sections": "[model]\nembedding_dim = 16\n[training]\nepochs = 3\n[evaluation]\ntop_k = 20\n",
    }
    configs = set()
    for name, text in layouts.items():
        (tmp_path / f"{name}.toml").write_text(text)
        configs.add(ModelConfig.from_toml(tmp_path / f"{name}.toml"))
    assert configs == {ModelConfig(embedding_dim=16, epochs=3, top_k=20)}


@pytest.mark.parametrize(("text", "message"), [
    ("[evaluation]\nepochs = 3\n", r"epochs belongs in \[training\], not \[evaluation\]"),
    ("epochs = 2\n[training]\nepochs = 3\n", "model option 'epochs' is given twice"),
    ("[training]\nepoch = 3\n", r"unknown model option\(s\) \['epoch'\]"),
    ("training = 3\n", r"\[training\] must be a table"),
])
def test_a_misplaced_repeated_or_unknown_option_is_one_line(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=f"bad.toml: {message}"):
        ModelConfig.from_toml(path)


def test_each_choice_is_one_literal_read_by_the_check():
    hints = typing.get_type_hints(ModelConfig, vars(config_module))
    for name, allowed in CHOICES.items():
        assert typing.get_args(hints[name]) == allowed, name
        with pytest.raises(ConfigError, match=f"{name} must be one of"):
            ModelConfig(**{name: "nonsense"})


def test_the_documented_defaults_are_the_defaults(tmp_path):
    text = (REPO_ROOT / "docs" / "training.md").read_text()
    block = re.search(r"These are the defaults:\n\n```toml\n(.*?)```", text, re.S).group(1)
    assert set(re.findall(r"^\[(\w+)\]$", block, re.M)) == set(SECTIONS)
    documented = {line.split("=")[0].strip() for line in block.splitlines() if "=" in line}
    assert all(SECTION_OF[name] for name in documented)
    path = tmp_path / "defaults.toml"
    path.write_text(block)
    assert ModelConfig.from_toml(path) == ModelConfig()
