"""The message catalog: every key in every language, same placeholders, clear errors."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

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
    assert "Neznáma dátová množina" in str(err)


def test_missing_key_is_a_bug_reported_as_key_error():
    with pytest.raises(KeyError):
        t("course.no_such_message", lang="en")


# Numbers in the course language (docs/style.md): decimal comma, thousands separator, percent.

NBSP = "\u00a0"


@pytest.mark.parametrize(("lang", "decimal", "thousands", "percent"), [
    ("sk", "0,147", f"4{NBSP}652{NBSP}008", f"95,2{NBSP}%"),
    ("sr", "0,147", "4.652.008", f"95,2{NBSP}%"),
    ("ru", "0,147", f"4{NBSP}652{NBSP}008", f"95,2{NBSP}%"),
    ("en", "0.147", "4,652,008", "95.2%"),
])
def test_numbers_are_written_as_the_language_writes_them(lang, decimal, thousands, percent):
    assert i18n.format_number(0.1469, ".3f", lang) == decimal
    assert i18n.format_number(4652008, ",", lang) == thousands
    assert i18n.format_percent(0.952, 1, lang) == percent


def test_width_and_alignment_apply_to_the_localized_text():
    assert i18n.format_number(2562, ">9,", "sk") == f"    2{NBSP}562"
    assert i18n.format_number(0.03, "<6", "sr") == "0,03  "
    assert i18n.format_number(-0.5, "+.1f", "ru") == "-0,5"
    assert i18n.format_number(1.67, ".2e", "sk") == "1,67e+00"


def test_what_is_not_a_finite_number_is_formatted_as_python_does():
    assert i18n.format_number(float("nan"), ".3f", "sk") == "nan"
    assert i18n.format_number("relu", "<6", "sk") == "relu  "
    assert i18n.format_number(True, "", "sk") == "True"


def test_numpy_scalars_and_zero_dim_tensors_are_numbers():
    import numpy as np
    import torch

    assert i18n.format_number(np.float32(0.25), ".2f", "sk") == "0,25"
    assert i18n.format_number(torch.tensor(0.25), ".2f", "ru") == "0,25"


@given(st.integers(-10**9, 10**9), st.sampled_from(["sk", "sr", "ru", "en"]))
def test_grouping_and_decimals_agree_with_unicode_cldr(n, lang):
    babel_numbers = pytest.importorskip("babel.numbers")
    locale = {"sr": "sr_Latn"}.get(lang, lang)
    x = n + 0.5  # exactly representable: no rounding question between the two
    assert i18n.format_number(n, ",", lang) == babel_numbers.format_decimal(n, locale=locale)
    assert i18n.format_number(x, ",.1f", lang) == babel_numbers.format_decimal(
        x, format="#,##0.0", locale=locale)


def test_catalog_fields_with_a_spec_follow_the_language_and_bare_fields_stay_python():
    sk = t("progress.test_result", lang="sk", loss=0.1469, accuracy=0.952)
    assert "0,147" in sk and f"95,2{NBSP}%" in sk
    assert "0.147" in t("progress.test_result", lang="en", loss=0.1469, accuracy=0.952)
    bare = t("data.unknown_dataset", lang="sk", name=0.5, known="digits")
    assert "0.5" in bare


def test_latex_decimals_use_the_braced_comma():
    assert i18n.latex_decimals(r"$a = 0.01$, $[\approx -0.17, \infty)$", "sr") == (
        r"$a = 0{,}01$, $[\approx -0{,}17, \infty)$")
    assert i18n.latex_decimals("$a = 0.01$", "en") == "$a = 0.01$"


def test_a_list_of_numbers_is_separated_by_semicolons_where_the_comma_is_decimal():
    assert i18n.format_numbers([0.912, 0.76], ".2f", "sk") == "0,91; 0,76"
    assert i18n.format_numbers([0.912, 0.76], ".2f", "ru") == "0,91; 0,76"
    assert i18n.format_numbers([0.912, 0.76], ".2f", "en") == "0.91, 0.76"
    assert i18n.format_numbers([], ".2f", "sr") == ""


def test_a_list_of_numbers_in_a_field_with_a_spec_follows_the_language():
    import numpy as np
    import torch

    assert i18n._Formatter("sk").format("[{v:.2f}]", v=[0.912, 0.76]) == "[0,91; 0,76]"
    assert i18n._Formatter("en").format("[{v:.2f}]", v=(0.912, 0.76)) == "[0.91, 0.76]"
    assert i18n._Formatter("sr").format("{v:g}", v=np.array([1234.5, 0.5])) == "1234,5; 0,5"
    assert i18n._Formatter("ru").format("{v:,}", v=torch.tensor([12345])) == "12\u00a0345"
    assert i18n.format_numbers([[1.0, 0.86], [0.86, 1.0]], ".2f", "sk") == (
        "[1,00; 0,86]; [0,86; 1,00]")
    assert i18n._Formatter("sk").format("{v}", v=[0.5]) == "[0.5]"
