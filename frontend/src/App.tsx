import { BrowserRouter, Navigate, Route, Routes, useLocation, useSearchParams } from "react-router-dom";
import { AuthProvider, useAuth } from "./auth";
import { Empty, ErrorBanner, Loading, PageTitle } from "./components/feedback";
import { Layout } from "./components/Layout";
import { ApiKeysPage } from "./pages/api-keys/List";
import { AuditPage } from "./pages/audit/Audit";
import { DashboardPage } from "./pages/dashboard/Dashboard";
import { DeliveryDetailPage } from "./pages/deliveries/Detail";
import { DeliveriesPage } from "./pages/deliveries/List";
import { InboundPage } from "./pages/inbound/List";
import { LtiPlatformDetailPage } from "./pages/lti-platforms/Detail";
import { LtiPlatformsPage } from "./pages/lti-platforms/List";
import { NewLtiPlatformPage } from "./pages/lti-platforms/New";
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

export function AppRoutes() {
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
        <SignedOutRoutes />
      </>
    );
  }
  if (me.must_change_password) return <ChangePasswordPage />;
  return (
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
  );
}

export function App() {
  return (
    <AuthProvider>
      <BrowserRouter basename={BASENAME}>
        <AppRoutes />
      </BrowserRouter>
    </AuthProvider>
  );
}
