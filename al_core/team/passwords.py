"""Passwords, hashed with Argon2id (argon2-cffi's ``PasswordHasher``; RFC 9106).

argon2-cffi's defaults (Argon2id, 64 MiB, 3 passes, 4 lanes) are above OWASP's minimum
for Argon2id (19 MiB, 2 passes, 1 lane; OWASP Password Storage Cheat Sheet). A hash made
with other parameters is verified as stored and replaced at the next successful sign-in
(:func:`needs_rehash`). A password never appears in a table, a log line, an audit row or
an error message: the errors here say what is wrong with it, never what it is.
"""
from __future__ import annotations

import unicodedata

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 8
# Argon2 takes any length, but a megabyte-long "password" is a way to burn a server's
# CPU; 1,024 characters leaves room for any pass phrase or manager-generated password.
MAX_LENGTH = 1024

_hasher = PasswordHasher()
_dummy_hash: str | None = None


def hasher() -> PasswordHasher:
    """The hasher in use (its parameters are the ones new hashes get)."""
    return _hasher


def check_new_password(password) -> str:
    """``password`` if it may become a user's password; ValueError saying why not
    (without repeating it)."""
    if not isinstance(password, str):
        raise ValueError("a password must be text")
    if len(password) < MIN_LENGTH:
        raise ValueError(f"the password is too short: at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise ValueError(f"the password is too long: at most {MAX_LENGTH} characters")
    if password.strip() != password or not password.strip():
        raise ValueError("the password starts or ends with a space (a copy-paste slip?)")
    return password


def _normal(password: str) -> str:
    """Unicode NFKC, as NIST SP 800-63B (5.1.1.2) asks of a verifier: an "ä" typed as
    one character on one keyboard and as "a" + a combining mark on another is one
    password."""
    return unicodedata.normalize("NFKC", password)


def hash_password(password: str) -> str:
    """An Argon2id hash (PHC string: ``$argon2id$v=19$m=...,t=...,p=...$salt$hash``) of
    the password's NFKC form."""
    return _hasher.hash(_normal(check_new_password(password)))


def rehash_password(password: str) -> str:
    """A new hash, with today's parameters, of a password that was just verified: not
    judged by the rules for new passwords, which may be stricter than when it was set."""
    return _hasher.hash(_normal(password))


def verify_password(stored_hash: str | None, password) -> bool:
    """True when ``password`` matches ``stored_hash``. With no hash (an unknown user) a
    dummy hash is verified instead, so the answer takes as long as for a real user and
    a stranger cannot tell which names exist by timing."""
    global _dummy_hash
    if not isinstance(password, str) or len(password) > MAX_LENGTH:
        return False
    if stored_hash is None:
        if _dummy_hash is None:
            _dummy_hash = _hasher.hash("not a password of anyone")
        stored_hash, password = _dummy_hash, password + "\0"
        try:
            _hasher.verify(stored_hash, password)
        except (VerificationError, InvalidHashError):
            pass
        return False
    try:
        return _hasher.verify(stored_hash, _normal(password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """True when the hash was made with other parameters than the hasher's now."""
    try:
        return _hasher.check_needs_rehash(stored_hash)
    except (InvalidHashError, ValueError):
        return True
