"""Lecture 08's "a lot of data, similar domain" cell: Imagewoof when present (the notebook's code
path, run on the miniature Imagewoof of tests/fixtures/imagewoof.py at tiny sizes), otherwise
what the cell would show and where the data goes."""

import pytest
import torch

from course_lib.lectures import transfer_learning as tl
from course_lib.lectures.transfer_learning import Result


def test_imagewoof_task_is_a_seeded_subset_of_photos_ready_for_a_centre_crop(imagewoof_root):
    task = tl.imagewoof(n=12, image_size=28, root=imagewoof_root)
    x, x_test = task.train[0], task.test[0]
    assert x.shape == (12, 3, 32, 32) and x_test.shape == (12, 3, 32, 32)  # 32 = 28 * 256 / 224
    assert x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
    assert task.num_classes == 10 and task.domain == "similar" and task.size == "small"
    assert len(set(task.test[1].tolist())) > 1  # drawn across the breeds, not the first ones
    assert torch.equal(tl.imagewoof(n=12, image_size=28, root=imagewoof_root).train[0], x)
    full = tl.imagewoof(image_size=28, root=imagewoof_root)
    assert sorted(full.test[1].tolist()) == [c for c in range(10) for _ in range(2)]
    assert len(full.train[0]) == 20


def test_large_similar_trains_the_three_strategies_on_imagewoof(imagewoof_root, capsys):
    results = tl.large_similar(n=None, image_size=32, steps=2, batch_size=8,
                               root=imagewoof_root, lang="sk")
    assert [r.strategy for r in results] == ["linear", "top", "all"]
    assert all(r.task == "imagewoof" and 0.0 <= r.accuracy <= 1.0 for r in results)
    out = capsys.readouterr().out
    assert "Imagewoof (plemená psov)" in out and "trénovacie obrázky: 20" in out


@pytest.mark.parametrize("lang, words", [("sk", "Stiahnite"), ("sr", "Preuzmite"),
                                         ("ru", "Скачайте")])
def test_without_imagewoof_the_cell_says_what_it_would_show_and_where_data_goes(
        tmp_path, capsys, lang, words):
    assert tl.large_similar(n=None, image_size=32, steps=2, batch_size=8, root=tmp_path,
                            lang=lang) is None
    out = capsys.readouterr().out
    assert "9025" in out and words in out and "imagewoof2-320.tgz" in out
    assert "COURSE_DATA" in out


def rows(linear, top, everything):
    return [Result("imagewoof", "large", "similar", s, a, 1.0, 1)
            for s, a in (("linear", linear), ("top", top), ("all", everything))]


def test_the_verdict_says_whether_fine_tuning_the_top_wins():
    assert "as the table advises" in tl.large_similar_verdict(rows(0.5, 0.8, 0.7), 9025, "en")
    lost = tl.large_similar_verdict(rows(0.5, 0.6, 0.7), 9025, "en")
    assert "fine-tuning everything" in lost.split(";")[0] and "does not hold" in lost
    assert "9025" in lost and "60.0%" in lost
