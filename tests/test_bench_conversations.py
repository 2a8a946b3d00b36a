"""The generated conversations of bench/memory.py: only the turn a question points at holds the
value it needs (the latest stated before the question), every subject has its distractors and
some facts are superseded, so the bench's recall counts what it claims to."""

import random

import pytest

from bench.data.conversations import SUBJECTS, conversation
from knowledge.search.lexical import stem, words


def test_no_distractor_holds_any_value_of_its_subject():
    for subject in SUBJECTS:
        for user, answer in subject.distractors:
            for value in subject.values:
                assert value.lower() not in f"{user} {answer}".lower(), (subject.name, value)


def test_the_paraphrased_question_shares_no_telling_word_with_the_statements():
    def telling(text):  # stemmed, no stop words, no "s" of a possessive
        return {stem(w) for w in words(text) if len(w) > 1} - {""}

    for subject in SUBJECTS:
        asked = telling(subject.questions[-1])
        for statement in subject.facts + subject.corrections:
            said = telling(statement)
            assert not asked & said, (subject.name, asked & said)


@pytest.mark.parametrize("seed", [7, 8, 9])
def test_each_question_points_at_the_latest_statement_before_it(seed):
    generated = conversation(random.Random(seed), 200)
    assert len(generated.turns) == 200
    texts = {position: f"{user} {answer}" for position, user, answer in generated.turns}
    for question in generated.questions:
        assert question.position < question.at <= 201
        assert question.value in texts[question.position]
        holding = [p for p, text in texts.items() if question.value in text]
        assert holding == [question.position]  # stated once, nowhere else
        for position, old in question.stale:
            assert position < question.position and old != question.value
            assert old in texts[position]
    at_end = [q for q in generated.questions if q.at == 201]
    assert len(at_end) == len(SUBJECTS)
    assert sum(1 for q in at_end if q.stale) == 3  # three facts corrected
    for subject in SUBJECTS:
        distractors = [p for p, user, _ in generated.turns if user in dict(subject.distractors)]
        assert len(distractors) == min(8, len(subject.distractors))
