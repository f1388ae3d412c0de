"""Speed of the Gaussian self-consuming loop: the issue's target is 1000 generations x 10,000 samples
x 20 seeds in under 10 s on 2 cores. Prints the median of repeated runs for the vectorised loop
(fortifai.toys.gaussian.simulate) and, as the baseline measured in the same run, a plain per-seed loop
that sorts each sample to truncate it.

    python benchmarks/gaussian.py [--generations 1000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from fortifai.toys import gaussian


def per_seed_loop(gamma, sampling_bias, n_samples, generations, seeds, seed):
    """The straightforward implementation: one chain at a time, a full sort to find the dropped core."""
    rng = np.random.default_rng(seed)
    out = np.empty((seeds, generations + 1))
    for s in range(seeds):
        mu, sigma = 0.0, 1.0
        out[s, 0] = 1.0
        for t in range(1, generations + 1):
            x = rng.normal(mu, sampling_bias * sigma, n_samples)
            if gamma is not None:
                order = np.argsort(np.abs(x - mu))
                x = x[order[int(round((1 - gamma) * n_samples)):]]
            mu, sigma = x.mean(), x.std()
            out[s, t] = sigma**2
    return out


def timed(fn, repeats):
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--generations", type=int, default=1000)
    parser.add_argument("--n-samples", type=int, default=10_000)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    shape = dict(n_samples=args.n_samples, generations=args.generations, seeds=args.seeds, seed=0)
    print(f"{args.generations} generations x {args.n_samples} samples x {args.seeds} seeds, median of {args.repeats}")
    print(f"{'method':<14}{'vectorised s':>14}{'per-seed loop s':>17}{'speed-up':>10}")
    for gamma in (None, 0.85):
        fast = timed(lambda: gaussian.simulate(gamma, 0.9, **shape), args.repeats)
        slow = timed(lambda: per_seed_loop(gamma, 0.9, **shape), args.repeats)
        print(f"{gaussian.method_label(gamma):<14}{fast:>14.2f}{slow:>17.2f}{slow / fast:>9.1f}x")


if __name__ == "__main__":
    main()
