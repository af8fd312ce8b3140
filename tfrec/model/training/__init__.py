"""Training a network: building it from the training statistics, the fit and its phases,
callbacks, validation, optimizers, distribution strategies, the seen penalty, the run folder
and evaluation. The top of the model's sub-packages."""
