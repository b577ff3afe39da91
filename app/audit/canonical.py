"""The chain's canonical form (docs/audit.md): an entry's line and hash, a seal's hash, the
layout of a seal's entry index. Change it together with migration 0006's trigger."""

from __future__ import annotations

import datetime as dt
import hashlib

import asyncpg

INDEX_ITEM = 24  # 8 bytes of id, 16 bytes of the entry's SHA-256


def utc_text(moment: dt.datetime) -> str:
    """A time as the canonical form writes it: UTC, microseconds, `Z`."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _record_field(value: str | None) -> str:
    """One field as PostgreSQL's record text form writes it (record_out)."""
    if value is None:
        return ""
    if value == "" or any(c in _RECORD_SPECIAL for c in value):
        return '"' + value.replace("\\", "\\\\").replace('"', '""') + '"'
    return value


# What makes record_out quote a field: these, and C's isspace() in the C locale.
_RECORD_SPECIAL = frozenset('"\\(), \t\n\v\f\r')


def timestamptz_text(moment: dt.datetime) -> str:
    """A time as PostgreSQL writes timestamptz with DateStyle ISO and TimeZone UTC."""
    utc = moment.astimezone(dt.UTC)
    text = utc.strftime("%Y-%m-%d %H:%M:%S")
    if utc.microsecond:
        text += f".{utc.microsecond:06d}".rstrip("0")
    return text + "+00"


def entry_line(row: asyncpg.Record) -> str:
    """An entry's canonical line (docs/audit.md), from its stored values: the text form of
    the row (id, at, actor, action, version_id, rule_id, rule_revision, run_id, details)."""
    fields = (
        str(row["id"]),
        timestamptz_text(row["at"]),
        row["actor"],
        row["action"],
        *(
            None if row[name] is None else str(row[name])
            for name in ("version_id", "rule_id", "rule_revision", "run_id")
        ),
        row["details"],
    )
    return "(" + ",".join(_record_field(field) for field in fields) + ")"


def entry_hash(row: asyncpg.Record) -> bytes:
    """The first 16 bytes of the SHA-256 of the entry's canonical line."""
    return hashlib.sha256(entry_line(row).encode()).digest()[:16]


def seal_hash(seal: asyncpg.Record, prev_hash: bytes, digest: bytes) -> bytes:
    """A seal's hash over its fields, its entries' digest and the hash of the seal before."""
    text = "|".join(
        (
            str(seal["seq"]),
            seal["xid"],
            str(seal["first_id"]),
            str(seal["last_id"]),
            str(seal["entry_count"]),
            utc_text(seal["newest_at"]),
            utc_text(seal["sealed_at"]),
            digest.hex(),
            prev_hash.hex(),
        )
    )
    return hashlib.sha256(text.encode()).digest()
