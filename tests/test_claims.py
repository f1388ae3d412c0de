"""The chapters' claims functions on small metrics built by hand: verdict words, the numbers they quote, the
paper items they name (parsed by the status page)."""

import numpy as np

from fortifai import status, vae_claims
from fortifai.report import VERDICTS


def _check_schema(claims):
    for c in claims:
        assert c.claim and c.ours and c.word in VERDICTS
        assert status.paper_refs(c.paper), c.paper  # parses, and names at least one item


# --- VAE (Sec. 4.8, Fig. 9) ------------------------------------------------------------------------


def _vae_metrics(accuracy=0.975):
    def per_seed(first, last):  # (seeds, generations): first and last generation given, a midpoint between
        first, last = np.array(first, float), np.array(last, float)
        return {"per_seed": np.stack([first, (first + last) / 2, last], 1)}

    methods = {"ELBO": {}, "clipped γ=0.9": {"gamma": 0.9}, "dynamic α=0.5": {"alpha": 0.5}}
    return {
        "setting": {"seeds": 3, "generations": 3, "methods": methods},
        "classifier_test_accuracy": accuracy,
        "real_data": {"frechet": {"median": 0.9}},
        "methods": {
            # ELBO: more than doubled in seeds 0 and 1 (30 > 20, 31 > 22), not in seed 2 (20 < 24)
            "ELBO": {"frechet": per_seed([10, 11, 12], [30, 31, 20]),
                     "class_entropy": per_seed([2.2, 2.2, 2.2], [1.0, 1.1, 1.2])},
            # lower in 3/3 seeds by 24 > the ELBO's range 11; entropy higher in 3/3 by 0.05 < its range 0.2
            "clipped γ=0.9": {"frechet": per_seed([10, 11, 12], [5, 6, 7]),
                              "class_entropy": per_seed([2.2, 2.2, 2.2], [1.05, 1.15, 1.25]),
                              "masked_fraction": per_seed([0.7, 0.7, 0.7], [0.04, 0.04, 0.04])},
            # lower in 2/3 seeds; entropy higher in 0/3
            "dynamic α=0.5": {"frechet": per_seed([10, 11, 12], [29, 32, 19]),
                              "class_entropy": per_seed([2.2, 2.2, 2.2], [0.5, 0.6, 0.7]),
                              "masked_fraction": per_seed([0.6, 0.6, 0.6], [0.5, 0.5, 0.5])},
        },
    }


def test_vae_claims_pair_each_objective_with_the_elbo_seed_by_seed():
    claims = vae_claims.claims(_vae_metrics())
    _check_schema(claims)
    assert [c.word for c in claims] == ["partly", "reproduced", "partly", "partly", "not reproduced", "reproduced"]
    elbo, clip_fd, clip_ent, dyn_fd, dyn_ent, instrument = claims
    assert "by generation 2" in elbo.claim and "more than doubled in 2/3 seeds" in elbo.verdict
    assert "11 [10–12] at generation 0 → 30 [20–31] at 2" in elbo.ours and "(real: 0.9)" in elbo.ours
    assert "lower in 3/3 seeds" in clip_fd.ours and "by more than the ELBO's seed-to-seed range" in clip_fd.verdict
    assert "pixels masked: 70% at generation 0, 4% at the last" in clip_fd.verdict
    assert "higher in 3/3 seeds" in clip_ent.ours and "by less than the ELBO's seed-to-seed range" in clip_ent.verdict
    assert "better in 2/3 seeds" in dyn_fd.verdict and "better in 0/3 seeds" in dyn_ent.verdict
    assert dyn_fd.paper == "Fig. 9" and clip_fd.paper == "Sec. 4.8; Fig. 9"
    assert instrument.ours == "test accuracy 97.50%"
    assert vae_claims.claims(_vae_metrics(accuracy=0.95))[-1].verdict.startswith("not reproduced: below")
