"""Item embeddings for TensorBoard's projector, written by training with a TensorBoard folder."""

import numpy as np
import pandas as pd
import tensorflow as tf

from tfrec.data.sources import FrameSource
from tfrec.model.config import ModelConfig
from tfrec.model.training.fit import train
from tfrec.model.training.projector import write_projector


def read_back(log_dir):
    """What the projector plugin reads: the latest checkpoint of the folder and its config."""
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(log_dir)))
    return reader.get_tensor("embedding/.ATTRIBUTES/VARIABLE_VALUE")


def test_titles_label_the_embeddings(tmp_path):
    catalog = pd.DataFrame({"item_id": [3, 1, 2], "title": ["Heat (1995)", "Am\u00e9lie\tredux", "\U0001f600"]})
    vectors = np.arange(6, dtype=np.float32).reshape(3, 2)
    write_projector(vectors, catalog, "item_id", tmp_path)
    np.testing.assert_array_equal(read_back(tmp_path), vectors)
    assert (tmp_path / "item_metadata.tsv").read_text(encoding="utf-8").splitlines() == [
        "item_id\ttitle", "3\tHeat (1995)", "1\tAm\u00e9lie redux", "2\t\U0001f600"]
    config = (tmp_path / "projector_config.pbtxt").read_text()
    assert 'metadata_path: "item_metadata.tsv"' in config


def test_training_with_a_tensorboard_folder_writes_scalars_and_the_projector(synthetic, tmp_path):
    config = ModelConfig(epochs=1, batch_size=512, embedding_dim=8, seed=1)
    result = train(config, FrameSource(synthetic, synthetic.interactions), tensorboard_dir=tmp_path)
    assert list((tmp_path / "train").glob("events.out.tfevents.*")), "Keras's scalars"
    np.testing.assert_allclose(read_back(tmp_path), result.model.indexed_item_embeddings)
    rows = (tmp_path / "item_metadata.tsv").read_text().splitlines()
    assert len(rows) == 1 + len(result.catalog)
