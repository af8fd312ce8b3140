"""What the towers read: typed feature specs, the statistics that fit them on the training
rows, the encoder that turns them into Keras preprocessing layers, and the users' history
table collected during the training scan. Lowest of the model's sub-packages: it imports no
other."""
