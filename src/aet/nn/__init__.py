"""Neural tomogram augmentation: training data (:mod:`~aet.nn.data`), networks (:mod:`~aet.nn.models`),
training (:mod:`~aet.nn.train`), inference (:func:`aet.nn.augment.augment`) and shipped weights
(:mod:`~aet.nn.weights`)."""
