"""The LTI tool's RSA keys: the JWKS the platforms read, what a key signs and how a third party
checks it, rotation (the next key listed before it signs, a retired key listed while what it signed
can still be checked), the private half encrypted at rest, and the operator's and scheduler's entry points."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet

from backend.services.lti import keys, maintenance
from backend.services.shared.secretbox import SecretBoxError
from tests.support import rows

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth"}


def served_jwks(client) -> dict:
    response = client.get("/lti/jwks.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.get_json()


def kids(client) -> list[str]:
    return [key["kid"] for key in served_jwks(client)["keys"]]


def tool_keys(app) -> keys.ToolKeys:
    return app.extensions["questbridge"].lti_keys


def sign(app, **claims) -> str:
    now = int(time.time())
    return tool_keys(app).sign(
        {"iss": "client-1", "aud": "https://canvas.instructure.com", "iat": now, "exp": now + 300} | claims
    )


def rotate(app, db, ahead_seconds: int) -> dict:
    with db.transaction("service_role") as conn:
        result = keys.rotate(conn, app.extensions["questbridge"].secretbox, ahead_seconds=ahead_seconds)
    tool_keys(app).reload()  # what every process does within a minute
    return result


def test_the_jwks_lists_one_rsa_signing_key_with_its_kid(client):
    response = client.get("/lti/jwks.json")
    assert response.headers["Cache-Control"] == "public, max-age=300"
    (key,) = served_jwks(client)["keys"]
    assert (key["kty"], key["alg"], key["use"]) == ("RSA", "RS256", "sig")
    assert key["kid"] and key["e"] == "AQAB"
    assert len(base64.urlsafe_b64decode(key["n"] + "==")) * 8 == keys.KEY_BITS
    assert not PRIVATE_MEMBERS & key.keys()
    assert kids(client) == [key["kid"]]  # generated once, then the same key


def test_a_jwt_it_signs_verifies_against_the_served_jwks(app, client):
    token = sign(app, nonce="n-1")
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS256" and header["typ"] == "JWT"
    key_set = jwt.PyJWKSet.from_dict(served_jwks(client))
    (key,) = [k for k in key_set.keys if k.key_id == header["kid"]]
    claims = jwt.decode(token, key.key, algorithms=["RS256"], audience="https://canvas.instructure.com")
    assert claims["iss"] == "client-1" and claims["nonce"] == "n-1"
    # An independent JOSE library reads the same key set the same way.
    decoded = jose_jwt.decode(token, KeySet.import_key_set(served_jwks(client)), algorithms=["RS256"])
    assert decoded.header["kid"] == header["kid"] and decoded.claims["nonce"] == "n-1"


def test_a_tampered_token_does_not_verify(app, client):
    head, _claims, signature = sign(app).split(".")
    forged = base64.urlsafe_b64encode(json.dumps({"iss": "someone-else"}).encode()).decode().rstrip("=")
    (key,) = jwt.PyJWKSet.from_dict(served_jwks(client)).keys
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(f"{head}.{forged}.{signature}", key.key, algorithms=["RS256"], options={"verify_aud": False})


def test_the_next_key_is_listed_before_it_signs_and_the_old_one_after(app, client, db):
    old_kid = jwt.get_unverified_header(sign(app))["kid"]
    result = rotate(app, db, ahead_seconds=3600)
    assert result["created"] and result["kid"] != old_kid
    assert kids(client) == [old_kid, result["kid"]]
    old_token = sign(app)
    assert jwt.get_unverified_header(old_token)["kid"] == old_kid  # the next key does not sign yet
    assert rotate(app, db, ahead_seconds=0) == result | {"created": False}  # one scheduled key at a time

    (retired,) = rows(db, "select retires_at from public.lti_tool_keys where kid = %s", old_kid)
    (successor,) = rows(db, "select activates_at from public.lti_tool_keys where kid = %s", result["kid"])
    lifetime = keys.SIGNED_LIFETIME_SECONDS + keys.signing_keys.RETIREMENT_LEEWAY_SECONDS
    assert retired["retires_at"] == successor["activates_at"] + timedelta(seconds=lifetime)

    with db.transaction("service_role") as conn:  # an hour later
        conn.execute("update public.lti_tool_keys set activates_at = activates_at - interval '2 hours'")
    tool_keys(app).reload()
    new_token = sign(app)
    assert jwt.get_unverified_header(new_token)["kid"] == result["kid"]
    assert kids(client) == [old_kid, result["kid"]]  # what the old key signed can still be checked
    key_set = {k.key_id: k.key for k in jwt.PyJWKSet.from_dict(served_jwks(client)).keys}
    for token, kid in ((old_token, old_kid), (new_token, result["kid"])):
        jwt.decode(token, key_set[kid], algorithms=["RS256"], options={"verify_aud": False})

    with db.transaction("service_role") as conn:  # once nothing it signed is still valid
        conn.execute(
            "update public.lti_tool_keys set retires_at = now() - interval '1 second' where kid = %s", (old_kid,)
        )
    tool_keys(app).reload()
    assert kids(client) == [result["kid"]]
    with db.transaction("service_role") as conn:
        assert keys.signing_keys.delete_retired(conn, keys.FAMILY) == 1
    assert [r["kid"] for r in rows(db, "select kid from public.lti_tool_keys")] == [result["kid"]]


def test_the_private_key_is_stored_encrypted(app, client, db):
    served_jwks(client)
    (row,) = rows(db, "select * from public.lti_tool_keys")
    stored = bytes(row["private_key_encrypted"])
    assert stored.startswith(b"qb1") and b"PRIVATE KEY" not in stored
    assert not PRIVATE_MEMBERS & row["public_jwk"].keys()
    assert row["algorithm"] == "RS256"
    box = app.extensions["questbridge"].secretbox
    assert box.decrypt(stored, keys.SECRET_PURPOSE).startswith("-----BEGIN PRIVATE KEY-----")
    with pytest.raises(SecretBoxError):
        box.decrypt(stored, "oauth-signing-key")  # bound to its purpose: not usable as another key


def test_the_tool_keys_are_not_the_oauth_keys(client):
    lti = served_jwks(client)["keys"]
    oauth = client.get("/.well-known/jwks.json").get_json()["keys"]
    # The OAuth key set holds EC access-token keys and RSA id_token keys: none of them is a tool key.
    assert {k["kty"] for k in lti} == {"RSA"} and "EC" in {k["kty"] for k in oauth}
    assert not {k["kid"] for k in oauth} & {k["kid"] for k in lti}


def test_the_cli_publishes_the_next_key_ahead(app, client, db):
    first = kids(client)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["lti", "rotate-keys", "--ahead", "7200"])
    assert result.exit_code == 0, result.output
    (stored,) = rows(db, "select kid, activates_at from public.lti_tool_keys where kid <> %s", first[0])
    assert stored["kid"] in result.output and "scheduled" in result.output
    assert stored["activates_at"] > datetime.now(UTC) + timedelta(seconds=7100)
    assert json.loads(result.output.splitlines()[-1])["kid"] == stored["kid"]
    assert "already scheduled" in runner.invoke(args=["lti", "rotate-keys"]).output
    assert runner.invoke(args=["lti", "rotate-keys", "--ahead", "-1"]).exit_code != 0


def test_the_scheduled_job_rotates_when_due_and_deletes_retired_keys(make_app, db):
    app = make_app(lti_key_rotation_days=1, lti_key_publish_ahead_seconds=600)
    runtime = app.extensions["questbridge"]
    first = maintenance.run(runtime.db, runtime.secretbox, runtime.config)
    assert first == {"keys_retired": 0, "key_scheduled": None, "states_deleted": 0}  # a fresh key is not due
    with runtime.db.transaction("service_role") as conn:
        conn.execute("update public.lti_tool_keys set activates_at = activates_at - interval '2 days'")
    due = maintenance.run(runtime.db, runtime.secretbox, runtime.config)
    (pending,) = rows(runtime.db, "select kid, activates_at from public.lti_tool_keys where activates_at > now()")
    assert due["key_scheduled"] == pending["kid"]
    assert pending["activates_at"] > datetime.now(UTC) + timedelta(seconds=550)
    with runtime.db.transaction("service_role") as conn:
        conn.execute(
            "update public.lti_tool_keys set activates_at = now() - interval '1 hour',"
            " retires_at = now() - interval '1 minute' where kid <> %s",
            (pending["kid"],),
        )
    assert maintenance.run(runtime.db, runtime.secretbox, runtime.config)["keys_retired"] == 1


def test_the_scheduler_runs_the_lti_job(app):
    from apscheduler.schedulers.background import BackgroundScheduler

    from backend.scheduler import add_jobs

    job = add_jobs(BackgroundScheduler(timezone="UTC"), app.extensions["questbridge"]).get_job("lti_maintenance")
    assert job is not None and job.func is maintenance.run and job.trigger.interval == timedelta(minutes=10)
