import { createContext, useContext, type ReactNode } from 'react';
import type { Session } from '../bindings/Session';

const SessionContext = createContext<Session | null>(null);

export function SessionProvider({ session, children }: { session: Session | null; children: ReactNode }) {
  return <SessionContext.Provider value={session}>{children}</SessionContext.Provider>;
}

/** The connected server and the token's role; null before connecting. */
export function useSession(): Session | null {
  return useContext(SessionContext);
}
