// API keys of the external API, and the limits a platform admin sets on them.
import { api } from "../api";

export interface ApiKey {
  key_id: string;
  id?: string;
  name?: string;
  tier: string;
  ip_allowlist?: string[];
  created_at?: string;
  last_used_at?: string | null;
  revoked_at?: string | null;
  expires_at?: string | null;
  /** active, replaced (old secret in its grace period), expired or revoked. */
  status?: string;
  previous_secret_expires_at?: string | null;
  api_key?: string;
}

/** What one tier admits (API_KEY_TIERS). */
export interface TierLimits {
  tier: string;
  per_day: number;
  per_minute: number;
}

/** What an organization may hold in API keys: set by platform admins, read by its admins. */
export interface OrganizationLimits {
  organization_id: string;
  allowed_tiers: string[];
  max_api_keys: number;
  /** Keys it holds now (neither revoked nor replaced). */
  api_keys: number;
  /** The allowed tiers with their limits, in tier order. */
  tiers: TierLimits[];
}

export interface NewApiKey {
  name: string;
  tier: string;
  /** Empty allows any address, and is then not sent. */
  ip_allowlist: string[];
}

export function keyId(key: ApiKey): string {
  return key.key_id ?? key.id ?? "";
}

export function keyStatus(key: ApiKey): string {
  return key.status ?? (key.revoked_at ? "revoked" : "active");
}

/** Revoked and expired keys can no longer be rotated or revoked. */
export function isUsable(key: ApiKey): boolean {
  return keyStatus(key) === "active" || keyStatus(key) === "replaced";
}

export const KEYS_PATH = "/v1/admin/external/keys";

function keyPath(keyId: string): string {
  return `${KEYS_PATH}/${encodeURIComponent(keyId)}`;
}

/** The tiers, with their figures, that the organization may issue. */
export function limitsPath(organizationId: string): string {
  return `/api/organizations/${encodeURIComponent(organizationId)}/limits`;
}

export function createKey(organizationId: string, key: NewApiKey): Promise<ApiKey> {
  const { ip_allowlist, ...rest } = key;
  return api<ApiKey>(KEYS_PATH, {
    method: "POST",
    body: { organization_id: organizationId, ...rest, ...(ip_allowlist.length ? { ip_allowlist } : {}) },
  });
}

export function rotateKey(keyId: string, preserveKeyId: boolean, graceSeconds: number): Promise<ApiKey> {
  return api<ApiKey>(`${keyPath(keyId)}/rotate`, {
    method: "POST",
    body: { preserve_key_id: preserveKeyId, grace_seconds: graceSeconds },
  });
}

export function revokeKey(keyId: string): Promise<unknown> {
  return api(keyPath(keyId), { method: "DELETE" });
}
