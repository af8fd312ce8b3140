"""The rating head's bias terms started at the data's shrunken mean deviations
(``rating_bias_init``)."""

import numpy as np
import pandas as pd
import tensorflow as tf
from helpers import build_from_frame

from tfrec.data.columns import interaction_arrays
from tfrec.model.config import ModelConfig
from tfrec.model.features.stats import TrainingStats
from tfrec.schema import Schema

CONFIG = ModelConfig(embedding_dim=8, epochs=1, rating_bias_init=True)


def test_biases_are_shrunken_mean_deviations_over_any_chunking():
    schema = Schema("user_id", "item_id", rating="rating")
    rows = pd.DataFrame({"user_id": [1, 1, 2, 2, 2, 3], "item_id": [7, 8, 7, 8, 9, 9],
                         "rating": [5.0, 4.0, 1.0, 2.0, 3.0, 5.0]})
    whole = TrainingStats(schema).add(interaction_arrays(schema, rows))
    chunked = TrainingStats(schema)
    for part in (rows.iloc[:2], rows.iloc[2:5], rows.iloc[5:]):
        chunked.add(interaction_arrays(schema, part))
    mean = rows.rating.mean()
    for stats in (whole, chunked):
        users, items = stats.rating_biases(shrinkage=2.0)
        for biases, column in ((users, "user_id"), (items, "item_id")):
            deviation = rows.assign(d=rows.rating - mean).groupby(column).d
            expected = deviation.sum() / (deviation.count() + 2.0)
            pd.testing.assert_series_equal(biases.sort_index(), expected.sort_index(), check_names=False)


def test_build_starts_the_head_at_the_biases_and_only_when_asked(synthetic):
    model = build_from_frame(CONFIG, synthetic, synthetic.interactions)
    head = model.rating_side().head
    schema = synthetic.schema
    stats = TrainingStats(schema).add(interaction_arrays(schema, synthetic.interactions))
    users, items = stats.rating_biases()
    assert np.abs(items.to_numpy()).max() > 0.05
    got = tf.squeeze(head.item_bias(model.item_index(tf.constant(items.index.to_numpy()))), -1).numpy()
    np.testing.assert_allclose(got, items.to_numpy(), rtol=1e-5, atol=1e-6)
    got = tf.squeeze(head.user_bias(model.user_index(tf.constant(users.index.to_numpy()))), -1).numpy()
    np.testing.assert_allclose(got, users.to_numpy(), rtol=1e-5, atol=1e-6)
    plain = build_from_frame(CONFIG.replace(rating_bias_init=False), synthetic, synthetic.interactions)
    assert not np.any(plain.rating_side().head.item_bias.embeddings.numpy())
