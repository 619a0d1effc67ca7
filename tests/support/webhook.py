"""Webhook helpers the webhook, security, sync and automation tests share: a signing source made by the real
CLI, a complete lead body, and look-ups in the CRM."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest

from hyperdash_pipeline.cli import main

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


@dataclass
class Org:
    id: str
    slug: str
    secret: str


def create_source(capsys: pytest.CaptureFixture[str], slug: str, organization_id: str | None = None) -> Org:
    org_id = organization_id or str(uuid.uuid4())
    assert main(["webhook-secret", "--organization", org_id, "--slug", slug]) == 0
    secret = capsys.readouterr().out.strip()
    return Org(id=org_id, slug=slug, secret=secret)


def lead(org: Org, **fields: Any) -> dict[str, Any]:
    body = {
        "organization": org.slug,
        "name": "Ana Souza",
        "email": "ana@example.com",
        "phone": "+55 11 91234-5678",
        "campaign_id": "120200000001",
        "ad_id": "120200000099",
        "ad_set_id": "120200000050",
        "utm_source": "facebook",
        "utm_medium": "paid_social",
        "utm_campaign": "black-friday",
        "fbclid": "IwAR0abc_DEF-123",
        "touchpoints": [
            {"timestamp": "2026-11-20T10:00:00Z", "channel": "paid_social", "campaign_id": "120200000001"},
            {"timestamp": "2026-11-21T09:30:00-03:00", "channel": "email", "source": "newsletter"},
        ],
    }
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None}


def crm_rows(crm_url: str, query: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(crm_url) as conn:
        return conn.execute(query, params).fetchall()


def counts(crm_url: str) -> tuple[int, int, int]:
    row = crm_rows(
        crm_url,
        "SELECT (SELECT count(*) FROM leads), (SELECT count(*) FROM contacts), (SELECT count(*) FROM webhook_requests)",
    )[0]
    return row[0], row[1], row[2]
