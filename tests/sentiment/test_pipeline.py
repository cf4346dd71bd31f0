"""The scoring pipeline from a saved text to its stored score (without a worker process)."""

from __future__ import annotations

import threading
from unittest import mock

import pytest
from django.db import connection
from hypothesis import given, settings
from hypothesis import strategies as st
from kombu.exceptions import OperationalError as BrokerError

from crm.models import CustomerText, TicketMessage
from crm.services import review_upsert
from sentiment import services
from sentiment.analyzers import get_analyzer
from sentiment.models import SentimentScore
from sentiment.services import texts_score, unscored_enqueue
from tests.factories import CustomerFactory, ReviewFactory, TicketMessageFactory, days_ago

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent_batches() -> mock.MagicMock:
    """Record what would be published to the broker instead of publishing it."""
    with mock.patch("sentiment.tasks.score_texts.apply_async") as apply_async:
        yield apply_async


def batches_of(apply_async: mock.MagicMock) -> list[list[int]]:
    return [list(call.kwargs["args"][0]) for call in apply_async.call_args_list]


def test_vader_reads_an_angry_review_as_negative_and_a_happy_one_as_positive() -> None:
    vader = get_analyzer("vader")
    angry, happy = vader.analyze_many(
        ["Terrible quality, it fell apart after one wash. Awful.", "I love it, great fit!"]
    )
    assert angry.label == "negative" and angry.score < -0.5
    assert happy.label == "positive" and happy.score > 0.5
    assert vader.version.startswith("nltk-")


def test_scoring_a_text_stores_one_row_and_scoring_it_again_changes_nothing() -> None:
    review = ReviewFactory(title="Awful", body="The zip broke on day one. Very disappointed.")
    text = review.customer_text

    assert texts_score(text_ids=[text.pk]) == 2  # VADER and the transformer
    first = SentimentScore.objects.get(text=text, analyzer="vader")
    assert texts_score(text_ids=[text.pk]) == 0

    again = SentimentScore.objects.get(text=text, analyzer="vader")
    assert (again.pk, again.scored_at, again.label) == (first.pk, first.scored_at, "negative")
    assert first.content_hash == text.content_hash


def test_empty_review_text_is_marked_nothing_to_score_not_neutral() -> None:
    review = ReviewFactory(title="", body="   ")
    text = review.customer_text
    assert text.is_empty

    texts_score(text_ids=[text.pk])

    for score in SentimentScore.objects.filter(text=text):
        assert score.label == SentimentScore.Label.EMPTY
        assert score.score is None
        assert score.get_label_display() == "nothing to score"


def test_an_edited_review_is_rescored_in_place() -> None:
    """GIVEN a scored positive review WHEN the shop sends an angry edit THEN the one row flips."""
    review = ReviewFactory(title="Great", body="Lovely fabric, fits well.")
    texts_score(text_ids=[review.customer_text.pk])

    review_upsert(
        external_id=review.external_id,
        customer=review.customer,
        rating=1,
        title="Changed my mind",
        body="It shrank in the wash and customer service ignored me. Horrible.",
        created_at=review.created_at,
    )
    texts_score(text_ids=[review.customer_text.pk])

    scores = SentimentScore.objects.filter(text__review=review)
    assert scores.count() == 2  # one row per analyzer, updated in place
    assert set(scores.values_list("label", flat=True)) == {"negative"}


def test_ids_of_deleted_texts_are_skipped_quietly() -> None:
    assert texts_score(text_ids=[987654]) == 0


def test_agent_messages_are_stored_but_never_scored() -> None:
    message = TicketMessageFactory(
        author_kind=TicketMessage.Author.AGENT, body="Sorry to hear that, we refund you."
    )
    assert not CustomerText.objects.filter(message=message).exists()


def test_saving_a_review_queues_its_text_after_commit(
    django_capture_on_commit_callbacks, sent_batches: mock.MagicMock
) -> None:
    customer = CustomerFactory()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        review, _ = review_upsert(
            external_id="R-1", customer=customer, rating=2, body="Late again.",
            created_at=days_ago(1),
        )  # fmt: skip
        assert sent_batches.call_count == 0  # nothing leaves before the commit
    for callback in callbacks:
        callback()

    assert batches_of(sent_batches) == [[review.customer_text.pk]]


def test_a_broker_outage_loses_no_text_the_sweeper_queues_it_later(
    django_capture_on_commit_callbacks, sent_batches: mock.MagicMock, caplog
) -> None:
    """GIVEN the broker refuses the publish WHEN a review is saved
    THEN the save succeeds, a warning is logged, and the sweeper queues the text later."""
    sent_batches.side_effect = BrokerError("connection refused")
    with django_capture_on_commit_callbacks(execute=True):
        review = ReviewFactory(body="Where is my parcel?")
    assert "left for the sweeper" in caplog.text

    sent_batches.side_effect = None
    sent_batches.reset_mock()
    assert unscored_enqueue() == 1
    assert batches_of(sent_batches) == [[review.customer_text.pk]]


def test_the_sweeper_queues_in_batches_of_64_and_skips_scored_texts(
    sent_batches: mock.MagicMock,
) -> None:
    customer = CustomerFactory()
    reviews = ReviewFactory.create_batch(131, customer=customer)
    texts_score(text_ids=[reviews[0].customer_text.pk])

    queued = unscored_enqueue()

    assert queued == 130
    assert [len(batch) for batch in batches_of(sent_batches)] == [64, 64, 2]
    queued_ids = [text_id for batch in batches_of(sent_batches) for text_id in batch]
    assert reviews[0].customer_text.pk not in queued_ids


@given(
    st.lists(
        st.one_of(
            st.sampled_from(["good", "bad", "not", "very", "GREAT", "but", "kind", "of", ":)",
                             ":D", "don't", "ok", "a", "I", "hate", "love", "cat"]),
            st.text(alphabet="abc.!?,;:-'\"()*", min_size=1, max_size=6),
        ),
        max_size=25,
    ).map(" ".join)
)  # fmt: skip
@settings(max_examples=300, deadline=None)
def test_vader_quick_tokeniser_gives_the_same_tokens_as_nltk(text: str) -> None:
    from nltk.sentiment import vader as nltk_vader

    get_analyzer("vader")  # installs the quick tokeniser
    quick = nltk_vader.SentiText
    original = quick.__bases__[0]
    constants = nltk_vader.VaderConstants()
    args = (text, constants.PUNC_LIST, constants.REGEX_REMOVE_PUNCTUATION)
    assert quick is not original
    assert quick(*args).words_and_emoticons == original(*args).words_and_emoticons


def test_a_scoring_task_takes_along_the_newer_texts_queued_behind_it() -> None:
    """GIVEN four reviews saved one by one (four queued tasks) WHEN the task of the second
    runs THEN it scores the second and the two newer ones in one batch, not the older one,
    and the tasks it overtook find nothing left to do."""
    from sentiment.tasks import score_texts

    _older, second, third, fourth = [ReviewFactory().customer_text.pk for _ in range(4)]

    assert score_texts(text_ids=[second]) == 6  # 3 texts x 2 analyzers

    scored = set(SentimentScore.objects.values_list("text_id", flat=True))
    assert scored == {second, third, fourth}
    assert score_texts(text_ids=[third]) == 0
    assert score_texts(text_ids=[fourth]) == 0


@pytest.mark.django_db(transaction=True)
def test_a_text_another_worker_is_analysing_is_skipped_not_analysed_twice() -> None:
    """GIVEN a worker analysing a batch (a backlog taken along) WHEN a second worker's batch
    overlaps it THEN the second analyses only the texts nobody holds, and every text ends
    with one score: the overlap is not analysed twice."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks that skip what is locked are PostgreSQL's (SQLite runs one writer)")
    first, second, third = (ReviewFactory().customer_text.pk for _ in range(3))
    vader = get_analyzer("vader")
    real_analyze = services.analyze_texts
    holding, release = threading.Event(), threading.Event()
    analysed: dict[str, list[str]] = {}

    def analyze(analyzer, texts):
        analysed.setdefault(threading.current_thread().name, []).extend(texts)
        if threading.current_thread().name == "busy worker":
            holding.set()
            release.wait(timeout=30)
        return real_analyze(analyzer, texts)

    written: dict[str, int] = {}

    def busy_worker() -> None:
        try:
            written["busy"] = texts_score(text_ids=[first, second], analyzers=[vader])
        finally:
            connection.close()

    with mock.patch("sentiment.services.analyze_texts", side_effect=analyze):
        thread = threading.Thread(target=busy_worker, name="busy worker")
        thread.start()
        assert holding.wait(timeout=30)
        written["other"] = texts_score(text_ids=[first, second, third], analyzers=[vader])
        release.set()
        thread.join(timeout=30)

    assert written == {"busy": 2, "other": 1}
    assert analysed[threading.main_thread().name] == [CustomerText.objects.get(pk=third).text]
    scored = SentimentScore.objects.filter(analyzer="vader").values_list("text_id", flat=True)
    assert sorted(scored) == sorted([first, second, third])
    assert texts_score(text_ids=[first, second, third], analyzers=[vader]) == 0
