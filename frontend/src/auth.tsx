import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import { ApiError, api, onUnauthorized, setCsrfToken, type Me, type Organization } from "./api";

const ORG_STORAGE_KEY = "questbridge.admin.organization";

interface AuthState {
  /** undefined while the first /api/auth/me is in flight, null when signed out. */
  me: Me | null | undefined;
  error: ApiError | undefined;
  organization: Organization | undefined;
  selectOrganization: (id: string) => void;
  login: (email: string, password: string) => Promise<void>;
  logout: () => Promise<void>;
  refresh: () => Promise<void>;
}

const AuthContext = createContext<AuthState | null>(null);

function pickOrganization(me: Me | null | undefined, wanted: string | null): Organization | undefined {
  const organizations = me?.organizations ?? [];
  return (
    organizations.find((org) => org.id === wanted) ??
    organizations.find((org) => org.role === "admin") ??
    organizations[0]
  );
}

function storedOrganization(): string | null {
  try {
    return window.localStorage.getItem(ORG_STORAGE_KEY);
  } catch {
    return null;
  }
}

export function AuthProvider({ children }: { children: ReactNode }) {
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  const [error, setError] = useState<ApiError>();
  const [organizationId, setOrganizationId] = useState<string | null>(storedOrganization);

  const refresh = useCallback(async () => {
    try {
      const profile = await api<Me>("/api/auth/me", { quietUnauthorized: true });
      setCsrfToken(profile.csrf_token);
      setMe(profile);
      setError(undefined);
    } catch (caught) {
      setCsrfToken(null);
      if (caught instanceof ApiError && caught.status === 401) {
        setMe(null);
        setError(undefined);
      } else {
        setMe(null);
        setError(caught instanceof ApiError ? caught : new ApiError(0, "Unexpected error", String(caught)));
      }
    }
  }, []);

  useEffect(() => {
    void refresh();
  }, [refresh]);

  useEffect(
    () =>
      onUnauthorized(() => {
        setCsrfToken(null);
        setMe(null);
      }),
    [],
  );

  const login = useCallback(
    async (email: string, password: string) => {
      const signedIn = await api<{ csrf_token?: string }>("/api/auth/login", {
        method: "POST",
        body: { email, password },
        quietUnauthorized: true,
      });
      setCsrfToken(signedIn?.csrf_token);
      await refresh();
    },
    [refresh],
  );

  const logout = useCallback(async () => {
    try {
      await api("/api/auth/logout", { method: "POST", quietUnauthorized: true });
    } finally {
      setCsrfToken(null);
      setMe(null);
    }
  }, []);

  const selectOrganization = useCallback((id: string) => {
    setOrganizationId(id);
    try {
      window.localStorage.setItem(ORG_STORAGE_KEY, id);
    } catch {
      // Private browsing without storage: the choice lasts for this page only.
    }
  }, []);

  const value = useMemo<AuthState>(
    () => ({
      me,
      error,
      organization: pickOrganization(me, organizationId),
      selectOrganization,
      login,
      logout,
      refresh,
    }),
    [me, error, organizationId, selectOrganization, login, logout, refresh],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthState {
  const state = useContext(AuthContext);
  if (!state) throw new Error("useAuth outside AuthProvider");
  return state;
}

/** The organization chosen in the switcher; pages render only once there is one. */
export function useOrganization(): Organization {
  const { organization } = useAuth();
  if (!organization) throw new Error("useOrganization without an organization");
  return organization;
}
