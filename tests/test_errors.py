"""`ra.errors`: what an error says and the exit code it ends with."""

from __future__ import annotations

import pytest

from ra.cli.common import UsageError
from ra.errors import InputError, RaError
from ra.invitations.errors import InvitationSignatureError, WeakPasswordError
from ra.net.errors import (
    ConnectionClosed,
    FingerprintMismatch,
    HandshakeTimeout,
    NetError,
    Refused,
    WrongPassword,
)


def test_an_error_raised_bare_says_its_message_and_a_given_text_instead() -> None:
    assert str(WrongPassword()) == "the password was not accepted"
    assert str(HandshakeTimeout()) == "the other computer did not answer in time"
    assert str(ConnectionClosed()) == "the connection was closed by the other computer"
    assert str(ConnectionClosed("the connection was lost")) == "the connection was lost"
    assert WrongPassword().args == ("the password was not accepted",)
    # one without a message says nothing of its own, as Exception does
    assert RaError().args == () and str(NetError()) == ""


def test_a_sentence_with_blanks_is_filled_and_keeps_what_it_was_given() -> None:
    error = FingerprintMismatch(address="192.0.2.7:5900")
    assert str(error) == "192.0.2.7:5900 is not the machine that made this invitation"
    assert error.address == "192.0.2.7:5900"
    # a peer's words fill a blank as they are: braces in them are not blanks
    refused = Refused(reason="no {such} invitation {0}")
    assert str(refused) == "the other computer refused the connection: no {such} invitation {0}"
    assert refused.reason == "no {such} invitation {0}"


@pytest.mark.parametrize("error", [UsageError("x"), InvitationSignatureError(),
                                   WeakPasswordError("too short")], ids=repr)
def test_input_ra_cannot_use_exits_2_and_the_rest_1(error: RaError) -> None:
    assert isinstance(error, InputError) and error.exit_code == 2
    assert WrongPassword().exit_code == RaError.exit_code == 1
