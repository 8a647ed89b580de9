"""LTI 1.3 login initiation and launch verification (1EdTech Security Framework 1.0 §5.1, LTI
Core 1.3 §4.1 and §5.3): the state and nonce a login issues, and every check of the platform's
`id_token` the contract lists. A refusal is a Refused carrying the status and the reason shown to
the person launching; nothing is written by a refused launch but the consumed state (see below).

The state is a random token given to the browser as a cookie and to the platform as `state`; its
hash and the nonce are stored for STATE_SECONDS. A launch first checks that the posted state is
the browser's, then the token's signature by the platform's key; once the signature holds, the
state row is deleted (the nonce is used up) before any other claim is judged, so a validly signed
token is never accepted twice, even one refused for another reason.
"""

from __future__ import annotations

import hmac
import time
import uuid
from dataclasses import dataclass
from urllib.parse import urlencode

import jwt
import psycopg

from backend.db import Database, queries_beside
from backend.services.lti.keysets import KeySetError, KeySets
from backend.services.shared.digest import new_token, secret_digest

SQL = queries_beside(__file__)

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
DEEP_LINKING_SETTINGS = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"
RESOURCE_LINK_REQUEST = "LtiResourceLinkRequest"
DEEP_LINKING_REQUEST = "LtiDeepLinkingRequest"
LEEWAY_SECONDS = 60
STATE_SECONDS = 600
MAX_PARAMETER = 2048
SIGNATURE_ONLY = {
    "verify_signature": True,
    "verify_exp": False,
    "verify_iat": False,
    "verify_nbf": False,
    "verify_aud": False,
    "verify_iss": False,
}


class Refused(Exception):
    """A login or launch that cannot go on: `status` and the `reason` its page shows."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Login:
    redirect_url: str  # the platform's auth_login_url with the authentication request
    state: str  # also the browser's state cookie


@dataclass(frozen=True)
class Platform:
    id: uuid.UUID
    organization_id: uuid.UUID
    issuer: str
    client_id: str
    deployment_ids: list


@dataclass(frozen=True)
class Launch:
    platform: Platform
    claims: dict

    @property
    def message_type(self) -> str:
        return self.claims[LTI + "message_type"]

    @property
    def deployment_id(self) -> str:
        return self.claims[LTI + "deployment_id"]


def _required(params: dict, name: str) -> str:
    value = params.get(name)
    if not isinstance(value, str) or not value.strip():
        raise Refused(400, f"The login request has no {name}: start the launch again from your course.")
    if len(value) > MAX_PARAMETER:
        raise Refused(400, f"The login request's {name} is longer than {MAX_PARAMETER} characters.")
    return value


def start_login(conn: psycopg.Connection, params: dict, launch_url: str) -> Login:
    """The authentication request for a platform's login initiation (`params`: the GET query or
    POST form). conn runs as service_role."""
    issuer = _required(params, "iss")
    login_hint = _required(params, "login_hint")
    _required(params, "target_link_uri")
    client_id = params.get("client_id") or None
    found = conn.execute(SQL["platforms_by_issuer"], {"issuer": issuer, "client_id": client_id}).fetchall()
    if not found:
        named = f" with client id {client_id}" if client_id else ""
        raise Refused(400, f"No LMS platform{named} is registered here for the issuer {issuer}.")
    if len(found) > 1:
        raise Refused(400, f"Several registrations share the issuer {issuer}: the login must name its client_id.")
    platform = found[0]
    deployment_id = params.get("lti_deployment_id")
    if deployment_id and deployment_id not in platform["deployment_ids"]:
        raise Refused(400, f"The deployment {deployment_id} is not registered for this platform.")
    state, nonce = new_token(), new_token()
    conn.execute(
        SQL["insert_login_state"],
        {"state_hash": secret_digest(state).hex(), "nonce": nonce, "platform_id": platform["id"], "ttl": STATE_SECONDS},
    )
    request = {
        "scope": "openid",
        "response_type": "id_token",
        "response_mode": "form_post",
        "prompt": "none",
        "client_id": platform["client_id"],
        "redirect_uri": launch_url,
        "login_hint": login_hint,
        "state": state,
        "nonce": nonce,
    }
    if params.get("lti_message_hint"):
        request["lti_message_hint"] = params["lti_message_hint"]
    separator = "&" if "?" in platform["auth_login_url"] else "?"
    return Login(f"{platform['auth_login_url']}{separator}{urlencode(request)}", state)


def verify_launch(db: Database, key_sets: KeySets, form: dict, browser_state: str | None) -> Launch:
    """The verified launch of a posted `id_token` and `state`, or Refused."""
    id_token, state = form.get("id_token"), form.get("state")
    if not id_token or not state:
        raise Refused(400, "The launch carries no id_token or no state: start it again from your course.")
    if not browser_state or not hmac.compare_digest(browser_state.encode(), state.encode()):
        raise Refused(
            400,
            "This launch was not started in this browser, or the browser did not send back its cookie "
            "(third-party cookies blocked in the course's frame): open the tool in a new window.",
        )
    try:
        header = jwt.get_unverified_header(id_token)
    except jwt.DecodeError:
        raise Refused(400, "The id_token is not a JWT.") from None
    if header.get("alg") != "RS256":
        raise Refused(401, f"The id_token is signed with {header.get('alg')}; only RS256 is accepted.")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise Refused(401, "The id_token's header names no key (kid).")
    state_hash = secret_digest(state).hex()
    with db.transaction("service_role") as conn:
        row = conn.execute(SQL["login_state"], {"state_hash": state_hash}).fetchone()
    if row is None:
        raise Refused(400, "This launch was already used or has expired: start it again from your course.")
    platform = Platform(row["id"], row["organization_id"], row["issuer"], row["client_id"], row["deployment_ids"])
    try:
        key = key_sets.key(platform.id, row["key_set_url"], kid)
        claims = jwt.decode(id_token, key, algorithms=["RS256"], options=SIGNATURE_ONLY)
    except KeySetError as exc:
        raise Refused(401, f"The id_token cannot be checked: {exc}.") from None
    except jwt.InvalidTokenError:
        raise Refused(401, "The id_token's signature does not verify with the platform's key.") from None
    with db.transaction("service_role") as conn:
        consumed = conn.execute(SQL["consume_login_state"], {"state_hash": state_hash}).fetchone()
    if consumed is None:
        raise Refused(400, "This launch was already used or has expired: start it again from your course.")
    check_claims(claims, platform, consumed["nonce"], time.time())
    return Launch(platform, claims)


def _audiences(claims: dict) -> list:
    aud = claims.get("aud")
    return [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []


def _number(claims: dict, name: str) -> float:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Refused(401, f"The id_token has no numeric {name}.")
    return value


def check_claims(claims: dict, platform: Platform, nonce: str, now: float) -> None:
    """Every claim check after the signature (SF 1.0 §5.1.3; LTI 1.3 §5.3), Refused at the first."""
    if claims.get("iss") != platform.issuer:
        raise Refused(401, f"The id_token's issuer is not {platform.issuer}.")
    audiences = _audiences(claims)
    if platform.client_id not in audiences:
        raise Refused(401, f"The id_token is meant for another tool: its aud does not hold {platform.client_id}.")
    if (len(audiences) > 1 or "azp" in claims) and claims.get("azp") != platform.client_id:
        raise Refused(401, f"The id_token has several audiences and its azp is not {platform.client_id}.")
    if now > _number(claims, "exp") + LEEWAY_SECONDS:
        raise Refused(401, "The id_token has expired: start the launch again from your course.")
    if _number(claims, "iat") > now + LEEWAY_SECONDS:
        raise Refused(401, "The id_token was issued in the future: the platform's clock is off.")
    presented = claims.get("nonce")
    if not isinstance(presented, str) or not hmac.compare_digest(presented.encode(), nonce.encode()):
        raise Refused(401, "The id_token's nonce is not the one this login issued.")
    if claims.get(LTI + "deployment_id") not in platform.deployment_ids:
        raise Refused(403, "The id_token's deployment is not registered for this platform: ask your admin to add it.")
    if claims.get(LTI + "version") != "1.3.0":
        raise Refused(400, "The launch is not LTI 1.3.0 (its version claim).")
    message_type = claims.get(LTI + "message_type")
    if message_type == RESOURCE_LINK_REQUEST:
        link = claims.get(LTI + "resource_link")
        if not isinstance(link, dict) or not isinstance(link.get("id"), str) or not link["id"]:
            raise Refused(400, "The resource-link launch has no resource_link id.")
        subject = claims.get("sub")
        if not isinstance(subject, str) or not 1 <= len(subject) <= 255:
            raise Refused(400, "The launch names no user (sub): anonymous launches are not supported.")
    elif message_type == DEEP_LINKING_REQUEST:
        settings = claims.get(DEEP_LINKING_SETTINGS)
        if not isinstance(settings, dict) or not isinstance(settings.get("deep_link_return_url"), str):
            raise Refused(400, "The deep-linking launch has no deep_link_return_url in its settings.")
    else:
        raise Refused(400, f"The launch's message type {message_type!r} is not one this tool takes.")


def delete_expired_states(conn: psycopg.Connection) -> int:
    return conn.execute(SQL["delete_expired_states"]).rowcount
