// The app (reverse-DNS id) the console's screens work on, chosen in the sidebar.
import { createContext, useContext, type ReactNode } from 'react';

const AppContext = createContext<string | null>(null);

export function CurrentAppProvider({ app, children }: { app: string | null; children: ReactNode }) {
  return <AppContext.Provider value={app}>{children}</AppContext.Provider>;
}

/** The selected app id; null before connecting or when the server has no app yet. */
export function useCurrentApp(): string | null {
  return useContext(AppContext);
}
