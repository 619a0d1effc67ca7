"""Webhook signing secrets at rest (AES-GCM under HYPERDASH_SECRET_KEY, key rotation) and v2 signatures.

The CRM holds only ciphertext bound to its organization; the webhook verifies with the key from the
environment; a key rotation re-encrypts every row; v2 signs the Idempotency-Key and v1 verifies only
until its retirement date.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.testclient import TestClient

from hyperdash_pipeline.cli import main
from hyperdash_pipeline.security.secrets import SECRET_KEY_VAR, Keyring, SecretKeyError, new_key
from hyperdash_pipeline.webhook.app import create_app
from hyperdash_pipeline.webhook.config import WebhookConfig
from hyperdash_pipeline.webhook.signing import signed_headers
from tests.support.webhook import JSON, Org, counts, create_source, crm_rows, lead

KEY_A, KEY_B = new_key(), new_key()


@given(secret=st.binary(min_size=16, max_size=200), organization=st.uuids(), other=st.uuids())
def test_a_sealed_secret_opens_only_for_its_organization_and_key(
    secret: bytes, organization: uuid.UUID, other: uuid.UUID
) -> None:
    keyring = Keyring.parse(KEY_A)
    sealed = keyring.encrypt(organization, secret)
    assert secret not in sealed and keyring.decrypt(organization, sealed) == secret
    assert Keyring.parse(f"{KEY_B},{KEY_A}").decrypt(organization, sealed) == secret  # during a rotation
    with pytest.raises(SecretKeyError):
        Keyring.parse(KEY_B).decrypt(organization, sealed)
    if other != organization:
        with pytest.raises(SecretKeyError):  # a ciphertext copied onto another organization's row
            keyring.decrypt(other, sealed)


def test_malformed_keys_are_refused_with_the_variable_named() -> None:
    for bad in ("", "not base64!", new_key()[:20]):
        with pytest.raises(SecretKeyError, match=SECRET_KEY_VAR):
            Keyring.parse(bad)


def _post(client: TestClient, org: Org, **kw: Any) -> Any:
    raw = json.dumps(lead(org, email=f"{uuid.uuid4().hex[:8]}@example.com")).encode()
    return client.post("/webhooks/leads", content=raw, headers=signed_headers(org.secret, raw, content_type=JSON, **kw))


def test_the_crm_holds_no_usable_secret_and_a_key_rotation_keeps_verifying(
    databases: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_KEY_VAR, KEY_A)
    org = create_source(capsys, "acme")
    (stored,) = crm_rows(databases.crm_url, "SELECT secret::text, secret FROM webhook_sources")
    assert org.secret not in stored[0] and org.secret.encode() not in bytes(stored[1])  # what a dump would carry
    config = WebhookConfig(crm_url=databases.crm_url)

    def accepted(setting: str) -> int:
        with TestClient(create_app(config, Keyring.parse(setting))) as client:
            return int(_post(client, org).status_code)

    assert accepted(KEY_A) == 201
    assert accepted(KEY_B) == 401  # the wrong key opens nothing: the organization cannot be verified
    assert accepted(f"{KEY_B},{KEY_A}") == 201  # rotation: new key first, old one still opens
    monkeypatch.setenv(SECRET_KEY_VAR, f"{KEY_B},{KEY_A}")
    assert main(["webhook-reencrypt"]) == 0
    assert "re-encrypted 1 of 1" in capsys.readouterr().out
    assert accepted(KEY_B) == 201  # the old key can go now
    assert accepted(KEY_A) == 401


def test_a_secret_stored_before_encryption_verifies_until_reencrypted(
    databases: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_KEY_VAR, KEY_A)
    org = create_source(capsys, "acme")
    crm_rows(  # the plaintext form every secret had before
        databases.crm_url,
        "UPDATE webhook_sources SET secret = convert_to(%s, 'UTF8') RETURNING 1",
        (org.secret,),
    )
    with TestClient(create_app(WebhookConfig(crm_url=databases.crm_url), Keyring.parse(KEY_A))) as client:
        assert _post(client, org).status_code == 201
    assert main(["webhook-reencrypt"]) == 0
    (stored,) = crm_rows(databases.crm_url, "SELECT secret FROM webhook_sources")
    assert org.secret.encode() not in bytes(stored[0])


def test_v2_signs_the_idempotency_key_and_v1_retires_on_its_date(databases: Any, capsys: Any) -> None:
    org = create_source(capsys, "acme")
    raw = json.dumps(lead(org)).encode()
    v2 = signed_headers(org.secret, raw, content_type=JSON, idempotency_key="k1")
    with TestClient(create_app(WebhookConfig(crm_url=databases.crm_url))) as client:
        swapped = client.post("/webhooks/leads", content=raw, headers={**v2, "idempotency-key": "k2"})
        genuine = client.post("/webhooks/leads", content=raw, headers=v2)
        v1 = _post(client, org, version=1)
    assert (swapped.status_code, genuine.status_code, v1.status_code) == (401, 201, 201)
    retired = WebhookConfig(crm_url=databases.crm_url, v1_signatures_until=dt.date.today() - dt.timedelta(days=1))
    with TestClient(create_app(retired)) as client:
        late_v1 = _post(client, org, version=1)
        still_v2 = _post(client, org)
    assert late_v1.status_code == 401 and late_v1.json()["error"]["code"] == "signature_version_retired"
    assert still_v2.status_code == 201
    assert counts(databases.crm_url)[0] == 3
