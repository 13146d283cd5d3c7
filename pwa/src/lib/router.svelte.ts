// A small hash router: `#/household/<id>` → { name: 'household', params: ['<id>'] }. Hash
// routes need no server configuration and work from the precached shell offline.

export interface Route {
  name: string;
  params: string[];
  query: URLSearchParams;
}

function parse(hash: string): Route {
  const [path = '', q = ''] = hash.replace(/^#\/?/, '').split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  return { name: parts[0] ?? '', params: parts.slice(1), query: new URLSearchParams(q) };
}

export const router = $state({ route: parse(typeof location === 'undefined' ? '' : location.hash) });

/** Asked before leaving a screen: false keeps the user there (unsaved form). */
let guard: (() => boolean) | null = null;

export function setLeaveGuard(fn: (() => boolean) | null): void {
  guard = fn;
}

export function startRouter(): () => void {
  let current = location.hash;
  const onHash = () => {
    if (location.hash === current) return;
    if (guard && !guard()) {
      history.replaceState(null, '', current || '#/');
      return;
    }
    guard = null;
    current = location.hash;
    router.route = parse(location.hash);
    window.scrollTo(0, 0);
  };
  window.addEventListener('hashchange', onHash);
  return () => window.removeEventListener('hashchange', onHash);
}

export function href(...parts: string[]): string {
  return '#/' + parts.map(encodeURIComponent).join('/');
}

export function go(path: string): void {
  location.hash = path.startsWith('#') ? path : `#${path}`;
}

export function back(fallback = '#/'): void {
  if (history.length > 1) history.back();
  else go(fallback);
}
