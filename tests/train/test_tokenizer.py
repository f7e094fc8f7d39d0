"""Byte-level BPE and the byte ("char") tokenizer: vocabulary size, lossless round trip, ChatML
special tokens as single ids, and a GGUF vocabulary llama.cpp's gpt2 model reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from datashark.train.corpus import SPLITS, read_split
from datashark.train.tokenizer import SPECIAL_TOKENS, TOKEN_CONTROL, Tokenizer, train_tokenizer


@pytest.fixture(scope="module")
def texts(corpus: Path) -> list[str]:
    return [r["text"] for s in SPLITS for r in read_split(corpus, s)]


def test_bpe_round_trip_and_specials(texts: list[str]) -> None:
    tok = train_tokenizer(texts, vocab_size=400)
    assert 300 < tok.vocab_size <= 400
    assert tok.vocab.tokens[: len(SPECIAL_TOKENS)] == list(SPECIAL_TOKENS)
    assert tok.vocab.token_types[:3] == [TOKEN_CONTROL] * 3 and tok.vocab.pre == "gpt-2"
    assert len(tok.vocab.merges) == tok.vocab_size - 259
    for text in texts:
        ids = tok.encode(text)
        assert tok.decode(ids) == text
        assert len(ids) < len(text.encode())  # merges compress
    assert tok.encode("<|im_start|>user\nhi<|im_end|>")[0] == 1
    assert tok.encode("é🙂") and tok.decode(tok.encode("é🙂")) == "é🙂"
    again = Tokenizer.from_dict(tok.to_dict())
    assert again.encode(texts[0]) == tok.encode(texts[0])
    assert again.fingerprint() == tok.fingerprint()


def test_char_tokenizer_is_one_token_per_byte(texts: list[str]) -> None:
    tok = train_tokenizer(texts, vocab_size=4096, kind="char")
    assert tok.vocab_size == 259 and tok.vocab.merges == []
    text = 'local s = "héllo"\n'
    ids = tok.encode(text)
    assert len(ids) == len(text.encode()) and tok.decode(ids) == text
    assert tok.token_byte_lengths().sum() == 256  # each byte token stands for one byte


def test_bad_settings_are_rejected(texts: list[str]) -> None:
    with pytest.raises(ValueError, match="kind"):
        train_tokenizer(texts, 300, kind="wordpiece")
    with pytest.raises(ValueError, match="vocab_size"):
        train_tokenizer(texts, 100)
