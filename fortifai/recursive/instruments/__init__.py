"""What the engine measures at every stage of a recursive run: the share of tokens a loss masks
(:mod:`.masking`), how much of a split survives its regeneration (:mod:`.fidelity`), the likelihood of real text
(:mod:`.likelihood`), the drift of generated text and the confidence gap (:mod:`.divergence`), and BLiMP,
HellaSwag and GSM8K through lm-eval (:mod:`.benchmarks`, with its local task files in ``tasks/``)."""
