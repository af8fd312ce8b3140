"""Bad-input corpus (tests/corpus/) and property-based fuzzing of the loaders and schema parser.

Every malformed input gives tfrec's own error naming the problem, or a documented repair with a
logged count; fuzzed inputs never raise anything but tfrec's error types.
"""

import logging
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tfrec.data.tabular import load_schema, load_tables
from tfrec.errors import TfrecError
from tfrec.schema import ContinuousFeature, Schema

CORPUS = Path(__file__).parent / "corpus"
EXPLICIT = Schema(user_id_dtype="string", item_id_dtype="string")

# file -> fragment of the expected error (errors) or a check of the repaired data (repairs)
ERRORS = {
    "truncated.csv": "expected 3 fields",
    "wrong_delimiter.csv": "header lacks column(s) ['user_id', 'item_id', 'rating']",
    "latin1_as_utf8.csv": "not valid utf-8",
    "nan_id.csv": "empty or NaN id",
    "empty_id.csv": "empty or NaN id",
    "negative_rating.csv": "rating outside the scale [1, 5]",
    "huge_rating.csv": "rating outside the scale [1, 5]",
    "inf_rating.csv": "missing or non-numeric value",
    "text_rating.csv": "not a float number",
    "duplicate_header.csv": "not a float number",
    "repeated_column.csv": "header repeats column(s) ['item_id']",
    "empty.csv": "file is empty",
    "header_only.csv": "no interaction rows",
    "unterminated_quote.csv": "malformed content",
}


@pytest.mark.parametrize("name, fragment", sorted(ERRORS.items()))
def test_corpus_errors_name_the_problem(name, fragment):
    with pytest.raises(TfrecError) as info:
        load_tables(CORPUS / name, EXPLICIT.replace(rating_scale=(1.0, 5.0)))
    message = str(info.value)
    assert fragment in message and name in message and "Fix:" in message


def test_corpus_repairs_are_documented_and_counted(caplog):
    with caplog.at_level(logging.WARNING):
        bom = load_tables(CORPUS / "bom_header.csv", EXPLICIT)
        assert bom.interactions.user_id.tolist() == ["u1", "u2"]  # header BOM skipped
        pair = load_tables(CORPUS / "duplicate_pair.csv", EXPLICIT)
        assert pair.interactions.rating.tolist() == [2.0] and pair.report.merged_duplicates == 1
        utf8 = load_tables(CORPUS / "utf8_as_latin1.csv", EXPLICIT, encoding="latin-1")
        assert utf8.interactions.user_id.tolist() == ["José"]
    assert "merged 1 duplicate" in caplog.text and "valid UTF-8" in caplog.text
    # A BOM inside the data (not at the start) is data: kept as part of the id, not silently stripped.
    inside = load_tables(CORPUS / "bom_inside.csv", EXPLICIT)
    assert inside.interactions.user_id.iloc[0] == "\ufeffu1"


def test_invalid_rows_can_be_dropped_with_a_count(caplog):
    with caplog.at_level(logging.WARNING):
        dataset = load_tables(CORPUS / "nan_id.csv", EXPLICIT, invalid="drop")
    assert len(dataset.interactions) == 1 and sum(dataset.report.dropped.values()) == 1
    assert "dropped 1 row(s)" in caplog.text


def test_mismatched_feature_table():
    schema = EXPLICIT.replace(item_features=(ContinuousFeature("price"),))
    with pytest.raises(TfrecError, match="have no feature row"):
        load_tables(CORPUS / "ok.csv", schema, items=CORPUS / "items_missing_row.csv")


@pytest.mark.parametrize("name, fragment", [
    ("schema_unknown_type.json", "unknown feature type 'embedding'"),
    ("schema_missing_name.json", "name"),
    ("schema_bad_scale.json", "low < high"),
    ("schema_truncated.json", "not valid JSON"),
])
def test_corpus_schemas(name, fragment):
    with pytest.raises(TfrecError) as info:
        load_schema(CORPUS / name)
    assert fragment in str(info.value) and name in str(info.value)


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(st.binary(max_size=300))
def test_fuzz_loader_bytes(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fuzz") / "r.csv"
    path.write_bytes(b"user_id,item_id,rating\n" + data)
    try:
        load_tables(path, EXPLICIT)
    except TfrecError:
        pass


cells = st.one_of(st.text(max_size=6), st.integers(-10, 10).map(str), st.sampled_from(
    ["nan", "", "inf", "1e999", "5", "3.5", "\ufeff", '"', "a,b", "\x00"]))


@FUZZ
@given(st.lists(st.lists(cells, min_size=0, max_size=5), max_size=12),
       st.sampled_from([",", ";", "\t"]), st.sampled_from(["drop", "error"]))
def test_fuzz_loader_tables(tmp_path_factory, rows, sep, invalid):
    path = tmp_path_factory.mktemp("fuzz") / "r.csv"
    text = "user_id,item_id,rating\n" + "\n".join(sep.join(r) for r in rows)
    path.write_text(text, encoding="utf-8")
    try:
        dataset = load_tables(path, EXPLICIT.replace(rating_scale=(1.0, 5.0)), invalid=invalid)
    except TfrecError:
        return
    assert dataset.interactions.rating.between(1, 5).all()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=True) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=10)
schema_keys = st.sampled_from(["user_id", "item_id", "rating", "rating_scale", "user_features",
                               "item_features", "user_id_dtype", "timestamp", "colour"])
feature_dicts = st.fixed_dictionaries({"type": st.sampled_from(["categorical", "continuous", "bucketized",
                                                                 "text", "multi_categorical", "x"])},
                                      optional={"name": st.text(max_size=4), "boundaries": json_values,
                                                "dtype": json_values, "embedding_dim": json_values,
                                                "separator": json_values, "max_tokens": json_values})


@FUZZ
@given(st.dictionaries(schema_keys, json_values | st.lists(feature_dicts, max_size=3), max_size=5))
def test_fuzz_schema_parser(data):
    import json

    try:
        schema = Schema.from_json(json.dumps(data))
    except TfrecError:
        return
    assert Schema.from_json(schema.to_json()) == schema
