"""The book's HTML tables: formatting, alignment, fixed ids, escaping."""

import numpy as np
import pandas as pd

from gni.tables import column_decimals, digest_html, format_value, html_table, link_html


def test_values_are_formatted_for_reading():
    assert format_value(1003854) == "1,003,854"
    assert format_value(np.int64(65)) == "65"
    assert format_value(0.001) == "0.001" and format_value(2.33513572) == "2.335"
    assert format_value(None) == "" and format_value(True) == "True" and format_value("x") == "x"


def test_numbers_are_right_aligned_and_unbroken_text_is_escaped():
    frame = pd.DataFrame({"name": ["a<b"], "n": [1003854], "ci": ["+0.092 [+0.024, +0.160]"]})
    html = html_table(frame, "t1").data
    assert 'id="T_t1"' in html and "overflow-x: auto" in html
    assert "a&lt;b" in html and "1,003,854" in html
    # the number and the interval are right-aligned and never wrap; the name is not
    assert "#T_t1_row0_col1, #T_t1_row0_col2 {\n  text-align: right;" in html
    assert "#T_t1_row0_col0 {\n  text-align: left;" in html
    assert "white-space: nowrap" in html
    assert html == html_table(frame, "t1").data  # the same HTML every time


def test_raw_html_columns_and_short_digests():
    digest = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
    frame = pd.DataFrame({"sha256": [digest_html(digest)], "url": [link_html("http://h/d/x.zip")]})
    html = html_table(frame, "t2", raw_html=("sha256", "url")).data
    assert f'title="{digest}"' in html and ">86c4e6aa9db7…</code>" in html
    assert '<a href="http://h/d/x.zip" title="http://h/d/x.zip">x.zip</a>' in html


def test_a_column_of_decimals_shows_the_same_number_of_decimals():
    assert column_decimals([2.34567, 0.0123, float("nan")]) == 3  # 4 digits of 2.346
    assert column_decimals([1234.5, 3.2]) == 0 and column_decimals([0.000123]) == 4
    assert column_decimals([1, 2]) is None and column_decimals(["a", 0.5]) is None
    frame = pd.DataFrame({"loss": [2.34567, 0.0123, float("nan")], "n": [1, 20, 300]})
    html = html_table(frame, "t3").data
    assert ">2.346<" in html and ">0.012<" in html and ">300<" in html


def test_row_numbers_are_hidden_and_a_named_index_is_shown():
    numbered = html_table(pd.DataFrame({"arm": ["gni", "baseline"]}), "t4").data
    assert "row_heading" not in numbered and ">gni<" in numbered
    named = html_table(pd.DataFrame({"n": [3]}, index=pd.Index(["gni"], name="arm")), "t5").data
    assert 'row_heading level0 row0" >gni<' in named
