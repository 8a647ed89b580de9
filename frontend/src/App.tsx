import type { ReactNode } from "react";
import { BrowserRouter, Navigate, Route, Routes, useLocation, useSearchParams } from "react-router-dom";
import { AuthProvider, useAuth } from "./auth";
import { Empty, ErrorBanner, Loading, PageTitle } from "./components/feedback";
import { Layout } from "./components/Layout";
import { LearnerLayout } from "./components/LearnerLayout";
import { ApiKeysPage } from "./pages/api-keys/List";
import { AuditPage } from "./pages/audit/Audit";
import { DashboardPage } from "./pages/dashboard/Dashboard";
import { DeliveryDetailPage } from "./pages/deliveries/Detail";
import { DeliveriesPage } from "./pages/deliveries/List";
import { InboundPage } from "./pages/inbound/List";
import { LtiPlatformDetailPage } from "./pages/lti-platforms/Detail";
import { LtiPlatformsPage } from "./pages/lti-platforms/List";
import { NewLtiPlatformPage } from "./pages/lti-platforms/New";
import { QuestPage } from "./pages/learn/QuestPage";
import { InvitationPage } from "./pages/invitation/Invitation";
import { ResetPasswordPage } from "./pages/invitation/ResetPassword";
import { ChangePasswordPage, LoginPage } from "./pages/login/Login";
import { MembersPage } from "./pages/members/List";
import { OAuthClientsPage } from "./pages/oauth-clients/List";
import { ProfilePage } from "./pages/profile/Profile";
import { SubscriptionDetailPage } from "./pages/subscriptions/Detail";
import { SubscriptionsPage } from "./pages/subscriptions/List";
import { NewSubscriptionPage } from "./pages/subscriptions/New";

export const BASENAME = "/admin";
/** The learner pages (where an LTI launch lands) are a second area of the same app. */
export const LEARN_BASENAME = "/learn";

export function isLearnerPath(pathname: string): boolean {
  return pathname === LEARN_BASENAME || pathname.startsWith(`${LEARN_BASENAME}/`);
}

/** Where to go after signing in: a path inside the app only, never another site. */
export function safeNext(next: string | null): string {
  return next && next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/login") ? next : "/";
}

function NotFoundPage() {
  return (
    <>
      <PageTitle>Page not found</PageTitle>
      <Empty title="There is no page at this address">Use the menu to find what you are looking for.</Empty>
    </>
  );
}

// The pages emailed links open, signed in or not (the token was taken from the address in main.tsx).
const LINK_ROUTES = [
  <Route key="invitation" path="/invitation" element={<InvitationPage />} />,
  <Route key="reset-password" path="/reset-password" element={<ResetPasswordPage />} />,
];

function SignedOutRoutes() {
  const location = useLocation();
  const next = `${location.pathname}${location.search}`;
  return (
    <Routes>
      <Route path="/login" element={<LoginPage />} />
      {LINK_ROUTES}
      <Route
        path="*"
        element={<Navigate to={next === "/" ? "/login" : `/login?next=${encodeURIComponent(next)}`} replace />}
      />
    </Routes>
  );
}

function AfterLogin() {
  const [params] = useSearchParams();
  return <Navigate to={safeNext(params.get("next"))} replace />;
}

/** `children` once someone is signed in (with a password they may keep); `signedOut` before. */
function SignedIn({ signedOut, children }: { signedOut: ReactNode; children: ReactNode }) {
  const { me, error, refresh } = useAuth();
  if (me === undefined) {
    return (
      <div className="login-page">
        <Loading label="Loading Questbridge…" />
      </div>
    );
  }
  if (me === null) {
    return (
      <>
        {error && (
          <div className="login-page-banner">
            <ErrorBanner error={error} onRetry={() => void refresh()} />
          </div>
        )}
        {signedOut}
      </>
    );
  }
  if (me.must_change_password) return <ChangePasswordPage />;
  return <>{children}</>;
}

export function AppRoutes() {
  return (
    <SignedIn signedOut={<SignedOutRoutes />}>
      <Routes>
        <Route path="/login" element={<AfterLogin />} />
        {LINK_ROUTES}
        <Route element={<Layout />}>
          <Route index element={<DashboardPage />} />
          <Route path="subscriptions" element={<SubscriptionsPage />} />
          <Route path="subscriptions/new" element={<NewSubscriptionPage />} />
          <Route path="subscriptions/:id" element={<SubscriptionDetailPage />} />
          <Route path="deliveries" element={<DeliveriesPage />} />
          <Route path="deliveries/:id" element={<DeliveryDetailPage />} />
          <Route path="api-keys" element={<ApiKeysPage />} />
          <Route path="oauth-clients" element={<OAuthClientsPage />} />
          <Route path="lti-platforms" element={<LtiPlatformsPage />} />
          <Route path="lti-platforms/new" element={<NewLtiPlatformPage />} />
          <Route path="lti-platforms/:id" element={<LtiPlatformDetailPage />} />
          <Route path="inbound" element={<InboundPage />} />
          <Route path="members" element={<MembersPage />} />
          <Route path="audit" element={<AuditPage />} />
          <Route path="profile" element={<ProfilePage />} />
          <Route path="*" element={<NotFoundPage />} />
        </Route>
      </Routes>
    </SignedIn>
  );
}

function LearnerNotFoundPage() {
  return (
    <>
      <PageTitle>Page not found</PageTitle>
      <Empty title="There is no page at this address">Open your quest again from your course.</Empty>
    </>
  );
}

/** The learner area (under /learn): signing in keeps the address, so the quest opens right after. */
export function LearnerRoutes() {
  return (
    <SignedIn signedOut={<LoginPage title="Questbridge" intro="Sign in to open your quest." />}>
      <Routes>
        <Route element={<LearnerLayout />}>
          <Route path="quests/:id" element={<QuestPage />} />
          <Route path="*" element={<LearnerNotFoundPage />} />
        </Route>
      </Routes>
    </SignedIn>
  );
}

export function App() {
  const learner = isLearnerPath(window.location.pathname);
  return (
    <AuthProvider>
      <BrowserRouter basename={learner ? LEARN_BASENAME : BASENAME}>{learner ? <LearnerRoutes /> : <AppRoutes />}</BrowserRouter>
    </AuthProvider>
  );
}
