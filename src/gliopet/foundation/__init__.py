"""Foundation models over static and dynamic PET and MRI on the learning grid (issue 12).

`gliopet.foundation.data` reads the learning-grid images of each session (any subset of
modalities); the encoder, pretext tasks, training and embeddings live beside it. Nothing heavy is
imported here.
"""
