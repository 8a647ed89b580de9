"""The verification schemes on their own: hex HMAC, Stripe-style and Standard Webhooks."""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import UTC, datetime

import pytest
import stripe
from standardwebhooks.webhooks import Webhook

from backend.services.inbound import signatures as sig

BODY = b'{"id": "evt_1", "type": "invoice.paid"}'


def test_hex_hmac_accepts_any_configured_secret_and_either_case():
    digest = hmac.new(b"second", BODY, hashlib.sha256).hexdigest()
    sig.verify_hmac_hex(BODY, digest, ["first", "second"])
    sig.verify_hmac_hex(BODY, "SHA256=" + digest.upper(), ["first", "second"])
    with pytest.raises(sig.SignatureRefused, match="does not match"):
        sig.verify_hmac_hex(BODY + b" ", digest, ["first", "second"])
    with pytest.raises(sig.SignatureRefused, match="missing"):
        sig.verify_hmac_hex(BODY, "   ", ["first"])


def test_our_stripe_signature_is_the_one_stripes_library_verifies():
    now = int(time.time())
    header = f"t={now},v1={sig.stripe_signature('whsec_x', now, BODY)}"
    stripe.WebhookSignature.verify_header(BODY, header, "whsec_x", tolerance=300)
    assert sig.verify_stripe(BODY, header, ["whsec_y", "whsec_x"], 300).sent_at == now


@pytest.mark.parametrize(
    "header",
    ["", "v1=abc", "t=,v1=abc", "t=12x,v1=abc", "t=1", "t=1,v1=", "garbage", "t=²,v1=aa", "t=" + "9" * 5000 + ",v1=aa"],
)
def test_malformed_stripe_headers_are_refused(header):
    with pytest.raises(sig.SignatureRefused):
        sig.verify_stripe(BODY, header, ["whsec_x"], 300)


def test_stripe_freshness_is_checked_both_ways_after_the_signature():
    now = 1_800_000_000
    for offset, message in ((-301, "old"), (301, "future")):
        header = f"t={now + offset},v1={sig.stripe_signature('k', now + offset, BODY)}"
        with pytest.raises(sig.StaleTimestamp, match=message):
            sig.verify_stripe(BODY, header, ["k"], 300, now=now)
    # A forged old header is refused as a forgery, not as merely stale.
    with pytest.raises(sig.SignatureRefused) as refused:
        sig.verify_stripe(BODY, f"t={now - 900},v1=00", ["k"], 300, now=now)
    assert not isinstance(refused.value, sig.StaleTimestamp)


def test_standard_webhooks_messages_from_the_reference_library_verify():
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    at = datetime.now(UTC)
    headers = {
        "Webhook-Id": "msg_1",
        "Webhook-Timestamp": str(int(at.timestamp())),
        "Webhook-Signature": Webhook(secret).sign("msg_1", at, BODY.decode()),
    }
    verified = sig.verify_standard(BODY, headers, [secret], 300)
    assert verified.message_id == "msg_1" and verified.sent_at == int(at.timestamp())
    with pytest.raises(sig.StaleTimestamp):
        sig.verify_standard(BODY, headers, [secret], 300, now=at.timestamp() + 301)
    with pytest.raises(sig.SignatureRefused):
        sig.verify_standard(BODY + b"x", headers, [secret], 300)


def test_a_refusal_never_carries_a_secret_or_a_signature():
    digest = hmac.new(b"top-secret", BODY, hashlib.sha256).hexdigest()
    with pytest.raises(sig.SignatureRefused) as refused:
        sig.verify_hmac_hex(BODY + b"!", digest, ["top-secret"])
    assert "top-secret" not in refused.value.reason and digest not in refused.value.reason
