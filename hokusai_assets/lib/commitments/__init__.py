"""Commitments: canonical rows and the data commitment (DESIGN.md section 3).

This package is the only place that decides how a dataset becomes a hash. Every digest
in an attestation, a receipt or ``hokusai verify`` must come from it: ``canonical.py`` defines
canonical values and row bytes (per cell, the reference); ``rows.py`` encodes whole frames
column-wise to the same bytes (with ``text.py`` and ``numbers.py``); ``merkle.py`` builds
leaves, roots and proofs; ``digests.py`` hashes bytes and files.

Contract
--------
* **Canonical value** (:func:`to_canonical_value`): ``None``/``pd.NA``/``pd.NaT`` become
  ``null``; booleans stay booleans; integers stay integers, except that an integer
  outside ±(2**53 - 1) becomes its decimal string (RFC 8785 numbers are IEEE doubles,
  so larger integers cannot be written exactly); floats are IEEE doubles (``float32`` and
  ``float16`` are widened exactly); strings stay strings. A bare float NaN or ±inf is an
  error: validation must already have rejected it or turned it into ``None``.
* **Row bytes** (:func:`canonical_row_bytes`): RFC 8785 (JCS) bytes of the JSON object
  ``{column: canonical value}``. JCS writes numbers the ECMAScript way, so ``3`` and
  ``3.0`` give the same bytes: an int column that became float (for instance because a
  CSV reader saw a missing value) does not change the commitment. That holds within
  ±(2**53 - 1); beyond it an integer is a string and an integral float is a number.
* **Frames** (:func:`iter_canonical_rows`): one rule for missing values, the pandas one.
  A cell for which ``pd.isna`` is true (``None``, ``pd.NA``, ``NaT`` and, in a frame
  only, float NaN, which is how pandas marks a missing float) is ``null``. ±inf is
  always an error that names the column. Columns of dates, times, complex numbers and
  other types with no JSON form are rejected: convert them to strings or numbers first.
* **Leaves and root**: leaf = SHA-256(0x00 || row bytes); the leaves of all rows are
  sorted ascending (duplicates kept: every row counts) and combined as the RFC 6962
  Merkle Tree Hash, node = SHA-256(0x01 || left || right). ``data_root`` is
  ``"sha256:" + hex(root)``. Sorting makes the root independent of row order, and
  canonical values make it independent of the file format; any changed value changes it.
* **Proofs**: :func:`inclusion_proof` gives the RFC 6962 audit path of one leaf and
  :func:`verify_inclusion` checks it with the RFC 9162 section 2.1.3.2 algorithm.
* **Digests**: ``"sha256:" + 64 lowercase hex``, over raw bytes or a file's bytes.

Python with numpy, pandas and pyarrow only, so the CLI and the verifier can use it
without dagster or mlflow. Frames are encoded column-wise with numpy and Arrow kernels
(``rows.py``); :func:`canonical_row_bytes` remains the definition, and the tests check
that every frame row equals rfc8785 of its canonical values.
"""
