"""Endpoint API keys at rest: Fernet-encrypted with a key derived from the settings.

The encryption key is `ENDPOINT_KEY_SECRET` when set, else `SECRET_KEY`, stretched by HKDF-SHA256
to Fernet's 32 bytes (with a purpose label, so the same secret signs sessions and encrypts keys
under different keys). Rotating that secret makes stored keys unreadable: re-enter them. A key
may instead be the name of an environment variable that the workers read at call time.
"""

from __future__ import annotations

import base64
import os

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

_PURPOSE = b"prefloop endpoint api keys v1"


class KeyUnavailable(Exception):
    """The endpoint's key cannot be read; the message says why."""


def _fernet() -> Fernet:
    secret = settings.ENDPOINT_KEY_SECRET
    if not secret:
        try:
            secret = settings.SECRET_KEY
        except ImproperlyConfigured:  # Django refuses an empty SECRET_KEY
            secret = ""
    if not secret:
        raise KeyUnavailable("set SECRET_KEY or ENDPOINT_KEY_SECRET to store endpoint keys")
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_PURPOSE).derive(
        secret.encode("utf-8")
    )
    return Fernet(base64.urlsafe_b64encode(derived))


def encrypt_key(plain: str) -> str:
    """The text stored in `ModelEndpoint.api_key_encrypted`; "" for no key."""
    return _fernet().encrypt(plain.encode("utf-8")).decode("ascii") if plain else ""


def decrypt_key(token: str) -> str:
    if not token:
        return ""
    try:
        return _fernet().decrypt(token.encode("ascii")).decode("utf-8")
    except InvalidToken:
        raise KeyUnavailable(
            "the stored key cannot be decrypted (SECRET_KEY or ENDPOINT_KEY_SECRET changed?); "
            "enter the key again"
        ) from None


def endpoint_key(encrypted: str, env_name: str) -> str:
    """The key to send: the decrypted one, else the named environment variable, else ""."""
    if encrypted:
        return decrypt_key(encrypted)
    if env_name:
        value = os.environ.get(env_name, "")
        if not value:
            raise KeyUnavailable(f"the environment variable {env_name} is not set on the worker")
        return value
    return ""
