"""examples/digits.py on a tiny scale: the real-data pipeline runs end to end (when torch and scikit-learn are
installed: the example's own extras)."""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def digits():
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    spec = importlib.util.spec_from_file_location("digits_example", os.path.join(ROOT, "examples", "digits.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_trained_denoiser_samples_through_every_path(digits):
    import torch

    torch.set_num_threads(1)  # tiny batches: a second thread only waits (and starves under load)
    x_train, y_train, x_test, y_test = digits.load_digits_split(0)
    assert x_train.shape == (1500, 64) and x_test.shape == (297, 64) and x_train.min() >= -1 and x_train.max() <= 1
    net = digits.train(x_train, y_train, steps=30, batch=64, log=lambda message: None)
    labels = np.arange(10)
    model = digits.Model(net, labels)
    noise = np.random.default_rng(1).standard_normal((len(labels), 64))
    ref, accuracy = digits.reference(model, noise, rtol=1e-6)
    assert ref.shape == noise.shape and accuracy < 1e-4
    runs = digits.certsample_runs(model, noise, (20,))
    assert set(runs) == {
        f"{name} @20" for name in ("exponential-ode", "randomized-midpoint", "parallel-midpoint", "collocation")
    }
    for samples, nfe, rounds, _ in runs.values():
        assert samples.shape == noise.shape and 0 < rounds <= nfe <= 20
    # the k-diffusion path and the NumPy-score path run the same solver on the same network
    from certsample.kdiffusion import karras_sigmas, ou_times, sample_exponential

    sigmas = karras_sigmas(6, digits.SIGMA_MIN, digits.SIGMA_MAX)
    via_torch = sample_exponential(
        model, torch.from_numpy(noise * digits.SIGMA_MAX), sigmas[:-1], extra_args={"cond": model.labels}, disable=True
    ).numpy()
    import certsample as cs

    times = ou_times(sigmas[:-1])
    start = noise * digits.SIGMA_MAX * np.exp(-times[0])
    run = cs.sample(
        model.score_for(labels), "exponential-ode", x_init=start, grid=cs.TimeGrid(times), dim=64, progress=False
    )
    via_numpy = run.samples * np.exp(times[-1])
    np.testing.assert_allclose(via_torch, via_numpy, rtol=1e-10, atol=1e-10)
    scores = digits.evaluate(ref, labels, ref, x_test, _classifier(x_train, y_train), digits.median_distance(x_test))
    assert scores["pathwise"] == 0.0 and 0.0 <= scores["accuracy"] <= 1.0


def _classifier(x, y):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=2000).fit(x, y)
