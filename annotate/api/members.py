"""Members endpoints (project admins): add a member, change a role (page: views/members.py)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from annotate.api.serializers import MembershipInputSerializer, MembershipSerializer
from annotate.permissions import IsProjectAdmin, signed_in_user
from annotate.projects.members import LastAdmin, UnknownUser, set_member


class MemberActions(generics.GenericAPIView):
    """The project's `members` action, mixed into the project viewset."""

    @extend_schema(request=MembershipInputSerializer, responses=MembershipSerializer)
    @action(detail=True, methods=["post"], permission_classes=[IsAuthenticated & IsProjectAdmin])
    def members(self, request: Request, slug: str) -> Response:
        """Add a member or change a member's role (project admins)."""
        project = self.get_object()
        data = MembershipInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            membership = set_member(project, **data.validated_data, by=signed_in_user(request))
        except (UnknownUser, LastAdmin) as exc:
            return Response({"username": [str(exc)]}, status=status.HTTP_400_BAD_REQUEST)
        return Response(MembershipSerializer(membership).data, status=status.HTTP_201_CREATED)
