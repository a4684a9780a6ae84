"""The API's token check, with a token's user kept in the cache for a few seconds, so a judging
loop does not read the token and its user on every call."""

from __future__ import annotations

import hashlib
from typing import Any

from django.contrib.auth.models import User
from django.core.cache import cache
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token

# How long a token's user is served from the cache. A token deleted or a user changed (say,
# deactivated) is forgotten at once by this process (the receivers below) and within this time
# by the others, which each keep their own cache unless CACHES["default"] is shared.
TOKEN_USER_SECONDS = 10


class CachedTokenAuthentication(TokenAuthentication):
    """DRF's `Authorization: Token ...` check, with the (user, token) of a valid key cached.

    The cache hands out a fresh copy each time (it pickles), so requests never share a user
    object. A key that fails is not cached: it is checked against the database every time.
    """

    def authenticate_credentials(self, key: str) -> tuple[Any, Any]:
        cache_key = _cache_key(key)
        found = cache.get(cache_key)
        if found is None:
            found = super().authenticate_credentials(key)
            cache.set(cache_key, found, TOKEN_USER_SECONDS)
        return found


def _cache_key(key: str) -> str:
    return "token-user:" + hashlib.sha256(key.encode()).hexdigest()


@receiver(post_delete, sender=Token, dispatch_uid="token-forget-deleted")
def _forget_token(sender: Any, instance: Token, **kwargs: Any) -> None:
    cache.delete(_cache_key(instance.key))


@receiver(post_save, sender=User, dispatch_uid="token-forget-changed-user")
@receiver(post_delete, sender=User, dispatch_uid="token-forget-deleted-user")
def _forget_users_token(sender: Any, instance: User, **kwargs: Any) -> None:
    """A changed user (deactivated, renamed) is read again on their next call."""
    key = Token.objects.filter(user_id=instance.pk).values_list("key", flat=True).first()
    if key is not None:
        cache.delete(_cache_key(key))
