"""The model registry: every name builds, every search space gives parameters its model takes,
and listing the models loads none of them."""

import subprocess
import sys

import optuna
import pytest

from tfrec.errors import ConfigError
from tfrec.recommenders import MODEL_NAMES, Recommender, make_model
from tfrec.recommenders.registry import REGISTRY, ModelEntry, register


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_entry_builds_and_its_space_fits_its_factory(name):
    entry = REGISTRY[name]
    model = make_model(name, seed=3)
    assert isinstance(model, Recommender) and model.name == name
    space = entry.search_space()
    if space is None:
        assert not entry.defaults
        return
    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()
    params = space(trial)
    assert set(entry.defaults) == set(params), "the defaults are a point of the search space"
    assert make_model(name, seed=3, params=params).name == name
    assert make_model(name, seed=3, params=dict(entry.defaults)).name == name


def test_bad_names_parameters_and_registrations_are_clear_errors():
    with pytest.raises(ConfigError, match="unknown model 'svd2'"):
        make_model("svd2")
    with pytest.raises(ConfigError, match="popularity takes no parameters"):
        make_model("popularity", params={"k": 3})
    with pytest.raises(ConfigError, match="ease: invalid parameters"):
        make_model("ease", params={"lambda": 3})
    with pytest.raises(ValueError, match="registered twice"):
        register(ModelEntry("svd", "surprise", "x:y"))
    with pytest.raises(ValueError, match="unknown family"):
        register(ModelEntry("new", "graph", "x:y"))
    assert "new" not in REGISTRY


def test_listing_the_models_imports_none_of_their_libraries():
    code = ("import sys; import tfrec.recommenders as r; assert len(r.MODEL_NAMES) > 15; "
            "print(sorted(m for m in ('surprise', 'implicit', 'tensorflow_recommenders') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out


def test_the_worked_example_of_docs_architecture_adds_a_model(tmp_path, monkeypatch):
    """docs/architecture.md's two code blocks, as written: the model file and its registry line."""
    import re

    from conftest import REPO_ROOT

    from tfrec.data import load_synthetic
    from tfrec.evaluation.splits import make_splits
    from tfrec.recommenders import search_space

    module, line = re.findall(r"```python\n(.*?)```", (REPO_ROOT / "docs" / "architecture.md").read_text(), re.S)
    (tmp_path / "damped.py").write_text(module)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr("tfrec.recommenders.registry.REGISTRY", dict(REGISTRY))  # the test's own copy
    from tfrec.recommenders import registry

    exec(line.strip().rstrip(",").replace("tfrec.recommenders.damped", "damped"),
         {"ModelEntry": lambda *a, **k: registry.register(ModelEntry(*a, **k))})
    split = make_splits(load_synthetic(200, 80, 2000, seed=1), "random", seed=1)[0]
    model = make_model("damped-popularity", params={"alpha": 2.0}).fit(split.train, split.dataset)
    ids, _ = model.recommend(split.dataset.user_ids[:3], k=5)
    assert ids.shape == (3, 5)
    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()
    assert set(search_space("damped-popularity")(trial)) == {"alpha"}


@pytest.mark.parametrize("name", ["two-tower", "two-tower-rating"])
def test_the_two_towers_first_trial_is_the_default_model(name):
    from tfrec.model.config import ModelConfig

    defaults = REGISTRY[name].defaults
    assert defaults == {key: getattr(ModelConfig(), key) for key in defaults}
