"""fortifai: a reproduction of ForTIFAI and a toolkit of confidence-aware losses against model collapse."""

__version__ = "0.1.0"
