"""Standard Webhooks signing, checked against the independent `standardwebhooks` package."""

import json
import math
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from backend.services.webhooks import signing

BODY = json.dumps({"id": "evt_1", "type": "task.completed", "data": {"xp": 10}}).encode()


def test_generated_secret_has_prefix_and_32_random_bytes():
    secret = signing.generate_secret()
    assert secret.startswith("whsec_")
    assert len(signing.secret_key(secret)) == 32
    assert secret != signing.generate_secret()


def test_our_headers_verify_with_the_standardwebhooks_package():
    secret = signing.generate_secret()
    headers = signing.headers([secret], "msg_123", BODY)
    assert Webhook(secret).verify(BODY, headers) == json.loads(BODY)


def test_the_standardwebhooks_package_signature_verifies_with_ours():
    secret = signing.generate_secret()
    now = int(time.time())
    signature = Webhook(secret).sign("msg_9", datetime.fromtimestamp(now, UTC), BODY.decode())
    headers = {"webhook-id": "msg_9", "webhook-timestamp": str(now), "webhook-signature": signature}
    signing.verify(BODY, headers, secret)


def test_rotation_sends_both_signatures_and_each_secret_verifies():
    old, new = signing.generate_secret(), signing.generate_secret()
    headers = signing.headers([new, old], "msg_rot", BODY)
    assert len(headers["webhook-signature"].split()) == 2
    for secret in (old, new):
        Webhook(secret).verify(BODY, headers)
        signing.verify(BODY, headers, [secret])
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.generate_secret()).verify(BODY, headers)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda h, b: (h, b + b" "), "no signature matches"),
        (lambda h, b: ({**h, "webhook-id": "other"}, b), "no signature matches"),
        (lambda h, b: ({**h, "webhook-timestamp": str(int(time.time()) - 301)}, b), "too old"),
        (lambda h, b: ({**h, "webhook-timestamp": str(math.ceil(time.time()) + 301)}, b), "future"),
        (lambda h, b: ({**h, "webhook-timestamp": "soon"}, b), "unix time"),
        (lambda h, b: ({k: v for k, v in h.items() if k != "webhook-signature"}, b), "missing"),
        (lambda h, b: ({**h, "webhook-signature": "v2," + h["webhook-signature"][3:]}, b), "no signature matches"),
    ],
)
def test_verify_rejects_tampering_and_stale_timestamps(change, message):
    secret = signing.generate_secret()
    headers, body = change(signing.headers([secret], "msg_1", BODY), BODY)
    with pytest.raises(signing.VerificationError, match=message):
        signing.verify(body, headers, [secret])


def test_verify_accepts_header_names_in_any_case():
    secret = signing.generate_secret()
    headers = {k.upper(): v for k, v in signing.headers([secret], "msg_case", BODY).items()}
    signing.verify(BODY, headers, secret)


def test_a_secret_that_is_not_base64_is_refused():
    with pytest.raises(ValueError, match="base64"):
        signing.secret_key("whsec_not base64!")
