"""LTI 1.3 login and launch against lti1p3platform as the LMS (served on 127.0.0.1): the
authentication request, the verified launch that signs a learner in as a member, and every refused
launch of issue 16 point 9, each a page saying why that creates nothing."""

from __future__ import annotations

import base64
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from types import SimpleNamespace
from urllib.parse import parse_qsl, urlsplit

import jwt
import pytest

from backend.services.learning import create_quest, create_task
from backend.services.lti import maintenance, people
from tests.lti.lms import CLIENT_ID, DEPLOYMENT_ID, ISSUER, KID, LMS, LTI, pem_pair
from tests.support import AuthActions, World, one, rows

BASE = "http://127.0.0.1:8000"
LAUNCH_URL = f"{BASE}/lti/launch"
COUNTED = (
    "public.profiles",
    "public.memberships",
    "public.auth_sessions",
    "public.lti_user_links",
    "public.lti_launches",
)


@pytest.fixture
def lti(make_app, httpserver):
    app = make_app(webhooks_allowed_targets="127.0.0.1/32")
    world = World(app)
    org = world.organization("School")
    with world.as_user(org["admin"]) as conn:
        quest = create_quest(conn, org["admin"]["id"], org["id"], "Python")
    lms = LMS(httpserver, LAUNCH_URL)
    lms.custom = {"quest_id": str(quest["id"])}
    client = app.test_client()
    admin = AuthActions(client).headers(org["admin"])
    response = client.post("/api/lti/platforms", json=lms.registration_body(org), headers=admin)
    assert response.status_code == 201, response.get_json()
    db = app.extensions["questbridge"].db
    return SimpleNamespace(
        app=app,
        db=db,
        world=world,
        org=org,
        quest=quest,
        lms=lms,
        client=client,
        admin=admin,
        platform=response.get_json(),
    )


def login(lti, **params) -> str:
    query = {"iss": ISSUER, "login_hint": "42", "target_link_uri": LAUNCH_URL, "lti_message_hint": "hint-7"} | params
    response = lti.client.get("/lti/login", query_string={k: v for k, v in query.items() if v is not None})
    assert response.status_code == 302, response.get_data(as_text=True)
    return response.headers["Location"]


def counts(lti) -> dict:
    return {table: one(lti.db, f"select count(*) as n from {table}")["n"] for table in COUNTED}


def assert_page(response, status: int, reason: str) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "text/html"
    assert reason in response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors *" in response.headers["Content-Security-Policy"]


def signed_launch(lti, change=None, **header) -> dict:
    """A form to post: the platform's own launch message for a fresh login, changed by `change`,
    signed with the platform's key."""
    claims, state = lti.lms.message(login(lti))
    now = int(time.time())
    claims |= {"iat": now, "exp": now + 300}
    if change:
        change(claims)
    return {"id_token": lti.lms.sign(claims, **header), "state": state}


def test_login_redirects_to_the_platform_with_the_authentication_request(lti):
    location = login(lti, client_id=CLIENT_ID, lti_deployment_id=DEPLOYMENT_ID)
    parts = urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{lti.lms.base}/auth"
    query = dict(parse_qsl(parts.query))
    assert {k: v for k, v in query.items() if k not in ("state", "nonce")} == {
        "scope": "openid",
        "response_type": "id_token",
        "response_mode": "form_post",
        "prompt": "none",
        "client_id": CLIENT_ID,
        "redirect_uri": LAUNCH_URL,
        "login_hint": "42",
        "lti_message_hint": "hint-7",
    }
    assert len(query["state"]) >= 32 and len(query["nonce"]) >= 32
    again = dict(parse_qsl(urlsplit(login(lti)).query))
    assert again["state"] != query["state"] and again["nonce"] != query["nonce"]  # fresh each time
    stored = rows(lti.db, "select state_hash, nonce, expires_at - created_at as ttl from public.lti_login_states")
    assert query["nonce"] in {row["nonce"] for row in stored}
    assert all(row["state_hash"] != query["state"] for row in stored)  # only its hash is kept
    assert {row["ttl"] for row in stored} == {timedelta(minutes=10)}


def test_the_state_cookie_is_cross_site_and_partitioned(lti):
    response = lti.client.get(
        "/lti/login", query_string={"iss": ISSUER, "login_hint": "42", "target_link_uri": LAUNCH_URL}
    )
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("qb_lti_state=")
    for attribute in ("Secure", "HttpOnly", "SameSite=None", "Partitioned", "Path=/lti/launch", "Max-Age=600"):
        assert attribute in cookie


def test_login_is_taken_as_a_post_too(lti):
    response = lti.client.post("/lti/login", data={"iss": ISSUER, "login_hint": "42", "target_link_uri": LAUNCH_URL})
    assert response.status_code == 302
    assert response.headers["Location"].startswith(f"{lti.lms.base}/auth?")


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"iss": None}, "has no iss"),
        ({"login_hint": None}, "has no login_hint"),
        ({"target_link_uri": None}, "has no target_link_uri"),
        ({"iss": "https://other-lms.test"}, "No LMS platform is registered here for the issuer https://other-lms.test"),
        ({"client_id": "someone-else"}, "No LMS platform with client id someone-else"),
        ({"lti_deployment_id": "nope"}, "The deployment nope is not registered"),
    ],
)
def test_login_refusals_are_pages(lti, params, reason):
    query = {"iss": ISSUER, "login_hint": "42", "target_link_uri": LAUNCH_URL} | params
    response = lti.client.get("/lti/login", query_string={k: v for k, v in query.items() if v is not None})
    assert_page(response, 400, reason)
    assert one(lti.db, "select count(*) as n from public.lti_login_states")["n"] == 0


def test_an_issuer_with_several_registrations_needs_the_client_id(lti):
    second = lti.lms.registration_body(lti.org) | {"client_id": "second-tool", "name": "Second"}
    assert lti.client.post("/api/lti/platforms", json=second, headers=lti.admin).status_code == 201
    response = lti.client.get(
        "/lti/login", query_string={"iss": ISSUER, "login_hint": "42", "target_link_uri": LAUNCH_URL}
    )
    assert_page(response, 400, "must name its client_id")
    assert login(lti, client_id="second-tool").count("client_id=second-tool") == 1


def test_a_launch_signs_a_new_member_in_and_opens_the_quest(lti):
    before = counts(lti)
    form = lti.lms.authorize(login(lti, client_id=CLIENT_ID))
    response = lti.client.post("/lti/launch", data=form)
    assert response.status_code == 303, response.get_data(as_text=True)
    assert response.headers["Location"] == f"/learn/quests/{lti.quest['id']}"
    session_cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("qb_session="))
    for attribute in ("Secure", "HttpOnly", "SameSite=None", "Partitioned", "Path=/"):
        assert attribute in session_cookie
    link = one(lti.db, "select user_id, subject from public.lti_user_links")
    assert link["subject"] == lti.lms.user["sub"]
    profile = one(
        lti.db,
        "select email, display_name, given_name, family_name, email_verified from public.profiles where id = %s",
        link["user_id"],
    )
    # The address is the platform's word, never proven to us: OpenID Connect must not call it verified.
    assert profile == {
        "email": "ada@school.test",
        "display_name": "Ada Lovelace",
        "given_name": None,
        "family_name": None,
        "email_verified": False,
    }
    # The platform sent the LIS Administrator role: LTI roles never make anyone an org admin.
    membership = one(lti.db, "select organization_id, role from public.memberships where user_id = %s", link["user_id"])
    assert membership == {"organization_id": lti.org["id"], "role": "member"}
    launch = one(
        lti.db, "select quest_id, deployment_id, resource_link_id, ags_lineitem, ags_lineitems from public.lti_launches"
    )
    assert launch == {
        "quest_id": lti.quest["id"],
        "deployment_id": DEPLOYMENT_ID,
        "resource_link_id": "course-7-link-3",
        "ags_lineitem": f"{lti.lms.base}/lineitems/1/lineitem?type_id=7",
        "ags_lineitems": f"{lti.lms.base}/lineitems",
    }
    after = counts(lti)
    assert {table: after[table] - before[table] for table in COUNTED} == dict.fromkeys(COUNTED, 1)
    # The session cookie signs the browser in; no password is waiting to be changed.
    me = lti.client.get("/api/auth/me")
    assert me.status_code == 200, me.get_json()
    assert me.get_json()["email"] == "ada@school.test"
    assert one(lti.db, "select count(*) as n from public.lti_login_states")["n"] == 0  # the nonce is used up


def test_the_given_and_family_name_claims_are_kept(lti):
    lti.lms.user |= {"given_name": "Ada", "family_name": "King"}
    assert lti.client.post("/lti/launch", data=lti.lms.authorize(login(lti))).status_code == 303
    profile = one(lti.db, "select given_name, family_name from public.profiles where email = 'ada@school.test'")
    assert profile == {"given_name": "Ada", "family_name": "King"}


def test_the_next_launch_finds_the_same_user_by_platform_and_sub(lti):
    for _ in range(2):
        assert lti.client.post("/lti/launch", data=lti.lms.authorize(login(lti))).status_code == 303
    assert one(lti.db, "select count(*) as n from public.lti_user_links")["n"] == 1
    assert one(lti.db, "select count(*) as n from public.memberships where role = 'member'")["n"] == 1
    assert one(lti.db, "select count(*) as n from public.lti_launches")["n"] == 2


def test_an_lti_email_never_links_to_an_existing_account(lti):
    existing = lti.world.user("ada@school.test")
    assert lti.client.post("/lti/launch", data=lti.lms.authorize(login(lti))).status_code == 303
    link = one(lti.db, "select user_id from public.lti_user_links")
    assert link["user_id"] != existing["id"]
    email = one(lti.db, "select email from public.profiles where id = %s", link["user_id"])["email"]
    assert email.endswith("@lti.invalid")
    assert one(lti.db, "select count(*) as n from public.memberships where user_id = %s", existing["id"])["n"] == 0


def test_a_link_without_a_quest_says_so_until_an_admin_maps_it(lti):
    lti.lms.custom = {}
    before = counts(lti)
    response = lti.client.post("/lti/launch", data=lti.lms.authorize(login(lti)))
    link = one(lti.db, "select id, title, quest_id from public.lti_resource_links")
    assert_page(response, 404, f"PUT /api/lti/resource-links/{link['id']}")
    assert link["title"] == "Week 3: loops" and link["quest_id"] is None
    assert counts(lti) == before
    mapped = lti.client.put(
        f"/api/lti/resource-links/{link['id']}", json={"quest_id": str(lti.quest["id"])}, headers=lti.admin
    )
    assert mapped.status_code == 200, mapped.get_json()
    response = lti.client.post("/lti/launch", data=lti.lms.authorize(login(lti)))
    assert response.status_code == 303
    assert response.headers["Location"] == f"/learn/quests/{lti.quest['id']}"


def test_only_org_admins_map_resource_links_to_their_own_quests(lti):
    lti.lms.custom = {}
    lti.client.post("/lti/launch", data=lti.lms.authorize(login(lti)))
    link = one(lti.db, "select id from public.lti_resource_links")
    member = lti.world.add_member(lti.org)
    as_member = AuthActions(lti.client).headers(member)
    body = {"quest_id": str(lti.quest["id"])}
    assert lti.client.put(f"/api/lti/resource-links/{link['id']}", json=body, headers=as_member).status_code == 403
    other = lti.world.organization("Elsewhere")
    with lti.world.as_user(other["admin"]) as conn:
        foreign = create_quest(conn, other["admin"]["id"], other["id"], "Theirs")
    as_other = AuthActions(lti.client).headers(other["admin"])
    assert lti.client.put(f"/api/lti/resource-links/{link['id']}", json=body, headers=as_other).status_code == 404
    response = lti.client.put(
        f"/api/lti/resource-links/{link['id']}", json={"quest_id": str(foreign["id"])}, headers=lti.admin
    )
    assert response.status_code == 422


def test_a_deep_linking_launch_is_verified_then_declined(lti):
    lti.lms.deep_linking = True
    before = counts(lti)
    response = lti.client.post("/lti/launch", data=lti.lms.authorize(login(lti)))
    assert_page(response, 400, "takes resource-link launches only")
    assert counts(lti) == before


def _alg_none(lti, form):
    _, payload, _ = form["id_token"].split(".")
    forged = base64.urlsafe_b64encode(json.dumps({"alg": "none", "kid": KID}).encode()).rstrip(b"=").decode()
    return {"id_token": f"{forged}.{payload}.", "state": form["state"]}


def _hs256(lti, form):
    claims = jwt.decode(form["id_token"], options={"verify_signature": False})
    token = jwt.encode(claims, "a-shared-secret-of-thirty-two-bytes!", algorithm="HS256", headers={"kid": KID})
    return {"id_token": token, "state": form["state"]}


def _set(name, value):
    return lambda claims: claims.update({name: value})


def _drop(name):
    return lambda claims: claims.pop(name)


def _times(iat_offset, exp_offset):
    """iat and exp this far from when the token is made (not from when the tests were collected,
    minutes earlier in a full run)."""

    def change(claims):
        now = int(time.time())
        claims.update({"iat": now + iat_offset, "exp": now + exp_offset})

    return change


REFUSED = [
    pytest.param(_set("aud", "another-tool"), None, 401, "its aud does not hold", id="another-aud"),
    pytest.param(
        lambda c: c.update({"aud": [CLIENT_ID, "another-tool"], "azp": "another-tool"}),
        None,
        401,
        "its azp is not",
        id="foreign-azp",
    ),
    pytest.param(
        _set(LTI + "deployment_id", "deployment-9"), None, 403, "deployment is not registered", id="deployment"
    ),
    pytest.param(_times(-600, -61), None, 401, "has expired", id="expired"),
    pytest.param(_times(90, 400), None, 401, "issued in the future", id="future-iat"),
    pytest.param(_drop(LTI + "resource_link"), None, 400, "has no resource_link id", id="no-resource-link"),
    pytest.param(_set(LTI + "version", "1.1.0"), None, 400, "is not LTI 1.3.0", id="version"),
    pytest.param(_set("nonce", "a-nonce-we-never-issued-0123456789"), None, 401, "nonce is not the one", id="nonce"),
    pytest.param(None, _alg_none, 401, "signed with none;", id="alg-none"),
    pytest.param(None, _hs256, 401, "signed with HS256;", id="alg-hs256"),
]


@pytest.mark.parametrize(("change", "forge", "status", "reason"), REFUSED)
def test_refused_launches_say_why_and_create_nothing(lti, change, forge, status, reason):
    form = signed_launch(lti, change)
    if forge:
        form = forge(lti, form)
    before = counts(lti)
    assert_page(lti.client.post("/lti/launch", data=form), status, reason)
    assert counts(lti) == before


def test_the_leeway_takes_a_minute_of_clock_skew(lti):
    response = lti.client.post("/lti/launch", data=signed_launch(lti, _times(55, 400)))
    assert response.status_code == 303
    response = lti.client.post("/lti/launch", data=signed_launch(lti, _times(-400, -55)))
    assert response.status_code == 303


def test_the_same_id_token_and_state_twice_is_refused(lti):
    form = lti.lms.authorize(login(lti))
    assert lti.client.post("/lti/launch", data=form).status_code == 303
    before = counts(lti)
    # The launch cleared the state cookie; a replay by whoever still holds it is refused all the same.
    assert_page(lti.client.post("/lti/launch", data=form), 400, "not started in this browser")
    lti.client.set_cookie("qb_lti_state", form["state"], path="/lti/launch")
    assert_page(lti.client.post("/lti/launch", data=form), 400, "already used or has expired")
    assert counts(lti) == before


def test_a_validly_signed_refused_token_cannot_be_replayed(lti):
    form = signed_launch(lti, _set(LTI + "version", "1.1.0"))
    assert lti.client.post("/lti/launch", data=form).status_code == 400
    assert_page(lti.client.post("/lti/launch", data=form), 400, "already used or has expired")


def test_a_state_this_browser_was_not_given_is_refused(lti):
    form = lti.lms.authorize(login(lti))
    stranger = lti.app.test_client()
    before = counts(lti)
    assert_page(stranger.post("/lti/launch", data=form), 400, "open the tool in a new window")
    assert counts(lti) == before
    # Not consumed: the browser it was issued to can still use it.
    assert lti.client.post("/lti/launch", data=form).status_code == 303


def test_an_unknown_kid_refetches_the_key_set_once(lti):
    assert lti.client.post("/lti/launch", data=lti.lms.authorize(login(lti))).status_code == 303
    assert lti.lms.jwks_requests() == 1  # cached after the first launch
    assert lti.client.post("/lti/launch", data=lti.lms.authorize(login(lti))).status_code == 303
    assert lti.lms.jwks_requests() == 1
    before = counts(lti)
    form = signed_launch(lti, kid="a-kid-nobody-published")
    assert_page(lti.client.post("/lti/launch", data=form), 401, "no RS256 signing key with kid")
    assert lti.lms.jwks_requests() == 2  # one refetch, no more
    assert counts(lti) == before


def test_a_flood_of_unknown_kids_refetches_the_key_set_once(lti):
    """Forged launches naming new kids, one after another: the platform is asked once, not each time."""
    assert lti.client.post("/lti/launch", data=lti.lms.authorize(login(lti))).status_code == 303
    before = counts(lti)
    for kid in ("forged-1", "forged-2", "forged-3"):
        assert_page(lti.client.post("/lti/launch", data=signed_launch(lti, kid=kid)), 401, "no RS256 signing key")
    assert lti.lms.jwks_requests() == 2  # the first unknown kid refetched; the next ones did not
    assert counts(lti) == before


def test_a_rotated_platform_key_is_found_by_one_refetch(lti):
    assert lti.client.post("/lti/launch", data=lti.lms.authorize(login(lti))).status_code == 303
    _, public, key = pem_pair()
    lti.lms.key = key
    lti.lms.jwks_served = {"keys": [lti.lms.registration.get_jwk(public) | {"kid": "lms-key-2"}]}
    form = signed_launch(lti, kid="lms-key-2")
    assert lti.client.post("/lti/launch", data=form).status_code == 303
    assert lti.lms.jwks_requests() == 2


def test_maintenance_deletes_the_login_states_no_launch_answered(lti):
    login(lti)
    form = lti.lms.authorize(login(lti))
    with lti.db.transaction("service_role") as conn:
        conn.execute("update public.lti_login_states set expires_at = now() - interval '1 second'")
    runtime = lti.app.extensions["questbridge"]
    assert maintenance.run(runtime.db, runtime.secretbox, runtime.config)["states_deleted"] == 2
    assert_page(lti.client.post("/lti/launch", data=form), 400, "already used or has expired")


def test_the_launched_session_submits_work_from_its_own_pages_only(lti):
    with lti.world.as_user(lti.org["admin"]) as conn:
        task = create_task(conn, lti.quest["id"], "Loops", "code", 10)
    assert lti.client.post("/lti/launch", data=lti.lms.authorize(login(lti))).status_code == 303
    token = lti.client.get("/api/auth/me").get_json()["csrf_token"]
    url, body = f"/api/tasks/{task['id']}/submissions", {"content": "print(1)"}
    # The learner page in the LMS frame is same-origin to us: its fetches pass.
    same_origin = {"X-CSRF-Token": token, "Sec-Fetch-Site": "same-origin", "Origin": "http://localhost"}
    assert lti.client.post(url, json=body, headers=same_origin).status_code == 201
    # The LMS page (or any other site) sending the cookie along is refused, token or not.
    cross_site = {"X-CSRF-Token": token, "Sec-Fetch-Site": "cross-site", "Origin": "https://lms.example.edu"}
    assert lti.client.post(url, json=body, headers=cross_site).status_code == 403
    assert lti.client.post(url, json=body, headers={"Sec-Fetch-Site": "same-origin"}).status_code == 403


def test_a_forged_signature_is_refused_without_burning_the_state(lti):
    form = lti.lms.authorize(login(lti))
    _, _, other_key = pem_pair()
    claims = jwt.decode(form["id_token"], options={"verify_signature": False})
    forged = {
        "id_token": jwt.encode(claims, other_key, algorithm="RS256", headers={"kid": KID}),
        "state": form["state"],
    }
    before = counts(lti)
    assert_page(lti.client.post("/lti/launch", data=forged), 401, "signature does not verify")
    assert counts(lti) == before
    assert lti.client.post("/lti/launch", data=form).status_code == 303


def test_two_concurrent_posts_of_one_launch_sign_in_once(lti):
    form = lti.lms.authorize(login(lti))
    cookie = lti.client.get_cookie("qb_lti_state", path="/lti/launch").value
    clients = [lti.app.test_client() for _ in range(4)]
    for client in clients:
        client.set_cookie("qb_lti_state", cookie, path="/lti/launch")
    start = threading.Barrier(len(clients))
    before = counts(lti)

    def post(client):
        start.wait()
        return client.post("/lti/launch", data=form).status_code

    with ThreadPoolExecutor(len(clients)) as pool:
        statuses = sorted(pool.map(post, clients))
    assert statuses == [303, 400, 400, 400]
    after = counts(lti)
    assert {table: after[table] - before[table] for table in COUNTED} == dict.fromkeys(COUNTED, 1)


@pytest.mark.parametrize(
    ("presentation", "issuer", "origin"),
    [
        ({"return_url": "https://school.instructure.com/courses/7/success"}, ISSUER, "https://school.instructure.com"),
        (None, "https://moodle.school.test", "https://moodle.school.test"),
        ({"return_url": "http://localhost:8080/course?x=1"}, ISSUER, "http://localhost:8080"),
        ({"return_url": "https://user:pw@LMS.School.test:8443/c"}, ISSUER, "https://lms.school.test:8443"),
        ({"return_url": "javascript:alert(1)"}, "https://moodle.school.test/", "https://moodle.school.test"),
        ({"return_url": "https://a;b.test/"}, "not a url", None),
        ({"return_url": "https://lms.test:99999/"}, None, None),
    ],
)
def test_the_frame_origin_is_the_course_page_else_the_issuer(presentation, issuer, origin):
    claims = {"iss": issuer} | ({LTI + "launch_presentation": presentation} if presentation else {})
    assert people.launch_frame_origin(claims) == origin


def test_the_learner_pages_may_be_framed_by_the_lms_that_launched_the_learner(lti, tmp_path):
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "index.html").write_text("<!doctype html><title>Questbridge</title>")
    lti.client.application.config["ADMIN_UI_DIST"] = str(dist)
    quest = f"/learn/quests/{lti.quest['id']}"
    stranger = lti.client.application.test_client().get(quest)
    assert "frame-ancestors 'none'" in stranger.headers["Content-Security-Policy"]
    assert stranger.headers["X-Frame-Options"] == "DENY"
    lti.lms.return_url = "https://school.lms.test/course/7"
    assert lti.client.post("/lti/launch", data=lti.lms.authorize(login(lti))).status_code == 303
    learner = lti.client.get(quest)
    assert learner.status_code == 200
    assert "frame-ancestors 'self' https://school.lms.test;" in learner.headers["Content-Security-Policy"] + ";"
    assert "X-Frame-Options" not in learner.headers
    assert learner.headers["Cache-Control"] == "private, no-cache" and "Cookie" in learner.headers["Vary"]
    assert "frame-ancestors 'none'" in lti.client.get("/admin/").headers["Content-Security-Policy"]
