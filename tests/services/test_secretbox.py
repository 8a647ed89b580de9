import pytest

from backend.services.shared.secretbox import SecretBox, SecretBoxError


def test_round_trip_and_fresh_nonce_each_time():
    box = SecretBox("k" * 40)
    first, second = box.encrypt("whsec_abc", "webhook"), box.encrypt("whsec_abc", "webhook")
    assert first != second
    assert b"whsec_abc" not in first
    assert box.decrypt(first, "webhook") == box.decrypt(second, "webhook") == "whsec_abc"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda box, blob: SecretBox("other-key" * 5).decrypt(blob, "webhook"),
        lambda box, blob: box.decrypt(blob, "api-key"),
        lambda box, blob: box.decrypt(blob[:-1] + bytes([blob[-1] ^ 1]), "webhook"),
        lambda box, blob: box.decrypt(b"garbage", "webhook"),
    ],
)
def test_wrong_key_purpose_or_tampering_is_refused(tamper):
    box = SecretBox("k" * 40)
    with pytest.raises(SecretBoxError):
        tamper(box, box.encrypt("whsec_abc", "webhook"))
