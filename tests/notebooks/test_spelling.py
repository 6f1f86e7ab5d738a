"""Spelling: every notebook's markdown and every README passes hunspell and the word lists."""

import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

import spell  # noqa: E402


def require_hunspell():
    if shutil.which("hunspell") is None:
        message = f"hunspell is not installed: apt-get install {spell.PACKAGES}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def test_prose_skips_code_formulas_and_links():
    text = "Slovo `kód` a $\\alpha$ a $$x^2$$ a [odkaz](http://x.y/z) <b>tučne</b>\n```\nif x\n```"
    words = spell.WORD.findall(spell.prose(text))
    assert words == ["Slovo", "odkaz", "tučne"]


def test_a_misspelled_word_is_reported_in_each_language():
    require_hunspell()
    assert spell.unknown_words("neurónová sieť a neuronnová", "sk") == ["neuronnová"]
    assert spell.unknown_words("neuronska mreža i neuronkska", "sr") == ["neuronkska"]
    assert spell.unknown_words("нейронная сеть и нейроннная", "ru") == ["нейроннная"]


def test_english_terms_in_brackets_and_the_word_list_are_accepted():
    require_hunspell()
    assert spell.unknown_words("vysielanie (broadcasting) a autograd", "sk") == []


def test_notebooks_and_readmes_have_no_unknown_words():
    require_hunspell()
    found = spell.check()
    assert not found, "\n".join(f"{path}: {', '.join(words)}" for path, words in found.items())
