import numpy as np
import pytest
from scipy.stats import multivariate_normal

from fortifai.toys import gmm


def test_percentile_filter_keeps_the_right_fraction_and_drops_the_most_likely():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=1001)
    for gamma in (0.6, 0.8, 0.95):
        keep = gmm.percentile_filter(scores, gamma)
        assert keep.sum() == round(gamma * 1001)
        # every dropped point is more likely than every kept point
        assert scores[~keep].min() > scores[keep].max()
        # the rule of Algorithm 2: kept <=> score <= the gamma-th percentile (up to the rank convention)
        assert np.all(scores[keep] <= np.quantile(scores, gamma))


@pytest.mark.parametrize("gamma", [None, 1.0])
def test_percentile_filter_baseline_keeps_everything(gamma):
    assert gmm.percentile_filter(np.arange(10.0), gamma).all()


@pytest.mark.parametrize("gamma", [0.0, -0.1, 1.2, "0.8", True])
def test_bad_gamma_is_refused_with_a_message(gamma):
    with pytest.raises(ValueError, match=r"gamma must be None .* \(0, 1\]"):
        gmm.percentile_filter(np.arange(10.0), gamma)
    with pytest.raises(ValueError, match="gamma"):
        gmm.run_chain(gmm.two_class_mixture(), gamma=gamma, generations=1)


def test_filtered_2d_gaussian_has_the_predicted_variance():
    # Drop the most likely (1 - gamma) of a 2-D standard normal sample by its log density; the kept
    # points' per-axis variance is 1 - ln(gamma) (r^2 ~ Exp(2) is memoryless).
    rng = np.random.default_rng(1)
    x = rng.normal(size=(400_000, 2))
    logp = multivariate_normal(np.zeros(2), np.eye(2)).logpdf(x)
    for gamma in (0.6, 0.8, 0.9):
        kept = x[gmm.percentile_filter(logp, gamma)]
        assert np.mean(kept**2) == pytest.approx(1 - np.log(gamma), rel=5e-3)
        assert gmm.truncation_variance_factor(gamma) == pytest.approx(1 - np.log(gamma), rel=1e-10)


def test_truncation_factor_in_1d_matches_numerical_integral():
    from scipy import integrate
    from scipy.stats import norm

    gamma = 0.85
    a = norm.ppf(1 - gamma / 2)  # keep |x| >= a
    second = 2 * integrate.quad(lambda x: x**2 * norm.pdf(x), a, np.inf)[0] / gamma
    assert gmm.truncation_variance_factor(gamma, dim=1) == pytest.approx(second, rel=1e-8)


def test_critical_gamma_balances_the_sampling_bias():
    for lam in (0.85, 0.9, 0.95):
        g = gmm.critical_gamma(lam)
        assert lam**2 * gmm.truncation_variance_factor(g) == pytest.approx(1.0, rel=1e-9)
        assert lam**2 * gmm.truncation_variance_factor(gmm.critical_gamma(lam, dim=3), dim=3) == pytest.approx(1.0)


def _random_mixture(rng, k=2):
    a = rng.normal(size=(k, 2, 2))
    return gmm.Mixture(rng.dirichlet(np.ones(k)), rng.normal(scale=1.5, size=(k, 2)), a @ a.transpose(0, 2, 1) + 0.3 * np.eye(2))


def test_log_density_matches_scipy():
    rng = np.random.default_rng(2)
    m = _random_mixture(rng, 3)
    x = rng.normal(size=(50, 2))
    ref = np.log(sum(w * multivariate_normal(mu, c).pdf(x) for w, mu, c in zip(m.weights, m.means, m.covariances)))
    np.testing.assert_allclose(m.log_density(x), ref, rtol=1e-10)


def test_l2_distance_matches_numerical_integration():
    rng = np.random.default_rng(3)
    p, q = _random_mixture(rng), _random_mixture(rng)
    grid = np.linspace(-12, 12, 801)
    xx, yy = np.meshgrid(grid, grid)
    pts = np.column_stack([xx.ravel(), yy.ravel()])
    dx = grid[1] - grid[0]
    diff = np.exp(p.log_density(pts)) - np.exp(q.log_density(pts))
    numeric = np.sum(diff**2) * dx * dx
    assert gmm.l2_distance_sq(p, q) == pytest.approx(numeric, rel=1e-4)
    assert gmm.l2_distance_sq(p, p) == pytest.approx(0.0, abs=1e-15)


def test_normalized_l2_of_a_rescaled_gaussian_and_the_failure_threshold():
    base = gmm.Mixture([1.0], [[0.0, 0.0]], [np.eye(2)])
    for s in (0.1, 0.5, 3.0, 10.0):
        scaled = gmm.Mixture([1.0], [[0.0, 0.0]], [s * np.eye(2)])
        assert gmm.normalized_l2(base, scaled) == pytest.approx(((1 - s) / (1 + s)) ** 2, rel=1e-10)
    # failing means: as far from the original as a Gaussian that lost 90% of its variance (or grew 10x)
    assert gmm.FAILURE_DISTANCE == pytest.approx((0.9 / 1.1) ** 2)


def test_total_variance_of_the_two_class_mixture():
    m = gmm.two_class_mixture(minority_weight=0.3, separation=4.0)
    # within: trace(I) = 2; between: w(1-w) * 4^2 on the x axis
    assert m.total_variance() == pytest.approx(2 + 0.3 * 0.7 * 16)
    x, labels = m.sample(200_000, np.random.default_rng(4))
    assert np.trace(np.cov(x.T)) == pytest.approx(m.total_variance(), rel=1e-2)
    assert labels.mean() == pytest.approx(0.3, abs=5e-3)


def test_generations_to_failure():
    assert gmm.generations_to_failure([0.0, 0.5, 0.7, 0.2]) == 2
    assert gmm.generations_to_failure([0.0, 0.1]) is None
    s = gmm.censored_summary([3, None, 5, 7, None])
    assert s["never_failed"] == 2 and s["median"] == 7 and s["q10"] == 3 and s["q90"] == np.inf


def test_chain_is_deterministic_and_the_baseline_collapses_near_theory():
    original = gmm.two_class_mixture()
    kw = dict(n_samples=500, generations=25, sampling_bias=0.9, seed=7)
    a, b = gmm.run_chain(original, **kw), gmm.run_chain(original, **kw)
    np.testing.assert_array_equal(a.distance, b.distance)
    assert a.variance_ratio[0] == pytest.approx(1.0, abs=0.15)
    assert np.all(a.kept_fraction == 1.0)
    # within-class variance shrinks by 0.81 per generation: 10% after ~11 generations
    theory = gmm.theory_generations_to_failure(None, 0.9)
    assert theory == pytest.approx(np.log(10) / -np.log(0.81))
    assert abs(a.generations_to_failure - theory) <= 5


def test_truncated_chain_keeps_gamma_of_the_samples_and_resists_collapse():
    original = gmm.two_class_mixture()
    kw = dict(n_samples=500, generations=25, sampling_bias=0.9, seed=7)
    base = gmm.run_chain(original, **kw)
    trunc = gmm.run_chain(original, gamma=0.8, **kw)
    np.testing.assert_allclose(trunc.kept_fraction, 0.8)
    assert trunc.generations_to_failure is None or trunc.generations_to_failure > base.generations_to_failure
    assert trunc.distance[-1] < base.distance[-1]


@pytest.mark.parametrize("kw,match", [
    ({"sampling_bias": 0.0}, "sampling_bias must be a positive number"),
    ({"sampling_bias": -0.9}, "sampling_bias must be a positive number"),
    ({"n_samples": 3}, r"n_samples must be an int >= 4"),
    ({"generations": -1}, r"generations must be an int >= 0"),
])
def test_bad_chain_parameters_are_refused(kw, match):
    with pytest.raises(ValueError, match=match):
        gmm.run_chain(gmm.two_class_mixture(), **kw)
