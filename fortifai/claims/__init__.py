"""Each chapter's closing table: one module per chapter, a function that takes the chapter's metrics and returns
:class:`fortifai.book.report.Claim` rows."""
