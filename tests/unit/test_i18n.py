"""The message catalog: every key in every language, same placeholders, clear errors."""

import pytest

from course_lib import i18n
from course_lib.i18n import LANGUAGES, CourseError, catalog, placeholders, t


def test_every_key_exists_in_every_language():
    reference = set(catalog("en"))
    for lang in LANGUAGES:
        keys = set(catalog(lang))
        assert keys == reference, (
            f"{lang}: missing {sorted(reference - keys)}, extra {sorted(keys - reference)}"
        )


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_translation_has_the_same_placeholders_as_english(lang):
    en = catalog("en")
    for key, template in catalog(lang).items():
        assert placeholders(template) == placeholders(en[key]), f"{lang}:{key}"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_no_message_is_empty_or_left_in_english(lang):
    en = catalog("en")
    for key, template in catalog(lang).items():
        assert template.strip(), f"{lang}:{key} is empty"
        if lang != "en" and len(en[key]) > 30:
            assert template != en[key], f"{lang}:{key} is not translated"


def test_serbian_is_written_in_latin_script():
    cyrillic = [k for k, v in catalog("sr").items() if any("\u0400" <= ch <= "\u04ff" for ch in v)]
    assert cyrillic == []


def test_russian_is_written_in_cyrillic():
    text = " ".join(catalog("ru").values())
    assert sum("\u0400" <= ch <= "\u04ff" for ch in text) > len(text) / 4


def test_t_formats_fields_in_the_requested_language():
    assert "'cifar'" in t("data.unknown_dataset", lang="ru", name="cifar", known="digits")
    assert "Неизвестный" in t("data.unknown_dataset", lang="ru", name="x", known="y")


def test_current_language_is_used_when_none_is_named():
    before = i18n.get_language()
    try:
        i18n.set_language("sr")
        assert t("data.unknown_dataset", name="x", known="y").startswith("Nepoznat")
    finally:
        i18n.set_language(before)


def test_unknown_language_names_the_supported_ones():
    with pytest.raises(ValueError) as err:
        i18n.set_language("xx")
    for code in LANGUAGES:
        assert code in str(err.value)


def test_course_error_is_a_value_error_with_its_key():
    err = CourseError("data.unknown_dataset", lang="sk", name="x", known="y")
    assert isinstance(err, ValueError)
    assert err.key == "data.unknown_dataset"
    assert "Neznámy" in str(err)


def test_missing_key_is_a_bug_reported_as_key_error():
    with pytest.raises(KeyError):
        t("course.no_such_message", lang="en")
