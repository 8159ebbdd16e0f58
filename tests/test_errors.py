"""bad_value: one line naming the setting, the value given and what was expected."""

from __future__ import annotations

import pytest

from largemargin.errors import bad_value


def test_the_message_names_the_setting_its_value_and_the_need():
    error = bad_value("data.seed", -1, "an int >= 0")
    assert isinstance(error, ValueError) and str(error) == "data.seed=-1: expected an int >= 0"
    with pytest.raises(ValueError, match=r"^name='x': expected one of \('a', 'b'\)$"):
        raise bad_value("name", "x", "one of ('a', 'b')")
