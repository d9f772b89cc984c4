// What each token role may do, mirrored from the server's role rules so the UI can disable
// what would be refused, and say why, before the user tries.

export type Action = 'publish' | 'release' | 'set_override' | 'manage_apps' | 'manage_keys';

const RANK: Record<string, number> = { viewer: 0, qa: 1, publisher: 2, admin: 3 };
const NEEDS: Record<Action, string> = {
  set_override: 'qa',
  publish: 'publisher',
  release: 'publisher',
  manage_apps: 'admin',
  manage_keys: 'admin',
};
const VERB: Record<Action, string> = {
  publish: 'publish, roll out, promote or roll back',
  release: 'change rollouts, promote or roll back',
  set_override: 'change device channels',
  manage_apps: 'register apps',
  manage_keys: 'register signing keys or change the signing rule',
};

/** Null when `role` may do `action`, else the reason in words. */
export function deniedReason(role: string, action: Action): string | null {
  const needed = NEEDS[action];
  if ((RANK[role] ?? -1) >= RANK[needed]) return null;
  const who = needed === 'admin' ? 'an admin token' : `a ${needed} or admin token`;
  return `Your token's role (${role}) cannot ${VERB[action]}: ${who} can.`;
}
