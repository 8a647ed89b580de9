"""Membership by consent over real HTTP, with a real SMTP server: written as the attack it stops.

Two real organizations. Riverside Academy has a real admin (Yara) and a member. Mallory signs up,
creates "Mallory Labs" (so she is its admin) and adds Yara by email. Mallory must get nothing:
no membership, no profile or user id, no audit of Yara's sign-ins, no way to reset Yara's password
or to cancel Riverside's links. Yara joins only if she accepts, and Mallory then sees her sign-ins
from that moment on only.
"""

from __future__ import annotations

import threading
import uuid
from datetime import datetime

import pytest

from tests.mail import INVITATION_LINK, RESET_LINK, link_token
from tests.support import DEFAULT_PASSWORD, AuthActions, World, assert_problem, csrf_header, rows

NEW_PASSWORD = "a brand new passphrase 42"
INVITATION_KEYS = {
    "id",
    "organization_id",
    "email",
    "role",
    "status",
    "invited_by",
    "created_at",
    "sent_at",
    "expires_at",
    "responded_at",
    "invitation_sent",
}


@pytest.fixture
def app(make_app, smtp_server):
    return make_app(smtp_host="127.0.0.1", smtp_port=smtp_server.port, smtp_starttls=False)


@pytest.fixture
def db(app):
    return app.extensions["questbridge"].db


class Scene:
    """Riverside (Yara, its admin, and a member) and Mallory Labs (Mallory, its admin)."""

    def __init__(self, app, world, smtp_server):
        self.app = app
        self.world = world
        self.inbox = smtp_server
        self.auth = AuthActions(app.test_client())
        self.yara = world.user(email="Yara.Admin@riverside.example")
        self.riverside = world.organization("Riverside Academy", admin=self.yara)
        self.student = world.add_member(self.riverside)
        self.mallory = world.user(email="mallory@evil.example")
        self.as_yara = self.auth.headers(self.yara)
        self.as_mallory = self.auth.headers(self.mallory)
        created = self.api().post("/api/organizations", json={"name": "Mallory Labs"}, headers=self.as_mallory)
        assert created.status_code == 201
        self.labs = {"id": created.get_json()["id"], "name": "Mallory Labs"}

    def api(self):
        """A fresh cookie-less client: bearer headers say who is calling."""
        return self.app.test_client(use_cookies=False)

    def invite(self, org, headers, email: str, role: str = "member"):
        return self.api().post(
            f"/api/organizations/{org['id']}/members", json={"email": email, "role": role}, headers=headers
        )

    def link(self, email: str) -> str:
        """The token of the newest invitation link emailed to `email`."""
        return link_token(self.inbox.to(email)[-1], INVITATION_LINK)

    def me(self, headers) -> dict:
        response = self.api().get("/api/auth/me", headers=headers)
        assert response.status_code == 200
        return response.get_json()


@pytest.fixture
def scene(app, world, smtp_server) -> Scene:
    return Scene(app, world, smtp_server)


# --- Mallory adds Yara: she gets nothing --------------------------------------------------------


def test_adding_another_organizations_admin_makes_no_membership(scene, db):
    response = scene.invite(scene.labs, scene.as_mallory, "yara.admin@RIVERSIDE.example", "admin")

    assert response.status_code == 201
    body = response.get_json()
    assert body.keys() == INVITATION_KEYS
    assert (body["email"], body["role"], body["status"]) == ("yara.admin@RIVERSIDE.example", "admin", "pending")
    assert str(scene.yara["id"]) not in response.get_data(as_text=True)

    assert scene.me(scene.as_yara)["organizations"] == [
        {"id": str(scene.riverside["id"]), "name": "Riverside Academy", "role": "admin"}
    ]
    members = scene.api().get(f"/api/organizations/{scene.labs['id']}/members", headers=scene.as_mallory).get_json()
    assert [m["user_id"] for m in members["data"]] == [str(scene.mallory["id"])]
    assert (
        rows(
            db,
            "select 1 from public.memberships where user_id = %s and organization_id = %s",
            scene.yara["id"],
            scene.labs["id"],
        )
        == []
    )


def test_the_answer_is_the_same_whether_or_not_the_email_has_an_account(scene, db):
    accounts_before = rows(db, "select count(*) as n from auth.users")[0]["n"]

    known = scene.invite(scene.labs, scene.as_mallory, scene.yara["email"])
    unknown = scene.invite(scene.labs, scene.as_mallory, "nobody.yet@riverside.example")

    assert known.status_code == unknown.status_code == 201
    assert known.mimetype == unknown.mimetype == "application/json"
    a, b = known.get_json(), unknown.get_json()
    assert a.keys() == b.keys() == INVITATION_KEYS
    for key in INVITATION_KEYS - {"id", "email", "created_at", "sent_at", "expires_at"}:
        assert a[key] == b[key], key
    # Inviting creates no account, for either email.
    assert rows(db, "select count(*) as n from auth.users")[0]["n"] == accounts_before
    # The emails are the same words but for the address and the token.
    first, second = scene.inbox.to(scene.yara["email"])[-1], scene.inbox.to("nobody.yet@riverside.example")[-1]
    assert first["Subject"] == second["Subject"]
    strip = lambda message: INVITATION_LINK.sub("LINK", message.get_content())  # noqa: E731
    assert strip(first) == strip(second)


def test_re_inviting_an_open_invitation_reveals_nothing_and_renews_it(scene):
    first = scene.invite(scene.labs, scene.as_mallory, scene.yara["email"])
    old_link = scene.link(scene.yara["email"])
    again = scene.invite(scene.labs, scene.as_mallory, scene.yara["email"], "admin")

    assert again.status_code == 201
    assert again.get_json().keys() == INVITATION_KEYS
    assert again.get_json()["id"] == first.get_json()["id"]
    assert again.get_json()["role"] == "admin"
    new_link = scene.link(scene.yara["email"])
    assert new_link != old_link
    assert_problem(scene.api().post("/api/invitations/lookup", json={"token": old_link}), 400, "token")
    assert scene.api().post("/api/invitations/lookup", json={"token": new_link}).get_json()["role"] == "admin"


def test_the_inviter_reads_none_of_the_invitees_sign_ins(scene):
    client = scene.app.test_client()
    yara_browser = {"User-Agent": "Yara's laptop"}
    client.post(
        "/api/auth/login", json={"email": scene.yara["email"], "password": "my typo'd secret"}, headers=yara_browser
    )
    scene.invite(scene.labs, scene.as_mallory, scene.yara["email"])
    client.post(
        "/api/auth/login", json={"email": scene.yara["email"], "password": DEFAULT_PASSWORD}, headers=yara_browser
    )
    client.post(
        "/api/auth/login", json={"email": scene.yara["email"], "password": "another typo"}, headers=yara_browser
    )

    for query in (f"?organization_id={scene.labs['id']}&limit=200", "?limit=200"):
        response = scene.api().get(f"/api/audit{query}", headers=scene.as_mallory)
        assert response.status_code == 200
        text = response.get_data(as_text=True)
        assert str(scene.yara["id"]) not in text
        assert "Yara's laptop" not in text and "typo" not in text
        about = {e["target_id"] for e in response.get_json()["data"] if e["action"].startswith("auth.")}
        assert about <= {str(scene.mallory["id"])}  # her own sign-ins at most
    # Riverside, whose membership Yara accepted, reads them.
    riverside = scene.api().get(
        f"/api/audit?organization_id={scene.riverside['id']}&action=auth", headers=scene.as_yara
    )
    assert {e["target_id"] for e in riverside.get_json()["data"]} >= {str(scene.yara["id"])}


def test_the_inviter_cannot_send_the_invitee_a_password_reset(scene):
    scene.invite(scene.labs, scene.as_mallory, scene.yara["email"])
    sent_before = len(scene.inbox.messages)

    response = scene.api().post(
        f"/api/organizations/{scene.labs['id']}/members/{scene.yara['id']}/password-reset", headers=scene.as_mallory
    )

    assert_problem(response, 404)
    assert len(scene.inbox.messages) == sent_before


def test_the_inviter_cannot_cancel_another_organizations_invitation_link(scene):
    newcomer = "new.teacher@riverside.example"
    assert scene.invite(scene.riverside, scene.as_yara, newcomer).status_code == 201
    riverside_link = scene.link(newcomer)
    for _ in range(3):
        assert scene.invite(scene.labs, scene.as_mallory, newcomer, "admin").status_code == 201
    labs_invitation = scene.api().get(f"/api/organizations/{scene.labs['id']}/invitations", headers=scene.as_mallory)
    resend = scene.api().post(
        f"/api/organizations/{scene.labs['id']}/invitations/{labs_invitation.get_json()['data'][0]['id']}/resend",
        headers=scene.as_mallory,
    )
    assert resend.status_code == 200

    browser = scene.app.test_client()
    preview = browser.post("/api/invitations/lookup", json={"token": riverside_link})
    assert preview.status_code == 200
    assert preview.get_json()["organization"]["name"] == "Riverside Academy"
    accepted = browser.post("/api/invitations/accept", json={"token": riverside_link, "password": NEW_PASSWORD})
    assert accepted.status_code == 200
    me = browser.get("/api/auth/me").get_json()
    assert me["organizations"] == [{"id": str(scene.riverside["id"]), "name": "Riverside Academy", "role": "member"}]
    # Mallory's invitation still waits for an answer, and gets one only from the newcomer.
    assert [i["organization"]["name"] for i in me["invitations"]] == ["Mallory Labs"]


def test_another_organizations_reset_never_cancels_this_ones(scene):
    """Yara's student also accepted Mallory Labs; a reset Mallory asks for leaves Riverside's link working."""
    scene.invite(scene.labs, scene.as_mallory, scene.student["email"])
    student = scene.auth.headers(scene.student)
    [offer] = scene.me(student)["invitations"]
    assert scene.api().post(f"/api/invitations/{offer['id']}/accept", headers=student).status_code == 200

    for org, headers in ((scene.riverside, scene.as_yara), (scene.labs, scene.as_mallory)):
        response = scene.api().post(
            f"/api/organizations/{org['id']}/members/{scene.student['id']}/password-reset", headers=headers
        )
        assert response.status_code == 202
    riverside_reset, labs_reset = (link_token(m, RESET_LINK) for m in scene.inbox.to(scene.student["email"])[-2:])

    done = scene.api().post("/api/auth/password-reset", json={"token": riverside_reset, "password": NEW_PASSWORD})
    assert done.status_code == 200
    # Setting the password spends every link, whichever organization asked.
    assert_problem(
        scene.api().post("/api/auth/password-reset", json={"token": labs_reset, "password": "yet another passphrase"}),
        400,
        "token",
    )


def test_another_organizations_resets_do_not_use_up_this_ones_cap(scene):
    from backend.services.accounts.organizations import RESETS_PER_USER_PER_HOUR

    scene.invite(scene.labs, scene.as_mallory, scene.student["email"])
    student = scene.auth.headers(scene.student)
    [offer] = scene.me(student)["invitations"]
    scene.api().post(f"/api/invitations/{offer['id']}/accept", headers=student)
    labs = f"/api/organizations/{scene.labs['id']}/members/{scene.student['id']}/password-reset"
    for _ in range(RESETS_PER_USER_PER_HOUR):
        assert scene.api().post(labs, headers=scene.as_mallory).status_code == 202
    assert_problem(scene.api().post(labs, headers=scene.as_mallory), 429)

    riverside = f"/api/organizations/{scene.riverside['id']}/members/{scene.student['id']}/password-reset"
    assert scene.api().post(riverside, headers=scene.as_yara).status_code == 202


def test_the_inviter_sees_the_invitation_and_nothing_about_the_person(scene):
    scene.invite(scene.labs, scene.as_mallory, scene.yara["email"], "admin")

    listed = scene.api().get(f"/api/organizations/{scene.labs['id']}/invitations", headers=scene.as_mallory)

    assert listed.status_code == 200
    [invitation] = listed.get_json()["data"]
    assert invitation.keys() == INVITATION_KEYS - {"invitation_sent"}
    assert (invitation["email"], invitation["role"], invitation["status"]) == (scene.yara["email"], "admin", "pending")
    assert invitation["invited_by"] == {"email": scene.mallory["email"], "display_name": None}
    assert str(scene.yara["id"]) not in listed.get_data(as_text=True)
    profiles = scene.api().get(f"/api/organizations/{scene.labs['id']}/members", headers=scene.as_mallory)
    assert scene.yara["email"] not in profiles.get_data(as_text=True)


@pytest.mark.parametrize(("caller", "status"), [("member", 403), ("stranger", 404)])
def test_only_the_organizations_admins_see_its_invitations(scene, caller, status):
    scene.invite(scene.riverside, scene.as_yara, "someone@riverside.example")
    headers = scene.auth.headers(scene.student) if caller == "member" else scene.as_mallory
    base = f"/api/organizations/{scene.riverside['id']}/invitations"
    [invitation] = scene.api().get(base, headers=scene.as_yara).get_json()["data"]

    assert_problem(scene.api().get(base, headers=headers), status)
    assert_problem(scene.api().post(f"{base}/{invitation['id']}/resend", headers=headers), status)
    assert_problem(scene.api().delete(f"{base}/{invitation['id']}", headers=headers), status)
    # Nor through another organization they administer.
    assert_problem(
        scene.api().delete(
            f"/api/organizations/{scene.labs['id']}/invitations/{invitation['id']}", headers=scene.as_mallory
        ),
        404,
    )


# --- Yara answers ---------------------------------------------------------------------------------


def test_the_prompt_offers_the_invitation_and_accepting_joins_from_that_moment(scene, db):
    client = scene.app.test_client()
    client.post("/api/auth/login", json={"email": scene.yara["email"], "password": "before I joined"})
    scene.invite(scene.labs, scene.as_mallory, scene.yara["email"], "member")

    [offer] = scene.me(scene.as_yara)["invitations"]
    assert offer.keys() == {"id", "organization", "role", "invited_by", "created_at", "expires_at"}
    assert offer["organization"] == {"id": scene.labs["id"], "name": "Mallory Labs"}
    assert offer["role"] == "member"
    assert offer["invited_by"] == {"email": scene.mallory["email"], "display_name": None}

    accepted = scene.api().post(f"/api/invitations/{offer['id']}/accept", headers=scene.as_yara)

    assert accepted.status_code == 200
    assert accepted.get_json() == {"organization": {"id": scene.labs["id"], "name": "Mallory Labs", "role": "member"}}
    me = scene.me(scene.as_yara)
    assert {o["name"] for o in me["organizations"]} == {"Riverside Academy", "Mallory Labs"}
    assert me["invitations"] == []
    client.post("/api/auth/login", json={"email": scene.yara["email"], "password": "after I joined"})
    entries = (
        scene.api()
        .get(f"/api/audit?organization_id={scene.labs['id']}&limit=200", headers=scene.as_mallory)
        .get_json()["data"]
    )
    typed = [e["metadata"].get("email") for e in entries if e["action"] == "auth.login_failed"]
    assert typed == [scene.yara["email"]]  # the one after joining, not the one before
    actions = {e["action"] for e in entries}
    assert {"invitation.created", "invitation.accepted", "membership.created"} <= actions
    listed = scene.api().get(f"/api/organizations/{scene.labs['id']}/invitations", headers=scene.as_mallory)
    assert listed.get_json()["data"][0]["status"] == "accepted"


def test_each_organization_reads_a_members_sign_ins_from_when_they_joined_it(scene):
    """Yara runs a second organization; her student joins it today. Its log shows the student's
    sign-ins from today only, though Riverside's log (Yara's too) has them all."""
    client = scene.app.test_client()
    client.post("/api/auth/login", json={"email": scene.student["email"], "password": "typed before"})
    night = scene.api().post("/api/organizations", json={"name": "Night School"}, headers=scene.as_yara).get_json()
    scene.invite(night, scene.as_yara, scene.student["email"])
    student = scene.auth.headers(scene.student)
    [offer] = scene.me(student)["invitations"]
    assert scene.api().post(f"/api/invitations/{offer['id']}/accept", headers=student).status_code == 200
    client.post("/api/auth/login", json={"email": scene.student["email"], "password": "typed after"})

    def failed_sign_ins(org_id) -> list[str]:
        entries = scene.api().get(f"/api/audit?organization_id={org_id}&action=auth", headers=scene.as_yara)
        assert entries.status_code == 200
        return [
            e["created_at"]
            for e in entries.get_json()["data"]
            if e["action"] == "auth.login_failed" and e["target_id"] == str(scene.student["id"])
        ]

    _before, after = sorted(failed_sign_ins(scene.riverside["id"]))
    assert failed_sign_ins(night["id"]) == [after]


def test_user_registered_fires_at_acceptance_in_the_membership_transaction(scene, db):
    org_id = scene.labs["id"]
    scene.invite(scene.labs, scene.as_mallory, "fresh.learner@example.org")
    assert rows(db, "select 1 from public.webhook_events where organization_id = %s", org_id) == []

    browser = scene.app.test_client()
    accepted = browser.post(
        "/api/invitations/accept", json={"token": scene.link("fresh.learner@example.org"), "password": NEW_PASSWORD}
    )

    assert accepted.status_code == 200
    user_id = accepted.get_json()["user"]["id"]
    [event] = rows(db, "select payload, xmin::text as tx from public.webhook_events where organization_id = %s", org_id)
    assert event["payload"]["type"] == "user.registered"
    assert event["payload"]["data"] == {"user_id": user_id, "email": "fresh.learner@example.org", "role": "member"}
    [membership] = rows(
        db,
        "select xmin::text as tx from public.memberships where organization_id = %s and user_id = %s",
        org_id,
        user_id,
    )
    assert membership["tx"] == event["tx"]  # one transaction wrote both


def test_declining_from_the_prompt_tells_the_organization_nothing_about_the_person(scene):
    scene.invite(scene.labs, scene.as_mallory, scene.yara["email"])
    [offer] = scene.me(scene.as_yara)["invitations"]

    declined = scene.api().post(
        f"/api/invitations/{offer['id']}/decline", headers=scene.as_yara | {"User-Agent": "Yara's laptop"}
    )

    assert declined.status_code == 204
    assert scene.me(scene.as_yara)["invitations"] == []
    assert len(scene.me(scene.as_yara)["organizations"]) == 1
    audit = scene.api().get(f"/api/audit?organization_id={scene.labs['id']}", headers=scene.as_mallory)
    [entry] = [e for e in audit.get_json()["data"] if e["action"] == "invitation.declined"]
    assert (entry["actor_id"], entry["actor_email"], entry["ip"]) == (None, None, None)
    assert str(scene.yara["id"]) not in audit.get_data(as_text=True) and "laptop" not in audit.get_data(as_text=True)
    listed = scene.api().get(f"/api/organizations/{scene.labs['id']}/invitations", headers=scene.as_mallory)
    assert listed.get_json()["data"][0]["status"] == "declined"
    assert_problem(scene.api().post(f"/api/invitations/{offer['id']}/accept", headers=scene.as_yara), 409)
    assert_problem(scene.api().post("/api/invitations/lookup", json={"token": scene.link(scene.yara["email"])}), 400)


def test_declining_through_the_link_needs_no_account(scene):
    scene.invite(scene.riverside, scene.as_yara, "not.interested@example.org")
    token = scene.link("not.interested@example.org")

    assert scene.api().post("/api/invitations/decline", json={"token": token}).status_code == 204
    assert_problem(scene.api().post("/api/invitations/decline", json={"token": token}), 400, "token")
    listed = scene.api().get(
        f"/api/organizations/{scene.riverside['id']}/invitations?status=declined", headers=scene.as_yara
    )
    assert [i["email"] for i in listed.get_json()["data"]] == ["not.interested@example.org"]


def test_one_cannot_answer_someone_elses_invitation(scene):
    scene.invite(scene.riverside, scene.as_yara, scene.mallory["email"])
    [offer] = scene.me(scene.as_mallory)["invitations"]
    student = scene.auth.headers(scene.student)

    assert scene.me(student)["invitations"] == []
    for action in ("accept", "decline"):
        assert_problem(scene.api().post(f"/api/invitations/{offer['id']}/{action}", headers=student), 404)
    assert_problem(scene.api().post(f"/api/invitations/{uuid.uuid4()}/accept", headers=student), 404)
    assert len(scene.me(scene.as_mallory)["invitations"]) == 1


# --- the emailed link -------------------------------------------------------------------------------


def test_a_new_email_accepts_through_the_link_by_choosing_a_password(scene, db):
    scene.invite(scene.riverside, scene.as_yara, "New.Teacher@example.org", "admin")
    [message] = scene.inbox.to("New.Teacher@example.org")
    assert "Riverside Academy" in message["Subject"]
    assert f"({scene.yara['email']})" in message.get_content()
    origin, token = INVITATION_LINK.search(message.get_content()).groups()
    assert origin == "http://127.0.0.1:8000"
    browser = scene.app.test_client()
    assert (
        browser.post("/api/auth/login", json={"email": "New.Teacher@example.org", "password": NEW_PASSWORD}).status_code
        == 401
    )

    preview = browser.post("/api/invitations/lookup", json={"token": token})
    assert preview.status_code == 200
    assert preview.get_json() | {"id": None, "expires_at": None} == {
        "id": None,
        "email": "New.Teacher@example.org",
        "role": "admin",
        "organization": {"id": str(scene.riverside["id"]), "name": "Riverside Academy"},
        "invited_by": {"email": scene.yara["email"], "display_name": None},
        "account_exists": False,
        "expires_at": None,
    }
    assert_problem(browser.post("/api/invitations/accept", json={"token": token}), 422, "password")
    weak = browser.post("/api/invitations/accept", json={"token": token, "password": "new.teacher@example.org"})
    assert_problem(weak, 422, "password")
    assert rows(db, "select 1 from public.profiles where lower(email) = 'new.teacher@example.org'") == []

    accepted = browser.post("/api/invitations/accept", json={"token": token, "password": NEW_PASSWORD})

    assert accepted.status_code == 200
    body = accepted.get_json()
    assert body["user"]["email"] == "New.Teacher@example.org"
    assert body["organization"] == {"id": str(scene.riverside["id"]), "name": "Riverside Academy", "role": "admin"}
    assert browser.get_cookie("qb_session") is not None
    me = browser.get("/api/auth/me").get_json()
    assert me["organizations"] == [{"id": str(scene.riverside["id"]), "name": "Riverside Academy", "role": "admin"}]
    signed_in = browser.post("/api/auth/login", json={"email": "new.teacher@example.org", "password": NEW_PASSWORD})
    assert signed_in.status_code == 200
    spent = browser.post(
        "/api/invitations/accept", json={"token": token, "password": NEW_PASSWORD}, headers=csrf_header(signed_in)
    )
    assert_problem(spent, 400, "token")


def test_an_existing_account_must_be_signed_in_as_itself_to_accept_through_the_link(scene):
    scene.invite(scene.labs, scene.as_mallory, scene.yara["email"])
    token = scene.link(scene.yara["email"])
    assert scene.api().post("/api/invitations/lookup", json={"token": token}).get_json()["account_exists"] is True

    # Not signed in: sign in first. A password sent along changes nothing about that.
    for body in ({"token": token}, {"token": token, "password": NEW_PASSWORD}):
        refused = scene.api().post("/api/invitations/accept", json=body)
        assert_problem(refused, 401)
        assert refused.get_json()["type"] == "urn:questbridge:problem:sign-in-required"
    # Signed in as someone else: refused.
    assert_problem(scene.api().post("/api/invitations/accept", json={"token": token}, headers=scene.as_mallory), 403)
    assert scene.auth.login(scene.yara["email"], NEW_PASSWORD).status_code == 401  # no password was set

    accepted = scene.api().post("/api/invitations/accept", json={"token": token}, headers=scene.as_yara)

    assert accepted.status_code == 200
    assert accepted.get_json() == {"organization": {"id": scene.labs["id"], "name": "Mallory Labs", "role": "member"}}
    assert "set-cookie" not in {name.lower() for name in accepted.headers.keys()}


def test_two_accepts_of_one_link_at_once_join_once(scene, db):
    scene.invite(scene.riverside, scene.as_yara, "racer@example.org")
    token = scene.link("racer@example.org")
    barrier = threading.Barrier(2)
    statuses = []

    def accept():
        client = scene.api()
        barrier.wait()
        statuses.append(
            client.post("/api/invitations/accept", json={"token": token, "password": NEW_PASSWORD}).status_code
        )

    threads = [threading.Thread(target=accept) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [200, 400]
    assert len(rows(db, "select 1 from public.profiles where email = 'racer@example.org'")) == 1


def test_an_expired_or_revoked_invitation_cannot_be_accepted(scene, db):
    scene.invite(scene.riverside, scene.as_yara, "late@example.org")
    scene.invite(scene.riverside, scene.as_yara, scene.mallory["email"])
    late, mallory = scene.link("late@example.org"), scene.link(scene.mallory["email"])
    with db.transaction("service_role") as conn:
        conn.execute(
            "update public.invitations set expires_at = now() - interval '1 second' where email = 'late@example.org'"
        )
    base = f"/api/organizations/{scene.riverside['id']}/invitations"
    [offer] = scene.me(scene.as_mallory)["invitations"]
    assert scene.api().delete(f"{base}/{offer['id']}", headers=scene.as_yara).status_code == 204

    assert_problem(
        scene.api().post("/api/invitations/accept", json={"token": late, "password": NEW_PASSWORD}), 400, "token"
    )
    assert_problem(scene.api().post("/api/invitations/accept", json={"token": mallory}, headers=scene.as_mallory), 400)
    assert scene.me(scene.as_mallory)["invitations"] == []
    assert_problem(scene.api().post(f"/api/invitations/{offer['id']}/accept", headers=scene.as_mallory), 409)
    statuses = {i["email"]: i["status"] for i in scene.api().get(base, headers=scene.as_yara).get_json()["data"]}
    assert statuses == {"late@example.org": "expired", scene.mallory["email"]: "revoked"}
    assert_problem(scene.api().delete(f"{base}/{offer['id']}", headers=scene.as_yara), 409)


def test_resending_replaces_the_link_and_renews_an_expired_invitation(scene, db):
    scene.invite(scene.riverside, scene.as_yara, "slow.reader@example.org")
    old = scene.link("slow.reader@example.org")
    with db.transaction("service_role") as conn:
        conn.execute("update public.invitations set expires_at = now() - interval '1 second'")
    base = f"/api/organizations/{scene.riverside['id']}/invitations"
    [invitation] = scene.api().get(base, headers=scene.as_yara).get_json()["data"]

    resent = scene.api().post(f"{base}/{invitation['id']}/resend", headers=scene.as_yara)

    assert resent.status_code == 200
    assert resent.get_json()["status"] == "pending" and resent.get_json()["invitation_sent"] is True
    assert datetime.fromisoformat(resent.get_json()["expires_at"]) > datetime.fromisoformat(invitation["expires_at"])
    new = scene.link("slow.reader@example.org")
    assert new != old
    assert_problem(scene.api().post("/api/invitations/lookup", json={"token": old}), 400)
    assert scene.api().post("/api/invitations/lookup", json={"token": new}).status_code == 200


def test_an_address_gets_only_a_few_invitation_emails_an_hour_from_one_organization(scene):
    from backend.services.accounts.invitations import EMAILS_PER_ADDRESS_PER_HOUR

    for _ in range(EMAILS_PER_ADDRESS_PER_HOUR):
        assert scene.invite(scene.labs, scene.as_mallory, scene.yara["email"]).status_code == 201
    flood = scene.invite(scene.labs, scene.as_mallory, scene.yara["email"])

    assert_problem(flood, 429)
    assert int(flood.headers["Retry-After"]) >= 1
    assert len(scene.inbox.to(scene.yara["email"])) == EMAILS_PER_ADDRESS_PER_HOUR
    # Riverside's own invitation to the same address still goes out.
    assert scene.invite(scene.riverside, scene.as_yara, scene.yara["email"].replace("Yara", "Yara2")).status_code == 201


def test_one_admin_sends_only_so_many_invitations_an_hour(scene, monkeypatch):
    from backend.services.accounts import invitations

    monkeypatch.setattr(invitations, "EMAILS_PER_ADMIN_PER_HOUR", 3)
    for n in range(3):
        assert scene.invite(scene.labs, scene.as_mallory, f"target{n}@example.org").status_code == 201
    assert_problem(scene.invite(scene.labs, scene.as_mallory, "target9@example.org"), 429)
    assert scene.invite(scene.riverside, scene.as_yara, "target9@example.org").status_code == 201


@pytest.mark.parametrize(("ttl", "wording"), [(86400, "1 day(s)"), (7 * 86400, "7 day(s)"), (7200, "2 hour(s)")])
def test_the_invitation_lasts_the_configured_lifetime_and_says_so(make_app, smtp_server, ttl, wording):
    app = make_app(smtp_host="127.0.0.1", smtp_port=smtp_server.port, smtp_starttls=False, invitation_ttl_seconds=ttl)
    org = World(app).organization()
    client = app.test_client(use_cookies=False)

    invited = client.post(
        f"/api/organizations/{org['id']}/members",
        json={"email": "later@example.org", "role": "member"},
        headers=AuthActions(client).headers(org["admin"]),
    ).get_json()

    lifetime = datetime.fromisoformat(invited["expires_at"]) - datetime.fromisoformat(invited["sent_at"])
    assert abs(lifetime.total_seconds() - ttl) < 5
    assert f"expires in {wording}" in smtp_server.wait_for(1)[0].get_content()


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "token"), ({"token": "short"}, "token"), ({"token": "x" * 43}, "token"), ({"token": 7}, "token")],
)
@pytest.mark.parametrize("action", ["lookup", "accept", "decline"])
def test_a_bad_link_is_a_clear_4xx(client, action, body, field):
    response = client.post(f"/api/invitations/{action}", json=body)
    assert response.status_code in (400, 422)
    assert_problem(response, response.status_code, field)


def test_the_invitee_side_needs_a_user(client):
    assert_problem(client.post(f"/api/invitations/{uuid.uuid4()}/accept"), 401)
    assert_problem(client.post(f"/api/invitations/{uuid.uuid4()}/decline"), 401)


# --- leaving and removing -------------------------------------------------------------------------


def test_a_member_leaves(scene):
    student = scene.auth.headers(scene.student)
    base = f"/api/organizations/{scene.riverside['id']}/members"

    assert scene.api().delete(f"{base}/me", headers=student).status_code == 204

    assert scene.me(student)["organizations"] == []
    listed = scene.api().get(base, headers=scene.as_yara).get_json()["data"]
    assert [m["user_id"] for m in listed] == [str(scene.yara["id"])]
    assert_problem(scene.api().delete(f"{base}/me", headers=student), 404)
    audit = scene.api().get(
        f"/api/audit?organization_id={scene.riverside['id']}&action=membership", headers=scene.as_yara
    )
    assert "membership.left" in [e["action"] for e in audit.get_json()["data"]]


def test_the_last_admin_cannot_leave_or_be_removed_and_says_why(scene):
    base = f"/api/organizations/{scene.riverside['id']}/members"

    for path in (f"{base}/me", f"{base}/{scene.yara['id']}"):
        problem = assert_problem(scene.api().delete(path, headers=scene.as_yara), 409, "user_id")
        assert "admin" in problem["detail"]
    assert len(scene.api().get(base, headers=scene.as_yara).get_json()["data"]) == 2


def test_an_admin_removes_a_member_and_members_remove_no_one(scene):
    base = f"/api/organizations/{scene.riverside['id']}/members"
    student = scene.auth.headers(scene.student)

    assert_problem(scene.api().delete(f"{base}/{scene.yara['id']}", headers=student), 403)
    assert_problem(scene.api().delete(f"{base}/{scene.student['id']}", headers=scene.as_mallory), 404)
    assert_problem(scene.api().delete(f"{base}/{scene.mallory['id']}", headers=scene.as_yara), 404)
    assert scene.api().delete(f"{base}/{scene.student['id']}", headers=scene.as_yara).status_code == 204

    assert scene.me(student)["organizations"] == []
    assert_problem(scene.api().post(f"{base}/{scene.student['id']}/password-reset", headers=scene.as_yara), 404)


def test_two_admins_removing_each_other_at_once_leave_one_admin(scene, db):
    """Real parallel requests: each admin's removal of the other runs in its own transaction; the
    organization's row lock makes the second wait for the first and then refuse."""
    second = scene.world.add_member(scene.riverside, role="admin")
    as_second = scene.auth.headers(second)
    base = f"/api/organizations/{scene.riverside['id']}/members"
    for _ in range(5):
        barrier = threading.Barrier(2)
        answers = {}

        def remove(name, headers, victim, barrier=barrier, answers=answers):
            client = scene.api()
            barrier.wait()
            answers[name] = client.delete(f"{base}/{victim}", headers=headers).status_code

        threads = [
            threading.Thread(target=remove, args=("yara", scene.as_yara, second["id"])),
            threading.Thread(target=remove, args=("second", as_second, scene.yara["id"])),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert sorted(answers.values()) in ([204, 403], [204, 404], [204, 409]), answers
        admins = rows(
            db,
            "select user_id from public.memberships where organization_id = %s and role = 'admin'",
            scene.riverside["id"],
        )
        assert len(admins) == 1
        # Put the removed admin back for the next round.
        removed = second if answers["yara"] == 204 else scene.yara
        scene.world.add_member(scene.riverside, removed, role="admin")


def test_the_names_given_with_an_invitation_or_at_acceptance_go_to_the_new_account(scene):
    assert scene.invite(scene.riverside, scene.as_yara, "ada@example.org").status_code == 201
    invited = scene.api().post(
        f"/api/organizations/{scene.riverside['id']}/members",
        json={"email": "ada@example.org", "role": "member", "given_name": "Ada", "family_name": "Lovelace"},
        headers=scene.as_yara,
    )
    assert invited.status_code == 201  # renews the open invitation, now with the names
    browser = scene.app.test_client()
    body = {"token": scene.link("ada@example.org"), "password": NEW_PASSWORD}
    assert browser.post("/api/invitations/accept", json=body).status_code == 200
    me = browser.get("/api/auth/me").get_json()
    assert (me["given_name"], me["family_name"]) == ("Ada", "Lovelace")
    # Names sent with the acceptance win over the invitation's; an invitation without names is fine.
    scene.invite(scene.riverside, scene.as_yara, "grace@example.org")
    browser = scene.app.test_client()
    body = {"token": scene.link("grace@example.org"), "password": NEW_PASSWORD}
    accepted = browser.post("/api/invitations/accept", json=body | {"given_name": "Grace", "family_name": "Hopper"})
    assert accepted.status_code == 200
    me = browser.get("/api/auth/me").get_json()
    assert (me["given_name"], me["family_name"]) == ("Grace", "Hopper")


def test_names_over_100_characters_are_refused_by_field(scene):
    invited = scene.api().post(
        f"/api/organizations/{scene.riverside['id']}/members",
        json={"email": "long@example.org", "role": "member", "family_name": "x" * 101},
        headers=scene.as_yara,
    )
    assert_problem(invited, 422, "family_name")
