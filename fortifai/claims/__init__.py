"""Each chapter's closing table: a function per chapter that takes its metrics and returns :class:`fortifai.report.Claim` rows."""
