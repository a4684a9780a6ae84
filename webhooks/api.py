"""Webhook endpoints (project admins): subscriptions and their deliveries (page twin: views.py)."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from annotate.api.paging import keyset_list, keyset_schema
from annotate.models import Project
from annotate.permissions import IsProjectAdmin, ProjectAPIView, signed_in_user
from webhooks.models import Subscription
from webhooks.serializers import (
    CreatedSubscriptionSerializer,
    CursorQuerySerializer,
    DeliveryQuerySerializer,
    DeliverySerializer,
    SubscriptionInputSerializer,
    SubscriptionSerializer,
)
from webhooks.subscriptions import (
    access_subscription,
    create_subscription,
    delete_subscription,
    project_subscriptions,
    subscription_deliveries,
    update_subscription,
)

CREATE_EXAMPLE = OpenApiExample(
    "Subscribe",
    value={"url": "https://hooks.example.com/prefloop", "events": ["pair.completed"]},
    request_only=True,
)
PAUSE_EXAMPLE = OpenApiExample(
    "Pause",
    value={"is_active": False},
    request_only=True,
    description="`is_active: true` resumes it and sends the held deliveries.",
)
UPDATE_EXAMPLE = OpenApiExample(
    "Change the events",
    value={"events": ["pair.completed", "model.served"]},
    request_only=True,
)


class _AdminView(ProjectAPIView):
    permission_classes = [IsAuthenticated & IsProjectAdmin]

    def subscription(self, project: Project, subscription_id: int) -> Subscription:
        try:
            return access_subscription(project, subscription_id)
        except Subscription.DoesNotExist:
            raise Http404("No such webhook in this project.") from None


class WebhookListView(_AdminView):
    """The project's webhook subscriptions; POST adds one (its secret is shown only then)."""

    @extend_schema(
        operation_id="projects_webhooks_list",
        parameters=[CursorQuerySerializer],
        responses=keyset_schema("SubscriptionPage", SubscriptionSerializer),
    )
    def get(self, request: Request, slug: str) -> Response:
        rows = project_subscriptions(self.get_object())
        return keyset_list(request, rows, lambda page: SubscriptionSerializer(page, many=True).data)

    @extend_schema(
        request=SubscriptionInputSerializer,
        responses={201: CreatedSubscriptionSerializer},
        examples=[CREATE_EXAMPLE],
    )
    def post(self, request: Request, slug: str) -> Response:
        project = self.get_object()
        data = SubscriptionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = {k: v for k, v in data.validated_data.items() if k != "is_active"}
        subscription, secret = create_subscription(project, **fields, by=signed_in_user(request))
        body = CreatedSubscriptionSerializer(subscription, context={"secret": secret}).data
        return Response(body, status=status.HTTP_201_CREATED)


class WebhookDetailView(_AdminView):
    """One subscription: read it, change it (URL, events, secret; `is_active` pauses or resumes)
    or delete it."""

    @extend_schema(responses=SubscriptionSerializer)
    def get(self, request: Request, slug: str, pk: int) -> Response:
        subscription = self.subscription(self.get_object(), pk)
        return Response(SubscriptionSerializer(subscription).data)

    @extend_schema(
        request=SubscriptionInputSerializer,
        responses=SubscriptionSerializer,
        examples=[PAUSE_EXAMPLE, UPDATE_EXAMPLE],
    )
    def patch(self, request: Request, slug: str, pk: int) -> Response:
        subscription = self.subscription(self.get_object(), pk)
        data = SubscriptionInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        subscription = update_subscription(subscription, **data.validated_data)
        return Response(SubscriptionSerializer(subscription).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, slug: str, pk: int) -> Response:
        delete_subscription(self.subscription(self.get_object(), pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


class DeliveryListView(_AdminView):
    """A subscription's deliveries, newest first, `limit` a page, each with its attempts."""

    @extend_schema(
        parameters=[DeliveryQuerySerializer],
        responses=keyset_schema("DeliveryPage", DeliverySerializer),
    )
    def get(self, request: Request, slug: str, pk: int) -> Response:
        subscription = self.subscription(self.get_object(), pk)
        query = DeliveryQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows = subscription_deliveries(subscription, status=query.validated_data.get("status"))
        return keyset_list(
            request,
            rows,
            lambda page: DeliverySerializer(page, many=True).data,
            size=query.validated_data["limit"],
        )
