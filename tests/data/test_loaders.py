import hashlib
import logging
import socket
import zipfile

import pytest

from tfrec.data import load_dataset
from tfrec.data.download import download
from tfrec.data.movielens import load_ml1m, load_ml100k, load_ml_latest
from tfrec.data.tabular import load_tables
from tfrec.errors import DataError
from tfrec.schema import CategoricalFeature, ContinuousFeature, Schema


# ---------------------------------------------------------------- real ml-100k (slow group)
@pytest.mark.slow
def test_ml100k_counts(ml100k):
    assert len(ml100k.interactions) == 100_000
    assert ml100k.interactions.user_id.nunique() == 943
    assert ml100k.interactions.item_id.nunique() == 1682
    assert len(ml100k.users) == 943 and len(ml100k.items) == 1682
    assert set(ml100k.folds) >= {"u1", "u2", "u3", "u4", "u5"}
    train, test = ml100k.folds["u1"]
    assert len(train) == 80_000 and len(test) == 20_000
    assert ml100k.report.merged_duplicates == 0 and not ml100k.report.dropped


@pytest.mark.slow
def test_ml100k_latin1_titles_genres_and_years(ml100k):
    titles = ml100k.items.set_index("item_id")["title"]
    assert titles[1] == "Toy Story (1995)"
    assert any("é" in t for t in titles), "Latin-1 accents decoded"
    genres = ml100k.items.set_index("item_id")["genres"]
    assert genres[1] == "Animation|Children's|Comedy"
    assert (ml100k.items.release_year == 0).sum() == 1  # the one undated item, logged
    assert ml100k.users.set_index("user_id").loc[1, "zip_prefix"] == "857"


# ---------------------------------------------------------------- tiny hand-written files
def write_ml100k(folder, data_lines=None, extra=None):
    folder.mkdir(parents=True, exist_ok=True)
    data_lines = data_lines or ["1\t1\t5\t881250949", "1\t2\t3\t881250950", "2\t1\t4\t881250951",
                                "2\t2\t1\t881250952"]
    (folder / "u.data").write_text("\n".join(data_lines) + "\n")
    (folder / "u.user").write_text("1|24|M|technician|85711\n2|53|F|other|T8H1N\n")
    flags = "|".join(["0"] * 18)
    (folder / "u.item").write_bytes(
        f"1|Caf\xe9 (1995)|01-Jan-1995||http://x|1|{flags}\n".encode("latin-1")
        + f"2|B (1996)|||http://y|0|{flags}\n".encode("latin-1")
    )
    for name, text in (extra or {}).items():
        (folder / name).write_text(text)
    return folder


def test_tiny_ml100k_with_ua_fold(tmp_path):
    folder = write_ml100k(tmp_path / "ml-100k", extra={
        "ua.base": "1\t1\t5\t881250949\n2\t2\t1\t881250952\n",
        "ua.test": "1\t2\t3\t881250950\n2\t1\t4\t881250951\n",
    })
    dataset = load_ml100k(tmp_path)  # the parent folder works too
    assert len(dataset.interactions) == 4
    assert list(dataset.folds) == ["ua"]
    assert dataset.items.set_index("item_id").loc[1, "title"] == "Café (1995)"
    assert dataset.items.set_index("item_id").loc[1, "genres"] == "unknown"
    assert dataset.items.set_index("item_id").loc[2, "release_year"] == 0
    assert load_ml100k(folder).interactions.equals(dataset.interactions)


def test_data_dir_from_environment(tmp_path, monkeypatch):
    write_ml100k(tmp_path / "ml-100k")
    monkeypatch.setenv("TFREC_DATA_DIR", str(tmp_path))
    assert len(load_dataset("ml-100k").interactions) == 4


def test_missing_directory_and_files_say_where(tmp_path, monkeypatch):
    monkeypatch.delenv("TFREC_DATA_DIR", raising=False)
    with pytest.raises(DataError, match="TFREC_DATA_DIR"):
        load_dataset("ml-100k")
    folder = write_ml100k(tmp_path / "ml-100k")
    (folder / "u.user").unlink()
    with pytest.raises(DataError) as info:
        load_ml100k(folder)
    assert "u.user" in str(info.value) and "ml-100k" in str(info.value) and info.value.fix


@pytest.mark.parametrize("lines, fragment, line", [
    (["1\t1\t5\t881250949", "1\t2\t3", "2\t1\t4\t881250951"], "expected 4 fields", 2),
    (["1\t1\t5\t881250949", "1\t2\tfive\t881250950"], "not a float number", 2),
    (["1\t1\t5\t881250949", "x\t2\t3\t881250950"], "not a int number", 2),
    (["1\t1\t5\t881250949", "1\t2\t9\t881250950"], "rating outside the scale [1, 5]", 2),
    (["1,1,5,881250949"], "expected 4 fields", 1),
])
def test_malformed_lines_name_file_line_and_value(tmp_path, lines, fragment, line):
    folder = write_ml100k(tmp_path / "ml-100k", data_lines=lines)
    with pytest.raises(DataError) as info:
        load_ml100k(folder)
    assert fragment in str(info.value)
    assert info.value.line == line and info.value.path.endswith("u.data")


def test_invalid_policy_drop_counts_rows(tmp_path, caplog):
    folder = write_ml100k(tmp_path / "ml-100k", data_lines=[
        "1\t1\t5\t881250949", "1\t2\t9\t881250950", "2\t1\t4\t881250951"])
    with caplog.at_level(logging.WARNING):
        dataset = load_ml100k(folder, invalid="drop")
    assert len(dataset.interactions) == 2
    assert sum(dataset.report.dropped.values()) == 1
    assert "dropped 1 row(s)" in caplog.text


def test_duplicate_policies(tmp_path):
    lines = ["1\t1\t5\t20", "1\t1\t1\t10", "2\t1\t4\t5", "1\t2\t3\t1"]
    folder = write_ml100k(tmp_path / "ml-100k", data_lines=lines)
    last = load_ml100k(folder)  # keeps the latest by timestamp: rating 5 (t=20)
    row = last.interactions.query("user_id == 1 and item_id == 1")
    assert row.rating.tolist() == [5.0] and last.report.merged_duplicates == 1
    mean = load_ml100k(folder, duplicates="mean")
    assert mean.interactions.query("user_id == 1 and item_id == 1").rating.tolist() == [3.0]
    with pytest.raises(DataError, match=r"1 duplicate \(user, item\) row"):
        load_ml100k(folder, duplicates="error")


def test_empty_and_undecodable_files(tmp_path):
    folder = write_ml100k(tmp_path / "ml-100k")
    (folder / "u.data").write_text("")
    with pytest.raises(DataError, match="file is empty"):
        load_ml100k(folder)
    csv = tmp_path / "r.csv"
    csv.write_bytes("user_id,item_id,rating\nJos\xe9,a,1\n".encode("latin-1"))
    with pytest.raises(DataError) as info:
        load_tables(csv)
    assert "not valid utf-8" in str(info.value) and "latin-1" in str(info.value)
    assert info.value.line == 2
    assert load_tables(csv, encoding="latin-1").interactions.user_id.tolist() == ["José"]


def test_generic_csv_with_bom_features_and_implicit_events(tmp_path):
    (tmp_path / "events.csv").write_text("\ufeffuser,item,w\nu1,i1,1\nu1,i2,2\nu2,i1,0.5\n", encoding="utf-8")
    (tmp_path / "items.csv").write_text("item,price,brand\ni1,3.5,7\ni2,10,8\ni3,1,9\n")
    schema = Schema(user_id="user", item_id="item", rating=None, weight="w",
                    user_id_dtype="string", item_id_dtype="string", rating_scale=None,
                    item_features=(ContinuousFeature("price"), CategoricalFeature("brand", dtype="int")))
    dataset = load_tables(tmp_path / "events.csv", schema, items=tmp_path / "items.csv")
    assert dataset.interactions.user.tolist() == ["u1", "u1", "u2"]
    assert dataset.interactions.w.tolist() == [1.0, 2.0, 0.5]
    assert list(dataset.item_ids) == ["i1", "i2", "i3"]  # i3: a catalog item without events
    # Parquet gives the same result.
    dataset.interactions.to_parquet(tmp_path / "events.parquet")
    again = load_dataset(f"parquet:{tmp_path / 'events.parquet'}", schema=schema,
                         items=tmp_path / "items.csv")
    assert again.interactions.equals(dataset.interactions)


def test_feature_table_problems(tmp_path):
    (tmp_path / "r.csv").write_text("user_id,item_id,rating\n1,1,3\n1,2,4\n")
    schema = Schema(item_features=(ContinuousFeature("price"),))
    (tmp_path / "items.csv").write_text("item_id,price\n1,3\n")
    with pytest.raises(DataError, match="1 id.s. used in the interactions have no feature row"):
        load_tables(tmp_path / "r.csv", schema, items=tmp_path / "items.csv")
    (tmp_path / "items.csv").write_text("item_id,price\n1,3\n2,\n")
    with pytest.raises(DataError, match="missing value") as info:
        load_tables(tmp_path / "r.csv", schema, items=tmp_path / "items.csv")
    assert info.value.line == 3 and info.value.column == "price"
    (tmp_path / "items.csv").write_text("item_id,price\n1,3\n2,4\n1,5\n")
    with pytest.raises(DataError, match="more than one feature row"):
        load_tables(tmp_path / "r.csv", schema, items=tmp_path / "items.csv")
    (tmp_path / "items.csv").write_text("item_id,cost\n1,3\n")
    with pytest.raises(DataError, match=r"header lacks column\(s\) \['price'\]"):
        load_tables(tmp_path / "r.csv", schema, items=tmp_path / "items.csv")
    with pytest.raises(DataError, match="no item feature table"):
        load_tables(tmp_path / "r.csv", schema)


def test_empty_ids_and_missing_columns(tmp_path):
    (tmp_path / "r.csv").write_text("user_id,item_id,rating\n1,1,3\n,2,4\n")
    with pytest.raises(DataError, match="empty or NaN id") as info:
        load_tables(tmp_path / "r.csv")
    assert info.value.line == 3
    (tmp_path / "r.csv").write_text("user,item_id,rating\n1,1,3\n")
    with pytest.raises(DataError, match="header lacks"):
        load_tables(tmp_path / "r.csv")
    (tmp_path / "r.csv").write_text("user_id,item_id,rating\n")
    with pytest.raises(DataError, match="no interaction rows"):
        load_tables(tmp_path / "r.csv")


def test_unknown_spec_and_pickle_refused(tmp_path):
    with pytest.raises(DataError, match="unknown data 'ml-10m'"):
        load_dataset("ml-10m")
    with pytest.raises(DataError, match="pickle"):
        load_dataset(str(tmp_path / "frame.pkl"))


def test_ml1m_and_ml_latest_small(tmp_path):
    one = tmp_path / "ml-1m"
    one.mkdir()
    (one / "ratings.dat").write_text("1::10::5::978300760\n2::20::3::978302109\n")
    (one / "users.dat").write_text("1::F::1::10::48067\n2::M::56::16::70072\n")
    movies = "10::Am\xe9lie: Part 2 (2001)::Comedy|Romance\n20::Heat (1995)::Action\n"
    (one / "movies.dat").write_bytes(movies.encode("latin-1"))
    dataset = load_ml1m(tmp_path)
    assert dataset.items.set_index("item_id").loc[10, "title"] == "Amélie: Part 2 (2001)"
    assert dataset.items.set_index("item_id").loc[10, "release_year"] == 2001
    assert dataset.users.set_index("user_id").loc[2, "age"] == 56
    small = tmp_path / "ml-latest-small"
    small.mkdir()
    (small / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4.5,964982703\n1,2,0.5,964981247\n")
    (small / "movies.csv").write_text('movieId,title,genres\n1,"Toy Story, The (1995)",Adventure|Animation\n'
                                      '2,Jumanji (1995),(no genres listed)\n')
    latest = load_ml_latest(tmp_path, small=True)
    assert latest.interactions.rating.tolist() == [4.5, 0.5]
    assert latest.items.set_index("item_id").loc[1, "title"] == "Toy Story, The (1995)"
    assert latest.items.set_index("item_id").loc[2, "genres"] == ""


def _zip_folder(folder, archive):
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in folder.rglob("*"):
            zipped.write(path, path.relative_to(folder.parent))


def test_download_verifies_checksums(tmp_path):
    source = tmp_path / "src" / "ml-latest-small"
    source.mkdir(parents=True)
    (source / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4,1\n")
    (source / "movies.csv").write_text("movieId,title,genres\n1,A (1999),Drama\n")
    archive = tmp_path / "ml.zip"
    _zip_folder(source, archive)
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    url = archive.as_uri()
    with pytest.raises(DataError, match="needs its checksum"):
        download("ml-latest-small", tmp_path / "dest", url=url)
    with pytest.raises(DataError, match="does not match"):
        download("ml-latest-small", tmp_path / "dest", url=url, sha256="0" * 64)
    assert not (tmp_path / "dest" / "ml-latest-small").exists()
    target = download("ml-latest-small", tmp_path / "dest", url=url, sha256=digest)
    assert len(load_ml_latest(target).interactions) == 1
    # ml-100k's files are checked against the official checksums: a fake archive fails.
    fake = tmp_path / "src" / "ml-100k"
    write_ml100k(fake)
    _zip_folder(fake, tmp_path / "fake.zip")
    with pytest.raises(DataError, match=r"checksum of u\.(data|item|user) is"):
        download("ml-100k", tmp_path / "dest", url=(tmp_path / "fake.zip").as_uri())
    assert not (tmp_path / "dest" / "ml-100k").exists()



def test_download_trust_https_timeouts_zips_and_every_file(tmp_path, ml100k_dir):
    from tfrec.data.download import ML100K_SHA256

    with pytest.raises(DataError, match="refusing to download over http.*--insecure"):
        download("ml-100k", tmp_path / "d", url="http://127.0.0.1:9/ml-100k.zip")
    # A silent server: the download times out with a clear error instead of hanging.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    port = silent.getsockname()[1]
    try:
        with pytest.raises(DataError, match="no answer within 0.5 s"):
            download("ml-100k", tmp_path / "d", url=f"http://127.0.0.1:{port}/x.zip", insecure=True,
                     timeout=0.5)
    finally:
        silent.close()
    page = tmp_path / "page.zip"
    page.write_text("<html>not found</html>")
    with pytest.raises(DataError, match="not a zip archive"):
        download("ml-100k", tmp_path / "d", url=page.as_uri())
    # The real files pass; a tampered u1.test (one rating changed) is refused.
    official = tmp_path / "official.zip"
    with zipfile.ZipFile(official, "w") as zipped:
        for name in ML100K_SHA256:
            zipped.write(ml100k_dir / name, f"ml-100k/{name}")
    target = download("ml-100k", tmp_path / "ok", url=official.as_uri())
    assert sorted(p.name for p in target.iterdir()) == sorted(ML100K_SHA256)
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(tampered, "w") as zipped:
        for name in ML100K_SHA256:
            data = (ml100k_dir / name).read_bytes()
            zipped.writestr(f"ml-100k/{name}", data.replace(b"\t5\t", b"\t4\t", 1) if name == "u1.test" else data)
    with pytest.raises(DataError, match="checksum of u1.test"):
        download("ml-100k", tmp_path / "bad", url=tampered.as_uri())
    slip = tmp_path / "slip.zip"
    with zipfile.ZipFile(slip, "w") as zipped:
        zipped.writestr("../evil.txt", "x")
    with pytest.raises(DataError, match="unsafe path"):
        download("ml-100k", tmp_path / "slip", url=slip.as_uri())
    assert not (tmp_path / "evil.txt").exists()


def test_parquet_missing_columns_and_corrupt_file(tmp_path):
    import pandas as pd

    pd.DataFrame({"user_id": [1], "item": [2], "rating": [3.0]}).to_parquet(tmp_path / "r.parquet")
    with pytest.raises(DataError, match=r"Parquet file lacks column\(s\) \['item_id'\]"):
        load_dataset(f"parquet:{tmp_path / 'r.parquet'}")
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(DataError, match="cannot read as Parquet"):
        load_dataset(str(tmp_path / "bad.parquet"))


def test_friendlier_loaders_case_insensitive_headers_separators_and_fold_messages(tmp_path):
    from tfrec.evaluation.splits import make_splits

    small = tmp_path / "ml-latest-small"
    small.mkdir()
    (small / "ratings.csv").write_text("userid,movieid,rating,timestamp\n1,1,4.5,964982703\n2,1,3,964981247\n")
    (small / "movies.csv").write_text("MOVIEID,Title,Genres\n1,Heat (1995),Action\n")
    assert len(load_ml_latest(tmp_path, small=True).interactions) == 2
    dat = tmp_path / "ratings.dat"
    dat.write_text("user_id\titem_id\trating\nu1\ti1\t4\nu2\ti1\t5\n")
    data = load_dataset(str(dat), sep="\t")
    assert len(data.interactions) == 2
    with pytest.raises(DataError, match="has no predefined folds.*--split random"):
        make_splits(data, "predefined")
