"""File-like inputs for `COPY ... FROM STDIN`, read straight from an object's stream.

Both read the object in CHUNK-sized blocks and hand COPY whole lines, so memory stays flat
whatever the object's size (a line longer than MAX_LINE is never held whole either).

- PlainLines feeds the fast path: the bytes go to COPY untouched; C-speed byte scans of each
  block check that the object can be taken as it is (no quote, no backslash, no empty field,
  every line ending with a valid type and the partition's day). If not, it raises NotPlain and
  the loader switches to the checked path.
- CheckedLines feeds the checked path: the lines that are plain on their own go to COPY as
  above; the others are set aside, numbered, with any byte-level issue SQL cannot see (invalid
  UTF-8, overlong line), for the SQL judge (loaders/checks.py).
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

from loaders.errors import HeaderMismatchError
from loaders.s3objects import Readable

CHUNK = 1 << 20
# Longer lines are rejected. With MAX_LINE >= CHUNK, such a line always spans two chunks, the
# only place PlainLines needs to look for one.
MAX_LINE = CHUNK
BOM = b"\xef\xbb\xbf"
FIRST_DATA_LINE = 2  # line 1 is the header


# re finds this 3x faster than `b"\n," in block` (measured: 1.0 vs 3.3 ms per MB).
_LINE_STARTING_WITH_COMMA = re.compile(rb"\n,")


class NotPlain(Exception):  # a signal, not an error: the checked path takes over
    """The object cannot take the fast path; the message says why."""


@dataclass(frozen=True)
class Header:
    eol: bytes  # the header's line ending, b"\n" or b"\r\n"
    rest: bytes  # bytes read past the header line


def read_header(stream: Readable, location: str, expected: str) -> Header:
    """Read and check the object's first line; HeaderMismatchError names the object and what
    was found. A UTF-8 byte order mark is tolerated."""
    buffer = b""
    while b"\n" not in buffer and len(buffer) <= MAX_LINE:
        chunk = stream.read(CHUNK)
        if not chunk:
            break
        buffer += chunk
    line, _, rest = buffer.partition(b"\n")
    eol = b"\r\n" if line.endswith(b"\r") else b"\n"
    found = line.removesuffix(b"\r").removeprefix(BOM).decode("utf-8", "replace")
    if found != expected:
        raise HeaderMismatchError(location, found, expected)
    return Header(eol, rest)


class _CopyInput:
    """A file-like object for psycopg2's copy_expert, reading blocks from `_blocks()`.

    read() keeps the first failure so that the loader can tell it from a COPY error
    (psycopg2 turns an exception raised in read() into QueryCanceled)."""

    def __init__(self, stream: Readable, header: Header) -> None:
        self._stream, self._header = stream, header
        self._pending = self._blocks()
        self.failure: BaseException | None = None

    def read(self, size: int = CHUNK) -> bytes:
        try:
            return next(self._pending, b"")
        except BaseException as exc:
            self.failure = exc
            raise

    def _blocks(self) -> Iterator[bytes]:
        raise NotImplementedError

    def _chunks(self) -> Iterator[bytes]:
        """The stream after the header, as read."""
        if self._header.rest:
            yield self._header.rest
        while chunk := self._stream.read(CHUNK):
            yield chunk


class PlainLines(_CopyInput):
    """Fast-path COPY input: the data lines, verbatim, with `lines` counting them."""

    def __init__(self, stream: Readable, header: Header, endings: tuple[bytes, ...]) -> None:
        """`endings`: what every line must end with (checks.plain_endings), before its EOL."""
        super().__init__(stream, header)
        eol = header.eol
        self._empty_first = None
        if endings == (b"",):  # ids only: an empty id is an empty line
            self._endings, self._empty = (), (b"\n" + eol,)
        else:
            self._endings = tuple(e + eol for e in endings)
            # An empty first field is a line starting with ","; an empty field just before the
            # fixed ending shows as ",," + ending. Long needles keep these scans fast.
            self._empty = tuple(b"," + e for e in self._endings)
            self._empty_first = _LINE_STARTING_WITH_COMMA
        self._empty_start = (b",", eol)
        self.lines = 0

    def _blocks(self) -> Iterator[bytes]:
        carry = b""
        for chunk in self._chunks():
            if carry and len(carry) + _first_line_length(chunk) > MAX_LINE:
                raise NotPlain(f"a line is longer than {MAX_LINE} bytes")
            data = carry + chunk
            cut = data.rfind(b"\n") + 1
            carry = data[cut:]
            if len(carry) > MAX_LINE:
                raise NotPlain(f"a line is longer than {MAX_LINE} bytes")
            if cut:
                yield self._checked(data[:cut])
        if carry:  # a last line without line ending gets the header's
            yield self._checked(carry.removesuffix(b"\r") + self._header.eol)

    def _checked(self, block: bytes) -> bytes:
        """`block` if every line in it is plain, else NotPlain. With COPY checking the field
        count, a plain line is one the SQL judge accepts (tests/loaders/test_paths.py)."""
        if b'"' in block or b"\\" in block:
            raise NotPlain("a line holds a quote or a backslash")
        if (
            block.startswith(self._empty_start)
            or any(e in block for e in self._empty)
            or (self._empty_first and self._empty_first.search(block))
        ):
            raise NotPlain("a line has an empty field")
        count = block.count(b"\n")
        if self._endings and sum(block.count(e) for e in self._endings) != count:
            raise NotPlain("a line has a type or date the judge rejects")
        self.lines += count
        return block


class CheckedLines(_CopyInput):
    """Checked-path input. read() gives COPY the object's plain lines, verbatim (LF endings),
    each preceded by its line number and a comma (the lines set aside leave gaps);
    every other line goes, numbered, into `suspects` (a temporary file, on disk beyond 8 MiB) as
    a COPY text-format row `line_number, line, issue` for the landing table and the SQL judge.

    A line is plain when it passes, on its own, what PlainLines checks per block (field count,
    no empty field, a valid ending, no quote or backslash) and holds no stray CR, NUL or invalid
    UTF-8: the judge would accept it as it is. So an object with a few rejects still loads its
    other lines at close to the fast path's speed."""

    def __init__(
        self, stream: Readable, header: Header, endings: tuple[bytes, ...], fields: int
    ) -> None:
        super().__init__(stream, header)
        self._plain = _plain_line(endings, fields)
        self.next_number = FIRST_DATA_LINE
        self.plain = 0
        # Closed by close(), when the loader is done with the object.
        self.suspects = tempfile.SpooledTemporaryFile(max_size=8 << 20)  # noqa: SIM115

    def close(self) -> None:
        self.suspects.close()

    @property
    def suspect(self) -> int:
        return self.next_number - FIRST_DATA_LINE - self.plain

    def _blocks(self) -> Iterator[bytes]:
        for batch in self._line_batches():
            plain, suspects = [], []
            for line, issue in batch:
                if issue is None and self._is_plain(line):
                    plain.append(b"%d,%b" % (self.next_number, line))  # COPY's first column
                    self.next_number += 1
                    self.plain += 1
                else:
                    suspects.append(self._row(line, issue))
            if suspects:
                self.suspects.write("".join(suspects).encode())
            if plain:
                yield b"\n".join(plain) + b"\n"

    def _line_batches(self) -> Iterator[list[tuple[bytes, str | None]]]:
        """The data lines (without line ending), a chunk's worth at a time, each with an issue
        found while splitting (an overlong line, kept truncated)."""
        carry, skipping = b"", False  # skipping: inside the tail of an overlong line
        for chunk in self._chunks():
            data = carry + chunk
            if skipping:
                end = data.find(b"\n")
                if end < 0:
                    carry = b""
                    continue
                data, skipping = data[end + 1 :], False
            lines = data.split(b"\n")
            carry = lines.pop()
            batch = [(line.removesuffix(b"\r"), None) for line in lines]
            if len(carry) > MAX_LINE:
                batch.append((carry[:MAX_LINE], "line_too_long"))
                carry, skipping = b"", True
            yield batch
        if carry:
            yield [(carry.removesuffix(b"\r"), None)]

    def _is_plain(self, line: bytes) -> bool:
        return (
            self._plain.fullmatch(line) is not None
            and len(line) <= MAX_LINE
            and (line.isascii() or _is_utf8(line))
        )

    def _row(self, raw: bytes, issue: str | None = None) -> str:
        number = self.next_number
        self.next_number += 1
        if len(raw) > MAX_LINE:
            raw, issue = raw[:MAX_LINE], "line_too_long"
        if issue == "line_too_long":
            # Kept truncated (the cut may split a character): readable text, not the bytes.
            text = raw.decode("utf-8", "replace").replace("\x00", "\ufffd")
        elif b"\x00" in raw or not (raw.isascii() or _is_utf8(raw)):
            # Text cannot hold these bytes (PostgreSQL's text takes no NUL): stored escaped,
            # so that decode(line, 'escape') gives them back (loaders/README.md, "Rejects").
            text, issue = escape_bytes(raw), "invalid_encoding"
        else:
            text = raw.decode("utf-8")
        if "\\" in text or "\t" in text or "\r" in text:  # COPY text format's escapes
            text = text.replace("\\", "\\\\").replace("\t", "\\t").replace("\r", "\\r")
        return f"{number}\t{text}\t{issue or _NULL}\n"


# An id: no comma, quote, backslash, CR or NUL (a backslash or CR is valid, but not plain).
_PLAIN_ID = rb'[^,"\\\r\x00]+'


def _plain_line(endings: tuple[bytes, ...], fields: int) -> re.Pattern[bytes]:
    """A regex for a whole plain line: ids, then one of the fixed endings (one C call per
    line, about 5x cheaper than the same checks made one by one in Python)."""
    ids = fields - endings[0].count(b",")
    tail = b"|".join(re.escape(e) for e in endings)
    return re.compile(b",".join([_PLAIN_ID] * ids) + b"(?:" + tail + b")")


def escape_bytes(raw: bytes) -> str:
    """`raw` as PostgreSQL's `encode(raw, 'escape')` writes it: a backslash doubled, a NUL byte or
    a byte with the high bit set as a backslash and three octal digits, every other byte as it
    is. Plain ASCII text, so any target stores it; `decode(line, 'escape')` in PostgreSQL
    (or `codecs.escape_decode` in Python) gives the bytes back. The Spark load writes the same
    (dbt_project/macros/load_raw_day.sql)."""
    return "".join(
        "\\\\" if b == 0x5C else f"\\{b:03o}" if b == 0 or b >= 0x80 else chr(b) for b in raw
    )


def _is_utf8(line: bytes) -> bool:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


_NULL = "\\N"


def _first_line_length(chunk: bytes) -> int:
    end = chunk.find(b"\n")
    return len(chunk) if end < 0 else end
