"""Errors on the wire: Raise errors out as Flight statuses, never a server traceback.

Every handler's exception passes through ``to_flight_error``. A ``RaiseError`` becomes the
exception type that pyarrow's Flight server turns into the error's gRPC status, with
``str(error)`` (``"[RAISE-N001] group 'x' does not exist"``, plus line/column/excerpt for SQL
errors) as the status message, which is what ``raise_.client.flight`` parses back into the same
class and code. Anything else is logged here with its traceback and reaches the client as
INTERNAL with a reference number only.

pyarrow can emit INVALID_ARGUMENT, NOT_FOUND and UNIMPLEMENTED only from plain Python
exceptions, whose traceback it would attach as status detail; ``hide_tracebacks`` sets
``sys.tracebacklimit = 0`` in the serving process so that detail is one line. That line names
the raised class, so the raised exception is a carrier that is both the Raise error's class
and pyarrow's exception for the status (``carrier``): the detail names the Raise class only. pyarrow has no
exception that yields ALREADY_EXISTS, so ``AlreadyExists`` travels as INVALID_ARGUMENT with its
``RAISE-A`` code (the client restores the class from the code).
"""
from __future__ import annotations

import functools
import json
import logging
import secrets
import sys
import traceback

import pyarrow as pa
import pyarrow.flight as flight

from grammar.errors import NotFound, RaiseError, Unsupported, ValidationError

log = logging.getLogger("raise.flight")

#: Frames kept when logging an unexpected exception (explicit, so ``tracebacklimit`` is moot).
LOGGED_FRAMES = 64


class ProtocolError(ValidationError):
    """A request that is not valid Flight SQL: malformed protobuf, bad ticket, wrong shape."""

    code = "RAISE-F001"


class UnknownCommand(Unsupported):
    """A well-formed Flight SQL request this server does not implement."""

    code = "RAISE-F002"


class UnknownHandle(NotFound):
    """A prepared-statement handle or result ticket this connection does not hold."""

    code = "RAISE-F003"


class RequestTooLarge(ValidationError):
    """A command, ticket or action body over the server's size limit."""

    code = "RAISE-F004"


class CannotListen(RaiseError):
    """``raise serve`` could not bind its address (in use, not local, no permission)."""

    code = "RAISE-F032"
    status = "UNAVAILABLE"


class InvalidArgument(pa.ArrowInvalid):
    """Carries INVALID_ARGUMENT to the client."""


class NotFoundStatus(pa.ArrowKeyError):
    """Carries NOT_FOUND to the client."""


class Unimplemented(NotImplementedError):
    """Carries UNIMPLEMENTED to the client."""


_BY_STATUS: dict[str, type[Exception]] = {
    "INVALID_ARGUMENT": InvalidArgument,
    "ALREADY_EXISTS": InvalidArgument,
    "FAILED_PRECONDITION": InvalidArgument,
    "OUT_OF_RANGE": InvalidArgument,
    "NOT_FOUND": NotFoundStatus,
    "UNIMPLEMENTED": Unimplemented,
    "PERMISSION_DENIED": flight.FlightUnauthorizedError,
    "UNAUTHENTICATED": flight.FlightUnauthenticatedError,
    "UNAVAILABLE": flight.FlightUnavailableError,
    "RESOURCE_EXHAUSTED": flight.FlightUnavailableError,
    "DEADLINE_EXCEEDED": flight.FlightTimedOutError,
    "CANCELLED": flight.FlightCancelledError,
}


#: Appended to a RaiseError's text so the client can restore ``error.name``.
NAME_TRAILER = "\n[raise-name: {}]"
#: Appended so the client can restore the exact class where the code does not name it (a
#: ``TypeMismatch`` raised with code ``RAISE-V026``, whose class code is ``RAISE-V020``).
CLASS_TRAILER = "\n[raise-class: {}]"


def hide_tracebacks() -> None:
    """Make pyarrow's status detail for Python exceptions a single line (see module doc)."""
    sys.tracebacklimit = 0


@functools.lru_cache(maxsize=None)
def carrier(cls: type[RaiseError], base: type[Exception]) -> type[Exception]:
    """A class that is ``cls`` (same name) and ``base`` (the status pyarrow sends), whose text
    is the already formatted message."""
    def init(self, text: str) -> None:
        cls.__init__(self, text)

    return type(cls.__name__, (cls, base), {"__module__": cls.__module__, "__qualname__": cls.__qualname__,
                                           "__init__": init, "__str__": lambda self: self.message})


def to_flight_error(error: BaseException) -> Exception:
    """The exception a Flight handler raises for ``error`` (a status with a clear message)."""
    if isinstance(error, RaiseError):
        text = str(error)
        if error.name is not None:  # the offending name travels as a trailer the client strips
            text += NAME_TRAILER.format(json.dumps(error.name))
        if type(error).code != error.code:
            text += CLASS_TRAILER.format(type(error).__name__)
        base = _BY_STATUS.get(error.status, flight.FlightInternalError)
        return base(text) if issubclass(base, flight.FlightError) else carrier(type(error), base)(text)
    if isinstance(error, flight.FlightError):
        return error
    reference = secrets.token_hex(4)
    log.error(
        "internal error %s: %s", reference,
        "".join(traceback.format_exception(error, limit=LOGGED_FRAMES)).rstrip(),
    )
    return flight.FlightInternalError(
        f"[{RaiseError.code}] internal server error (reference {reference}; see the server log)"
    )
