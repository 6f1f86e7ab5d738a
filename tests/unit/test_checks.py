"""The exercise checker: references pass, mistakes are explained in each language, no traceback."""

import inspect
import math
import re

import pytest
import torch

from course_lib import checks, i18n, setup
from course_lib.checks import EXERCISES, Checker, CheckResult, exercise
from course_lib.i18n import LANGUAGES, t

WRONG = {  # a typical mistake per exercise: right type, shape and dtype, wrong values
    "sigmoid": lambda x: 1 / (1 + torch.exp(x)),
    "relu_backward": lambda dout, x: dout * (x >= 0),
    "softmax": lambda x: torch.exp(x) / torch.exp(x).sum(),
    "sgd_momentum_step": lambda w, dw, v, lr, mu: (w - lr * dw, mu * v + dw),
    "adam_step": lambda w, dw, m, v, t, lr, b1, b2, eps: (
        w - lr * (b1 * m + (1 - b1) * dw) / ((b2 * v + (1 - b2) * dw**2).sqrt() + eps),
        b1 * m + (1 - b1) * dw, b2 * v + (1 - b2) * dw**2),
    "xavier_std": lambda fan_in, fan_out: math.sqrt(1 / fan_in),
}


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_reference_passes_its_own_checker(name, lang):
    result = getattr(Checker(lang), name)(EXERCISES[name].reference)
    assert result.passed and bool(result) and result.hint == ""
    assert result.message == t("checks.passed", lang=lang, exercise=name,
                               n=len(EXERCISES[name].cases(torch.Generator().manual_seed(0))))
    assert str(result).startswith("✔") and "#2e7d32" in result._repr_html_()


def test_every_exercise_of_the_framework_has_a_wrong_answer_here():
    """The lectures' exercises (course_lib/exercises) are tested with their notebooks."""
    own = {n for n, ex in EXERCISES.items() if ex.reference.__module__ == "course_lib.checks"}
    assert set(WRONG) == own


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("name", sorted(WRONG))
def test_wrong_answer_fails_with_the_localized_hint(name, lang):
    result = getattr(Checker(lang), name)(WRONG[name])
    assert not result.passed and not bool(result)
    assert result.hint == t(EXERCISES[name].hint, lang=lang)
    assert t("checks.hint_label", lang=lang) in str(result) and result.hint in str(result)
    assert t("checks.inputs", lang=lang, inputs="").strip() in result.message
    assert str(result).startswith("✘") and "#c62828" in result._repr_html_()


def test_wrong_values_message_names_the_error_and_where():
    result = Checker("en").sigmoid(lambda x: 1 / (1 + torch.exp(x)))
    first = result.message.splitlines()[0]
    assert first.startswith("sigmoid, test case 1/3: sigmoid(x) differs from the correct result")
    assert "Largest absolute error" in first and "at index [" in first
    assert result.message.splitlines()[1].startswith("Inputs of this test case: x = [")


def test_softmax_without_the_max_trick_is_told_about_overflow():
    result = Checker("sk").softmax(lambda x: torch.exp(x) / torch.exp(x).sum(1, keepdim=True))
    assert "3/3" in result.message and "NaN" in result.message
    assert "x.max(dim=1, keepdim=True)" in result.hint


@pytest.mark.parametrize("lang", LANGUAGES)
def test_not_implemented_is_friendly(lang):
    def sigmoid(x):
        raise NotImplementedError

    result = Checker(lang).sigmoid(sigmoid)
    assert not result.passed
    assert result.message == t("checks.not_implemented", lang=lang, exercise="sigmoid")
    assert result.hint == t("checks.hint_not_implemented", lang=lang)
    assert "Traceback" not in str(result)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_an_exception_gives_type_message_and_line_without_traceback(lang):
    def softmax(x):
        scores = x.exp()
        return scores / scores.sum(dim=1)  # broadcasting mistake: (N, C) / (N,)

    line = inspect.getsourcelines(softmax)[1] + 2
    result = Checker(lang).softmax(softmax)
    assert not result.passed
    assert "RuntimeError" in result.message and "must match the size" in result.message
    assert str(line) in result.message
    assert "return scores / scores.sum(dim=1)" in result.message
    assert "Traceback" not in str(result) and 'File "' not in str(result)
    assert result.message.startswith(t("checks.exception", lang=lang, exercise="softmax",
                                       error_type="@", error="", line="", code="").split("@")[0])


@pytest.mark.parametrize(("student", "key"), [
    (lambda x: None, "checks.returned_none"),
    (lambda x: x.numpy(), "checks.wrong_type"),
    (lambda x: (1 / (1 + torch.exp(-x))).sum(), "checks.wrong_shape"),
    (lambda x: 1 / (1 + torch.exp(-x.float())), "checks.wrong_dtype"),
    (lambda x: x / 0.0, "checks.nonfinite"),
])
def test_each_kind_of_mistake_has_its_message(student, key):
    result = Checker("ru").sigmoid(student)
    longest_fixed_text = max(re.split(r"\{[^}]*\}", t(key, lang="ru")), key=len)
    assert not result.passed and longest_fixed_text.strip(" .:,") in result.message


def test_outputs_of_several_values_are_checked_one_by_one():
    check = Checker("en").sgd_momentum_step
    result = check(lambda w, dw, v, lr, mu: (w - lr * (mu * v + dw),))
    assert "should return 2 values (w, v), but it returned 1" in result.message
    assert "returned 1" in check(lambda w, dw, v, lr, mu: w).message
    result = check(lambda w, dw, v, lr, mu: (w - lr * (mu * v + dw), v))
    assert "test case 1/2: v differs" in result.message


def test_in_place_updates_of_the_inputs_are_fine():
    def sgd_momentum_step(w, dw, v, lr, momentum):
        v.mul_(momentum).add_(dw)
        w -= lr * v
        return w, v

    assert Checker("en").sgd_momentum_step(sgd_momentum_step).passed


def test_numbers_are_compared_as_numbers():
    check = Checker("sr").xavier_std
    assert check(lambda fan_in, fan_out: torch.tensor(2 / (fan_in + fan_out)).sqrt()).passed
    assert "tipa float" in check(lambda fan_in, fan_out: "0.1").message
    assert "NaN" in check(lambda fan_in, fan_out: math.nan).message
    wrong = check(lambda fan_in, fan_out: 0.1)
    assert "std = 0.1," in wrong.message and "0.0438529" in wrong.message


def test_checker_names_its_exercises():
    checker = Checker("sk")
    assert {"sigmoid", "adam_step", "xavier_std"} <= set(dir(checker))
    assert not hasattr(checker, "sigmod")
    with pytest.raises(AttributeError) as error:
        checker.sigmod  # noqa: B018
    assert str(error.value) == t("checks.unknown_exercise", lang="sk", name="sigmod",
                                 known=", ".join(sorted(EXERCISES)))
    with pytest.raises(AttributeError):
        checker._private  # noqa: B018


def test_checker_follows_the_course_language():
    try:
        course = setup(lang="ru", verbose=False)
        assert course.check.lang == "ru" and Checker().lang == "ru"
        assert "верно" in course.check.relu_backward(checks.relu_backward).message
    finally:
        i18n.set_language("en")


def test_new_exercises_can_be_registered():
    def cases(gen):
        return [{"x": torch.randn(3, generator=gen, dtype=torch.float64)}]

    @exercise("double_it", cases=cases, hint="checks.hint.relu_backward", atol=1e-3)
    def double_it(x):
        return 2 * x

    try:
        checker = Checker("en")
        assert checker.double_it(lambda x: x + x + 1e-4).passed
        assert checker.double_it(lambda x: x).hint == t("checks.hint.relu_backward", lang="en")
    finally:
        del EXERCISES["double_it"]


def test_result_prints_as_plain_text():
    result = CheckResult("sigmoid", False, "line one\nline two", "a <hint>", "en")
    assert str(result) == repr(result) == "✘ line one\nline two\nHint: a <hint>"
    assert "a &lt;hint&gt;" in result._repr_html_()
