"""Looking at a file's bytes before a parser builds anything from them.

Each look is linear in the size of the file and vectorised (NumPy over the bytes, or one
regular expression over a sample), so a hostile file costs what its size costs: the CSV
header is measured before pyarrow would build 100,000 columns, and JSON nesting before
Python's recursive parser walks into it.

**CSV delimiter.** The comma, unless the evidence is clear. Over the first 100 lines of the
sample (quoted fields removed, blank lines skipped, a line cut by the end of the sample
left out), each candidate (``,``, ``;``, tab, ``|``) is counted per line. A candidate is
*consistent* when the header holds it and every line holds it as often as the header.
The comma wins when it is consistent; otherwise the consistent candidate with the most
fields (ties: ``;``, tab, ``|``); when none is consistent, the one the header holds most,
the comma when the header holds none (a ragged file is then reported by the parser, with
the fields it expected). So a comma file whose quoted texts hold semicolons stays a comma
file, and ``a;b`` over ``1,5;2,5`` (decimal commas) is a semicolon file.

**CSV header.** Counted field by field the way pyarrow reads it, so the count is the
number of columns pyarrow would build: a quote opens a quoted field only as the field's
first byte (a UTF-8 byte-order mark and leading blank lines skipped, as pyarrow does);
inside it ``""`` is a quote, and a single quote ends the quoting, the rest of the field up
to the delimiter being plain text, its quotes included (``"a"x"y`` is ``ax"y``). A quote
anywhere else is text: ``a"b,c`` has two fields, and parity over all the quotes would
count one. A line end outside quotes ends the header. Each field is one match of a
regular expression (possessive, so linear and without backtracking); counting stops past
the limit, so a header costs its bytes plus at most ``limit`` steps.

**Parquet footprint.** A Parquet file's footer tells, per leaf column and row group, how many
values are stored and how many bytes their pages take decompressed (the writer's
``total_uncompressed_size``). A value in memory takes its physical width (8 bytes an
INT64, 12 an INT96, ``n`` a FIXED_LEN_BYTE_ARRAY(n)); a variable-length one (BYTE_ARRAY:
texts, binaries) at most what its plain pages hold, plus an offset, unless it is
dictionary-encoded: then each value is a reference to a dictionary entry, which only the
dictionary itself can size (``formats`` reads those leaves as dictionaries and measures
them before expanding them). The footer is the writer's word: a file written to lie in it
is caught only by pyarrow's own checks as it reads.

**JSON depth.** Arrays and objects open and close with brackets outside strings; a quote
ends a string unless an odd run of backslashes precedes it. On text that is not JSON the
depth means little; the parser then says what is wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

CSV_DELIMITERS = ",;\t|"
_SNIFF_LINES = 100
_QUOTED_FIELD = re.compile(r'"(?:[^"]|"")*"?')
_CHUNK = 1 << 20
_QUOTE, _BACKSLASH, _LF, _CR = 0x22, 0x5C, 0x0A, 0x0D
_UTF8_BOM = b"\xef\xbb\xbf"
_FIELDS: dict[str, re.Pattern[bytes]] = {}
_OPENERS, _CLOSERS = (0x5B, 0x7B), (0x5D, 0x7D)


def detect_delimiter(sample: str, complete: bool) -> str:
    """The delimiter of CSV text (module docstring); ``complete`` when ``sample`` is the whole file."""
    lines = _QUOTED_FIELD.sub('""', sample).split("\n")
    if not complete and len(lines) > 1:
        lines = lines[:-1]
    records = [line.rstrip("\r") for line in lines if line.strip("\r")][:_SNIFF_LINES]
    if not records:
        return ","
    counts = {d: [record.count(d) for record in records] for d in CSV_DELIMITERS}

    def consistent(delimiter: str) -> bool:
        per_line = counts[delimiter]
        return per_line[0] > 0 and all(n == per_line[0] for n in per_line)

    if consistent(","):
        return ","
    clear = [d for d in CSV_DELIMITERS[1:] if consistent(d)]
    if clear:
        return max(clear, key=lambda d: counts[d][0])  # max keeps the first of equals
    in_header = max(CSV_DELIMITERS, key=lambda d: counts[d][0])
    return in_header if counts[in_header][0] else ","


def csv_header_fields(data: bytes, delimiter: str, stop_above: int) -> tuple[int, int]:
    """How many fields the first record of CSV bytes has (a byte-order mark and leading blank
    lines skipped), and the offset of the line end after it (the length of the data when
    there is none). Fields as pyarrow reads them: see the module docstring.

    Counting stops once it passes ``stop_above``: the caller refuses the file anyway.
    Delimiter, quote and line ends are ASCII, so this holds for UTF-8 and Latin-1 alike.
    """
    view = memoryview(data)
    bom = len(_UTF8_BOM) if data.startswith(_UTF8_BOM) else 0
    position = bom + _first_content(view[bom:])
    field = _csv_field(delimiter)
    code = ord(delimiter)
    fields = 0
    while True:
        position = field.match(data, position).end()
        fields += 1
        if position >= len(data) or data[position] != code or fields > stop_above:
            return fields, position
        position += 1


def _csv_field(delimiter: str) -> re.Pattern[bytes]:
    """One CSV field as pyarrow reads it: quoted (``""`` a quote inside, and after the closing
    quote plain text to the delimiter), or plain text to the delimiter or a line end."""
    if delimiter not in _FIELDS:
        plain = rb"[^" + re.escape(delimiter.encode()) + rb"\r\n]*+"
        _FIELDS[delimiter] = re.compile(rb'"[^"]*+(?:""[^"]*+)*+(?:"' + plain + rb")?+|" + plain)
    return _FIELDS[delimiter]


def _first_content(view: memoryview) -> int:
    """The offset of the first byte that is not a line end."""
    for offset in range(0, len(view), _CHUNK):
        chunk = np.frombuffer(view[offset : offset + _CHUNK], dtype=np.uint8)
        content = (chunk != _LF) & (chunk != _CR)
        if content.any():
            return offset + int(np.argmax(content))
    return len(view)


_PHYSICAL_WIDTHS = {"BOOLEAN": 1, "INT32": 4, "INT64": 8, "INT96": 12, "FLOAT": 4, "DOUBLE": 8}
_OFFSET_BYTES = 8  # a variable-length value's offset in memory (large_string's; string's is 4)


@dataclass(frozen=True)
class ParquetLeaf:
    """One leaf column of a Parquet file as its footer describes it (module docstring)."""

    index: int  # among the file's leaf columns
    path: str  # dotted, e.g. ``tags.list.element``
    width: int | None  # bytes of one value in memory; None for a variable-length one
    dictionary: bool  # some row group stores it dictionary-encoded
    chunks: tuple[tuple[int, int], ...]  # per row group: (values, bytes of its pages decompressed)

    @property
    def footprint(self) -> int:
        """Bytes it takes decompressed or in memory, whichever is more, as far as the footer tells."""
        values = sum(v for v, _ in self.chunks)
        unpacked = sum(u for _, u in self.chunks)
        in_memory = values * self.width if self.width is not None else unpacked + _OFFSET_BYTES * values
        return max(unpacked, in_memory)


def parquet_leaves(metadata) -> list[ParquetLeaf]:
    """The leaf columns of a Parquet file, from its footer (``pyarrow.parquet.FileMetaData``).

    Numbers the footer gives as negative count as 0. Costs one step per column chunk.
    """
    schema = metadata.schema
    groups = [metadata.row_group(g) for g in range(metadata.num_row_groups)]
    leaves = []
    for index in range(metadata.num_columns):
        column = schema.column(index)
        physical = column.physical_type
        width = column.length if physical == "FIXED_LEN_BYTE_ARRAY" else _PHYSICAL_WIDTHS.get(physical)
        dictionary = False
        chunks = []
        for group in groups:
            chunk = group.column(index)
            dictionary = dictionary or chunk.has_dictionary_page
            chunks.append((max(chunk.num_values, 0), max(chunk.total_uncompressed_size, 0)))
        leaves.append(ParquetLeaf(index, column.path, None if width is None else max(width, 1), dictionary, tuple(chunks)))
    return leaves


def json_depth(data: bytes, stop_above: int | None = None) -> int:
    """The deepest nesting of arrays and objects in JSON text; the outermost counts 1.

    Scanned in chunks with the state carried across (inside a string or not, the backslashes
    that ended the last chunk, the depth); returns early once the depth passes ``stop_above``.
    """
    view = memoryview(data)
    inside = 0
    backslashes = 0
    depth = deepest = 0
    for offset in range(0, len(data), _CHUNK):
        chunk = np.frombuffer(view[offset : offset + _CHUNK], dtype=np.uint8)
        quotes = np.flatnonzero(chunk == _QUOTE)
        if quotes.size:
            quotes = quotes[~_escaped(chunk, quotes, backslashes)]
        brackets = np.flatnonzero(np.isin(chunk, _OPENERS + _CLOSERS))
        if brackets.size:
            outside = ((np.searchsorted(quotes, brackets) + inside) & 1) == 0
            steps = np.where(np.isin(chunk[brackets[outside]], _OPENERS), 1, -1)
            if steps.size:
                levels = depth + np.cumsum(steps)
                deepest = max(deepest, int(levels.max()))
                depth = int(levels[-1])
        inside = (inside + quotes.size) & 1
        tail = chunk[::-1] != _BACKSLASH
        backslashes = backslashes + len(chunk) if not tail.any() else int(np.argmax(tail))
        if stop_above is not None and deepest > stop_above:
            break
    return deepest


def _escaped(chunk: np.ndarray, quotes: np.ndarray, carried: int) -> np.ndarray:
    """Which quotes follow an odd run of backslashes (``carried`` ended the previous chunk)."""
    preceded = np.where(quotes > 0, chunk[np.maximum(quotes - 1, 0)] == _BACKSLASH, carried > 0)
    if not preceded.any():
        return preceded
    positions = np.arange(len(chunk))
    # The last byte at or before each position that is not a backslash (-1: none in this chunk).
    last_other = np.maximum.accumulate(np.where(chunk == _BACKSLASH, -1, positions))
    before = np.maximum(quotes - 1, 0)
    run = np.where(quotes > 0, before - last_other[before], 0)
    run = np.where((quotes == 0) | (last_other[before] == -1), run + carried, run)
    return preceded & (run % 2 == 1)
