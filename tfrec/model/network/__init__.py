"""The network: towers, history pooling, the linear path, the rating side, the retrieval
objectives, the Keras steps, and saving/loading. Reads :mod:`tfrec.model.features`, never
:mod:`tfrec.model.training`."""
