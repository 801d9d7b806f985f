"""Keyword terms: the FTS5 porter unicode61 normalisation that blind tokens are computed from."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from hypothesis import given
from hypothesis import strategies as st

from hive_middleware.memory.keyword_terms import STOPWORDS, keyword_terms, query_terms


def test_forms_of_a_word_give_one_term_and_case_and_accents_fold() -> None:
    assert keyword_terms("Deploying deploys DEPLOY deployed") == ["deploi"] * 4
    assert keyword_terms("Naïve Café") == keyword_terms("naive cafe") == ["naiv", "cafe"]
    assert keyword_terms("src/flux_core.py:42") == ["src", "flux", "core", "py", "42"]


def test_stopwords_are_left_out_even_where_the_stemmer_changes_them() -> None:
    assert keyword_terms("this was what she has") == []  # "thi", "wa", "ha" as stemmed
    assert keyword_terms("the deploy of the service") == ["deploi", "servic"]
    assert not any(keyword_terms(word) for word in STOPWORDS)


def test_documents_keep_repeats_and_queries_do_not() -> None:
    assert keyword_terms("redis redis kafka") == ["redi", "redi", "kafka"]
    assert query_terms("redis kafka Redis?") == ["redi", "kafka"]
    assert query_terms("   ") == query_terms("") == query_terms("the and of") == []


@given(st.text(max_size=200))
def test_any_text_gives_folded_terms_without_error(text: str) -> None:
    # unicode61 folds case as Unicode 6.1 knew it: letters added later (Cherokee
    # small letters, for one) keep their case, in documents and queries alike.
    terms = keyword_terms(text)
    assert all(term and not any(c.isspace() or (c.isascii() and c.isupper()) for c in term) for term in terms)
    if text.isascii():
        assert keyword_terms(text.upper()) == terms
    assert query_terms(text) == list(dict.fromkeys(terms))


def test_threads_each_get_their_own_tokenizer() -> None:
    texts = [f"worker {i} deploys service {i}" for i in range(200)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(keyword_terms, texts))
    assert results == [["worker", str(i), "deploi", "servic", str(i)] for i in range(200)]
