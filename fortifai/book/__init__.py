"""The book's plumbing: run a chapter in batch (:mod:`.runner`), state its results and close it (:mod:`.report`:
claims, verdicts, ``metrics.json``), one plotting style and one way to save a figure (:mod:`.plotting`), and the
status page (:mod:`.status`). The JSON files, run records and output folders are :mod:`fortifai.results`, which
the engine writes through too."""
