"""A user's interaction history as a query-side feature: the table of each user's training
items, collected during the training scan, and the input names of an explicit history.

:class:`HistoryTable` collects the history during the training scan (a
:class:`~tfrec.data.scan.ChunkSink`, so in-memory frames and streamed shards build it the
same way). It keeps at most ``max_len`` items per user -- the latest by timestamp, else the
last read -- and compacts as it goes, so its memory is bounded by
``users x max_len`` pairs plus one scan chunk, whatever the number of rows. The network's
:class:`~tfrec.model.network.history.HistoryPooling` holds the result.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tfrec.errors import ConfigError
from tfrec.schema import Schema

#: Feature names of an explicit history (serving a user from their items, not their id).
HISTORY_ITEMS = "__history_items__"
HISTORY_WEIGHTS = "__history_weights__"

#: Buffered pairs above which the table compacts to ``max_len`` per user.
COMPACT_ABOVE = 1_000_000

class HistoryTable:
    """Each user's latest ``max_len`` training items, with their weights.

    "Latest" is by timestamp when the scanned rows carry one (in-memory frames), else by read
    order (streamed shards are read without their timestamp column).

    Args:
        schema: Names the id, rating and timestamp columns.
        max_len: Items kept per user.
        weighting: ``none`` (1 each), ``rating`` (the rating; 1 without ratings) or
            ``recency`` (``1 / sqrt(1 + p)``, ``p`` = 0 for the latest item of the user).
    """

    def __init__(self, schema: Schema, max_len: int, weighting: str = "none") -> None:
        if weighting == "rating" and schema.rating is None:
            raise ConfigError("history_weighting = 'rating' needs a rating column; the data has none "
                              "(use 'none' or 'recency')")
        self.schema, self.max_len, self.weighting = schema, int(max_len), weighting
        self._parts: list[pd.DataFrame] = []
        self._buffered = 0
        self._compact_above = COMPACT_ABOVE
        self._order = 0
        self.peak_pairs = 0

    def add(self, columns: dict[str, np.ndarray]) -> HistoryTable:
        """Adds a chunk of interaction columns ``{name: array[n]}``."""
        schema = self.schema
        n = len(columns[schema.user_id])
        order = np.arange(self._order, self._order + n, dtype=np.float64)
        self._order += n
        part = pd.DataFrame({
            "user": columns[schema.user_id], "item": columns[schema.item_id],
            "time": (np.asarray(columns[schema.timestamp], dtype=np.float64)
                     if schema.timestamp and schema.timestamp in columns else order),
            "order": order,
            "rating": (np.asarray(columns[schema.rating], dtype=np.float32)
                       if schema.rating else np.ones(n, np.float32)),
        })
        self._parts.append(part)
        self._buffered += n
        self.peak_pairs = max(self.peak_pairs, self._buffered)
        if self._buffered > self._compact_above:
            self._compact()
        return self

    def _compact(self) -> pd.DataFrame:
        frame = pd.concat(self._parts, ignore_index=True) if self._parts else pd.DataFrame(
            {"user": [], "item": [], "time": [], "order": [], "rating": []})
        self._parts = []  # the chunks are in the frame now: free them before the sorted copies
        # Latest interaction of each (user, item) pair, then the latest max_len items per user.
        frame = frame.sort_values(["user", "time", "order"], kind="stable")
        frame = frame.drop_duplicates(["user", "item"], keep="last")
        frame = frame.groupby("user", sort=False).tail(self.max_len)
        self._parts, self._buffered = [frame], len(frame)
        # Next compaction once the buffer doubles: amortized linear time (compacting at every
        # chunk once the kept pairs exceed COMPACT_ABOVE re-sorted them all each time).
        self._compact_above = max(COMPACT_ABOVE, 2 * len(frame))
        return frame

    def frame(self) -> pd.DataFrame:
        """``[user, item, weight, rating]`` rows, sorted by user then item (``rating`` is 1
        without a rating column)."""
        frame = self._compact()
        if self.weighting == "rating":
            weight = frame["rating"].to_numpy()
        elif self.weighting == "recency":
            from_latest = frame.groupby("user", sort=False).cumcount(ascending=False).to_numpy()
            weight = 1.0 / np.sqrt(1.0 + from_latest)
        else:
            weight = np.ones(len(frame))
        out = pd.DataFrame({"user": frame["user"].to_numpy(), "item": frame["item"].to_numpy(),
                            "weight": weight.astype(np.float32),
                            "rating": frame["rating"].to_numpy(dtype=np.float32)})
        # A canonical order (the weights already reflect recency): the same pairs give the same
        # table, whichever order the rows were read in.
        return out.sort_values(["user", "item"], kind="stable", ignore_index=True)

    @property
    def nbytes(self) -> int:
        """Bytes of the kept pairs (ids, times, weights)."""
        return int(sum(p.memory_usage(deep=True).sum() for p in self._parts))
