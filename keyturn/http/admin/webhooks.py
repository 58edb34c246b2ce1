"""/admin/v1/webhooks: receivers of events, and what was delivered to them."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, Field

from keyturn.http.admin.auth import Caller, reader, writer
from keyturn.http.admin.models import Page, Request
from keyturn.http.admin.paging import Cursor, Limit, decode_cursor, page_of
from keyturn.notify.outbox import WEBHOOK
from keyturn.oauth.issue import iso_timestamp
from keyturn.operations import webhooks
from keyturn.store.records import Delivery, Webhook

router = APIRouter(prefix="/webhooks", tags=["admin: webhooks"])
WebhookId = Annotated[str, Path(min_length=1, max_length=200)]


class WebhookCreate(Request):
    url: str = Field(min_length=1, max_length=2000, description="http(s) URL events go to")
    kinds: list[str] = Field(
        default=[], max_length=100, description="Event kinds to send; empty: all"
    )


class WebhookOut(BaseModel):
    webhook_id: str
    url: str
    kinds: list[str]
    created_at: str

    @classmethod
    def of(cls, webhook: Webhook) -> WebhookOut:
        return cls(
            webhook_id=webhook.webhook_id,
            url=webhook.url,
            kinds=list(webhook.kinds),
            created_at=iso_timestamp(webhook.created_at),
        )


class WebhookCreated(WebhookOut):
    secret: str = Field(description="whsec_…, for verifying signatures; shown once")


class DeliveryOut(BaseModel):
    delivery_id: int
    event_id: int
    state: Literal["pending", "delivered", "dead"]
    attempts: int
    next_attempt_at: str | None = Field(description="When pending: the next attempt")
    last_status: int | None
    last_error: str | None
    created_at: str
    finished_at: str | None

    @classmethod
    def of(cls, delivery: Delivery) -> DeliveryOut:
        state: Literal["pending", "delivered", "dead"] = delivery.state  # type: ignore[assignment]
        return cls(
            delivery_id=delivery.delivery_id,
            event_id=delivery.event_id,
            state=state,
            attempts=delivery.attempts,
            next_attempt_at=(
                iso_timestamp(delivery.next_attempt_at) if delivery.state == "pending" else None
            ),
            last_status=delivery.last_status,
            last_error=delivery.last_error,
            created_at=iso_timestamp(delivery.created_at),
            finished_at=None
            if delivery.finished_at is None
            else iso_timestamp(delivery.finished_at),
        )


@router.get("", operation_id="listWebhooks", summary="Every webhook")
async def list_webhooks(caller: Annotated[Caller, Depends(reader)]) -> list[WebhookOut]:
    return [WebhookOut.of(w) for w in await caller.ctx.store.list_webhooks()]


@router.post(
    "",
    operation_id="createWebhook",
    status_code=201,
    summary="Send events to a URL, signed; the answer holds the secret, shown once",
)
async def create_webhook(
    body: WebhookCreate, caller: Annotated[Caller, Depends(writer)]
) -> WebhookCreated:
    webhook, secret = await webhooks.create_webhook(
        caller.ctx, body.url, tuple(body.kinds), actor=caller.actor
    )
    return WebhookCreated(**WebhookOut.of(webhook).model_dump(), secret=secret)


@router.get("/{webhook_id}", operation_id="getWebhook", summary="One webhook")
async def get_webhook(
    webhook_id: WebhookId, caller: Annotated[Caller, Depends(reader)]
) -> WebhookOut:
    return WebhookOut.of(await webhooks.existing_webhook(caller.ctx, webhook_id))


@router.delete(
    "/{webhook_id}",
    operation_id="deleteWebhook",
    status_code=204,
    summary="Stop sending to it; pending deliveries are dropped",
)
async def delete_webhook(
    webhook_id: WebhookId, caller: Annotated[Caller, Depends(writer)]
) -> Response:
    await webhooks.delete_webhook(caller.ctx, webhook_id, actor=caller.actor)
    return Response(status_code=204)


@router.get(
    "/{webhook_id}/deliveries",
    operation_id="listWebhookDeliveries",
    summary="Deliveries to it, newest first; state=dead shows what was given up",
)
async def list_deliveries(
    webhook_id: WebhookId,
    caller: Annotated[Caller, Depends(reader)],
    state: Annotated[Literal["pending", "delivered", "dead"] | None, Query()] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[DeliveryOut]:
    await webhooks.existing_webhook(caller.ctx, webhook_id)
    after = decode_cursor(cursor, (int,))
    found = await caller.ctx.store.page_deliveries(
        channel=WEBHOOK,
        target=webhook_id,
        state=state,
        before_id=None if after is None else after[0],
        limit=limit + 1,
    )
    items, next_cursor = page_of(found, limit, lambda d: (d.delivery_id,))
    return Page[DeliveryOut](items=[DeliveryOut.of(d) for d in items], next_cursor=next_cursor)
