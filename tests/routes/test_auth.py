"""Identity over real HTTP: login, sessions, bearer tokens (ours, Supabase HS256 and JWKS), throttling,
password changes and admin-triggered resets delivered through a real SMTP server."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from tests.mail import INVITATION_LINK, RESET_LINK, free_port, link_token, running_inbox
from tests.support import assert_problem, csrf_header

DEFAULT_PASSWORD = "correct horse battery staple"  # World.user()'s password
JWT_SECRET = "test-jwt-secret-" + "y" * 32  # what make_config gives every app
NEW_PASSWORD = "a brand new passphrase 42"


def audit_rows(db, action_prefix: str = "auth.") -> list[dict]:
    with db.transaction("service_role") as conn:
        return conn.execute(
            "select action, actor_id, target_id, host(ip) as ip, metadata from public.audit_log "
            "where action like %s order by id",
            (action_prefix + "%",),
        ).fetchall()


def supabase_claims(user_id=None, **overrides) -> dict:
    now = int(time.time())
    claims = {
        "iss": "https://project.supabase.co/auth/v1",
        "sub": str(user_id or uuid.uuid4()),
        "aud": "authenticated",
        "role": "authenticated",
        "email": "supabase-user@example.test",
        "iat": now,
        "exp": now + 600,
        "session_id": str(uuid.uuid4()),  # Supabase's own session, unknown to us
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


# --- a real SMTP server ------------------------------------------------------------------------


@pytest.fixture
def smtp_server():
    with running_inbox() as inbox:
        yield inbox


@pytest.fixture
def mail_app(make_app, smtp_server):
    return make_app(smtp_host="127.0.0.1", smtp_port=smtp_server.port, smtp_starttls=False)


def reset_token_from(message) -> str:
    return link_token(message, RESET_LINK)


# --- login -------------------------------------------------------------------------------------


def test_login_returns_a_bearer_token_and_an_httponly_lax_session_cookie(client, world):
    user = world.user()

    response = client.post("/api/auth/login", json={"email": user["email"], "password": DEFAULT_PASSWORD})

    assert response.status_code == 200
    body = response.get_json()
    assert body["token_type"] == "Bearer"
    assert isinstance(body["access_token"], str) and body["access_token"].count(".") == 2
    assert body["expires_in"] == 3600
    assert body["user"] == {"id": str(user["id"]), "email": user["email"]}
    assert response.headers["Cache-Control"] == "no-store"
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("qb_session="))
    attributes = [part.strip().lower() for part in cookie.split(";")]
    assert "httponly" in attributes
    assert "samesite=lax" in attributes
    assert "path=/" in attributes
    claims = jwt.decode(body["access_token"], JWT_SECRET, algorithms=["HS256"], audience="authenticated")
    assert claims["sub"] == str(user["id"])
    assert claims["role"] == "authenticated"
    assert claims["email"] == user["email"]


def test_session_cookie_is_secure_when_configured(make_app, world):
    app = make_app(session_cookie_secure=True)
    user = world.user()
    response = app.test_client().post("/api/auth/login", json={"email": user["email"], "password": DEFAULT_PASSWORD})
    cookie = response.headers["Set-Cookie"].lower()
    assert "; secure" in cookie


@pytest.mark.parametrize(
    "typed",
    [
        pytest.param(lambda e: e, id="as-registered"),
        pytest.param(lambda e: e.upper(), id="upper-case"),
        pytest.param(lambda e: f"  {e} ", id="surrounding-spaces"),
    ],
)
def test_login_email_is_case_and_space_insensitive(client, world, typed):
    user = world.user(email="Mixed.Case@Example.test")
    response = client.post("/api/auth/login", json={"email": typed(user["email"]), "password": DEFAULT_PASSWORD})
    assert response.status_code == 200
    assert response.get_json()["user"]["id"] == str(user["id"])


def test_wrong_password_and_unknown_email_get_the_same_401(client, world):
    user = world.user()

    wrong_password = client.post("/api/auth/login", json={"email": user["email"], "password": "not the password"})
    unknown_email = client.post("/api/auth/login", json={"email": "nobody@example.test", "password": "whatever"})

    for response in (wrong_password, unknown_email):
        assert_problem(response, 401, slug="unauthorized")
        assert "Set-Cookie" not in response.headers
    assert wrong_password.get_json() == unknown_email.get_json()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"password": DEFAULT_PASSWORD}, "email"),
        ({"email": "someone@example.test"}, "password"),
        ({"email": "someone@example.test", "password": ""}, "password"),
        ({"email": 42, "password": DEFAULT_PASSWORD}, "email"),
        ({"email": "someone@example.test", "password": ["list"]}, "password"),
    ],
)
def test_login_validation_names_the_field(client, body, field):
    problem = assert_problem(client.post("/api/auth/login", json=body), 422, slug="validation-error")
    assert field in problem["errors"]


def test_login_success_and_failure_are_audited(client, world, db):
    user = world.user()

    client.post(
        "/api/auth/login",
        json={"email": user["email"], "password": "wrong one"},
        headers={"User-Agent": "audit-test/1"},
    )
    client.post("/api/auth/login", json={"email": "ghost@example.test", "password": "whatever"})
    client.post("/api/auth/login", json={"email": user["email"], "password": DEFAULT_PASSWORD})

    rows = audit_rows(db, "auth.login")
    assert [r["action"] for r in rows] == ["auth.login_failed", "auth.login_failed", "auth.login_succeeded"]
    assert rows[0]["actor_id"] == user["id"] and rows[0]["metadata"]["email"] == user["email"]
    # An email no account has is not recorded: it may be anything the person typed.
    assert rows[1]["actor_id"] is None and rows[1]["metadata"] == {"reason": "invalid_credentials"}
    assert "ghost" not in json.dumps(rows[1], default=str)
    assert rows[2]["actor_id"] == user["id"] and rows[2]["target_id"] == str(user["id"])
    assert all(r["ip"] == "127.0.0.1" for r in rows)
    assert "wrong one" not in json.dumps([r["metadata"] for r in rows])


# --- throttling --------------------------------------------------------------------------------


def _login(client, email, password, ip="127.0.0.1", headers=None):
    return client.post(
        "/api/auth/login",
        json={"email": email, "password": password},
        environ_base={"REMOTE_ADDR": ip},
        headers=headers or {},
    )


def test_an_attackers_address_cannot_lock_the_owner_out_from_another(make_app, world, db):
    app = make_app(login_max_failures_per_email=3, login_max_failures_per_ip=100, login_window_seconds=600)
    victim, bystander = world.user(), world.user()
    attacker = app.test_client()

    statuses = [_login(attacker, victim["email"], f"guess {n}", "198.51.100.66").status_code for n in range(8)]
    assert statuses == [401] * 3 + [429] * 5
    # The attacker's address stays refused for the window, even with the right password...
    locked = _login(attacker, victim["email"].upper(), DEFAULT_PASSWORD, "198.51.100.66")
    assert_problem(locked, 429, slug="rate-limited")
    assert 1 <= int(locked.headers["Retry-After"]) <= 600
    assert "Set-Cookie" not in locked.headers
    # ...while the owner, from their own address, signs in at once.
    assert _login(app.test_client(), victim["email"], DEFAULT_PASSWORD, "203.0.113.20").status_code == 200
    # And the attacker's address may still sign in to other accounts.
    assert _login(attacker, bystander["email"], DEFAULT_PASSWORD, "198.51.100.66").status_code == 200

    throttles = audit_rows(db, "auth.login_throttled")
    assert len(throttles) == 6
    assert {r["metadata"]["scope"] for r in throttles} == {"email_ip"}
    assert {r["ip"] for r in throttles} == {"198.51.100.66"}


def _botnet_guesses(client, email, seconds, drip):
    """Wrong guesses at `email`, each from another address behind our trusted proxy, for `seconds`
    and then until one more guess is checked (the drip's next slot is then a whole drip away), or
    for at most two drips more."""
    outcomes, start, n = [], time.monotonic(), 0
    while True:
        n += 1
        response = _login(client, email, f"guess {n}", "10.0.0.2", {"X-Forwarded-For": f"198.51.{n // 250}.{n % 250}"})
        outcomes.append(response)
        elapsed = time.monotonic() - start
        if elapsed > seconds and (response.status_code == 401 or elapsed > seconds + 2 * drip):
            return outcomes, elapsed


def test_a_distributed_guesser_is_slowed_to_the_drip_and_the_owner_gets_in_after_a_short_wait(make_app, world, db):
    from backend.config import _networks

    ceiling, drip = 5, 2
    app = make_app(
        login_max_failures_per_email=3,
        login_email_ceiling=ceiling,
        login_email_drip_seconds=drip,
        trusted_proxies=_networks("TRUSTED_PROXIES", "10.0.0.0/8"),
    )
    victim = world.user()

    outcomes, elapsed = _botnet_guesses(app.test_client(), victim["email"], 3 * drip, drip)
    checked = [r for r in outcomes if r.status_code == 401]
    refused = [r for r in outcomes if r.status_code == 429]
    assert len(checked) + len(refused) == len(outcomes)
    # The ceiling at once, then one guess per drip: a delay, never a lock...
    assert ceiling + 3 <= len(checked) <= ceiling + elapsed / drip
    # ...answered with a short Retry-After, never the window's.
    assert refused and all(1 <= int(r.headers["Retry-After"]) <= drip for r in refused)

    owner = app.test_client()
    waiting = _login(owner, victim["email"], DEFAULT_PASSWORD, "203.0.113.20")
    assert_problem(waiting, 429, slug="rate-limited")
    wait = int(waiting.headers["Retry-After"])
    assert wait <= drip
    time.sleep(wait)
    assert _login(owner, victim["email"], DEFAULT_PASSWORD, "203.0.113.20").status_code == 200

    throttles = audit_rows(db, "auth.login_throttled")
    assert {r["metadata"]["scope"] for r in throttles} == {"email"}
    assert len({r["ip"] for r in throttles}) == len(throttles)  # one address each, and the owner's
    assert "203.0.113.20" in {r["ip"] for r in throttles}


def _device_cookie(response) -> str:
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("qb_device="))
    attributes = [part.strip().lower() for part in cookie.split(";")]
    assert {"httponly", "samesite=lax", "path=/"} <= set(attributes)
    return cookie.split(";", 1)[0].split("=", 1)[1]


def test_a_browser_that_signed_in_before_skips_the_ceiling_a_botnet_has_reached(make_app, world):
    app = make_app(login_email_ceiling=3, login_email_drip_seconds=600)
    victim, other = world.user(), world.user()
    owners_browser = app.test_client()
    signed_in = _login(owners_browser, victim["email"], DEFAULT_PASSWORD, "203.0.113.20")
    assert signed_in.status_code == 200
    assert _login(owners_browser, other["email"], DEFAULT_PASSWORD, "203.0.113.20").status_code == 200
    other_cookie = _device_cookie(_login(owners_browser, other["email"], DEFAULT_PASSWORD, "203.0.113.20"))
    owners_browser.set_cookie("qb_device", _device_cookie(signed_in))

    botnet = app.test_client()
    statuses = [_login(botnet, victim["email"], "guess", f"198.51.100.{n}").status_code for n in range(6)]
    assert statuses == [401] * 3 + [429] * 3

    # A browser the account never signed in from waits for the drip (ten minutes here)...
    assert _login(app.test_client(), victim["email"], DEFAULT_PASSWORD, "203.0.113.21").status_code == 429
    # ...so does one holding another account's cookie, or a forged one...
    for cookie in (other_cookie, "forged.1700000000.c2lnbmF0dXJl", _device_cookie(signed_in) + "x"):
        browser = app.test_client()
        browser.set_cookie("qb_device", cookie)
        assert _login(browser, victim["email"], DEFAULT_PASSWORD, "203.0.113.22").status_code == 429
    # ...but the owner's own browser gets in at once, from wherever it is now.
    assert _login(owners_browser, victim["email"], DEFAULT_PASSWORD, "192.0.2.99").status_code == 200


def test_a_stolen_device_cookie_gets_a_lockout_of_its_own(make_app, world, db):
    app = make_app(login_max_failures_per_email=3, login_email_ceiling=3, login_email_drip_seconds=600)
    victim = world.user()
    cookie = _device_cookie(_login(app.test_client(), victim["email"], DEFAULT_PASSWORD, "203.0.113.20"))
    thief = app.test_client()
    thief.set_cookie("qb_device", cookie)

    statuses = [_login(thief, victim["email"], f"guess {n}", f"198.51.100.{n}").status_code for n in range(5)]
    assert statuses == [401] * 3 + [429] * 2
    assert _login(thief, victim["email"], DEFAULT_PASSWORD, "198.51.100.9").status_code == 429
    # The thief's guesses spent none of the allowance strangers share.
    assert _login(app.test_client(), victim["email"], DEFAULT_PASSWORD, "203.0.113.21").status_code == 200
    assert [r["metadata"]["scope"] for r in audit_rows(db, "auth.login_throttled")] == ["device"] * 3


@pytest.mark.parametrize(
    "typed",
    [
        pytest.param("correct horse battery staple", id="a-password-in-the-email-field"),
        pytest.param("nobody@example.test", id="an-email-no-account-has"),
    ],
)
def test_a_failed_sign_in_records_nothing_typed_that_is_not_an_accounts_email(make_app, world, db, typed):
    app = make_app(login_max_failures_per_email=2)
    client = app.test_client()
    for _ in range(3):
        client.post("/api/auth/login", json={"email": typed, "password": "whatever it was"})

    rows = audit_rows(db, "auth.login")
    assert [r["action"] for r in rows] == ["auth.login_failed"] * 2 + ["auth.login_throttled"]
    assert [r["metadata"] for r in rows] == [{"reason": "invalid_credentials"}] * 2 + [{"scope": "email_ip"}]
    with db.transaction("service_role") as conn:
        stored = conn.execute(
            "select to_jsonb(a) as row from public.audit_log a union all"
            " select to_jsonb(c) from public.rate_limit_counters c union all"
            " select to_jsonb(p) from public.rate_limit_paces p"
        ).fetchall()
    assert len(stored) == 3 + 2 + 1
    assert all(typed.split("@")[0] not in json.dumps(row["row"]) for row in stored)


def test_a_failed_sign_in_records_the_accounts_own_email_as_the_account_stores_it(make_app, world, db):
    app = make_app(login_max_failures_per_email=1)
    user = world.user(email="Ada.Lovelace@Example.test")
    for _ in range(2):
        app.test_client().post("/api/auth/login", json={"email": "  ADA.LOVELACE@example.TEST ", "password": "nope"})

    rows = audit_rows(db, "auth.login")
    assert [(r["action"], r["target_id"]) for r in rows] == [
        ("auth.login_failed", str(user["id"])),
        ("auth.login_throttled", str(user["id"])),
    ]
    assert [r["metadata"]["email"] for r in rows] == ["Ada.Lovelace@Example.test"] * 2


def test_parallel_guesses_cannot_outrun_the_limit(make_app, world):
    """Each guess is counted before its (slow) check: ten at once against a limit of three get three
    answers and seven refusals, however the requests interleave."""
    app = make_app(login_max_failures_per_email=3, login_max_failures_per_ip=1000, pool_max_size=12)
    victim = world.user()
    barrier = threading.Barrier(10)

    def guess(_):
        client = app.test_client()
        barrier.wait(10)
        return _login(client, victim["email"], "wrong guess", "198.51.100.9").status_code

    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = sorted(pool.map(guess, range(10)))
    assert statuses == [401] * 3 + [429] * 7


def test_a_right_password_is_not_counted_as_a_failure(make_app, world):
    app = make_app(login_max_failures_per_email=3, login_max_failures_per_ip=1000)
    client = app.test_client(use_cookies=False)  # no device cookie: every guess counts where the first did
    user = world.user()
    statuses = [
        _login(client, user["email"], password, "198.51.100.9").status_code
        for password in ("wrong 1", "wrong 2", DEFAULT_PASSWORD, "wrong 3", "wrong 4")
    ]
    assert statuses == [401, 401, 200, 401, 429]


def test_failures_per_address_are_throttled_across_emails(make_app, world, db):
    app = make_app(login_max_failures_per_email=100, login_max_failures_per_ip=3)
    client = app.test_client()
    user = world.user()

    for n in range(3):
        assert _login(client, f"spray-{n}@example.test", "guess", "192.0.2.10").status_code == 401

    throttled = _login(client, user["email"], DEFAULT_PASSWORD, "192.0.2.10")
    assert_problem(throttled, 429)
    assert int(throttled.headers["Retry-After"]) >= 1
    assert _login(client, user["email"], DEFAULT_PASSWORD, "192.0.2.11").status_code == 200

    throttles = audit_rows(db, "auth.login_throttled")
    assert [r["metadata"]["scope"] for r in throttles] == ["ip"]
    assert throttles[0]["ip"] == "192.0.2.10"


@pytest.mark.parametrize(
    ("trusted", "peer", "forwarded", "throttled_after_rotation"),
    [
        # An untrusted peer forging X-Forwarded-For stays one address: rotation does not help.
        pytest.param("", "192.0.2.50", "203.0.113.{n}", True, id="forged-header-from-untrusted-peer"),
        # Behind a trusted proxy each forwarded client is counted on its own.
        pytest.param("10.0.0.0/8", "10.1.2.3", "203.0.113.{n}", False, id="clients-behind-trusted-proxy"),
    ],
)
def test_ip_throttle_uses_the_client_address_the_proxies_vouch_for(
    make_app, world, trusted, peer, forwarded, throttled_after_rotation
):
    from backend.config import _networks

    app = make_app(
        login_max_failures_per_ip=2,
        login_max_failures_per_email=100,
        trusted_proxies=_networks("TRUSTED_PROXIES", trusted),
    )
    client = app.test_client()
    user = world.user()
    for n in range(2):
        headers = {"X-Forwarded-For": forwarded.format(n=n)}
        assert _login(client, f"x{n}@example.test", "guess", peer, headers).status_code == 401

    response = _login(client, user["email"], DEFAULT_PASSWORD, peer, {"X-Forwarded-For": forwarded.format(n=99)})
    assert response.status_code == (429 if throttled_after_rotation else 200)


# --- secrets never leak ------------------------------------------------------------------------


def test_no_password_or_token_in_logs_or_responses(make_app, world, capfd):
    app = make_app(log_level="INFO")
    client = app.test_client()
    admin = world.user()
    org = world.organization(admin=admin)
    member = world.add_member(org)

    responses = [
        client.post("/api/auth/login", json={"email": admin["email"], "password": "wrong secret pw"}),
        client.post("/api/auth/login", json={"email": admin["email"], "password": DEFAULT_PASSWORD}),
    ]
    token = responses[-1].get_json()["access_token"]
    cookie = client.get_cookie("qb_session").value
    responses += [
        client.get("/api/auth/me", headers=bearer(token)),
        client.get("/api/auth/me"),
        client.post(f"/api/organizations/{org['id']}/members/{member['id']}/password-reset", headers=bearer(token)),
        client.post("/api/organizations/not-a-uuid", headers=bearer(token)),
    ]
    first = capfd.readouterr()
    reset_token = RESET_LINK.search(first.err).group(2)  # the console mailer, deliberately not a log line
    responses += [
        client.post("/api/auth/password-reset", json={"token": reset_token, "password": NEW_PASSWORD}),
        client.post(
            "/api/auth/password",
            json={"current_password": DEFAULT_PASSWORD, "new_password": "another new passphrase 7"},
            headers=bearer(token),
        ),
    ]
    second = capfd.readouterr()
    log_text = first.out + second.out + second.err

    assert '"event": "request"' in log_text  # the request log is on, so absence below means something
    secrets = (
        DEFAULT_PASSWORD,
        "wrong secret pw",
        NEW_PASSWORD,
        "another new passphrase 7",
        token,
        cookie,
        reset_token,
    )
    for secret in secrets:
        assert secret not in log_text
    for response in responses:
        text = response.get_data(as_text=True)
        for secret in (DEFAULT_PASSWORD, "wrong secret pw", NEW_PASSWORD, "another new passphrase 7", reset_token):
            assert secret not in text


# --- sessions, logout and /me ------------------------------------------------------------------


def test_me_by_bearer_and_by_cookie_lists_organizations_with_roles(client, world, auth):
    user = world.user()
    first = world.organization("Alpha School", admin=user)
    second = world.organization("Beta Works")
    world.add_member(second, user, role="member")
    world.organization("Not mine")

    by_bearer = client.application.test_client().get("/api/auth/me", headers=auth.headers(user))
    assert auth.login(user["email"]).status_code == 200
    by_cookie = client.get("/api/auth/me")

    expected = [
        {"id": str(first["id"]), "name": "Alpha School", "role": "admin"},
        {"id": str(second["id"]), "name": "Beta Works", "role": "member"},
    ]
    for response in (by_bearer, by_cookie):
        assert response.status_code == 200
        body = response.get_json()
        assert body["id"] == str(user["id"])
        assert body["email"] == user["email"]
        assert body["organizations"] == expected


def test_me_without_credentials_is_401(client):
    problem = assert_problem(client.get("/api/auth/me"), 401, slug="unauthorized")
    assert problem["detail"]


def test_logout_revokes_the_cookie_session(client, world, auth, db):
    user = world.user()
    auth.login(user["email"])
    cookie = client.get_cookie("qb_session").value
    assert client.get("/api/auth/me").status_code == 200

    response = client.post("/api/auth/logout", headers=auth.csrf)

    assert response.status_code == 204
    assert client.get_cookie("qb_session") is None
    assert_problem(client.get("/api/auth/me"), 401)
    # The old cookie value itself is dead server-side, not only forgotten by this browser.
    replay = client.application.test_client()
    replay.set_cookie("qb_session", cookie)
    assert_problem(replay.get("/api/auth/me"), 401)
    assert [r["action"] for r in audit_rows(db, "auth.logout")] == ["auth.logout"]


@pytest.mark.parametrize("header", [None, "Bearer not.a.jwt", "Basic abc"])
def test_logout_without_a_session_is_204(client, header):
    headers = {"Authorization": header} if header else {}
    assert client.post("/api/auth/logout", headers=headers).status_code == 204


def test_an_unknown_session_cookie_is_401(client):
    client.set_cookie("qb_session", "forged-session-value")
    assert_problem(client.get("/api/auth/me"), 401)


# --- bearer token validation -------------------------------------------------------------------


def _token_cases():
    now = int(time.time())
    return [
        pytest.param(lambda uid: jwt.encode(supabase_claims(uid, exp=now - 120), JWT_SECRET), id="expired"),
        pytest.param(lambda uid: jwt.encode(supabase_claims(uid), "another-secret-" + "z" * 32), id="bad-signature"),
        pytest.param(lambda uid: jwt.encode(supabase_claims(uid, aud="anon"), JWT_SECRET), id="wrong-aud"),
        pytest.param(lambda uid: jwt.encode(supabase_claims(uid, aud=None), JWT_SECRET), id="no-aud"),
        pytest.param(lambda uid: jwt.encode(supabase_claims(uid, exp=None), JWT_SECRET), id="no-exp"),
        pytest.param(lambda uid: jwt.encode(supabase_claims(uid, role="anon"), JWT_SECRET), id="role-anon"),
        pytest.param(
            lambda uid: jwt.encode(supabase_claims(uid, role="service_role"), JWT_SECRET), id="role-service-role"
        ),
        pytest.param(lambda uid: jwt.encode(supabase_claims(uid, sub="not-a-uuid"), JWT_SECRET), id="sub-not-uuid"),
        pytest.param(lambda uid: jwt.encode(supabase_claims(uid), None, algorithm="none"), id="alg-none"),
        pytest.param(
            lambda uid: jwt.encode(supabase_claims(uid), JWT_SECRET, algorithm="HS512"),
            id="alg-hs512",
            marks=pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning"),
        ),
        pytest.param(lambda uid: jwt.encode(supabase_claims(uid), JWT_SECRET)[:-4] + "AAAA", id="tampered"),
        pytest.param(lambda uid: "not.a.jwt", id="garbage"),
    ]


@pytest.mark.parametrize("make_token", _token_cases())
def test_invalid_bearer_tokens_are_401(client, world, make_token):
    user = world.user()
    response = client.get("/api/auth/me", headers=bearer(make_token(user["id"])))
    problem = assert_problem(response, 401, slug="unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert problem["detail"]


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc.def.ghi", "bearer-abc", "Bearer a b c"],
)
def test_malformed_authorization_headers_are_401(client, header):
    assert_problem(client.get("/api/auth/me", headers={"Authorization": header}), 401)


def test_a_bad_bearer_token_is_not_rescued_by_a_valid_cookie(client, world, auth):
    user = world.user()
    auth.login(user["email"])
    assert_problem(client.get("/api/auth/me", headers=bearer("not.a.jwt")), 401)


def test_supabase_hs256_token_for_a_user_without_a_profile_works_for_me(client):
    user_id = uuid.uuid4()
    token = jwt.encode(supabase_claims(user_id, email="only-in-supabase@example.test"), JWT_SECRET)

    response = client.get("/api/auth/me", headers=bearer(token))

    assert response.status_code == 200
    body = response.get_json()
    assert body["id"] == str(user_id)
    assert body["email"] == "only-in-supabase@example.test"
    assert body["organizations"] == []


def test_supabase_hs256_token_with_the_alias_secret(make_app):
    from backend.config import Config

    config = Config.from_env({"QB_ENV": "test", "SUPABASE_JWT_SECRET": "alias-secret-" + "q" * 40})
    assert config.jwt_secret == "alias-secret-" + "q" * 40
    app = make_app(jwt_secret=config.jwt_secret)
    token = jwt.encode(supabase_claims(), config.jwt_secret)
    assert app.test_client().get("/api/auth/me", headers=bearer(token)).status_code == 200


def _keypair(kind: str):
    if kind == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
        jwk = ECAlgorithm.to_jwk(private.public_key(), as_dict=True)
    else:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)
    return private, jwk


@pytest.fixture(params=["ES256", "RS256"])
def jwks(request, httpserver):
    algorithm = request.param
    private, jwk = _keypair(algorithm)
    kid = f"{algorithm.lower()}-key-1"
    jwk.update(kid=kid, alg=algorithm, use="sig")
    httpserver.expect_request("/auth/v1/.well-known/jwks.json").respond_with_json({"keys": [jwk]})
    return {"algorithm": algorithm, "private": private, "kid": kid, "url": httpserver.url_for("").rstrip("/")}


def test_asymmetric_token_verified_through_supabase_jwks_is_accepted(make_app, jwks, httpserver):
    app = make_app(supabase_url=jwks["url"])
    user_id = uuid.uuid4()
    token = jwt.encode(
        supabase_claims(user_id), jwks["private"], algorithm=jwks["algorithm"], headers={"kid": jwks["kid"]}
    )

    client = app.test_client()
    first = client.get("/api/auth/me", headers=bearer(token))
    second = client.get("/api/auth/me", headers=bearer(token))

    assert first.status_code == 200, first.get_json()
    assert first.get_json()["id"] == str(user_id)
    assert second.status_code == 200
    assert len(httpserver.log) == 1  # the key set is cached, not fetched per request


@pytest.mark.parametrize("same_kid", [True, False], ids=["same-kid", "unknown-kid"])
def test_token_signed_by_another_key_is_refused(make_app, jwks, same_kid):
    app = make_app(supabase_url=jwks["url"])
    other_private, _ = _keypair(jwks["algorithm"])
    kid = jwks["kid"] if same_kid else "someone-elses-key"
    token = jwt.encode(supabase_claims(), other_private, algorithm=jwks["algorithm"], headers={"kid": kid})

    assert_problem(app.test_client().get("/api/auth/me", headers=bearer(token)), 401)


def test_unreachable_jwks_is_503_not_401(make_app):
    app = make_app(supabase_url=f"http://127.0.0.1:{free_port()}")
    private, _ = _keypair("ES256")
    token = jwt.encode(supabase_claims(), private, algorithm="ES256", headers={"kid": "k"})
    response = app.test_client().get("/api/auth/me", headers=bearer(token))
    assert_problem(response, 503)
    assert response.headers["Retry-After"]


@pytest.mark.parametrize(
    ("respond", "status"),
    [
        pytest.param(lambda r: r.respond_with_data("<html>oops</html>", content_type="text/html"), 503, id="not-json"),
        pytest.param(lambda r: r.respond_with_data("down", status=502), 503, id="bad-gateway"),
        pytest.param(lambda r: r.respond_with_json(["not", "a", "set"]), 401, id="not-a-key-set"),
        pytest.param(lambda r: r.respond_with_json({"keys": []}), 401, id="no-keys"),
        pytest.param(lambda r: r.respond_with_json({"keys": [{"kty": "EC", "kid": "k"}]}), 401, id="broken-key"),
    ],
)
def test_a_useless_jwks_answer_never_admits_and_never_500s(make_app, httpserver, respond, status):
    respond(httpserver.expect_request("/auth/v1/.well-known/jwks.json"))
    app = make_app(supabase_url=httpserver.url_for("").rstrip("/"))
    private, _ = _keypair("ES256")
    token = jwt.encode(supabase_claims(), private, algorithm="ES256", headers={"kid": "k"})
    assert_problem(app.test_client().get("/api/auth/me", headers=bearer(token)), status)


def test_asymmetric_token_refused_when_no_supabase_url_is_configured(client):
    private, _ = _keypair("ES256")
    token = jwt.encode(supabase_claims(), private, algorithm="ES256", headers={"kid": "k"})
    assert_problem(client.get("/api/auth/me", headers=bearer(token)), 401)


def test_hs256_token_signed_with_the_public_key_is_refused(make_app, jwks):
    """Algorithm confusion: the JWKS public key must never serve as an HMAC secret."""
    app = make_app(supabase_url=jwks["url"])
    public_pem = (
        jwks["private"]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": jwks["kid"]}
    signing_input = b".".join(base64url(json.dumps(part).encode()) for part in (header, supabase_claims()))
    signature = hmac.new(public_pem, signing_input, hashlib.sha256).digest()
    token = (signing_input + b"." + base64url(signature)).decode()
    assert_problem(app.test_client().get("/api/auth/me", headers=bearer(token)), 401)


def base64url(raw: bytes) -> bytes:
    return base64.urlsafe_b64encode(raw).rstrip(b"=")


# --- must_change_password ----------------------------------------------------------------------


@pytest.mark.parametrize("via", ["bearer", "cookie"])
def test_must_change_password_blocks_everything_but_me_and_password_change(make_app, world, via):
    app = make_app()
    client = app.test_client()
    user = world.user(must_change_password=True)

    login = client.post("/api/auth/login", json={"email": user["email"], "password": DEFAULT_PASSWORD})
    assert login.status_code == 200
    assert login.get_json()["must_change_password"] is True
    headers = bearer(login.get_json()["access_token"]) if via == "bearer" else csrf_header(login)
    if via == "bearer":
        client.delete_cookie("qb_session")

    blocked = client.get("/api/organizations", headers=headers)
    assert_problem(blocked, 403, slug="password-change-required")
    assert_problem(
        client.post("/api/organizations", json={"name": "X"}, headers=headers), 403, slug="password-change-required"
    )
    me = client.get("/api/auth/me", headers=headers)
    assert me.status_code == 200 and me.get_json()["must_change_password"] is True

    changed = client.post(
        "/api/auth/password",
        json={"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD},
        headers=headers,
    )
    assert changed.status_code == 200
    assert changed.get_json()["must_change_password"] is False
    new_headers = bearer(changed.get_json()["access_token"]) if via == "bearer" else csrf_header(changed)

    assert client.get("/api/organizations", headers=new_headers).status_code == 200
    assert client.get("/api/auth/me", headers=new_headers).get_json()["must_change_password"] is False
    assert _login(client, user["email"], DEFAULT_PASSWORD).status_code == 401
    assert _login(client, user["email"], NEW_PASSWORD).status_code == 200


def test_password_change_requires_the_current_password(client, world, auth):
    user = world.user()
    headers = auth.headers(user)
    response = client.post(
        "/api/auth/password", json={"current_password": "not it at all", "new_password": NEW_PASSWORD}, headers=headers
    )
    problem = assert_problem(response, 403)
    assert "current_password" in problem["errors"]
    assert _login(client, user["email"], DEFAULT_PASSWORD).status_code == 200


def test_password_change_revokes_other_sessions(make_app, world):
    app = make_app()
    user = world.user()
    laptop, phone = app.test_client(), app.test_client()
    signed_in = [_login(device, user["email"], DEFAULT_PASSWORD) for device in (laptop, phone)]
    assert [answer.status_code for answer in signed_in] == [200, 200]

    changed = laptop.post(
        "/api/auth/password",
        json={"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD},
        headers=csrf_header(signed_in[0]),
    )

    assert changed.status_code == 200
    assert laptop.get("/api/auth/me").status_code == 200  # the response set a fresh session cookie
    assert laptop.get("/api/auth/me", headers=bearer(changed.get_json()["access_token"])).status_code == 200
    assert_problem(phone.get("/api/auth/me"), 401)


def test_bearer_tokens_end_with_their_session(make_app, world, db):
    """A token is as good as its sign-in: a password change (here or by reset) or a sign-out ends
    the tokens issued before it, not only the cookies, long before they expire."""
    app = make_app()
    user = world.user()
    client = app.test_client(use_cookies=False)
    phone = _login(client, user["email"], DEFAULT_PASSWORD).get_json()["access_token"]
    laptop = _login(client, user["email"], DEFAULT_PASSWORD).get_json()["access_token"]
    assert client.get("/api/auth/me", headers=bearer(phone)).status_code == 200

    changed = client.post(
        "/api/auth/password",
        json={"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD},
        headers=bearer(laptop),
    )
    assert changed.status_code == 200
    for stale in (phone, laptop):
        problem = assert_problem(client.get("/api/auth/me", headers=bearer(stale)), 401)
        assert "session" in problem["detail"]
    fresh = changed.get_json()["access_token"]
    assert client.get("/api/auth/me", headers=bearer(fresh)).status_code == 200

    # Signing out with the bearer token alone ends its session too.
    assert client.post("/api/auth/logout", headers=bearer(fresh)).status_code == 204
    assert_problem(client.get("/api/auth/me", headers=bearer(fresh)), 401)
    assert len(audit_rows(db, "auth.logout")) == 1


def test_a_token_of_ours_without_a_session_is_refused(make_app, world):
    import time as clock

    app = make_app()
    user = world.user()
    config = app.extensions["questbridge"].config
    now = int(clock.time())
    claims = {
        "iss": config.jwt_issuer,
        "sub": str(user["id"]),
        "aud": "authenticated",
        "role": "authenticated",
        "email": user["email"],
        "iat": now,
        "exp": now + 600,
    }
    token = jwt.encode(claims, config.jwt_secret, algorithm="HS256")
    assert_problem(app.test_client().get("/api/auth/me", headers=bearer(token)), 401)


WEAK_PASSWORDS = [
    pytest.param("short1", "at least", id="too-short"),
    pytest.param("aaaaaaaaaaaaaaaa", "too simple", id="too-simple"),
    pytest.param("x" * 200 + "yz12" * 20, "at most", id="too-long"),
]


@pytest.mark.parametrize(("password", "reason"), WEAK_PASSWORDS)
def test_weak_new_password_refused_on_change(client, world, auth, password, reason):
    user = world.user()
    response = client.post(
        "/api/auth/password",
        json={"current_password": DEFAULT_PASSWORD, "new_password": password},
        headers=auth.headers(user),
    )
    problem = assert_problem(response, 422, slug="validation-error")
    assert reason in problem["errors"]["new_password"][0]
    assert _login(client, user["email"], DEFAULT_PASSWORD).status_code == 200


@pytest.mark.parametrize(
    "new_password",
    [pytest.param(lambda u: u["email"].upper(), id="email"), pytest.param(lambda u: u["password"], id="unchanged")],
)
def test_new_password_must_not_be_the_email_or_the_current_one(client, world, auth, new_password):
    user = world.user(email="someone-long-enough@example.test")
    response = client.post(
        "/api/auth/password",
        json={"current_password": DEFAULT_PASSWORD, "new_password": new_password(user)},
        headers=auth.headers(user),
    )
    assert "new_password" in assert_problem(response, 422)["errors"]


# --- password reset by an admin ----------------------------------------------------------------


def bearer_login(app, user: dict) -> dict:
    """Authorization headers for `user`, from a cookie-less client so no session is left behind."""
    response = app.test_client(use_cookies=False).post(
        "/api/auth/login", json={"email": user["email"], "password": user["password"]}
    )
    assert response.status_code == 200, response.get_json()
    return bearer(response.get_json()["access_token"])


@pytest.fixture
def reset_world(mail_app, world):
    admin = world.user()
    org = world.organization(admin=admin)
    member = world.add_member(org)
    return {
        "app": mail_app,
        "org": org,
        "admin": admin,
        "member": member,
        "client": mail_app.test_client(),
        "admin_headers": bearer_login(mail_app, admin),
    }


def _request_reset(ctx):
    return ctx["client"].post(
        f"/api/organizations/{ctx['org']['id']}/members/{ctx['member']['id']}/password-reset",
        headers=ctx["admin_headers"],
    )


def signed_in_as(client, response, email: str) -> None:
    """The answer signed the browser in: the login body, and a session cookie that works."""
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["user"]["email"] == email
    assert response.headers["Cache-Control"] == "no-store"
    assert client.get_cookie("qb_session") is not None
    me = client.get("/api/auth/me")
    assert me.status_code == 200 and me.get_json()["email"] == email
    assert client.get("/api/auth/me", headers=bearer(response.get_json()["access_token"])).status_code == 200


def test_admin_reset_emails_a_single_use_link_and_revokes_sessions(reset_world, smtp_server):
    ctx = reset_world
    member, client = ctx["member"], ctx["client"]
    member_browser = ctx["app"].test_client()
    assert _login(member_browser, member["email"], DEFAULT_PASSWORD).status_code == 200

    response = _request_reset(ctx)

    assert response.status_code == 202
    [message] = smtp_server.wait_for(1)
    assert smtp_server.recipients == [[member["email"]]]
    assert message["To"] == member["email"]
    assert "reset" in message["Subject"].lower()
    token = reset_token_from(message)
    # In the fragment: a browser never sends it to a server, so no access log or Referer holds it.
    assert f"http://127.0.0.1:8000/admin/reset-password#token={token}" in message.get_content()
    assert f"An admin of {ctx['org']['name']} asked" in message.get_content()
    assert token not in response.get_data(as_text=True)

    done = client.post("/api/auth/password-reset", json={"token": token, "password": NEW_PASSWORD})
    signed_in_as(client, done, member["email"])

    again = client.post("/api/auth/password-reset", json={"token": token, "password": "yet another passphrase"})
    assert "token" in assert_problem(again, 400)["errors"]
    assert _login(client, member["email"], DEFAULT_PASSWORD).status_code == 401
    assert _login(client, member["email"], NEW_PASSWORD).status_code == 200
    assert_problem(member_browser.get("/api/auth/me"), 401)


def test_expired_reset_token_is_refused(reset_world, smtp_server):
    ctx = reset_world
    assert _request_reset(ctx).status_code == 202
    token = reset_token_from(smtp_server.wait_for(1)[0])
    with ctx["app"].extensions["questbridge"].db.transaction("service_role") as conn:
        conn.execute(
            "update public.password_reset_tokens set expires_at = now() - interval '1 minute' where user_id = %s",
            (ctx["member"]["id"],),
        )

    response = ctx["client"].post("/api/auth/password-reset", json={"token": token, "password": NEW_PASSWORD})

    assert "token" in assert_problem(response, 400)["errors"]
    assert _login(ctx["client"], ctx["member"]["email"], DEFAULT_PASSWORD).status_code == 200


def test_a_newer_reset_link_voids_the_older_one(reset_world, smtp_server):
    ctx = reset_world
    _request_reset(ctx)
    _request_reset(ctx)
    first, second = (reset_token_from(m) for m in smtp_server.wait_for(2))
    client = ctx["client"]
    assert_problem(client.post("/api/auth/password-reset", json={"token": first, "password": NEW_PASSWORD}), 400)
    assert client.post("/api/auth/password-reset", json={"token": second, "password": NEW_PASSWORD}).status_code == 200


def test_reset_request_and_completion_are_audited(reset_world, smtp_server):
    ctx = reset_world
    _request_reset(ctx)
    token = reset_token_from(smtp_server.wait_for(1)[0])
    ctx["client"].post("/api/auth/password-reset", json={"token": token, "password": NEW_PASSWORD})
    rows = audit_rows(ctx["app"].extensions["questbridge"].db, "auth.password_reset")
    assert [(r["action"], r["actor_id"]) for r in rows] == [
        ("auth.password_reset_requested", ctx["admin"]["id"]),
        ("auth.password_reset_completed", ctx["member"]["id"]),
    ]
    assert all(r["target_id"] == str(ctx["member"]["id"]) for r in rows)


@pytest.mark.parametrize(("password", "reason"), WEAK_PASSWORDS)
def test_weak_password_refused_on_reset_and_token_stays_usable(reset_world, smtp_server, password, reason):
    ctx = reset_world
    _request_reset(ctx)
    token = reset_token_from(smtp_server.wait_for(1)[0])

    weak = ctx["client"].post("/api/auth/password-reset", json={"token": token, "password": password})

    assert reason in assert_problem(weak, 422)["errors"]["password"][0]
    ok = ctx["client"].post("/api/auth/password-reset", json={"token": token, "password": NEW_PASSWORD})
    signed_in_as(ctx["client"], ok, ctx["member"]["email"])


def test_reset_password_must_not_be_the_members_email(reset_world, smtp_server):
    ctx = reset_world
    _request_reset(ctx)
    token = reset_token_from(smtp_server.wait_for(1)[0])
    response = ctx["client"].post("/api/auth/password-reset", json={"token": token, "password": ctx["member"]["email"]})
    assert "password" in assert_problem(response, 422)["errors"]
    assert (
        ctx["client"].post("/api/auth/password-reset", json={"token": token, "password": NEW_PASSWORD}).status_code
        == 200
    )


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"token": "x" * 43, "password": NEW_PASSWORD}, 400, "token"),
        ({"token": "short", "password": NEW_PASSWORD}, 422, "token"),
        ({"password": NEW_PASSWORD}, 422, "token"),
        ({"token": "x" * 43}, 422, "password"),
    ],
)
def test_reset_with_a_bad_token_or_body(client, body, status, field):
    assert field in assert_problem(client.post("/api/auth/password-reset", json=body), status)["errors"]


def test_console_mail_when_smtp_is_unset(make_app, world, capsys):
    app = make_app()
    admin = world.user()
    org = world.organization(admin=admin)
    member = world.add_member(org)
    client = app.test_client()

    response = client.post(
        f"/api/organizations/{org['id']}/members/{member['id']}/password-reset", headers=bearer_login(app, admin)
    )

    assert response.status_code == 202
    printed = capsys.readouterr().err
    assert f"To: {member['email']}" in printed
    token = RESET_LINK.search(printed).group(2)
    assert token not in response.get_data(as_text=True)
    assert client.post("/api/auth/password-reset", json={"token": token, "password": NEW_PASSWORD}).status_code == 200


# --- when mail cannot be sent ------------------------------------------------------------------


@pytest.fixture(params=["smtp-down", "production-without-smtp"])
def mailless_app(request, make_app):
    if request.param == "smtp-down":
        return make_app(smtp_host="127.0.0.1", smtp_port=free_port(), smtp_starttls=False)
    return make_app(env="production", smtp_host=None, metrics_token="m" * 32, session_cookie_secure=True)


def test_an_invitation_that_cannot_be_mailed_is_reported_and_printed_nowhere(mailless_app, world, capfd):
    admin = world.user()
    org = world.organization(admin=admin)
    client = mailless_app.test_client()

    response = client.post(
        f"/api/organizations/{org['id']}/members",
        json={"email": "unlucky@example.test", "role": "member"},
        headers=bearer_login(mailless_app, admin),
    )

    assert response.status_code == 201
    assert response.get_json()["status"] == "pending"
    assert response.get_json()["invitation_sent"] is False
    printed = capfd.readouterr()
    assert "invitation_not_sent" in printed.out
    assert not INVITATION_LINK.search(printed.out + printed.err)
    assert "#token=" not in printed.out + printed.err


def test_a_reset_that_cannot_be_mailed_is_503_and_leaks_no_token(mailless_app, world, capfd):
    admin = world.user()
    org = world.organization(admin=admin)
    member = world.add_member(org)
    client = mailless_app.test_client()

    response = client.post(
        f"/api/organizations/{org['id']}/members/{member['id']}/password-reset",
        headers=bearer_login(mailless_app, admin),
    )

    assert_problem(response, 503)
    assert int(response.headers["Retry-After"]) > 0
    printed = capfd.readouterr()
    assert not RESET_LINK.search(printed.out + printed.err + response.get_data(as_text=True))
    assert _login(client, member["email"], DEFAULT_PASSWORD).status_code == 200


@pytest.mark.parametrize(("ttl", "wording"), [(3600, "1 hour(s)"), (7200, "2 hour(s)"), (1800, "30 minute(s)")])
def test_the_email_states_the_links_lifetime(make_app, world, capsys, ttl, wording):
    app = make_app(password_reset_ttl_seconds=ttl)
    admin = world.user()
    org = world.organization(admin=admin)
    member = world.add_member(org)
    app.test_client().post(
        f"/api/organizations/{org['id']}/members/{member['id']}/password-reset", headers=bearer_login(app, admin)
    )
    assert f"expires in {wording}" in capsys.readouterr().err


def test_guessing_the_current_password_is_throttled(make_app):
    from tests.support import AuthActions, World

    app = make_app(login_max_failures_per_email=3)
    client = app.test_client()
    user = World(app).user()
    headers = AuthActions(client).headers(user)
    for _ in range(3):
        response = client.post(
            "/api/auth/password",
            json={"current_password": "wrong guess 123", "new_password": "a brand new passphrase"},
            headers=headers,
        )
        assert response.status_code == 403
    response = client.post(
        "/api/auth/password",
        json={"current_password": user["password"], "new_password": "a brand new passphrase"},
        headers=headers,
    )
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1


def test_guessing_the_current_password_elsewhere_never_blocks_the_owners_change(make_app):
    """A stolen access token used to guess the current password from another address: that address
    is refused, the owner changes their password from their own at once."""
    from tests.support import AuthActions, World

    app = make_app(login_max_failures_per_email=3)
    client = app.test_client()
    user = World(app).user()
    stolen = AuthActions(client).headers(user)
    change = {"new_password": "a brand new passphrase"}
    statuses = [
        client.post(
            "/api/auth/password",
            json=change | {"current_password": f"wrong guess {n}"},
            headers=stolen,
            environ_base={"REMOTE_ADDR": "198.51.100.66"},
        ).status_code
        for n in range(5)
    ]
    assert statuses == [403] * 3 + [429] * 2
    response = client.post(
        "/api/auth/password",
        json=change | {"current_password": user["password"]},
        headers=stolen,
        environ_base={"REMOTE_ADDR": "203.0.113.20"},
    )
    assert response.status_code == 200, response.get_json()


def test_a_supabase_user_without_a_profile_here_is_told_so_naming_the_user(make_app):
    app = make_app(jwt_secret=JWT_SECRET)
    token = jwt.encode(supabase_claims(), JWT_SECRET)  # a user this database never saw
    response = app.test_client().post("/api/organizations", json={"name": "Mine"}, headers=bearer(token))
    problem = assert_problem(response, 422)
    assert "no profile" in problem["errors"]["user"][0]
