import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import { ApiError, asApiError, onUnauthorized, setCsrfToken } from "./api";
import { fetchMe, signIn, signOut, type Me, type Organization } from "./api/auth";

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
      const profile = await fetchMe();
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
        setError(asApiError(caught));
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
      const signedIn = await signIn(email, password);
      setCsrfToken(signedIn?.csrf_token);
      await refresh();
    },
    [refresh],
  );

  const logout = useCallback(async () => {
    try {
      await signOut();
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
