"""Result tables: HTML, Markdown and aligned text, with numbers in the course language."""

import pytest

from course_lib.i18n import CourseError
from course_lib.tables import Table, show

NBSP = "\u00a0"
ROWS = [{"method": "SGD", "acc": 0.9517, "params": 2410000},
        {"method": "Adam", "acc": 0.9633, "params": 2410}]
HEADER = {"method": "metóda", "acc": "presnosť", "params": "parametre"}
FORMATS = {"acc": ".1%", "params": ","}


def test_cells_are_numbers_in_the_course_language():
    table = Table(ROWS, HEADER, FORMATS, lang="sk")
    assert table.labels == ["metóda", "presnosť", "parametre"]
    assert table.cells[0] == ["SGD", f"95,2{NBSP}%", f"2{NBSP}410{NBSP}000"]
    serbian = Table(ROWS, HEADER, FORMATS, lang="sr").cells[0][1:]
    assert serbian == [f"95,2{NBSP}%", "2.410.000"]
    assert Table(ROWS, HEADER, FORMATS, lang="en").cells[0][1:] == ["95.2%", "2,410,000"]


def test_text_aligns_numbers_right_and_words_left():
    lines = str(Table(ROWS, HEADER, FORMATS, lang="en")).splitlines()
    assert lines == ["metóda  presnosť  parametre",
                     "------  --------  ---------",
                     "SGD        95.2%  2,410,000",
                     "Adam       96.3%      2,410"]


def test_html_and_markdown_render_as_tables():
    table = Table(ROWS, HEADER, FORMATS, lang="sk", caption="a < b")
    html = table._repr_html_()
    assert html.startswith("<table><caption>a &lt; b</caption>")
    assert html.count("<tr>") == 3 and "text-align: right" in html
    markdown = table._repr_markdown_().splitlines()
    assert markdown[2:4] == ["| metóda | presnosť | parametre |", "|---|---:|---:|"]


def test_rows_as_sequences_and_default_float_format():
    table = Table([[1, 0.123456], [2, 1234.6]], ["n", "x"], lang="ru")
    assert table.cells == [["1", "0,1235"], ["2", "1235"]]
    assert table.numeric == [True, True]


def test_a_callable_format_and_missing_cells():
    table = Table([{"a": 1}, {"a": 2, "b": "x"}], formats={"a": lambda v: f"#{v}"}, lang="en")
    assert table.columns == ["a", "b"] and table.cells == [["#1", ""], ["#2", "x"]]


@pytest.mark.parametrize(("rows", "header", "formats", "key"), [
    ([[1, 2], [3]], ["a", "b"], None, "tables.row_length"),
    ([{"a": 1}], ["a", "b"], None, "tables.header_length"),
    ([{"a": 1}], None, {"z": ".1f"}, "tables.unknown_column"),
])
def test_a_malformed_table_is_explained(rows, header, formats, key):
    with pytest.raises(CourseError) as error:
        Table(rows, header, formats, lang="sk")
    assert error.value.key == key


def test_show_prints_outside_ipython(capsys):
    show(ROWS, HEADER, FORMATS, lang="en")
    assert "SGD        95.2%" in capsys.readouterr().out
