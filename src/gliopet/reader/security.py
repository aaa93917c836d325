"""Passwords, session tokens and the login rate limit of the reader-study web application.

Passwords are hashed with Argon2id (argon2-cffi, its default parameters: RFC 9106's low-memory
choice). A session cookie holds a random token (256 bit); the database keeps only its SHA-256,
with the session's CSRF token and expiry. Login failures are counted per account and per
client address in a sliding window (in memory: one server process).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import defaultdict, deque

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher()
#: Alphabet of generated passwords (no look-alike characters).
_ALPHABET = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def hash_password(password: str) -> str:
    """The Argon2id hash (PHC string) of a password."""
    return _HASHER.hash(password)


def verify_password(stored: str, password: str) -> bool:
    """Whether `password` matches the stored Argon2 hash (False on any mismatch)."""
    try:
        return _HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def new_password(length: int = 16) -> str:
    """A random password of `length` characters (about 5.8 bit each)."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def new_token() -> str:
    """A random URL-safe token (256 bit)."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """SHA-256 (hex) of a session token: what the database stores."""
    return hashlib.sha256(token.encode()).hexdigest()


def same_token(a: str | None, b: str | None) -> bool:
    """Constant-time comparison of two tokens (False when either is missing)."""
    return bool(a) and bool(b) and secrets.compare_digest(str(a), str(b))


class RateLimiter:
    """At most `limit` failures per key in `window_s` seconds (sliding window, thread-safe)."""

    def __init__(self, limit: int = 5, window_s: float = 60.0) -> None:
        self.limit = limit
        self.window_s = window_s
        self._events: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        events = self._events[key]
        while events and now - events[0] > self.window_s:
            events.popleft()
        return events

    def blocked(self, *keys: str) -> bool:
        """Whether any key has reached the limit of failures in the window."""
        now = time.monotonic()
        with self._lock:
            return any(len(self._recent(key, now)) >= self.limit for key in keys)

    def fail(self, *keys: str) -> None:
        """Count one failure for every key."""
        now = time.monotonic()
        with self._lock:
            for key in keys:
                self._recent(key, now).append(now)
