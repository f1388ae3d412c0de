"""Experiments that set up other experiments: the regime calibration and its CE pilot (:mod:`.calibration`), and
the v2 decisive test's preset written from their choice. They run the engine (:mod:`fortifai.recursive`) and judge
by the criteria of :mod:`fortifai.claims.regime`, so they sit above both: nothing below imports them.
"""
