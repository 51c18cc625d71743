"""The one ticket-ref grammar: branch keys, refs typed by an agent, refs in a subject."""

from __future__ import annotations

import pytest

from tuidesk.engine.refs import is_key, parse_ref, refs_in, ticket_ref


@pytest.mark.parametrize(
    ("text", "parsed"),
    [("SUP-42", ("SUP", 42)), (" sup-42 ", ("SUP", 42)), ("42", (None, 42)),
     ("A1B2-7", ("A1B2", 7)), ("SUP-", None), ("-42", None), ("1SUP-4", None),
     ("SUP-4x", None), ("ABCDEFGHIJKLMNOPQ-1", None)],
)  # fmt: skip
def test_a_typed_ref_is_a_key_and_a_number_or_the_number_alone(text, parsed) -> None:
    assert parse_ref(text) == parsed


def test_branch_keys_are_a_letter_then_up_to_fifteen_letters_or_digits() -> None:
    assert is_key("SUP") and is_key("A") and is_key("A" + "9" * 15)
    assert not is_key("A" + "9" * 16) and not is_key("9A") and not is_key("SU-P")


def test_refs_in_a_subject_come_right_most_first_with_at_most_nine_digits() -> None:
    subject = "Re: [SAL-7] moved to [SUP-42] (was X-1234567890)"
    assert list(refs_in(subject)) == [("SUP", 42), ("SAL", 7)]
    assert ticket_ref("SUP", 42) == "SUP-42"
