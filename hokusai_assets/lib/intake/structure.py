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

**CSV header.** Its fields are the delimiters outside quotes before the first line end
outside quotes, plus one (``""`` inside a quoted field toggles twice, so it needs no
special case).

**JSON depth.** Arrays and objects open and close with brackets outside strings; a quote
ends a string unless an odd run of backslashes precedes it. On text that is not JSON the
depth means little; the parser then says what is wrong.
"""

from __future__ import annotations

import re

import numpy as np

CSV_DELIMITERS = ",;\t|"
_SNIFF_LINES = 100
_QUOTED_FIELD = re.compile(r'"(?:[^"]|"")*"?')
_CHUNK = 1 << 20
_QUOTE, _BACKSLASH, _LF, _CR = 0x22, 0x5C, 0x0A, 0x0D
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
    """How many fields the first record of CSV bytes has (leading blank lines skipped), and
    the offset of the line end after it (the length of the data when there is none).

    Counting stops once it passes ``stop_above``: the caller refuses the file anyway.
    Delimiter, quote and line ends are ASCII, so this holds for UTF-8 and Latin-1 alike.
    """
    view = memoryview(data)
    start = _first_content(view)
    code = ord(delimiter)
    fields = 1
    inside = 0  # 1 when the chunk starts inside a quoted field
    for offset in range(start, len(data), _CHUNK):
        chunk = np.frombuffer(view[offset : offset + _CHUNK], dtype=np.uint8)
        quoted = (np.cumsum(chunk == _QUOTE, dtype=np.int64) + inside) & 1
        outside = quoted == 0
        ends = np.flatnonzero(((chunk == _LF) | (chunk == _CR)) & outside)
        stop = int(ends[0]) if ends.size else len(chunk)
        fields += int(np.count_nonzero((chunk[:stop] == code) & outside[:stop]))
        if ends.size or fields > stop_above:
            return fields, offset + stop
        inside = int(quoted[-1])
    return fields, len(data)


def _first_content(view: memoryview) -> int:
    """The offset of the first byte that is not a line end."""
    for offset in range(0, len(view), _CHUNK):
        chunk = np.frombuffer(view[offset : offset + _CHUNK], dtype=np.uint8)
        content = (chunk != _LF) & (chunk != _CR)
        if content.any():
            return offset + int(np.argmax(content))
    return len(view)


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
