"""API tokens. Only a token's SHA-256 is stored; the token itself is shown once.

Scopes: "admin" (everything), "user" (read and write, but not delete), "upload"
(POST /api/upload only; minted per sync, short-lived, bound to that sync), "join"
(POST /api/join only: a QR code's one-time code, short-lived, exchanged once for a new
"user" token by `exchange`; a used one is refused like a revoked one).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import Engine, select, update

from racesense.store.db import reading, writing
from racesense.store.models import Token

SCOPES = ("admin", "user", "upload", "join")
PREFIX = "rs_"


@dataclass(frozen=True)
class TokenInfo:
    id: int | None
    name: str
    scope: str
    sync_id: str | None
    expires_at: dt.datetime | None


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create(
    engine: Engine,
    name: str,
    scope: str,
    *,
    sync_id: str | None = None,
    ttl_s: float | None = None,
) -> tuple[str, TokenInfo]:
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}")
    token = PREFIX + secrets.token_urlsafe(24)
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=ttl_s) if ttl_s else None
    with writing(engine) as db:
        row = Token(
            name=name, token_sha256=digest(token), scope=scope, sync_id=sync_id, expires_at=expires
        )
        db.add(row)
        db.flush()
        info = TokenInfo(row.id, name, scope, sync_id, expires)
    return token, info


def verify(engine: Engine, token: str, admin_token: str | None) -> TokenInfo | None:
    """The token's rights, or None for an unknown, expired or revoked token."""
    if admin_token and hmac.compare_digest(token.encode(), admin_token.encode()):
        return TokenInfo(None, "environment admin token", "admin", None, None)
    if not token.startswith(PREFIX) or len(token) > 200:
        return None
    with reading(engine) as db:
        row = db.scalar(select(Token).where(Token.token_sha256 == digest(token)))
        if row is None or row.revoked_at is not None or row.used_at is not None:
            return None
        expires = _aware(row.expires_at)
        if expires is not None and expires <= dt.datetime.now(dt.UTC):
            return None
        return TokenInfo(row.id, row.name, row.scope, row.sync_id, expires)


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and value.tzinfo is None:  # SQLite returns naive UTC
        return value.replace(tzinfo=dt.UTC)
    return value


def exchange(engine: Engine, join_token: str, name: str) -> tuple[str, TokenInfo] | None:
    """A new "user" token named `name` for an unused, unexpired, unrevoked "join" token,
    which is used up by it; None for any other token. Atomic: of two exchanges of the
    same join token at once, exactly one gets a token (one conditional UPDATE marks it
    used; the other's finds it used, on SQLite and PostgreSQL alike)."""
    if not join_token.startswith(PREFIX) or len(join_token) > 200:
        return None
    now = dt.datetime.now(dt.UTC)
    with writing(engine) as db:
        row = db.scalar(
            select(Token).where(Token.token_sha256 == digest(join_token), Token.scope == "join")
        )
        if row is None or row.revoked_at is not None:
            return None
        expires = _aware(row.expires_at)
        if expires is not None and expires <= now:
            return None
        marked = db.execute(
            update(Token)
            .where(Token.id == row.id, Token.used_at.is_(None))
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )
        if marked.rowcount != 1:  # type: ignore[attr-defined]
            return None  # used already, or by the exchange that won just now
        token = PREFIX + secrets.token_urlsafe(24)
        new = Token(name=name, token_sha256=digest(token), scope="user")
        db.add(new)
        db.flush()
        info = TokenInfo(new.id, name, "user", None, None)
    return token, info


def list_tokens(engine: Engine) -> list[Token]:
    with reading(engine) as db:
        # Neither a sync's upload tokens nor one-time join codes: they expire by themselves.
        query = select(Token).where(Token.sync_id.is_(None), Token.scope != "join")
        return list(db.scalars(query.order_by(Token.id)))


def revoke(engine: Engine, token_id: int) -> bool:
    with writing(engine) as db:
        row = db.get(Token, token_id)
        if row is None or row.revoked_at is not None:
            return False
        row.revoked_at = dt.datetime.now(dt.UTC)
        return True
