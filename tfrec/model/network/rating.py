"""Rating prediction: the rating head over two towers' outputs (plus bias terms), and the
rating towers it can sit on instead of the retrieval towers.

With ``rating_epochs > 0`` the rating is a model of its own inside the two-tower model
(:class:`RatingTowers`): a user tower (user id and user features) and an item tower (item id and
item features), each ``RATING_TOWER_LAYERS`` then ``embedding_dim`` wide, under the head. They
train after retrieval, on interaction batches (:func:`tfrec.model.training.fit.train`), on the squared
rating error plus an in-batch softmax of their own (weight :data:`AUXILIARY_RETRIEVAL_WEIGHT`).
The retrieval towers read the history, which ranks well and predicts ratings poorly; ratings
need the features and small interaction batches. RMSE on validation carves of ml-100k u1 and
u2 (mean): the head on the history towers 0.928; these towers 0.901 (0.915 with ids only;
0.931 trained jointly in 8192-row batches, about the size of a batch of 128 users' items).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs

from tfrec.errors import ConfigError
from tfrec.model.config import ModelConfig
from tfrec.model.features.encoder import IdIndex
from tfrec.model.features.specs import FeatureSpec
from tfrec.model.network.tower import Tower

#: Hidden widths of each rating tower.
RATING_TOWER_LAYERS = (128,)
#: Weight of the rating towers' in-batch softmax loss (a sum over the batch: ~1 per example's
#: mean): without it RMSE was 0.916 on ml-100k u1-u5, with it 0.902.
AUXILIARY_RETRIEVAL_WEIGHT = 0.001


class RatingHead(tf.keras.layers.Layer):
    """``global_mean + MLP([q, c, q * c]) + b_user + b_item``, optionally behind a DCN ``Cross``.

    Args:
        config: ``rating_layers``, ``use_cross``, ``use_bias`` and ``dropout`` are read.
        n_users: Rows of the user index (vocabulary + 1 out-of-vocabulary row).
        n_items: Rows of the item index.
        global_mean: Mean training rating.

    Call args:
        query: ``[batch, dim]`` query tower outputs.
        candidate: ``[batch, dim]`` candidate tower outputs.
        users: ``[batch]`` user index; items: ``[batch]`` item index.

    Returns:
        ``[batch]`` predicted ratings.
    """

    def __init__(self, config: ModelConfig, n_users: int, n_items: int, global_mean: float,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.global_mean, self.use_bias = float(global_mean), config.use_bias
        self.stack: list[tf.keras.layers.Layer] = []
        if config.use_cross:
            self.stack.append(tfrs.layers.dcn.Cross(name="cross"))
        for i, width in enumerate(config.rating_layers):
            self.stack.append(tf.keras.layers.Dense(width, activation="relu", name=f"rating_hidden_{i}"))
            if config.dropout > 0:
                self.stack.append(tf.keras.layers.Dropout(config.dropout))
        self.stack.append(tf.keras.layers.Dense(1, name="rating_output"))

        if self.use_bias:
            self.user_bias = tf.keras.layers.Embedding(n_users, 1, embeddings_initializer="zeros",
                                                       name="user_bias")
            self.item_bias = tf.keras.layers.Embedding(n_items, 1, embeddings_initializer="zeros",
                                                       name="item_bias")

    def set_biases(self, user_rows: np.ndarray, user_biases: np.ndarray, item_rows: np.ndarray,
                   item_biases: np.ndarray) -> None:
        """Sets the user and item bias terms of the given index rows (``[n]`` each); the other
        rows keep their values."""
        for layer, rows, values in ((self.user_bias, user_rows, user_biases), (self.item_bias, item_rows, item_biases)):
            table = layer.embeddings.numpy()
            table[np.asarray(rows, dtype=np.int64), 0] = values
            layer.embeddings.assign(table)

    def call(self, query: tf.Tensor, candidate: tf.Tensor, users: tf.Tensor, items: tf.Tensor,
             training: bool = False) -> tf.Tensor:
        x = tf.concat([query, candidate, query * candidate], axis=-1)
        for layer in self.stack:
            x = layer(x, training=training)
        prediction = tf.squeeze(x, -1) + self.global_mean
        if self.use_bias:
            prediction += tf.squeeze(self.user_bias(users), -1) + tf.squeeze(self.item_bias(items), -1)
        return prediction


def uses_rating_towers(config: ModelConfig, has_ratings: bool) -> bool:
    """Whether a model rates on :class:`RatingTowers`: ratings, ``rating_epochs``, and both tasks
    (a rating-only model trains its head on its own towers in one phase)."""
    return has_ratings and config.rating_epochs > 0 and config.rating_weight > 0 and config.retrieval_weight > 0


class RatingTowers(tf.keras.layers.Layer):
    """A user tower and an item tower under a :class:`RatingHead` (the module docstring).

    Args:
        config: ``embedding_dim``, ``dropout``, ``l2`` and the head's options are read.
        user_specs: Feature specs of the user tower (the user id first).
        item_specs: Feature specs of the item tower (the item id first).
        n_users, n_items, global_mean: As for :class:`RatingHead`.

    Call args:
        features: ``{feature: Tensor[batch]}`` with every spec's input.
        users, items: ``[batch]`` user and item index (bias terms).

    Returns:
        ``[batch]`` predicted ratings.
    """

    def __init__(self, config: ModelConfig, user_specs: list[FeatureSpec], item_specs: list[FeatureSpec],
                 n_users: int, n_items: int, global_mean: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.user_tower, self.item_tower = (
            Tower(specs, RATING_TOWER_LAYERS, config.embedding_dim, config.dropout, l2=config.l2, name=name)
            for specs, name in ((user_specs, "rating_user_tower"), (item_specs, "rating_item_tower")))
        self.head = RatingHead(config, n_users, n_items, global_mean, name="head")
        self.task = tfrs.tasks.Retrieval()

    def call(self, features: dict[str, tf.Tensor], users: tf.Tensor, items: tf.Tensor,
             training: bool = False) -> tf.Tensor:
        return self.head(self.user_tower(features, training=training),
                         self.item_tower(features, training=training), users, items, training=training)

    def loss(self, features: dict[str, tf.Tensor], users: tf.Tensor, items: tf.Tensor,
             ratings: tf.Tensor, log_probabilities: tf.Tensor, sample_weight: tf.Tensor | None,
             rating_task: tfrs.tasks.Ranking) -> tuple[tf.Tensor, tf.Tensor]:
        """The training loss of one interaction batch (``[batch]`` inputs; ``log_probabilities``
        ``[n_items + 1]``, the items' training frequencies for the logQ correction).

        Returns:
            The mean squared rating error (weighted) and the in-batch softmax loss (a sum).
        """
        query = self.user_tower(features, training=True)
        candidate = self.item_tower(features, training=True)
        predicted = self.head(query, candidate, users, items, training=True)
        errors = rating_task(labels=ratings[:, None], predictions=predicted[:, None], sample_weight=sample_weight)
        retrieval = self.task(query, candidate, sample_weight=sample_weight,
                              candidate_sampling_probability=tf.exp(tf.gather(log_probabilities, items)),
                              candidate_ids=items, compute_metrics=False, compute_batch_metrics=False)
        return tf.reduce_mean(errors), retrieval


class TowerScores(tf.keras.layers.Layer):
    """The rating towers' dot product as a second retrieval score (``rating_blend``): each known
    user's and item's tower output, stored after the rating phase (non-trainable: saved with the
    weights), the user side scaled by the blend weight. Appended to the query and candidate
    embeddings, it adds ``w * u . i`` to the one dot product that indexes, exports and serving
    compute, from the ids alone; users and items unknown to training (row 0) add nothing.

    Args:
        n_users, n_items: Rows of the user and item index (vocabulary + 1).
        dim: Width of the rating towers' outputs.
    """

    def __init__(self, n_users: int, n_items: int, dim: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.users = self.add_weight(name="users", shape=(n_users, dim), initializer="zeros", trainable=False)
        self.items = self.add_weight(name="items", shape=(n_items, dim), initializer="zeros", trainable=False)

    def fill(self, user_rows: np.ndarray, users: np.ndarray, item_rows: np.ndarray, items: np.ndarray) -> None:
        """Stores tower outputs ``[n, dim]`` at the given index rows (the others stay 0)."""
        for table, rows, values in ((self.users, user_rows, users), (self.items, item_rows, items)):
            array = np.zeros(table.shape, dtype=np.float32)
            array[np.asarray(rows, dtype=np.int64)] = values
            table.assign(array)

    def query(self, users: tf.Tensor) -> tf.Tensor:
        """``[batch, dim]``: the scaled user rows of index ``users [batch]``."""
        return tf.gather(self.users, users)

    def candidate(self, items: tf.Tensor) -> tf.Tensor:
        """``[batch, dim]``: the item rows of index ``items [batch]``."""
        return tf.gather(self.items, items)


class RatingSide:
    """What rates (user, item) pairs in a two-tower model: its rating towers when it has them,
    else its head over the retrieval towers' outputs; their losses, and what each training
    phase updates. The model tracks the layers; this object only reads them.

    Args:
        head: The head over the retrieval towers (``None`` with rating towers).
        towers: The rating towers (``None`` without them).
        task: The rating task (per-example squared errors, RMSE metric).
        users, items: The id columns and their vocabulary lookups.
        embedding_dim: Width of the retrieval towers' outputs (columns after it, the bias and
            the linear path, are not read).
    """

    def __init__(self, head: RatingHead | None, towers: RatingTowers | None, task: tfrs.tasks.Ranking,
                 users: IdIndex, items: IdIndex, embedding_dim: int) -> None:
        self.towers, self.task, self.users, self.items = towers, task, users, items
        chosen = towers.head if towers is not None else head
        if chosen is None:
            raise ValueError("a rating side needs a head or rating towers")
        self.head: RatingHead = chosen
        self.embedding_dim = embedding_dim

    def predict(self, features: dict[str, tf.Tensor], query: tf.Tensor | None, candidate: tf.Tensor | None,
                training: bool = False) -> tf.Tensor:
        """Predicted ratings ``[batch]`` from the features and (without rating towers, which do
        not read them) the retrieval towers' outputs ``query``, ``candidate`` ``[batch, dim+]``."""
        users, items = self.users.rows(features), self.items.rows(features)
        if self.towers is not None:
            return self.towers(features, users, items, training=training)
        if query is None or candidate is None:
            raise ValueError("the rating head reads the retrieval towers' outputs")
        dim = self.embedding_dim
        return self.head(query[:, :dim], candidate[:, :dim], users, items, training=training)

    def errors(self, ratings: tf.Tensor, predicted: tf.Tensor, sample_weight: tf.Tensor | None = None) -> tf.Tensor:
        """Per-example squared errors ``[batch]`` of ``predicted`` against ``ratings`` (``[batch]``
        each; the task's RMSE metric updated)."""
        return self.task(labels=ratings[:, None], predictions=predicted[:, None], sample_weight=sample_weight)

    def towers_loss(self, inputs: dict[str, tf.Tensor], ratings: tf.Tensor, sample_weight: tf.Tensor | None,
                    log_probabilities: tf.Tensor, rating_weight: float) -> tf.Tensor:
        """The rating towers' phase: ``rating_weight x`` their mean squared error plus
        :data:`AUXILIARY_RETRIEVAL_WEIGHT` x their in-batch softmax, on one interaction batch
        (``ratings [batch]``; ``log_probabilities [n_items + 1]``; the retrieval model is not
        read).

        Raises:
            ConfigError: The model has no rating towers.
        """
        if self.towers is None:
            raise ConfigError("this model has no rating towers (rating_epochs = 0 or no ratings)")
        squared, retrieval = self.towers.loss(inputs, self.users.rows(inputs), self.items.rows(inputs), ratings,
                                              log_probabilities, sample_weight, self.task)
        return rating_weight * squared + AUXILIARY_RETRIEVAL_WEIGHT * retrieval

    def trained_variables(self, variables: list[tf.Variable], phase: str | None) -> list[tf.Variable]:
        """The variables a training step updates, of the model's trainable ``variables``: in the
        rating towers' phase theirs, in the retrieval phase all others, else (a fit outside
        :func:`tfrec.model.training.fit.train`) all."""
        if self.towers is None or phase is None:
            return list(variables)
        towers = list(self.towers.trainable_variables)
        if phase == "rating":
            return towers
        return [v for v in variables if all(v is not t for t in towers)]
