"""The insurers' training workflow: the ``tuibao`` command line (``training.cli``), the importer
that merges each insurer's data folder into the model (``training.importer``), the data linter,
the held-out report and gate, the review queue and model promotion. See docs/insurers.md."""
