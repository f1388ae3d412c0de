"""The Gaussian loop against independent references: numerical integration, exact counts, theory."""

import numpy as np
import pytest
from scipy import integrate, stats

from fortifai.toys import gaussian


@pytest.mark.parametrize("a", [0.0, 0.19, 0.5, 1.0, 2.0, 3.5])
def test_eta_matches_numerical_integration(a):
    # Var(Z | |Z| >= a) for the symmetric two-sided truncation, integrated numerically
    mass = 2 * integrate.quad(stats.norm.pdf, a, np.inf)[0]
    second_moment = 2 * integrate.quad(lambda z: z**2 * stats.norm.pdf(z), a, np.inf)[0] / mass
    assert gaussian.eta(a) == pytest.approx(second_moment, rel=1e-8)


def test_eta_vectorised_and_above_one():
    a = np.linspace(0.01, 4, 50)
    assert np.all(gaussian.eta(a) > 1)
    assert gaussian.eta(0.0) == 1.0


@pytest.mark.parametrize("gamma", [0.5, 0.8, 0.85, 0.99])
def test_tail_threshold_keeps_gamma_mass(gamma):
    a = gaussian.tail_threshold(gamma)
    assert 2 * stats.norm.sf(a) == pytest.approx(gamma, rel=1e-10)


def test_tail_threshold_rejects_out_of_range():
    for bad in (0.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="gamma must be None"):
            gaussian.tail_threshold(bad)


@pytest.mark.parametrize("gamma", [0.5, 0.8, 0.85])
def test_truncation_keeps_the_right_fraction_and_the_tails(gamma):
    rng = np.random.default_rng(1)
    n = 10_000
    mu = np.array([0.0, 3.0])
    x = mu[:, None] + 2.0 * rng.standard_normal((2, n))
    keep = gaussian.truncate_most_likely(x, mu, gamma)
    n_drop = round((1 - gamma) * n)
    assert np.all(keep.sum(axis=1) == n - n_drop)
    distance = np.abs(x - mu[:, None])
    for row in range(2):
        # every dropped sample is closer to the mean (more likely) than every kept one
        assert distance[row][~keep[row]].max() < distance[row][keep[row]].min()
        # and the empirical boundary sits where the theory puts it: a * sigma
        boundary = distance[row][keep[row]].min()
        assert boundary == pytest.approx(2.0 * gaussian.tail_threshold(gamma), abs=0.03)


def test_truncated_variance_matches_eta():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 400_000))
    keep = gaussian.truncate_most_likely(x, np.zeros(1), 0.85)
    assert x[keep].var() == pytest.approx(gaussian.eta(gaussian.tail_threshold(0.85)), rel=0.01)


def test_no_truncation_for_ce():
    x = np.random.default_rng(0).standard_normal((3, 100))
    assert gaussian.truncate_most_likely(x, np.zeros(3), None).all()
    assert gaussian.truncate_most_likely(x, np.zeros(3), 1.0).all()


@pytest.mark.parametrize("gamma", [None, 0.85])
def test_simulation_follows_eq4(gamma):
    run = gaussian.simulate(gamma, 0.9, n_samples=10_000, generations=10, seeds=20, seed=0)
    theory = gaussian.theory_variance(gamma, 0.9, 10)
    assert run.variance[:, 0] == pytest.approx(1.0)
    assert np.median(run.variance[:, 10]) == pytest.approx(theory[10], rel=0.05)


def test_same_seed_same_curves_and_different_seed_differs():
    a = gaussian.simulate(0.85, 0.9, n_samples=500, generations=20, seeds=4, seed=7)
    b = gaussian.simulate(0.85, 0.9, n_samples=500, generations=20, seeds=4, seed=7)
    c = gaussian.simulate(0.85, 0.9, n_samples=500, generations=20, seeds=4, seed=8)
    np.testing.assert_array_equal(a.variance, b.variance)
    np.testing.assert_array_equal(a.mean, b.mean)
    assert not np.array_equal(a.variance, c.variance)


def test_sampling_bias_array_lays_out_settings_then_seeds():
    run = gaussian.simulate(None, np.array([0.8, 1.0]), n_samples=5000, generations=5, seeds=3, seed=0)
    assert run.variance.shape == (6, 6)
    contracted, unbiased = run.variance[:3, -1], run.variance[3:, -1]
    assert np.all(contracted < 0.2) and np.all(unbiased > 0.8)


def test_critical_curve_separates_collapse_and_growth():
    gamma = 0.85
    lam_c = gaussian.critical_sampling_bias(gamma)
    assert gaussian.variance_factor(gamma, lam_c) == pytest.approx(1.0)
    below = gaussian.simulate(gamma, lam_c - 0.05, n_samples=5000, generations=60, seeds=5, seed=0)
    above = gaussian.simulate(gamma, lam_c + 0.05, n_samples=5000, generations=60, seeds=5, seed=0)
    assert np.median(below.variance[:, -1]) < 0.2 < 5 < np.median(above.variance[:, -1])


def test_generations_to_threshold():
    var = np.array([[1.0, 0.5, 0.09, 0.01], [1.0, 2.0, 11.0, 20.0], [1.0, 1.0, 1.0, 1.0]])
    np.testing.assert_array_equal(gaussian.generations_to_threshold(var, 0.1, 10), [2, 2, np.inf])


def test_stop_outside_fills_the_rest():
    run = gaussian.simulate(None, 0.5, n_samples=1000, generations=50, seeds=2, seed=0, stop_outside=(0.1, 10))
    assert run.variance.shape == (2, 51)
    assert np.all(run.variance[:, -1] < 0.1)


def test_noisy_estimator_collapses_and_perfect_does_not():
    perfect, _ = gaussian.simulate_estimators(0.0, n_samples=2000, generations=300, seeds=8, seed=0)
    noisy, _ = gaussian.simulate_estimators(0.3, n_samples=2000, generations=300, seeds=8, seed=0)
    assert np.median(noisy.variance[:, -1]) < 1e-3
    assert 0.5 < np.median(perfect.variance[:, -1]) < 1.5


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(gamma=0.0), "gamma"),
        (dict(gamma=None, sampling_bias=0.0), "sampling_bias"),
        (dict(gamma=None, n_samples=1), "n_samples"),
        (dict(gamma=None, seeds=0), "seeds"),
    ],
)
def test_bad_input_is_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        gaussian.simulate(**kwargs)
