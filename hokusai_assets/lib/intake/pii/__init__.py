"""Value-level PII detection and keyed pseudonymisation of tabular contributions.

Modules: ``pseudonyms`` (the key and the pseudonym of a value), ``patterns`` (the
detectors, as Python and RE2 patterns), ``validators`` (checksums and context rules),
``scanner`` (scanning and replacing a table's text columns), ``report`` (counts and
column-name hints, never values).

Every string cell is scanned for e-mail addresses, phone numbers, US SSNs, payment cards,
IBANs, IP addresses, Ethereum private keys and BIP-39 seed phrases. Each detected *span*
is replaced by ``<entity:hex24>``, the first 24 hex digits of an HMAC-SHA256 under the
platform's PII key, so the same identifier always gets the same pseudonym (joins and
deduplication still work) while nobody without the key can link or reverse it, not even
with a dictionary of every phone number. Never plain hashes: an unkeyed hash of a phone
number is reversible by enumeration (the mistake the old pipeline made).

How it stays fast on a million rows (no per-row Python on the hot path):

1. one combined prefilter regex runs in C (RE2, ``pyarrow.compute.match_substring_regex``)
   over the whole column. It is built from the same patterns as the precise detectors,
   with their look-arounds emulated by consuming a neighbouring character, so it is a
   superset of them: a cell it does not match holds nothing to find;
2. on the few candidate cells, one RE2 gate per detector says which detectors can match
   (for seed phrases: every BIP-39 word is marked in C and a run of twelve marks looked
   for), so Python runs only those;
3. Python applies the precise patterns (leftmost match wins) and the validators (Luhn,
   mod-97, SSN ranges, octets, key range, context words) and substitutes pseudonyms;
4. changed cells go round again until nothing changes, so what comes out is exactly what
   :func:`find_cleartext_pii` accepts (a replacement can change a neighbour's context).

Rules for the cases that look alike (documented here because tests pin them):

* **phone**: ``+<country>`` international numbers (separators optional) with 10-15
  digits; national numbers only in recognisable shapes with separators: North American
  ``(415) 555-2671`` / ``415.555.2671`` / ``1-800-555-0199`` (area and exchange 2-9), and
  trunk-prefixed ``0...`` numbers with one consistent separator (``020 7946 0958``,
  ``06 12 34 56 78``, ``0044 20 7946 0958``). A plain digit run is never a phone (order
  numbers, IDs); dates and times are excluded by digit count, separators and context.
* **us_ssn**: ``AAA-GG-SSSS`` (dashes or spaces, the same both times), area not 000, 666
  or 900-999, group not 00, serial not 0000. A bare 9-digit run is not flagged.
* **payment_card**: 13-19 digits, contiguous or in 4-4-4-4(-3) / 4-6-4(5) groups with one
  consistent separator, Luhn-valid, with a known IIN prefix and a length that brand uses.
* **iban**: country letters, 2 check digits, BBAN; contiguous or in groups of 4 separated
  by single spaces; mod-97 == 1 and the registry length for known countries (15-34
  otherwise). Trailing words swallowed by the grouping are given back.
* **ip_address**: dotted-quad IPv4 with octets 0-255 (no leading zeros) that is not part
  of a longer dotted sequence (``1.2.3.4.5``), not glued to a word (``v1.2.3.4``), not
  announced as a version or a section (``version 1.2.3.4``, ``release``, ``build``,
  ``fw``, ``section``, ``§`` ..., ``libfoo-1.2.3.4``) and without a pre-release or build
  suffix (``1.2.3.4-beta``); a bare ``1.2.3.4`` is an address. IPv6 in full or ``::``
  compressed form (also with an IPv4 tail) that :mod:`ipaddress` accepts, with at least
  two non-empty groups and a digit (so ``::1``, ``a::b``, ``std::map`` and times like
  ``10:30:00`` or MAC addresses are not addresses).
* **eth_private_key**: exactly 64 hex digits as a whole token, optionally ``0x``,
  in the secp256k1 key range, and not labelled as a hash (``sha256:``, ``sha3``,
  ``keccak``, ``digest``, ``hash``, ``checksum``, ``tx``/``txid``, ``block``, ``root``
  ...). A 40-hex Ethereum address, a 128-hex digest or a short hex id never matches.
  An unlabelled 0x-64-hex value (it could be a transaction hash) *is* flagged: when in
  doubt about a secret, hide it.
* **seed_phrase**: a run of at least 12 consecutive BIP-39 English words (whole ASCII
  words, case-insensitive, separated by whitespace or commas; longer runs than 24 and
  lengths other than 12/15/18/21/24 are flagged too, the checksum is not required, since
  a mistyped phrase is still a secret); the whole run becomes one pseudonym. The wordlist
  is the one ``eth-account`` ships (read from the installed package, no download).
* Pseudonym tokens ``<entity:hex24>`` are recognised first and never detected again.
"""

