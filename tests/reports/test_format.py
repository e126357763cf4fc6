"""One way to write numbers in every report: for people, never in scientific notation below a billion."""

import math

import numpy as np
import pytest

from loadwise.report.format import number, p_value, percent, seconds, signed, signed_percent, with_ci


@pytest.mark.parametrize(("value", "text"), [
    (1800.0, "1,800"),            # the '1.8e+03'
    (-48260.3, "-48,260"),        # the '-4.826e+04'
    (20.0, "20"),                 # a rate is an integer, not '20.000'
    (600, "600"),
    (1234567, "1,234,567"),
    (2.6149, "2.61"),
    (0.012345, "0.0123"),
    (287.4, "287"),
    (0.5, "0.5"),                 # no trailing zeros
    (999_999.4, "999,999"),       # below 1e6: never scientific
    (3.2e9, "3.2e+09"),
    (np.float64(3.14159), "3.14"),
    (np.int64(5000), "5,000"),
    ("greedy", "greedy"),
    (math.inf, "∞"),
])
def test_numbers_for_people(value, text):
    assert number(value) == text


def test_missing_values_say_why():
    assert number(math.nan) == "n/a" and number(None) == "n/a"
    assert number(math.nan, reason="1 replicate") == "n/a (1 replicate)"
    assert with_ci(-2.614, math.nan, reason="1 replicate") == "-2.61 ± n/a (1 replicate)"
    assert with_ci(287.4, 12.34) == "287 ± 12"


def test_significant_digits_grow_on_request():
    assert number(2.6149, 4) == "2.615" and number(1234.5678, 6) == "1,234.57"


def test_signs_percentages_durations_and_p_values():
    assert signed(0.0123, 2) == "+0.012" and signed(-1.5, 2) == "-1.5"
    assert signed_percent(0.5) == "+50 %" and signed_percent(-0.666) == "-66.6 %"
    assert percent(0.7612) == "76.1 %"
    assert seconds(3.21) == "3.2 s" and seconds(75.2) == "1 min 15 s" and seconds(4000) == "1 h 06 min"
    assert p_value(0.0004) == "< 0.001" and p_value(0.0312) == "0.0312" and p_value(math.nan) == "n/a"
