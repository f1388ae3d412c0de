"""What a model answers of the KR-test before it trains on anything: the chance the recursive runs measure against.

    python scripts/kr_prior.py                      # SmolLM2-135M, Wikipedia leads and their counterfactual version
    python scripts/kr_prior.py --model tiny-random --paragraphs 8 --out /tmp/prior.json

The same paragraphs (a seeded sample of those with at least ``--min-words`` words) are taken from every source; a
source's questions are made by the KR generator (default kinds, 5 per paragraph) and scored by the base model.
A pretrained model that knows the facts answers far above 50%, which leaves the KR-test no room below M0; the
counterfactual text (``fortifai.lm.counterfactual``) is meant to bring it back near 50%. Prints accuracy
overall and by kind with Wilson intervals, and writes them as JSON (atomically) to ``--out``.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fortifai import krtest  # noqa: E402
from fortifai.lm import corpus, models  # noqa: E402
from fortifai.results import REPO_ROOT, write_json  # noqa: E402


def prior(model, tokenizer, paragraphs: list[str], seed: int) -> dict:
    questions = krtest.generate_questions(paragraphs, per_paragraph=5, seed=seed)
    scores = krtest.score_questions(model, tokenizer, questions)
    correct = scores[:, 0] > scores[:, 1]
    out = {"n": int(correct.size), "accuracy": float(correct.mean()),
           "interval": krtest.proportion_interval(int(correct.sum()), int(correct.size)), "by_kind": {}}
    for kind in sorted({q.kind for q in questions}):
        sub = [c for q, c in zip(questions, correct) if q.kind == kind]
        out["by_kind"][kind] = {"n": len(sub), "accuracy": sum(sub) / len(sub),
                                "interval": krtest.proportion_interval(int(sum(sub)), len(sub))}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--sources", nargs="+", default=["wikipedia-offline", "wikipedia-offline-counterfactual"])
    parser.add_argument("--paragraphs", type=int, default=60)
    parser.add_argument("--min-words", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "results" / "gates" / "kr_prior.json")
    args = parser.parse_args(argv)
    if args.paragraphs < 1:
        parser.error(f"--paragraphs must be >= 1, got {args.paragraphs}")
    corpora = {s: corpus.load_paragraphs(s, min_words=args.min_words) for s in args.sources}
    sizes = {len(p) for p in corpora.values()}
    if len(sizes) != 1:
        parser.error(f"the sources must have the same paragraphs (same count), got {sizes}")
    chosen = sorted(random.Random(args.seed).sample(range(sizes.pop()), args.paragraphs))
    model, tokenizer = models.load_model(args.model)
    result = {"model": args.model, "paragraphs": args.paragraphs, "seed": args.seed, "sources": {}}
    for source, paragraphs in corpora.items():
        started = time.perf_counter()
        result["sources"][source] = prior(model, tokenizer, [paragraphs[i] for i in chosen], args.seed)
        r = result["sources"][source]
        print(f"{source}: {r['accuracy']:.1%} [{r['interval'][0]:.1%}, {r['interval'][1]:.1%}] of {r['n']} "
              f"({time.perf_counter() - started:.0f} s)")
        for kind, k in r["by_kind"].items():
            print(f"    {kind:8s} {k['accuracy']:6.1%} [{k['interval'][0]:.1%}, {k['interval'][1]:.1%}] of {k['n']}")
    write_json(args.out, result)
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
