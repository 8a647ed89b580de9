"""An LMS for launch tests: PyPI's lti1p3platform signs the launches, served on 127.0.0.1 by
pytest-httpserver (its key set and its OIDC authorization endpoint, which answers with the
auto-posting form a platform sends the browser). Tests follow that form by hand with Flask's test
client, and may re-sign the platform's launch message with changes to make refused launches."""

from __future__ import annotations

import html
import json
import re
import uuid
from urllib.parse import urlsplit

import jwt
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from lti1p3platform.ltiplatform import LTI1P3PlatformConfAbstract
from lti1p3platform.message_launch import LTIAdvantageMessageLaunchAbstract
from lti1p3platform.registration import Registration
from lti1p3platform.request import Request
from werkzeug import Response
from werkzeug.test import EnvironBuilder

ISSUER = "https://lms.example.edu"
CLIENT_ID = "questbridge-tool"
DEPLOYMENT_ID = "deployment-1"
KID = "lms-key-1"
LTI = "https://purl.imsglobal.org/spec/lti/claim/"
FORM_FIELD = re.compile(r'name="(id_token|state)" value="([^"]*)"')


def pem_pair() -> tuple[str, str, rsa.RSAPrivateKey]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public, key


class _Registration(Registration):
    """lti1p3platform's registration, its key named by KID (the library leaves kid out)."""

    def get_kid(self):
        return KID

    def get_jwks(self):
        return [jwk | {"kid": KID} for jwk in super().get_jwks()]


class _PlatformConf(LTI1P3PlatformConfAbstract):
    def init_platform_config(self, **kwargs):
        self._registration = kwargs["registration"]

    def get_registration_by_params(self, **kwargs):
        return self._registration


class _AuthRequest(Request):
    def build_metadata(self, request):
        return {
            "method": request.method,
            "form_data": request.form.to_dict(),
            "get_data": request.args.to_dict(),
            "headers": dict(request.headers),
            "content_type": request.content_type,
            "path": request.path,
            "json": None,
        }


class _Launch(LTIAdvantageMessageLaunchAbstract):
    def get_redirect(self, url):
        raise NotImplementedError

    def render_launch_form(self, launch_data, **kwargs):
        fields = "".join(
            f'<input type="hidden" name="{name}" value="{html.escape(launch_data[name])}">'
            for name in ("id_token", "state")
        )
        action = html.escape(launch_data["launch_url"])
        page = f'<form method="post" action="{action}">{fields}</form><script>document.forms[0].submit()</script>'
        return Response(page, content_type="text/html")


class LMS:
    """The platform; `user`, `custom` and `deep_linking` shape the next launch it signs."""

    def __init__(self, httpserver, tool_launch_url: str):
        self.server = httpserver
        self.private_pem, self.public_pem, self.key = pem_pair()
        self.registration = (
            _Registration()
            .set_iss(ISSUER)
            .set_client_id(CLIENT_ID)
            .set_deployment_id(DEPLOYMENT_ID)
            .set_launch_url(tool_launch_url)
            .set_deeplink_launch_url(tool_launch_url)
            .set_oidc_login_url(f"{tool_launch_url.rsplit('/', 1)[0]}/login")
            .set_platform_public_key(self.public_pem)
            .set_platform_private_key(self.private_pem)
        )
        self.user = {"sub": f"lms-user-{uuid.uuid4().hex[:8]}", "name": "Ada Lovelace", "email": "ada@school.test"}
        self.custom: dict = {}
        self.deep_linking = False
        self.return_url: str | None = None  # launch_presentation's: the course page that frames the tool
        self.resource_link_id = "course-7-link-3"
        self.jwks_served = {"keys": self.registration.get_jwks()}
        httpserver.expect_request("/jwks").respond_with_handler(lambda request: self._jwks())
        httpserver.expect_request("/auth").respond_with_handler(self._authorize)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def registration_body(self, org) -> dict:
        return {
            "organization_id": str(org["id"]),
            "name": "School LMS",
            "issuer": ISSUER,
            "client_id": CLIENT_ID,
            "deployment_ids": [DEPLOYMENT_ID],
            "auth_login_url": f"{self.base}/auth",
            "auth_token_url": f"{self.base}/token",
            "key_set_url": f"{self.base}/jwks",
        }

    def jwks_requests(self) -> int:
        return sum(1 for request, _ in self.server.log if request.path == "/jwks")

    def _jwks(self):
        return Response(json.dumps(self.jwks_served), content_type="application/json")

    def _message_launch(self, request) -> _Launch:
        launch = _Launch(_AuthRequest(request), _PlatformConf(registration=self.registration))
        launch.set_user_data(
            self.user["sub"],
            ["http://purl.imsglobal.org/vocab/lis/v2/membership#Administrator"],
            full_name=self.user.get("name"),
            email_address=self.user.get("email"),
        )
        names = {claim: self.user[claim] for claim in ("given_name", "family_name") if claim in self.user}
        if names:
            launch.set_extra_claims(names)
        launch.set_resource_link_claim(self.resource_link_id, title="Week 3: loops")
        if self.custom:
            launch.set_custom_parameters_claim(self.custom)
        if self.return_url:
            launch.set_launch_presentation_claim(document_target="iframe", return_url=self.return_url)
        launch.set_ags(f"{self.base}/lineitems", f"{self.base}/lineitems/1/lineitem?type_id=7")
        if self.deep_linking:
            launch.set_dl(f"{self.base}/deep-link-return", title="Pick quests")
        return launch

    def _authorize(self, request):
        return self._message_launch(request).lti_launch()

    def authorize(self, location: str) -> dict:
        """What the browser posts back after following the tool's redirect to `location`: the
        platform's own form, as served over HTTP."""
        answer = requests.get(location, timeout=5)
        assert answer.status_code == 200, answer.text
        return {name: html.unescape(value) for name, value in FORM_FIELD.findall(answer.text)}

    def message(self, location: str) -> tuple[dict, str]:
        """The launch message the platform would sign for the authentication request at
        `location` (without iat and exp, which signing adds), and its state."""
        request = EnvironBuilder(path="/auth", query_string=urlsplit(location).query).get_request()
        launch = self._message_launch(request)
        launch._registration = self.registration
        launch.validate_preflight_response(request.args.to_dict())
        return launch.get_launch_data()

    def sign(self, claims: dict, **header) -> str:
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": KID} | header)
