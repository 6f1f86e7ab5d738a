"""setup(lang): language, seed, device, profile and banner of every notebook's first cell."""

import pytest
import torch

from course_lib import LANGUAGES, setup
from course_lib.course import pick_device
from course_lib.profile import Profile, current_profile


@pytest.mark.parametrize("lang", ["sk", "sr", "ru", "en"])
def test_setup_prints_a_one_line_banner_in_the_language(lang, capsys, monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "quick")
    course = setup(lang=lang, seed=3)
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert "quick" in out and "cpu" in out and "3" in out
    assert course.lang == lang and course.seed == 3


def test_setup_rejects_an_unknown_language_naming_the_supported_ones():
    with pytest.raises(ValueError) as err:
        setup(lang="xx")
    assert all(code in str(err.value) for code in LANGUAGES)


def test_setup_seeds_torch_so_runs_repeat(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "quick")
    setup("sk", seed=7, verbose=False)
    a = torch.rand(3)
    setup("sk", seed=7, verbose=False)
    assert torch.equal(a, torch.rand(3))


def test_size_picks_the_value_of_the_active_profile(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "quick")
    assert setup("ru", verbose=False).size(quick=2, full=30) == 2
    monkeypatch.setenv("COURSE_PROFILE", "full")
    assert setup("ru", verbose=False).size(quick=2, full=30) == 30


@pytest.mark.parametrize("name", ["Quick", " full "])
def test_profile_names_are_case_and_space_insensitive(name):
    assert current_profile({"COURSE_PROFILE": name}).name == name.strip().lower()


@pytest.mark.parametrize("lang", ["sk", "sr", "ru", "en"])
def test_an_unknown_profile_is_an_error_not_a_silent_default(lang, monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "fast")
    with pytest.raises(ValueError, match="fast") as err:
        setup(lang=lang, verbose=False)
    assert "quick" in str(err.value) and "full" in str(err.value)


def test_unset_profile_follows_the_hardware():
    expected = "full" if torch.cuda.is_available() else "quick"
    assert current_profile({}).name == expected


def test_profile_object_validates_its_name():
    with pytest.raises(ValueError):
        Profile("medium")


def test_device_can_be_forced_by_environment():
    assert pick_device({"COURSE_DEVICE": "cpu"}).type == "cpu"
    assert pick_device({}).type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_course_messages_come_from_the_catalog(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "quick")
    course = setup("sr", verbose=False)
    assert course.t("data.unknown_dataset", name="a", known="b").startswith("Nepoznat")
    assert "quick" in course.banner


def test_quick_profile_on_cpu_computes_in_one_thread(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "quick")
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    threads = torch.get_num_threads()
    try:
        setup("sk", verbose=False)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("lang", ["sk", "sr"])
def test_cuda_without_a_gpu_is_refused_in_setup_in_the_students_language(lang, monkeypatch):
    from course_lib.i18n import CourseError, t

    monkeypatch.setenv("COURSE_DEVICE", "cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(CourseError) as err:
        setup(lang, verbose=False)
    assert str(err.value) == t("course.no_cuda", lang=lang, value="cuda")


@pytest.mark.parametrize(("env", "seed", "key"), [
    ({"COURSE_DEVICE": "gpu"}, 0, "course.bad_device"),
    ({}, -1, "course.bad_seed"),
    ({}, 2**32, "course.bad_seed"),
    ({}, 1.5, "course.bad_seed"),
])
def test_a_bad_device_name_or_seed_is_explained_by_setup(env, seed, key, monkeypatch):
    from course_lib.i18n import CourseError, t

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(CourseError) as err:
        setup("ru", seed=seed, verbose=False)
    assert err.value.key == key and str(err.value) == t(key, lang="ru", **err.value.fields)
