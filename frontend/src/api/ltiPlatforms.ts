// LMS platforms (LTI 1.3): the Canvas or Moodle sites that launch learners into Questbridge, and
// the tool's own addresses that their admins paste in.
import { api } from "../api";

/** The tool's side of a registration: what a platform's admin enters about Questbridge. */
export interface ToolUrls {
  login_url: string;
  launch_url: string;
  jwks_url: string;
  redirect_uris: string[];
  deep_linking_url: string;
  canvas_config_url: string;
}

/** What the platform's admin gives us, and what a platform's form edits. */
export interface PlatformFields {
  name: string;
  issuer: string;
  client_id: string;
  deployment_ids: string[];
  auth_login_url: string;
  auth_token_url: string;
  key_set_url: string;
  /** Left out (null) when the token endpoint's own URL is the audience. */
  auth_token_audience: string | null;
}

export interface LtiPlatform extends PlatformFields {
  id: string;
  organization_id: string;
  created_at: string;
  tool: ToolUrls;
}

export const PLATFORMS_PATH = "/api/lti/platforms";

/** The tool's addresses before any platform is registered (Canvas's JSON URL without a platform_id). */
export const TOOL_PATH = "/api/lti/tool";

/** The form's fields, in the order the form shows them (for its field errors). */
export const PLATFORM_FIELDS: (keyof PlatformFields)[] = [
  "name",
  "issuer",
  "client_id",
  "deployment_ids",
  "auth_login_url",
  "auth_token_url",
  "key_set_url",
  "auth_token_audience",
];

export function platformPath(id: string): string {
  return `${PLATFORMS_PATH}/${encodeURIComponent(id)}`;
}

/** Registering leaves an empty audience out: the platform has none unless one is given. */
export function createPlatform(organizationId: string, fields: PlatformFields): Promise<LtiPlatform> {
  const { auth_token_audience, ...rest } = fields;
  const audience = auth_token_audience ? { auth_token_audience } : {};
  return api<LtiPlatform>(PLATFORMS_PATH, {
    method: "POST",
    body: { organization_id: organizationId, ...rest, ...audience },
  });
}

/**
 * PUT is a partial update (a field left out keeps its value), so an emptied audience is sent as
 * null, which clears it.
 */
export function updatePlatform(id: string, fields: PlatformFields): Promise<LtiPlatform> {
  return api<LtiPlatform>(platformPath(id), {
    method: "PUT",
    body: { ...fields, auth_token_audience: fields.auth_token_audience || null },
  });
}

export function deletePlatform(id: string): Promise<unknown> {
  return api(platformPath(id), { method: "DELETE" });
}
