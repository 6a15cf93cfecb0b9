"""The inbox: deciding which arrived files are complete, attributable and acceptable.

A contribution is a data file plus a sidecar ``<file>.contributor.json`` naming the
contributor's wallet. ``hokusai submit`` writes the data file, then the sidecar, each by
atomic rename, and records the data's digest in the sidecar, so the pair is provably
complete the moment the sidecar appears. Files placed by other means are taken once
their size and modification time held still across two looks. Anything that cannot be
accepted (a symlink, an unsupported type, an oversized file, a bad sidecar or wallet, a
data file whose sidecar never came) is reported for quarantine, never raised.

This module only looks and decides; moving files is the caller's job.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from hokusai_assets.lib.commitments.digests import file_digest
from hokusai_assets.lib.errors import HokusaiError
from hokusai_assets.lib.files import printable
from hokusai_assets.lib.intake.contributions import Contributor
from hokusai_assets.lib.intake.formats import FORMATS_BY_SUFFIX
from hokusai_assets.lib.wallet import normalise_wallet

SIDECAR_SUFFIX = ".contributor.json"
_IN_FLIGHT_SUFFIXES = (".tmp", ".partial")


@dataclass(frozen=True)
class Arrival:
    """A complete, attributable data file ready to be stored."""

    data: Path
    sidecar: Path
    contributor: Contributor


@dataclass(frozen=True)
class Rejection:
    paths: tuple[Path, ...]  # the data file and/or its sidecar
    code: str
    message: str


@dataclass
class InboxScan:
    arrivals: list[Arrival] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    # name -> [size, mtime_ns, first_seen]: what the next look compares against.
    state: dict[str, list] = field(default_factory=dict)
    waiting: int = 0

    def leave_for_next_look(self, untaken: Iterable[Arrival], previous: Mapping[str, list]) -> None:
        """Arrivals the caller could not take (the store's disk is full) stay in the inbox:
        keep what the last look knew of them (a hand-placed file stays known as stable), so
        the next look takes them without a new wait."""
        for arrival in untaken:
            if arrival.data.name in previous:
                self.state[arrival.data.name] = list(previous[arrival.data.name])


def sidecar_for(data: Path) -> Path:
    return data.with_name(data.name + SIDECAR_SUFFIX)


def read_sidecar(path: Path, *, allow_lowercase_wallet: bool) -> tuple[Contributor, str | None]:
    """The contributor and, if ``hokusai submit`` wrote it, the data file's digest."""
    shown = printable(path.name)  # anyone may have named a file in the inbox: one clean line
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise HokusaiError(
            f"{shown} is not valid UTF-8 JSON; it must be an object with at least a \"wallet\"",
            code="E_INTAKE_SIDECAR",
        ) from None
    if not isinstance(raw, dict) or not isinstance(raw.get("wallet"), str):
        raise HokusaiError(f"{shown} must be a JSON object with a \"wallet\" string", code="E_INTAKE_SIDECAR")
    unknown = sorted(set(raw) - {"wallet", "contributor_id", "license", "file_digest"})
    if unknown:
        raise HokusaiError(f"{shown} has unknown field(s) {', '.join(unknown)}", code="E_INTAKE_SIDECAR")
    wallet = normalise_wallet(raw["wallet"], allow_lowercase=allow_lowercase_wallet)
    contributor = Contributor(wallet=wallet, contributor_id=raw.get("contributor_id"), license=raw.get("license"))
    return contributor, raw.get("file_digest")


def _is_in_flight(name: str) -> bool:
    return name.startswith(".") or name.endswith(_IN_FLIGHT_SUFFIXES)


def scan_inbox(
    inbox: Path,
    previous: Mapping[str, list],
    now: float,
    *,
    max_bytes: int,
    sidecar_wait_seconds: float,
    allow_lowercase_wallet: bool = False,
    limit: int = 500,
) -> InboxScan:
    """Classify what is in ``inbox``: ready arrivals, rejections, and files still waiting."""
    scan = InboxScan()
    if not inbox.is_dir():
        return scan
    entries = sorted(p for p in inbox.iterdir() if not _is_in_flight(p.name))
    names = {p.name for p in entries}
    for path in entries:
        if len(scan.arrivals) >= limit:
            # Over this tick's budget: keep what we knew, decide on the next tick.
            if path.name in previous:
                scan.state[path.name] = list(previous[path.name])
            if not path.name.endswith(SIDECAR_SUFFIX):
                scan.waiting += 1
            continue
        if path.name.endswith(SIDECAR_SUFFIX):
            _check_orphan_sidecar(path, names, previous, now, sidecar_wait_seconds, scan)
            continue
        _classify(path, previous, now, max_bytes, sidecar_wait_seconds, allow_lowercase_wallet, scan)
    return scan


def _check_orphan_sidecar(path, names, previous, now, wait, scan) -> None:
    if path.name[: -len(SIDECAR_SUFFIX)] in names:
        return  # handled with its data file
    first_seen = previous.get(path.name, [None, None, now])[2]
    shown = printable(path.name)
    if path.is_symlink():
        scan.rejections.append(Rejection((path,), "E_INTAKE_SYMLINK", f"{shown} is a symlink; send real files"))
    elif now - first_seen > wait:
        scan.rejections.append(
            Rejection((path,), "E_INTAKE_ORPHAN_SIDECAR", f"{shown} has no data file beside it after {wait:.0f} s")
        )
    else:
        scan.state[path.name] = [None, None, first_seen]
        scan.waiting += 1


def _classify(path, previous, now, max_bytes, wait, allow_lowercase_wallet, scan) -> None:
    sidecar = sidecar_for(path)
    shown, sidecar_shown = printable(path.name), printable(sidecar.name)
    pair = (path, sidecar) if sidecar.exists() or sidecar.is_symlink() else (path,)
    if path.is_symlink() or sidecar.is_symlink():
        scan.rejections.append(
            Rejection(pair, "E_INTAKE_SYMLINK", f"{shown}: symlinks are not accepted; send the file itself")
        )
        return
    if not path.is_file():
        scan.rejections.append(Rejection(pair, "E_INTAKE_NOT_A_FILE", f"{shown} is not a regular file"))
        return
    if path.suffix.lower() not in FORMATS_BY_SUFFIX:
        supported = ", ".join(sorted(FORMATS_BY_SUFFIX))
        scan.rejections.append(
            Rejection(pair, "E_FORMAT_UNSUPPORTED", f"{shown}: unsupported file type; send one of {supported}")
        )
        return
    stat = path.stat()
    if stat.st_size > max_bytes:
        scan.rejections.append(
            Rejection(
                pair,
                "E_DATA_TOO_LARGE",
                f"{shown}: {stat.st_size:,} bytes is over the limit of {max_bytes:,} (intake.max_file_bytes); "
                "split the data into smaller files",
            )
        )
        return
    seen = previous.get(path.name)
    first_seen = seen[2] if seen else now
    stable = seen is not None and seen[0] == stat.st_size and seen[1] == stat.st_mtime_ns
    if not sidecar.exists():
        if stable and now - first_seen > wait:
            scan.rejections.append(
                Rejection(
                    pair,
                    "E_INTAKE_NO_SIDECAR",
                    f"{shown} arrived without {sidecar_shown}; submit it with `hokusai submit FILE --wallet 0x...`",
                )
            )
        else:
            scan.state[path.name] = [stat.st_size, stat.st_mtime_ns, first_seen]
            scan.waiting += 1
        return
    try:
        contributor, declared = read_sidecar(sidecar, allow_lowercase_wallet=allow_lowercase_wallet)
    except HokusaiError as error:
        scan.rejections.append(Rejection(pair, error.code, f"{sidecar_shown}: {error.message}"))
        return
    if declared is not None:
        # Written by `hokusai submit` after the data: the digest proves the data complete.
        if file_digest(path) == declared:
            scan.arrivals.append(Arrival(path, sidecar, contributor))
        elif stable:
            scan.rejections.append(
                Rejection(pair, "E_INTAKE_DIGEST_MISMATCH", f"{shown} does not match the digest in {sidecar_shown}")
            )
        else:
            scan.state[path.name] = [stat.st_size, stat.st_mtime_ns, first_seen]
            scan.waiting += 1
        return
    if stable:
        scan.arrivals.append(Arrival(path, sidecar, contributor))
    else:
        scan.state[path.name] = [stat.st_size, stat.st_mtime_ns, first_seen]
        scan.waiting += 1
