"""A project's administration: members, invitations, the pairs browser, review, webhooks."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from prefloop_client.errors import NotFound
from prefloop_client.records import Invitation, Member, build
from prefloop_client.review import Keyed, PairDetail, PairJudgement, PairRow

if TYPE_CHECKING:
    from prefloop_client.http import Transport


@dataclass
class Webhook:
    """A subscription: deliveries of `events` to `url`, signed with its secret.

    `secret` is set only on the answer to creating it (the server never shows it again).
    """

    id: int
    url: str
    events: list[str]
    is_active: bool = True
    paused_reason: str = ""
    consecutive_failures: int = 0
    secret: str = field(default="", repr=False)
    created_at: datetime | None = None
    paused_at: datetime | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class DeliveryAttempt:
    """One try of a delivery: the receiver's HTTP status (None when none came), how long it
    took, and the error when it failed."""

    number: int
    status_code: int | None = None
    latency_ms: int | None = None
    error: str = ""
    created_at: datetime | None = None


@dataclass
class Delivery(Keyed):
    """An event sent (or being sent) to a webhook: `status` pending, sending, delivered or
    failed, with every attempt in `attempt_log`."""

    id: int
    event_id: str
    event: str
    status: str
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_status_code: int | None = None
    last_error: str = ""
    created_at: datetime | None = None
    finished_at: datetime | None = None
    attempt_log: list[DeliveryAttempt] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Delivery:
        log = [build(DeliveryAttempt, a) for a in data.get("attempt_log", [])]
        return build(cls, data, attempt_log=log)


class WorkspaceActions:
    """What a project admin does besides data and models (mixed into Project)."""

    slug: str
    _transport: Transport

    @property
    def _base(self) -> str:
        return f"/api/projects/{self.slug}"

    # ------------------------------------------------------------ members and invitations

    def members(self) -> list[Member]:
        """Every member with role, judgements and last activity, by role then username."""
        rows = self._transport.get(f"{self._base}/members")
        return [build(Member, row) for row in rows]

    def add_member(self, username: str, role: str = "annotator") -> Member:
        """Add an existing user by username or email, or change a member's role."""
        data = self._transport.post(f"{self._base}/members", {"username": username, "role": role})
        return build(Member, data)

    def _user_id(self, user: int | str) -> int:
        if isinstance(user, int):
            return user
        for member in self.members():
            if member.username == user and member.user_id is not None:
                return member.user_id
        raise NotFound(f"{user} is not a member of {self.slug}", status=404)

    def set_role(self, user: int | str, role: str) -> Member:
        """Change a member's role (a user id or username); the last admin stays admin."""
        path = f"{self._base}/members/{self._user_id(user)}"
        return build(Member, self._transport.patch(path, {"role": role}))

    def remove_member(self, user: int | str) -> None:
        """Remove a member: their live leases are released, their judgements stay."""
        self._transport.delete(f"{self._base}/members/{self._user_id(user)}")

    def invite(self, emails: str | Iterable[str], role: str = "annotator") -> list[Invitation]:
        """One-time invitation links for these addresses (no mail is sent: pass each `url` on)."""
        listed = [emails] if isinstance(emails, str) else list(emails)
        rows = self._transport.post(f"{self._base}/invitations", {"emails": listed, "role": role})
        return [build(Invitation, row) for row in rows]

    def invitations(self) -> list[Invitation]:
        """Invitations not yet used, newest first (expired ones too)."""
        rows = self._transport.get(f"{self._base}/invitations")
        return [build(Invitation, row) for row in rows]

    def revoke_invitation(self, invitation: Invitation | int) -> None:
        """Revoke an open invitation; its link stops working."""
        number = invitation.id if isinstance(invitation, Invitation) else invitation
        self._transport.delete(f"{self._base}/invitations/{number}")

    # ------------------------------------------------------------ annotators' state

    def pause_annotator(self, user_id: int, reason: str = "") -> None:
        """Give this annotator no new leases until reinstated."""
        self._transport.post(f"{self._base}/annotators/{user_id}/pause", {"reason": reason})

    def reinstate_annotator(self, user_id: int) -> None:
        self._transport.post(f"{self._base}/annotators/{user_id}/reinstate", {})

    # ------------------------------------------------------------ pairs, review and gold

    def pairs(self, **filters: Any) -> Iterator[PairRow]:
        """Every pair matching the browser's filters and sort, a cursor page at a time."""
        for row in self._transport.paginate(f"{self._base}/pairs", **filters):
            yield build(PairRow, row)

    def pair(self, pair_id: int) -> PairDetail:
        """A pair with its prompt, responses and every judgement."""
        return PairDetail.from_json(self._transport.get(f"{self._base}/pairs/{pair_id}"))

    def invalidate(
        self, pair_id: int, judgement_id: int, reason: str, *, part: str = ""
    ) -> PairJudgement:
        """Mark a judgement invalid (kept, with who and why); its pair may go back to the queue.

        `part` "criterion:NAME" or "edit" invalidates only that criterion's vote or the edit.
        """
        body = {"reason": reason, **({"part": part} if part else {})}
        return self._review(pair_id, judgement_id, "invalidate", body)

    def restore(self, pair_id: int, judgement_id: int, *, part: str = "") -> PairJudgement:
        """Count an invalidated judgement (or the `part` of one) again."""
        return self._review(pair_id, judgement_id, "restore", {"part": part} if part else {})

    def _review(
        self, pair_id: int, judgement_id: int, action: str, body: dict[str, Any]
    ) -> PairJudgement:
        path = f"{self._base}/pairs/{pair_id}/judgements/{judgement_id}/{action}"
        return PairJudgement.from_json(self._transport.post(path, body, idempotent=True))

    def set_gold(
        self,
        pair_id: int,
        label: str = "",
        *,
        ranking: list[list[int]] | None = None,
        criteria: dict[str, Any] | None = None,
    ) -> PairDetail:
        """Set the pair's gold label (a, b, tie, both_bad; "" clears), or a ranking item's gold
        `ranking` (groups of response ids, best first), with gold `criteria` beside either;
        returns the pair."""
        body: dict[str, Any] = {"label": label}
        if ranking is not None:
            body["ranking"] = ranking
        if criteria is not None:
            body["criteria"] = criteria
        response = self._transport.request("PUT", f"{self._base}/pairs/{pair_id}/gold", json=body)
        return PairDetail.from_json(response.json())

    def clear_gold(self, pair_id: int) -> PairDetail:
        """Clear the pair's gold label; returns the pair."""
        return PairDetail.from_json(self._transport.delete(f"{self._base}/pairs/{pair_id}/gold"))

    # ------------------------------------------------------------ webhooks

    def add_webhook(self, url: str, events: Iterable[str], secret: str) -> Webhook:
        """Subscribe `url` to `events`; deliveries are signed with `secret` (verify_signature)."""
        body = {"url": url, "events": list(events), "secret": secret}
        # The secret is never shown again; keep the one given when the answer leaves it out.
        data = self._transport.post(f"{self._base}/webhooks", body)
        return build(Webhook, {"secret": secret, **data})

    def webhooks(self) -> list[Webhook]:
        """The project's subscriptions (secrets are not shown)."""
        rows = self._transport.paginate(f"{self._base}/webhooks")
        return [build(Webhook, row) for row in rows]

    def update_webhook(self, webhook: Webhook | int, **fields: Any) -> Webhook:
        """Change url, events or secret; `is_active=False` pauses it, True resumes it."""
        return build(Webhook, self._transport.patch(self._webhook_path(webhook), fields))

    def webhook(self, webhook: Webhook | int) -> Webhook:
        """One subscription as the server has it now (without its secret)."""
        return build(Webhook, self._transport.get(self._webhook_path(webhook)))

    def webhook_deliveries(self, webhook: Webhook | int, **query: Any) -> list[Delivery]:
        """Every delivery, newest first, each with its attempts' status, latency and error
        (`status` filters; `limit` is the page size)."""
        rows = self._transport.paginate(f"{self._webhook_path(webhook)}/deliveries", **query)
        return [Delivery.from_json(row) for row in rows]

    def delete_webhook(self, webhook: Webhook | int) -> None:
        self._transport.delete(self._webhook_path(webhook))

    def _webhook_path(self, webhook: Webhook | int) -> str:
        number = webhook.id if isinstance(webhook, Webhook) else webhook
        return f"{self._base}/webhooks/{number}"
