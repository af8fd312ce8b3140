import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tfrec.errors import SchemaError
from tfrec.schema import (
    BUILTIN_SCHEMAS,
    BucketizedFeature,
    CategoricalFeature,
    ContinuousFeature,
    MultiCategoricalFeature,
    Schema,
    TextFeature,
    builtin_schema,
)


@pytest.mark.parametrize("name", BUILTIN_SCHEMAS)
def test_builtin_schemas_round_trip(name):
    schema = builtin_schema(name)
    assert Schema.from_json(schema.to_json()) == schema
    assert schema.item_features, "every shipped schema has item features"


names = st.text(alphabet="abcdefghij_", min_size=1, max_size=8)


@st.composite
def schemas(draw):
    feature_names = draw(st.lists(names, min_size=0, max_size=6, unique=True))
    feature_names = [f"f_{n}" for n in feature_names]
    features = []
    for name in feature_names:
        kind = draw(st.sampled_from(["cat", "cont", "buck", "text", "multi"]))
        dim = draw(st.none() | st.integers(1, 64))
        if kind == "cat":
            features.append(CategoricalFeature(name, dim, draw(st.sampled_from(["int", "string"])),
                                               draw(st.none() | st.integers(1, 1000))))
        elif kind == "cont":
            features.append(ContinuousFeature(name, dim, draw(st.booleans())))
        elif kind == "buck":
            bounds = draw(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=5, unique=True))
            features.append(BucketizedFeature(name, dim, tuple(sorted(bounds))))
        elif kind == "text":
            features.append(TextFeature(name, dim, draw(st.integers(1, 100_000))))
        else:
            features.append(MultiCategoricalFeature(name, dim, draw(st.sampled_from(["|", ",", ";"]))))
    cut = draw(st.integers(0, len(features)))
    return Schema(user_features=tuple(features[:cut]), item_features=tuple(features[cut:]),
                  timestamp=draw(st.none() | st.just("ts")),
                  rating_scale=draw(st.none() | st.just((0.5, 5.0))))


@given(schemas())
def test_schema_json_round_trip(schema):
    assert Schema.from_json(schema.to_json()) == schema
    assert Schema.from_dict(json.loads(schema.to_json(indent=None))) == schema


@pytest.mark.parametrize(
    "text, fragment",
    [
        ('{"user_features": [{"type": "embedding", "name": "x"}]}', "unknown feature type 'embedding'"),
        ('{"user_features": [{"type": "categorical", "name": "x", "bins": 3}]}', "unknown field(s) ['bins']"),
        ('{"colour": 1}', "unknown schema key(s) ['colour']"),
        ('{"rating_scale": [5, 1]}', "low < high"),
        ('{"item_features": [{"type": "bucketized", "name": "p", "boundaries": [3, 2]}]}', "increase strictly"),
        ('{"item_features": [{"type": "bucketized", "name": "p", "boundaries": []}]}', "at least one boundary"),
        ('{"item_features": [{"type": "bucketized", "name": "p", "boundaries": null}]}', "list of numbers"),
        ('{"item_features": [{"type": "bucketized", "name": "p", "boundaries": ["a", 2]}]}', "list of numbers"),
        ('{"item_features": [{"type": "bucketized", "name": "p", "boundaries": {"a": 1}}]}', "list of numbers"),
        ('{"user_features": [{"type": "categorical", "name": "x"}, {"type": "text", "name": "x"}]}', "clashing: ['x']"),
        ('{"user_features": [{"type": "categorical", "name": "user_id"}]}', "clashing: ['user_id']"),
        ('{"user_features": [{"type": "categorical", "name": "x", "dtype": "float"}]}', "dtype must be"),
        ('{"user_features": [{"type": "text", "name": "t", "max_tokens": 0}]}', "positive integer"),
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
    ],
)
def test_bad_schema_names_the_problem(text, fragment):
    with pytest.raises(SchemaError) as info:
        Schema.from_json(text)
    assert fragment in str(info.value)


def test_unknown_builtin_schema():
    with pytest.raises(SchemaError, match="no built-in schema 'ml-10m'"):
        builtin_schema("ml-10m")


def test_load_schema_from_toml(tmp_path):
    from tfrec.data.tabular import load_schema

    path = tmp_path / "schema.toml"
    path.write_text(
        'user_id = "uid"\nitem_id = "iid"\nrating = "stars"\nuser_id_dtype = "string"\n'
        '[[item_features]]\ntype = "multi_categorical"\nname = "tags"\nseparator = ","\n'
    )
    schema = load_schema(path)
    assert schema.user_id == "uid" and schema.rating == "stars"
    assert schema.item_features == (MultiCategoricalFeature("tags", separator=","),)
    path.write_text("user_id = \n")
    with pytest.raises(SchemaError, match="not valid TOML"):
        load_schema(path)
