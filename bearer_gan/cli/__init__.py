"""The command line: ``bearer-gan train | sample | evaluate`` (also ``python -m bearer_gan``).

It parses flags and turns a run's end into an exit code and a summary; it holds no training logic.
The flags are :mod:`bearer_gan.flags` (built from :class:`~bearer_gan.config.RunConfig`), and the
run is built by :mod:`bearer_gan.recipe`.

* :mod:`~bearer_gan.cli.train`: ``bearer-gan train``: exit codes, the resumed line, the summary.
* :mod:`~bearer_gan.cli.sample`: ``sample``: images, latent walks, truncation.
* :mod:`~bearer_gan.cli.tools`: ``evaluate``, and reading a run's generator for both.
* :mod:`~bearer_gan.cli.export`: ``export``: the generator as a TorchScript or ONNX file.
* :mod:`~bearer_gan.cli.federate`: ``federate``: a federation on Flower, as ``examples/federated_gan.py``.
* :mod:`~bearer_gan.cli.main`: the ``bearer-gan`` command.
"""
