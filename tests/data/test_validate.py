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


# ------------------------------------------------------------------ reliability II regressions
def test_wide_headers_are_refused_fast_with_a_short_message(tmp_path):
    import time

    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"c{i}" for i in range(1_000_000)) + "\n1\n")
    start = time.perf_counter()
    with pytest.raises(TfrecError) as error:
        load_tables(path, EXPLICIT)
    assert time.perf_counter() - start < 1.0
    assert "1,000,000 columns" in str(error.value) and len(str(error.value)) < 1100
    path.write_text(",".join(f"c{i}" for i in range(5_000)) + "\n" + ",".join("1" * 5_000) + "\n")
    start = time.perf_counter()
    with pytest.raises(TfrecError, match="header lacks") as error:
        load_tables(path, EXPLICIT)
    assert time.perf_counter() - start < 1.0 and len(str(error.value)) < 1100


def test_a_system_file_behind_a_symlink_is_not_echoed(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("root:" + "s3cr3t" * 50 + ":0:0\n")
    link = tmp_path / "data.csv"
    link.symlink_to(secret)
    with pytest.raises(TfrecError) as error:
        load_tables(link, EXPLICIT)
    assert "s3cr3t" * 6 not in str(error.value)


def test_fields_over_the_csv_limit_are_one_line_errors(tmp_path):
    path = tmp_path / "big.csv"
    path.write_text('user_id,item_id,rating\n"' + "x" * 200_000 + '",1,3\n')
    with pytest.raises(TfrecError, match="128 KiB|unreadable|malformed"):
        load_tables(path, EXPLICIT)


def test_fifos_devices_and_compressed_files_are_named_for_what_they_are(tmp_path):
    import gzip
    import os

    fifo = tmp_path / "ratings.csv"
    os.mkfifo(fifo)
    with pytest.raises(TfrecError, match="not a regular file"):
        load_tables(fifo, EXPLICIT)
    with pytest.raises(TfrecError, match="not a regular file"):
        load_tables(Path("/dev/null"), EXPLICIT)
    packed = tmp_path / "packed.csv"
    packed.write_bytes(gzip.compress(b"user_id,item_id,rating\n1,2,3\n"))
    with pytest.raises(TfrecError, match="gzip-compressed.*gunzip"):
        load_tables(packed, EXPLICIT)


def test_parquet_booleans_and_lists_are_refused(tmp_path):
    import pandas as pd

    path = tmp_path / "r.parquet"
    pd.DataFrame({"user_id": ["a", "b"], "item_id": ["x", "y"], "rating": [True, False]}).to_parquet(path)
    with pytest.raises(TfrecError, match="column 'rating'.*boolean values"):
        load_tables(path, EXPLICIT)
    pd.DataFrame({"user_id": [[1], [2]], "item_id": ["x", "y"], "rating": [1.0, 2.0]}).to_parquet(path)
    with pytest.raises(TfrecError, match="column 'user_id'.*list or map values"):
        load_tables(path, EXPLICIT)


def test_schemas_with_one_column_for_two_roles_are_refused():
    from tfrec.errors import SchemaError

    with pytest.raises(SchemaError, match="same column 'id'"):
        Schema(user_id="id", item_id="id")
    with pytest.raises(SchemaError, match="distinct columns"):
        Schema(rating="score", weight="score")


def test_absurd_ratings_without_a_scale_are_refused(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("user_id,item_id,rating\n1,2,3\n2,3,1e300\n")
    with pytest.raises(TfrecError, match=r"r.csv:3.*rating beyond \+/-1e\+09"):
        load_tables(path, Schema(user_id_dtype="string", item_id_dtype="string", rating_scale=None))


def test_bad_feature_values_name_the_feature_file(tmp_path):
    from tfrec.schema import CategoricalFeature

    (tmp_path / "r.csv").write_text("user_id,item_id,rating\n1,2,3\n")
    (tmp_path / "users.csv").write_text("user_id,age\n1,old\n")
    schema = Schema(rating_scale=(1, 5), user_features=(ContinuousFeature("age"),),
                    item_features=(CategoricalFeature("kind"),))
    (tmp_path / "items.csv").write_text("item_id,kind\n2,a\n")
    with pytest.raises(TfrecError) as error:
        load_tables(tmp_path / "r.csv", schema, users=tmp_path / "users.csv", items=tmp_path / "items.csv")
    assert "users.csv" in str(error.value) and "r.csv" not in str(error.value).split(":")[0]


def test_schema_files_that_are_not_utf8_or_nested_too_deep(tmp_path):
    path = tmp_path / "s.json"
    path.write_bytes(b'{"user_id": "caf\xe9"}')
    with pytest.raises(TfrecError, match="not UTF-8"):
        load_schema(path)
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(TfrecError, match="nested too deeply"):
        load_schema(path)
