"""Arrow text for the frame encoder: ``large_string`` buffers, and RFC 8785 string literals.

Every fragment is byte-identical to ``rfc8785.dumps`` of the same value (``canonical.py``);
strings are escaped in one numpy pass over their UTF-8 bytes.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import rfc8785

from hokusai_assets.lib.errors import CommitmentError

TEXT = pa.large_string()
BINARY = pa.large_binary()


def text_scalar(value: str) -> pa.Scalar:
    return pa.scalar(value, TEXT)


QUOTE = text_scalar('"')
EMPTY = text_scalar("")

# RFC 8785 section 3.2.2.2: only '"', '\\' and the C0 controls are escaped; the controls
# with a short form use it, the rest are \u00xx in lowercase hex.
_STRING_ESCAPES = {0x5C: "\\\\", 0x22: '\\"', 0x08: "\\b", 0x09: "\\t", 0x0A: "\\n"}
_STRING_ESCAPES.update({0x0C: "\\f", 0x0D: "\\r"})
for _byte in range(0x20):
    _STRING_ESCAPES.setdefault(_byte, f"\\u{_byte:04x}")
del _byte
# Byte tables for the numpy escaper. The escaped bytes never occur inside a UTF-8
# multibyte sequence (those bytes are >= 0x80), so the UTF-8 bytes can be escaped as is.
_ESCAPE_GROWTH = np.zeros(256, dtype=np.int64)
_ESCAPE_PREFIX = np.zeros((256, 5), dtype=np.uint8)
_ESCAPE_LAST = np.zeros(256, dtype=np.uint8)
for _byte, _escape in _STRING_ESCAPES.items():
    _ESCAPE_GROWTH[_byte] = len(_escape) - 1
    _ESCAPE_PREFIX[_byte, : len(_escape) - 1] = list(_escape[:-1].encode("ascii"))
    _ESCAPE_LAST[_byte] = ord(_escape[-1])
del _byte, _escape



def json_string(text: str, column: str) -> bytes:
    try:
        return rfc8785.dumps(text)
    except rfc8785.CanonicalizationError as exc:
        raise CommitmentError(
            f"Column {column!r} holds a string that is not valid Unicode text ({exc}); "
            "fix the encoding of the source file.",
            code="E_COMMIT_BAD_STRING",
        ) from exc


def as_text(fragments: list[bytes]) -> pa.Array:
    # Fragments are valid UTF-8 JSON, so the binary array can be read as text in place.
    return pa.array(fragments, type=BINARY).view(TEXT)




# ---- Arrow buffers <-> fixed-width byte matrices


def text_buffers(text: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Offsets (len + 1) and data buffer of a large_string array (null slots included)."""
    buffers = text.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int64)[text.offset : text.offset + len(text) + 1]
    if buffers[2] is None:
        return offsets, np.zeros(0, dtype=np.uint8)
    return offsets, np.frombuffer(buffers[2], dtype=np.uint8)


def text_from_matrix(chars: np.ndarray, first: np.ndarray, lengths: np.ndarray) -> pa.Array:
    """large_string array whose item i is ``chars[i, first[i] : first[i] + lengths[i]]``."""
    column = np.arange(chars.shape[1])
    inside = (column >= first[:, None]) & (column < (first + lengths)[:, None])
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    data = np.ascontiguousarray(chars[inside])
    return pa.Array.from_buffers(
        TEXT, len(lengths), [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )


# ---- strings


def quote_strings(text: pa.Array) -> pa.Array:
    """JSON string literals (RFC 8785 escaping) of a large_string array; nulls stay null.

    One numpy pass over the UTF-8 bytes: every output byte is placed by arithmetic on the
    offsets, the quotes and the escape sequences are written into the gaps.
    """
    count = len(text)
    if count == 0:
        return pa.array([], type=TEXT)
    offsets, data = text_buffers(text)
    data = data[offsets[0] : offsets[-1]]
    offsets = offsets - offsets[0]
    special = np.flatnonzero((data < 0x20) | (data == 0x22) | (data == 0x5C))
    codes = data[special]
    grow = _ESCAPE_GROWTH[codes]  # bytes each special byte gains
    grown = np.zeros(len(special) + 1, dtype=np.int64)  # growth before each special byte
    np.cumsum(grow, out=grown[1:])
    # Item i starts after two quotes per earlier item and the growth of earlier escapes.
    new_offsets = offsets + 2 * np.arange(count + 1) + grown[np.searchsorted(special, offsets)]
    out = np.empty(int(new_offsets[-1]), dtype=np.uint8)
    keep = np.ones(len(out), dtype=bool)  # output bytes that are input bytes, in order
    keep[new_offsets[:-1]] = False
    keep[new_offsets[1:] - 1] = False
    if len(special):
        owner = np.searchsorted(offsets, special, side="right") - 1  # item of each byte
        last = special + 2 * owner + 1 + grown[1:]  # output place of the escaped byte
        first = np.repeat(last - grow, grow)
        prefix_at = first + (np.arange(len(first)) - np.repeat(grown[:-1], grow))
        keep[prefix_at] = False
    out[keep] = data
    out[new_offsets[:-1]] = ord('"')
    out[new_offsets[1:] - 1] = ord('"')
    if len(special):
        out[prefix_at] = _ESCAPE_PREFIX[codes][np.arange(_ESCAPE_PREFIX.shape[1]) < grow[:, None]]
        out[last] = _ESCAPE_LAST[codes]
    validity = None
    if text.null_count:
        validity = pa.array(np.asarray(text.is_valid()), type=pa.bool_()).buffers()[1]
    return pa.Array.from_buffers(
        TEXT,
        count,
        [validity, pa.py_buffer(new_offsets), pa.py_buffer(out)],
        null_count=text.null_count,
    )
