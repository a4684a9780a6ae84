"""Members and invitations (project admins): list, add, change a role, remove; invite, list
and revoke links; accepting one (page twin: views/members.py)."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.api.serializers import (
    AcceptedSerializer,
    InvitationSerializer,
    InvitedSerializer,
    InviteInputSerializer,
    MemberSerializer,
    MembershipInputSerializer,
    MembershipSerializer,
    RoleInputSerializer,
)
from annotate.models import Membership, Project
from annotate.permissions import IsProjectAdmin, ProjectAPIView, signed_in_user
from annotate.projects.invitations import (
    InvalidInvitation,
    accept_invitation,
    invite_members,
    pending_invitations,
    revoke_invitation,
)
from annotate.projects.members import (
    LastAdmin,
    UnknownUser,
    member_rows,
    remove_member,
    set_member,
)

ADMIN_ONLY = [IsAuthenticated & IsProjectAdmin]


class MemberActions(generics.GenericAPIView):
    """The project's `members` action, mixed into the project viewset."""

    @extend_schema(methods=["GET"], responses=MemberSerializer(many=True))
    @extend_schema(
        methods=["POST"],
        request=MembershipInputSerializer,
        responses={201: MembershipSerializer},
        examples=[
            OpenApiExample(
                "Add an annotator by email",
                value={"username": "dana@example.org", "role": "annotator"},
                request_only=True,
            )
        ],
    )
    @action(detail=True, methods=["get", "post"], permission_classes=ADMIN_ONLY)
    def members(self, request: Request, slug: str) -> Response:
        """List the members (GET), or add one or change a member's role (POST)."""
        project = self.get_object()
        if request.method == "GET":
            return Response(MemberSerializer(member_rows(project), many=True).data)
        data = MembershipInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            membership = set_member(project, **data.validated_data, by=signed_in_user(request))
        except (UnknownUser, LastAdmin) as exc:
            return Response({"username": [str(exc)]}, status=status.HTTP_400_BAD_REQUEST)
        return Response(MembershipSerializer(membership).data, status=status.HTTP_201_CREATED)


class MemberView(ProjectAPIView):
    """One member: change their role, or remove them (their judgements stay)."""

    permission_classes = ADMIN_ONLY

    def _membership(self, user_id: int) -> tuple[Project, Membership]:
        project = self.get_object()
        memberships = project.memberships.select_related("user")
        return project, get_object_or_404(memberships, user_id=user_id)

    @extend_schema(
        request=RoleInputSerializer,
        responses=MembershipSerializer,
        examples=[OpenApiExample("Make admin", value={"role": "admin"}, request_only=True)],
    )
    def patch(self, request: Request, slug: str, user_id: int) -> Response:
        project, membership = self._membership(user_id)
        data = RoleInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        username = membership.user.get_username()
        try:
            changed = set_member(
                project, username=username, **data.validated_data, by=signed_in_user(request)
            )
        except (UnknownUser, LastAdmin) as exc:
            return Response({"role": [str(exc)]}, status=status.HTTP_400_BAD_REQUEST)
        return Response(MembershipSerializer(changed).data)

    @extend_schema(
        responses={
            204: OpenApiResponse(description="removed"),
            409: OpenApiResponse(description="the project's only admin"),
        }
    )
    def delete(self, request: Request, slug: str, user_id: int) -> Response:
        project, membership = self._membership(user_id)
        try:
            remove_member(project, membership.user)
        except LastAdmin as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitationsView(ProjectAPIView):
    """The project's open invitation links; inviting makes one per address."""

    permission_classes = ADMIN_ONLY

    @extend_schema(responses=InvitationSerializer(many=True))
    def get(self, request: Request, slug: str) -> Response:
        invitations = pending_invitations(self.get_object())
        return Response(InvitationSerializer(invitations, many=True).data)

    @extend_schema(
        request=InviteInputSerializer,
        responses={201: InvitedSerializer(many=True)},
        examples=[
            OpenApiExample(
                "Invite two annotators",
                value={"emails": ["dana@example.org", "eli@example.org"], "role": "annotator"},
                request_only=True,
            ),
            OpenApiExample(
                "The links, shown once",
                value=[
                    {
                        "id": 7,
                        "email": "dana@example.org",
                        "role": "annotator",
                        "expires_at": "2026-01-08T12:00:00Z",
                        "url": "https://prefloop.example.org/invitations/3q2-Xk...",
                    }
                ],
                response_only=True,
                status_codes=["201"],
            ),
        ],
    )
    def post(self, request: Request, slug: str) -> Response:
        """A one-time link per address; an address's older open links stop working."""
        project = self.get_object()
        data = InviteInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        invited = invite_members(project, **data.validated_data, by=signed_in_user(request))
        body = [
            {
                "id": i.invitation.pk,
                "email": i.email,
                "role": i.invitation.role,
                "expires_at": i.invitation.expires_at,
                "url": request.build_absolute_uri(reverse("invitation", args=[i.token])),
            }
            for i in invited
        ]
        return Response(InvitedSerializer(body, many=True).data, status=status.HTTP_201_CREATED)


class InvitationView(ProjectAPIView):
    """Revoke an open invitation link."""

    permission_classes = ADMIN_ONLY

    @extend_schema(
        responses={
            204: OpenApiResponse(description="the link no longer works"),
            404: OpenApiResponse(description="no such open link (used, revoked or unknown)"),
        }
    )
    def delete(self, request: Request, slug: str, invitation_id: int) -> Response:
        if not revoke_invitation(self.get_object(), invitation_id):
            body = {"detail": "That invitation was already used or revoked."}
            return Response(body, status=status.HTTP_404_NOT_FOUND)
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitationAcceptView(APIView):
    """Join a project with an invitation link, as the signed-in account."""

    @extend_schema(
        request=None,
        responses={
            200: AcceptedSerializer,
            404: OpenApiResponse(description="the link is unknown, used or expired"),
        },
    )
    def post(self, request: Request, token: str) -> Response:
        user: User = signed_in_user(request)
        try:
            accepted = accept_invitation(token, user=user)
        except InvalidInvitation as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_404_NOT_FOUND)
        return Response(AcceptedSerializer(accepted).data)
