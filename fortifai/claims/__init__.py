"""Each chapter's closing table: one module per chapter, a function that takes the chapter's metrics and returns
:class:`fortifai.claims.claim.Claim` rows, judged by :mod:`fortifai.claims.judge`."""
