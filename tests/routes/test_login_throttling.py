"""Sign-in throttling: per email and address, the dripping ceiling, device cookies, and what failures record."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest

from backend.services.accounts import signin
from tests.routes.identity import audit_rows, sign_in
from tests.support import DEFAULT_PASSWORD, assert_problem

# --- throttling --------------------------------------------------------------------------------


def test_an_attackers_address_cannot_lock_the_owner_out_from_another(make_app, world, db):
    app = make_app(login_max_failures_per_email=3, login_max_failures_per_ip=100, login_window_seconds=600)
    victim, bystander = world.user(), world.user()
    attacker = app.test_client()

    statuses = [sign_in(attacker, victim["email"], f"guess {n}", "198.51.100.66").status_code for n in range(8)]
    assert statuses == [401] * 3 + [429] * 5
    # The attacker's address stays refused for the window, even with the right password...
    locked = sign_in(attacker, victim["email"].upper(), DEFAULT_PASSWORD, "198.51.100.66")
    assert_problem(locked, 429, slug="rate-limited")
    assert 1 <= int(locked.headers["Retry-After"]) <= 600
    assert "Set-Cookie" not in locked.headers
    # ...while the owner, from their own address, signs in at once.
    assert sign_in(app.test_client(), victim["email"], DEFAULT_PASSWORD, "203.0.113.20").status_code == 200
    # And the attacker's address may still sign in to other accounts.
    assert sign_in(attacker, bystander["email"], DEFAULT_PASSWORD, "198.51.100.66").status_code == 200

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
        response = sign_in(client, email, f"guess {n}", "10.0.0.2", {"X-Forwarded-For": f"198.51.{n // 250}.{n % 250}"})
        outcomes.append(response)
        elapsed = time.monotonic() - start
        if elapsed > seconds and (response.status_code == 401 or elapsed > seconds + 2 * drip):
            return outcomes, elapsed


def test_a_distributed_guesser_is_slowed_to_the_drip_and_the_owner_gets_in_after_a_short_wait(make_app, world, db):
    from backend.parsers import networks

    ceiling, drip = 5, 2
    app = make_app(
        login_max_failures_per_email=3,
        login_email_ceiling=ceiling,
        login_email_drip_seconds=drip,
        trusted_proxies=networks("TRUSTED_PROXIES", "10.0.0.0/8"),
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
    waiting = sign_in(owner, victim["email"], DEFAULT_PASSWORD, "203.0.113.20")
    assert_problem(waiting, 429, slug="rate-limited")
    wait = int(waiting.headers["Retry-After"])
    assert wait <= drip
    time.sleep(wait)
    assert sign_in(owner, victim["email"], DEFAULT_PASSWORD, "203.0.113.20").status_code == 200

    throttles = audit_rows(db, "auth.login_throttled")
    assert {r["metadata"]["scope"] for r in throttles} == {"email"}
    assert len({r["ip"] for r in throttles}) == len(throttles)  # one address each, and the owner's
    assert "203.0.113.20" in {r["ip"] for r in throttles}


def _device_set_cookie(response) -> str:
    return next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("qb_device="))


def _device_cookie(response) -> str:
    cookie = _device_set_cookie(response)
    attributes = [part.strip().lower() for part in cookie.split(";")]
    assert {"httponly", "samesite=lax", "path=/"} <= set(attributes)
    return cookie.split(";", 1)[0].split("=", 1)[1]


def test_a_browser_that_signed_in_before_skips_the_ceiling_a_botnet_has_reached(make_app, world):
    app = make_app(login_email_ceiling=3, login_email_drip_seconds=600)
    victim, other = world.user(), world.user()
    owners_browser = app.test_client()
    signed_in = sign_in(owners_browser, victim["email"], DEFAULT_PASSWORD, "203.0.113.20")
    assert signed_in.status_code == 200
    assert sign_in(owners_browser, other["email"], DEFAULT_PASSWORD, "203.0.113.20").status_code == 200
    other_cookie = _device_cookie(sign_in(owners_browser, other["email"], DEFAULT_PASSWORD, "203.0.113.20"))
    owners_browser.set_cookie("qb_device", _device_cookie(signed_in))

    botnet = app.test_client()
    statuses = [sign_in(botnet, victim["email"], "guess", f"198.51.100.{n}").status_code for n in range(6)]
    assert statuses == [401] * 3 + [429] * 3

    # A browser the account never signed in from waits for the drip (ten minutes here)...
    assert sign_in(app.test_client(), victim["email"], DEFAULT_PASSWORD, "203.0.113.21").status_code == 429
    # ...so does one holding another account's cookie, or a forged one...
    for cookie in (other_cookie, "forged.1700000000.c2lnbmF0dXJl", _device_cookie(signed_in) + "x"):
        browser = app.test_client()
        browser.set_cookie("qb_device", cookie)
        assert sign_in(browser, victim["email"], DEFAULT_PASSWORD, "203.0.113.22").status_code == 429
    # ...but the owner's own browser gets in at once, from wherever it is now.
    assert sign_in(owners_browser, victim["email"], DEFAULT_PASSWORD, "192.0.2.99").status_code == 200


@pytest.mark.parametrize(("environ", "seconds"), [({}, 180 * 86400), ({"LOGIN_DEVICE_TTL_SECONDS": "3600"}, 3600)])
def test_a_device_cookie_is_honoured_as_long_as_LOGIN_DEVICE_TTL_SECONDS_says(
    make_app, world, monkeypatch, environ, seconds
):
    app = make_app(environ=environ, login_email_ceiling=3, login_email_drip_seconds=600)
    victim = world.user()
    signed_in = sign_in(app.test_client(), victim["email"], DEFAULT_PASSWORD, "203.0.113.20")
    assert f"Max-Age={seconds}" in _device_set_cookie(signed_in)
    cookie = _device_cookie(signed_in)
    botnet = app.test_client()
    statuses = [sign_in(botnet, victim["email"], "guess", f"198.51.100.{n}").status_code for n in range(4)]
    assert statuses == [401] * 3 + [429]

    def owner_signs_in_after(elapsed: float) -> int:
        now = time.time() + elapsed
        monkeypatch.setattr(signin, "time", SimpleNamespace(time=lambda: now))
        browser = app.test_client()
        browser.set_cookie("qb_device", cookie)
        return sign_in(browser, victim["email"], DEFAULT_PASSWORD, "192.0.2.99").status_code

    # Just inside its lifetime the cookie still skips the drip the botnet caused; once older, its
    # browser waits like any stranger's.
    assert owner_signs_in_after(seconds - 60) == 200
    assert owner_signs_in_after(seconds + 60) == 429


def test_a_stolen_device_cookie_gets_a_lockout_of_its_own(make_app, world, db):
    app = make_app(login_max_failures_per_email=3, login_email_ceiling=3, login_email_drip_seconds=600)
    victim = world.user()
    cookie = _device_cookie(sign_in(app.test_client(), victim["email"], DEFAULT_PASSWORD, "203.0.113.20"))
    thief = app.test_client()
    thief.set_cookie("qb_device", cookie)

    statuses = [sign_in(thief, victim["email"], f"guess {n}", f"198.51.100.{n}").status_code for n in range(5)]
    assert statuses == [401] * 3 + [429] * 2
    assert sign_in(thief, victim["email"], DEFAULT_PASSWORD, "198.51.100.9").status_code == 429
    # The thief's guesses spent none of the allowance strangers share.
    assert sign_in(app.test_client(), victim["email"], DEFAULT_PASSWORD, "203.0.113.21").status_code == 200
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
        return sign_in(client, victim["email"], "wrong guess", "198.51.100.9").status_code

    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = sorted(pool.map(guess, range(10)))
    assert statuses == [401] * 3 + [429] * 7


def test_a_right_password_is_not_counted_as_a_failure(make_app, world):
    app = make_app(login_max_failures_per_email=3, login_max_failures_per_ip=1000)
    client = app.test_client(use_cookies=False)  # no device cookie: every guess counts where the first did
    user = world.user()
    statuses = [
        sign_in(client, user["email"], password, "198.51.100.9").status_code
        for password in ("wrong 1", "wrong 2", DEFAULT_PASSWORD, "wrong 3", "wrong 4")
    ]
    assert statuses == [401, 401, 200, 401, 429]


def test_failures_per_address_are_throttled_across_emails(make_app, world, db):
    app = make_app(login_max_failures_per_email=100, login_max_failures_per_ip=3)
    client = app.test_client()
    user = world.user()

    for n in range(3):
        assert sign_in(client, f"spray-{n}@example.test", "guess", "192.0.2.10").status_code == 401

    throttled = sign_in(client, user["email"], DEFAULT_PASSWORD, "192.0.2.10")
    assert_problem(throttled, 429)
    assert int(throttled.headers["Retry-After"]) >= 1
    assert sign_in(client, user["email"], DEFAULT_PASSWORD, "192.0.2.11").status_code == 200

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
    from backend.parsers import networks

    app = make_app(
        login_max_failures_per_ip=2,
        login_max_failures_per_email=100,
        trusted_proxies=networks("TRUSTED_PROXIES", trusted),
    )
    client = app.test_client()
    user = world.user()
    for n in range(2):
        headers = {"X-Forwarded-For": forwarded.format(n=n)}
        assert sign_in(client, f"x{n}@example.test", "guess", peer, headers).status_code == 401

    response = sign_in(client, user["email"], DEFAULT_PASSWORD, peer, {"X-Forwarded-For": forwarded.format(n=99)})
    assert response.status_code == (429 if throttled_after_rotation else 200)
