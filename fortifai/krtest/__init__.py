"""The Knowledge Retention test (KR-test, Sec. 4.2.1 and Appendix B of the paper): format, generator, scorer and
statistics, one module each (:mod:`.format`, :mod:`.generate`, :mod:`.score`, :mod:`.statistics`); the KR-test
chapter's analysis is :mod:`fortifai.chapters.kr_test`.

A KR question is a ``context``, a true continuation and a false one that differs in a key fact; the model
answers correctly when it gives the true continuation the higher log-probability. The file format is the
authors' release: a JSON list of objects

    {"context": "...", "sentence_true": "...", "sentence_false": "...", "location": 51}

(``location``: index of the paragraph of the source text the question was made from). Our generator adds
``kind`` (what was changed) and ``change`` (``start``, ``true``, ``false``: the character offset in the true
sentence and the two spans); other keys are kept as they are.

    questions = generate_questions(paragraphs, per_paragraph=5, seed=0)     # offline, rule based
    write_questions(questions, "kr.json"); questions = load_questions("kr.json")
    scores = score_questions(model, tokenizer, questions)                   # (n, 2): [true, false]
    correct = scores[:, 0] > scores[:, 1]
    report = accuracy_report(correct, [q.location for q in questions], n_splits=3)
    mcnemar(correct_a, correct_b)                                           # two models, same questions
"""

from .format import (
    DUPLICATES,
    REQUIRED_FIELDS,
    KRFormatError,
    KRQuestion,
    KRQuestions,
    load_questions,
    validate_questions,
    write_questions,
)
from .generate import DEFAULT_KINDS, KINDS, candidate_changes, entity_inventory, generate_questions, split_sentences
from .score import NORMALIZATIONS, SHARINGS, reduce_scores, score_questions, score_questions_per_item
from .statistics import (
    accuracy_by_kind,
    accuracy_report,
    bootstrap_ci,
    kr_chance,
    location_splits,
    mcnemar,
    proportion_interval,
)

__all__ = [
    "DUPLICATES", "REQUIRED_FIELDS", "KRFormatError", "KRQuestion", "KRQuestions", "load_questions",
    "validate_questions", "write_questions", "DEFAULT_KINDS", "KINDS", "candidate_changes", "entity_inventory",
    "generate_questions", "split_sentences", "NORMALIZATIONS", "SHARINGS", "reduce_scores", "score_questions",
    "score_questions_per_item", "accuracy_by_kind", "accuracy_report", "bootstrap_ci", "kr_chance", "location_splits",
    "mcnemar", "proportion_interval",
]
