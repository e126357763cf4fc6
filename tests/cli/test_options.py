"""Flag values read as text: number lists and weight lists, with one error naming the field."""

from __future__ import annotations

import pytest

from loadwise.cli.options import number_list, weight_list
from loadwise.errors import ConfigError


def test_number_lists_keep_their_order_and_must_be_positive_and_distinct():
    assert number_list("200,20", "rates") == (200.0, 20.0)
    assert number_list(None, "rates") is None and number_list(" ", "rates") is None
    with pytest.raises(ConfigError, match="^rates: expected comma-separated positive numbers, got 'x'$"):
        number_list("20,x", "rates")
    with pytest.raises(ConfigError, match="^budgets: expected comma-separated positive numbers, got '-5'$"):
        number_list("10,-5", "budgets")
    with pytest.raises(ConfigError, match="^rates: values must be distinct$"):
        number_list("20,20", "rates")


def test_weights_keep_their_order_and_may_repeat():
    assert weight_list("2,0,1,1", "weights") == (2.0, 0.0, 1.0, 1.0)
    with pytest.raises(ConfigError, match="^weights: 'a,b' is not a comma-separated list"):
        weight_list("a,b", "weights")
