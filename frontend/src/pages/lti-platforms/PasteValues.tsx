// What a platform's admin pastes into Canvas or Moodle about Questbridge, in each LMS's own words.
import type { ReactNode } from "react";
import type { ToolUrls } from "../../api/ltiPlatforms";
import { CopyField } from "../../components/CopyField";

/** A field of the LMS's form: its label there, which of our addresses goes in it, and a hint. */
type PasteValue = [label: string, value: keyof ToolUrls, hint?: string];

const ONE_PER_LINE = "One per line.";

const CANVAS_MANUAL: PasteValue[] = [
  ["Redirect URIs", "redirect_uris", ONE_PER_LINE],
  ["Target Link URI", "launch_url"],
  ["OpenID Connect Initiation Url", "login_url"],
  ["Public JWK URL", "jwks_url", "With the JWK method “Public JWK URL”."],
  [
    "Deep linking Target Link URI",
    "deep_linking_url",
    "For the Link Selection and Assignment Selection placements, message type LtiDeepLinkingRequest.",
  ],
];

const MOODLE_MANUAL: PasteValue[] = [
  ["Tool URL", "launch_url"],
  ["Public keyset", "jwks_url"],
  ["Initiate login URL", "login_url"],
  ["Redirection URI(s)", "redirect_uris", ONE_PER_LINE],
  ["Content Selection URL", "deep_linking_url", "With “Supports Deep Linking (Content-Item Message)” ticked."],
];

function PasteList({ tool, values }: { tool: ToolUrls; values: PasteValue[] }) {
  return (
    <div className="paste-list">
      {values.map(([label, key, hint]) => (
        <CopyField key={label} label={label} value={tool[key]} hint={hint} />
      ))}
    </div>
  );
}

/** A panel's heading level: 2 on a platform's page, 3 under the New page's "1. Paste these…". */
type Level = 2 | 3;

function PasteSection({ id, title, level, children }: { id: string; title: string; level: Level; children: ReactNode }) {
  const Heading = level === 2 ? "h2" : "h3";
  return (
    <section className="panel" aria-labelledby={id}>
      <Heading id={id}>{title}</Heading>
      {children}
    </section>
  );
}

export function CanvasValues({ tool, level = 2 }: { tool: ToolUrls; level?: Level }) {
  const Subheading = level === 2 ? "h3" : "h4";
  return (
    <PasteSection id="canvas-heading" title="Canvas" level={level}>
      <p className="muted">
        Admin › Developer Keys › + Developer Key › LTI Key. Choose the method <strong>Enter URL</strong> and paste the JSON
        URL; then turn the key on and deploy it (Settings › Apps › + App › By Client ID).
      </p>
      <PasteList tool={tool} values={[["JSON URL", "canvas_config_url", "Configures everything below at once."]]} />
      <Subheading>Or, with the method Manual Entry</Subheading>
      <PasteList tool={tool} values={CANVAS_MANUAL} />
    </PasteSection>
  );
}

export function MoodleValues({ tool, level = 2 }: { tool: ToolUrls; level?: Level }) {
  return (
    <PasteSection id="moodle-heading" title="Moodle" level={level}>
      <p className="muted">
        Site administration › Plugins › Activity modules › External tool › Manage tools › configure a tool manually. Choose
        LTI version <strong>LTI 1.3</strong> and public key type <strong>Keyset URL</strong>.
      </p>
      <PasteList tool={tool} values={MOODLE_MANUAL} />
    </PasteSection>
  );
}
