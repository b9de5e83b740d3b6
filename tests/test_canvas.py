"""Canvas files (mia_course.grading.canvas): the roster from Canvas's gradebook export, and bad
input. The grades file is checked against a real gradebook in tests/test_nbgrader_roundtrip.py."""
import csv

import pytest

from mia_course.grading.canvas import CANVAS_COLUMNS, main, read_canvas_export, roster_rows

EXPORT = ('Student,ID,SIS User ID,SIS Login ID,Section,Quiz (7)\n'
          '    Points Possible,,,,,10\n'
          '"Lovelace, Ada",101,s101,ada@uni.example,A,9\n'
          '"Turing, Alan M.",102,s102,aturing,B,\n'
          'Test Student,,,,,\n')


def test_the_roster_splits_names_and_keeps_canvas_ids(tmp_path):
    export = tmp_path / "export.csv"
    export.write_text(EXPORT)
    rows = read_canvas_export(export)
    assert [r["ID"] for r in rows] == ["101", "102"]  # no Points Possible row, no row without an ID
    assert roster_rows(rows) == [
        dict(id="101", first_name="Ada", last_name="Lovelace", email="ada@uni.example", lms_user_id="101"),
        dict(id="102", first_name="Alan M.", last_name="Turing", email="", lms_user_id="102")]
    assert main(["roster", str(export), "-o", str(tmp_path / "roster.csv")]) == 0
    with open(tmp_path / "roster.csv", newline="") as fh:
        assert [r["last_name"] for r in csv.DictReader(fh)] == ["Lovelace", "Turing"]


def test_a_file_that_is_not_a_canvas_export_is_refused_by_name(tmp_path):
    other = tmp_path / "roster.csv"
    other.write_text("id,first_name\n1,Ada\n")
    with pytest.raises(ValueError, match="path: .*roster.csv.*" + CANVAS_COLUMNS[0]):
        read_canvas_export(other)
    with pytest.raises(SystemExit):
        main(["grades", "a1", str(other)])


def test_grades_need_the_gradebook(tmp_path, capsys):
    export = tmp_path / "export.csv"
    export.write_text(EXPORT)
    with pytest.raises(SystemExit):
        main(["grades", "a1", str(export), "--db", str(tmp_path / "none.db")])
    assert "--db" in capsys.readouterr().err
