"""The exercise checker: references pass, mistakes are explained in each language, no traceback."""

import inspect
import math
import numbers
import pkgutil
import re
import sys

import pytest
import torch

from course_lib import checks, exercises, i18n, setup
from course_lib.checks import EXERCISES, Checker, CheckResult, exercise
from course_lib.i18n import LANGUAGES, t

exercises.load_all()  # every registered exercise, those of course_lib/exercises included

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
def test_wrong_answer_fails_with_the_localized_nudge(name, lang):
    result = getattr(Checker(lang), name)(WRONG[name])
    assert not result.passed and not bool(result)
    assert result.hint == nudge(name, lang)
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
    checker = Checker("sk")
    for _ in range(Checker.NUDGES):
        result = checker.softmax(lambda x: torch.exp(x) / torch.exp(x).sum(1, keepdim=True))
        assert "3/3" in result.message and "NaN" in result.message
        assert "1000" in result.hint and "keepdim" not in result.hint
    result = checker.softmax(lambda x: torch.exp(x) / torch.exp(x).sum(1, keepdim=True))
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
    assert "std = 0,1," in wrong.message and "0,0438529" in wrong.message  # decimal comma in sr


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


def test_default_tolerances_are_pinned():
    """``|yours - correct| <= 1e-8 + 1e-6 |correct|`` unless an exercise asks otherwise."""
    defaults = inspect.signature(exercise).parameters
    assert (defaults["atol"].default, defaults["rtol"].default) == (1e-8, 1e-6)

    @exercise("tolerance_probe", cases=lambda gen: [{"x": torch.ones(3, dtype=torch.float64)}],
              hint="checks.hint.sigmoid")
    def probe(x):
        return 2 * x

    try:
        assert (EXERCISES["tolerance_probe"].atol, EXERCISES["tolerance_probe"].rtol) == (
            1e-8, 1e-6)
        checker = Checker("en")
        assert checker.tolerance_probe(lambda x: 2 * x * (1 + 2e-7)).passed
        assert not checker.tolerance_probe(lambda x: 2 * x * (1 + 1e-5)).passed
    finally:
        del EXERCISES["tolerance_probe"]


def scaled(answer, factor: float):
    """Every floating-point number of a reference answer times ``factor``; integers kept."""
    if isinstance(answer, tuple):
        return tuple(scaled(a, factor) for a in answer)
    if isinstance(answer, torch.Tensor):
        return answer * factor if answer.is_floating_point() else answer
    if isinstance(answer, numbers.Real) and not isinstance(answer, bool):
        return answer * factor
    return answer


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_an_answer_off_by_a_relative_1e_4_fails_and_rounding_passes(name):
    ex = EXERCISES[name]
    checker = Checker("en")
    off = checker.check(name, lambda *args: scaled(ex.reference(*args), 1 + 1e-4))
    assert not off.passed and off.hint == nudge(name, "en"), str(off)
    rounded = checker.check(name, lambda *args: scaled(ex.reference(*args), 1 + ex.rtol / 10))
    assert rounded.passed, str(rounded)


def test_the_tolerance_test_covers_every_exercise_module():
    modules = {ex.reference.__module__ for ex in EXERCISES.values()}
    assert {f"course_lib.exercises.{m.name}" for m in pkgutil.iter_modules(exercises.__path__)
            } <= modules


# --- graded hints: a nudge first, the formula after repeated failures or on request


def nudge(name: str, lang: str) -> str:
    """What a first wrong answer to exercise ``name`` is told: its nudge and where more is."""
    return (f"{t(f'checks.nudge.{name}', lang=lang)}\n"
            f"{t('checks.graded.more', lang=lang, exercise=name)}")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_hints_lead_with_a_nudge_and_give_the_formula_after_repeated_failures(lang):
    checker = Checker(lang)
    wrong = WRONG["xavier_std"]
    hints = [checker.xavier_std(wrong).hint for _ in range(Checker.NUDGES + 2)]
    assert hints[: Checker.NUDGES] == [nudge("xavier_std", lang)] * Checker.NUDGES
    assert hints[Checker.NUDGES:] == [t("checks.hint.xavier_std", lang=lang)] * 2
    assert "sqrt(2 / (fan_in + fan_out))" not in hints[0]
    assert "course.check.hint(\"xavier_std\")" in hints[0]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_formula_is_given_on_request_at_any_time(lang):
    checker = Checker(lang)
    hint = checker.hint("xavier_std")
    assert hint.text == t("checks.hint.xavier_std", lang=lang) and checker.failures == {}
    assert str(hint) == repr(hint) == (
        f"{t('checks.graded.title', lang=lang, exercise='xavier_std')} {hint.text}")
    assert "#1565c0" in hint._repr_html_()
    assert checker.xavier_std(WRONG["xavier_std"]).hint == nudge("xavier_std", lang)


def test_asking_for_the_hint_of_an_unknown_exercise_names_the_known_ones():
    with pytest.raises(ValueError) as error:
        Checker("sr").hint("sigmod")
    assert str(error.value) == t("checks.unknown_exercise", lang="sr", name="sigmod",
                                 known=", ".join(sorted(EXERCISES)))


def test_failures_are_counted_per_exercise_and_checker():
    checker = Checker("en")
    for _ in range(Checker.NUDGES):
        checker.sigmoid(WRONG["sigmoid"])
    assert checker.failures == {"sigmoid": Checker.NUDGES}
    assert checker.softmax(WRONG["softmax"]).hint == nudge("softmax", "en")
    assert Checker("en").sigmoid(WRONG["sigmoid"]).hint == nudge("sigmoid", "en")


def test_a_stub_is_no_failed_attempt_but_a_crash_is():
    def sigmoid(x):
        raise NotImplementedError

    checker = Checker("en")
    for _ in range(3):
        checker.sigmoid(sigmoid)
    assert checker.failures == {}
    for _ in range(Checker.NUDGES):
        assert not checker.sigmoid(lambda x: x.nonexistent()).passed
    assert checker.sigmoid(WRONG["sigmoid"]).hint == t("checks.hint.sigmoid", lang="en")


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_every_exercise_has_a_nudge_that_leads_without_a_formula(name, lang):
    text, full = t(f"checks.nudge.{name}", lang=lang), t(EXERCISES[name].hint, lang=lang)
    assert text != full and "=" not in text, f"{lang}:{name}: a nudge states no formula"


# ---- the student's function can hang, exit or be called wrongly: the check still answers ----

def endless(x):
    while True:
        pass


@pytest.mark.parametrize("lang", ["sk", "ru"])
def test_an_endless_loop_is_stopped_at_the_time_limit_and_reported(lang):
    import time

    start = time.perf_counter()
    result = Checker(lang, time_limit=0.2).sigmoid(endless)
    assert time.perf_counter() - start < 2.0
    assert not result.passed
    assert result.message == t("checks.timeout", lang=lang, exercise="sigmoid", case=1, n=3,
                               seconds=0.2)
    assert result.hint == t("checks.hint_timeout", lang=lang)


def test_an_endless_loop_that_catches_exceptions_is_stopped_too():
    def stubborn(x):
        while True:
            try:
                sum(range(1000))
            except Exception:
                pass

    assert t("checks.timeout", lang="en", exercise="sigmoid", case=1, n=3, seconds=0.2) == \
        Checker("en", time_limit=0.2).sigmoid(stubborn).message


@pytest.mark.skipif(sys.gettrace() is not None,
                    reason="under a tracer (coverage) the watchdog's asynchronous exception does "
                           "not reach the traced loop; notebooks run untraced")
def test_outside_the_main_thread_a_watchdog_stops_the_endless_loop():
    import threading

    results = []
    worker = threading.Thread(  # a daemon, so that a failure cannot keep the process alive
        target=lambda: results.append(Checker("sr", time_limit=0.2).sigmoid(endless)),
        daemon=True)
    worker.start()
    worker.join(timeout=5)
    assert not worker.is_alive()
    assert results[0].message.startswith("sigmoid, test primer 1/3")


def test_the_time_limit_leaves_no_timer_behind():
    import signal

    Checker("en", time_limit=0.2).sigmoid(endless)
    assert Checker("en", time_limit=0.2).sigmoid(EXERCISES["sigmoid"].reference).passed
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, None, signal.default_int_handler)


@pytest.mark.parametrize(("error", "key"), [(SystemExit(1), "checks.system_exit"),
                                            (KeyboardInterrupt(), "checks.interrupted")])
def test_exit_and_keyboard_interrupt_inside_the_function_are_reported(error, key):
    def student(x):
        raise error

    result = Checker("sk").sigmoid(student)
    assert not result.passed and result.message == t(key, lang="sk", exercise="sigmoid")


def test_a_function_with_the_wrong_parameters_is_told_the_arguments_of_the_exercise():
    result = Checker("ru").adam_step(lambda w, dw: w)
    args = "w, dw, m, v, t, lr, beta1, beta2, eps"
    assert not result.passed
    assert f"adam_step({args})" in result.message and f"def adam_step({args}):" in \
        result.message
    assert "checks.py" not in result.message


def test_a_type_error_inside_the_function_still_points_at_the_students_line():
    def sigmoid(x):
        return 1 / (1 + torch.exp(x, 2))  # wrong call inside the body

    result = Checker("en").sigmoid(sigmoid)
    assert result.message.startswith("sigmoid: your function raised TypeError")
    assert "torch.exp(x, 2)" in result.message


def test_a_course_keeps_one_checker_so_the_attempts_of_a_notebook_add_up():
    try:
        course = setup(lang="sr", verbose=False)
        assert course.check is course.check
        hints = [course.check.xavier_std(WRONG["xavier_std"]).hint
                 for _ in range(Checker.NUDGES + 1)]
        assert hints[-1] == t("checks.hint.xavier_std", lang="sr") != hints[0]
    finally:
        i18n.set_language("en")
