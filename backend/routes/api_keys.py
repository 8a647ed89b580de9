"""API keys for org admins (/v1/admin/external/keys): create, list, change, revoke and rotate."""

from __future__ import annotations

import ipaddress

from flask import Blueprint, g, jsonify
from marshmallow import Schema, ValidationError, fields, post_load, validate

from backend.auth import login_required, request_origin, user_transaction
from backend.routes.common import Changes, PageQuery, StrictBoolean, as_user, json_body, listed, not_blank
from backend.runtime import current_runtime
from backend.services.keys import manage

bp = Blueprint("api_keys", __name__, url_prefix="/v1/admin/external/keys")


IPV4_MAPPED = ipaddress.ip_network("::ffff:0:0/96")


class Network(fields.String):
    """An IPv4 or IPv6 CIDR, or a bare address (a /32 or /128). Host bits are refused, not cleared
    (10.0.0.1/8 is a typo more often than a wish to admit 16 million addresses), as are IPv6 zones;
    IPv4-mapped IPv6 is stored as the IPv4 network it means, since clients are matched as IPv4."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if "%" in text:
            raise ValidationError(f"{text!r} has an IPv6 zone (%...): give the address or network alone")
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise ValidationError(f"{text!r} is not an IPv4 or IPv6 address or CIDR") from None
        if network.network_address != ipaddress.ip_address(text.split("/")[0]):
            raise ValidationError(
                f"{text!r} has host bits set: write {network} for the whole network, "
                f"or {text.split('/')[0]} for the one address"
            )
        if network.version == 6 and network.subnet_of(IPV4_MAPPED):
            address = ipaddress.IPv4Address(int(network.network_address) & 0xFFFFFFFF)
            network = ipaddress.ip_network(f"{address}/{network.prefixlen - 96}")
        return network


def _allowlist(**kwargs) -> fields.List:
    return fields.List(
        Network(),
        validate=validate.Length(max=manage.MAX_ALLOWLIST_ENTRIES),
        **kwargs,
    )


def _name(**kwargs) -> fields.String:
    return fields.String(validate=[validate.Length(min=1, max=manage.MAX_NAME_LENGTH), not_blank], **kwargs)


class DeduplicateAllowlist:
    @post_load
    def _deduplicate(self, data, **kwargs):
        if "ip_allowlist" in data:
            data["ip_allowlist"] = list(dict.fromkeys(data["ip_allowlist"]))
        if "name" in data:
            data["name"] = data["name"].strip()
        return data


class KeySchema(DeduplicateAllowlist, Schema):
    organization_id = fields.UUID(required=True)
    name = _name(required=True)
    tier = fields.String(required=True, validate=validate.OneOf(manage.TIERS))
    ip_allowlist = _allowlist(load_default=list)


class KeyChangesSchema(DeduplicateAllowlist, Changes):
    nothing_sent = "send name, ip_allowlist or both"
    name = _name()
    ip_allowlist = _allowlist()


class RotateSchema(Schema):
    preserve_key_id = StrictBoolean(required=True)
    grace_seconds = fields.Integer(
        strict=True,
        load_default=manage.DEFAULT_GRACE_SECONDS,
        validate=validate.Range(min=0, max=manage.MAX_GRACE_SECONDS),
    )


class KeyQuery(PageQuery):
    organization_id = fields.UUID(load_default=None)


def _with_limits(key: dict) -> dict:
    return key | {"limits": current_runtime().config.api_key_tiers[key["tier"]]}


@bp.post("")
@login_required
def create_key():
    data = json_body(KeySchema())
    with user_transaction() as conn:
        key = manage.create_key(
            conn,
            user_id=g.identity.user_id,
            organization_id=data["organization_id"],
            name=data["name"],
            tier=data["tier"],
            ip_allowlist=data["ip_allowlist"],
            origin=request_origin(),
        )
    return jsonify(_with_limits(key)), 201


@bp.get("")
@login_required
def list_keys():
    return listed(manage.list_keys, KeyQuery(), _with_limits)


@bp.get("/<key_id>")
@login_required
def get_key(key_id):
    return jsonify(_with_limits(as_user(manage.get_key, key_id)))


@bp.put("/<key_id>")
@login_required
def update_key(key_id):
    changes = json_body(KeyChangesSchema())
    return jsonify(_with_limits(as_user(manage.update_key, key_id, changes, request_origin())))


@bp.delete("/<key_id>")
@login_required
def revoke_key(key_id):
    with user_transaction() as conn:
        manage.revoke_key(conn, key_id, request_origin())
    return "", 204


@bp.post("/<key_id>/rotate")
@login_required
def rotate_key(key_id):
    data = json_body(RotateSchema())
    with user_transaction() as conn:
        rotated = manage.rotate_key(
            conn,
            user_id=g.identity.user_id,
            key_id=key_id,
            preserve_key_id=data["preserve_key_id"],
            grace_seconds=data["grace_seconds"],
            origin=request_origin(),
        )
    return jsonify(_with_limits(rotated))
