"""Claims of lecture 08's section "A lot of data, similar domain: Imagewoof".

The code path with Imagewoof present (on the miniature Imagewoof), the message without it and
the computed verdict are in tests/unit/test_lectures_transfer_imagewoof.py.
"""

from course_lib import datasets, transfer
from course_lib.lectures import transfer_learning as tl
from tests.fixtures.imagewoof import WNIDS


def test_all_ten_breeds_are_imagenet_classes_the_backbone_was_pretrained_on():
    assert len(WNIDS) == 10 and set(WNIDS.values()) <= set(transfer.imagenet_categories())


def test_the_cell_compares_linear_top_and_everything_and_imagewoof_is_a_lot_of_similar_data():
    assert tl.LARGE_SIMILAR == ("linear", "top", "all")
    assert 9025 >= tl.SMALL and datasets.SPECS["imagewoof"].classes == 10


def test_the_test_part_is_the_official_val_folder(imagewoof_root):
    task = tl.imagewoof(image_size=16, root=imagewoof_root)
    assert len(task.test[0]) == len(list((imagewoof_root / "imagewoof2-320" / "val").rglob(
        "*.JPEG")))
