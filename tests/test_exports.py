import pytest

from conversations.services.exports import iter_csv_lines, neutralise_cell


@pytest.mark.parametrize("cell", ['=HYPERLINK("x")', "+91 cmd", "-2+3", "@SUM(A1)", "\tx"])
def test_formula_cells_are_neutralised(cell):
    assert neutralise_cell(cell) == f"'{cell}"


@pytest.mark.parametrize("cell", ["hello", "919876543210", "", "a=b"])
def test_plain_cells_are_left_alone(cell):
    assert neutralise_cell(cell) == cell


def test_csv_lines_are_written_one_row_at_a_time():
    lines = iter_csv_lines(["a", "b"], iter([["1", "=2"], ["x,y", None]]))
    assert list(lines) == ["a,b\r\n", "1,'=2\r\n", '"x,y",\r\n']
