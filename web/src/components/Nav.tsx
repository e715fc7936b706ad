import { hrefFor, onLinkClick } from '../router';

export interface NavItem {
  path: string;
  label: string;
  icon: React.ReactNode;
}

const s = { fill: 'none', stroke: 'currentColor', strokeWidth: 1.5, strokeLinecap: 'round', strokeLinejoin: 'round' } as const;

export const NAV_ITEMS: NavItem[] = [
  {
    path: '/logs',
    label: 'Logs',
    icon: (
      <svg viewBox="0 0 16 16" {...s}>
        <path d="M3 3.5h10M3 6.5h10M3 9.5h7M3 12.5h8" />
      </svg>
    ),
  },
  {
    path: '/graph',
    label: 'Metrics',
    icon: (
      <svg viewBox="0 0 16 16" {...s}>
        <path d="M2 13.5h12M3 11l3-4 3 2 4-5.5" />
      </svg>
    ),
  },
  {
    path: '/dashboards',
    label: 'Dashboards',
    icon: (
      <svg viewBox="0 0 16 16" {...s}>
        <rect x="2" y="2" width="5" height="6" rx="1" />
        <rect x="9" y="2" width="5" height="3.5" rx="1" />
        <rect x="2" y="10" width="5" height="4" rx="1" />
        <rect x="9" y="7.5" width="5" height="6.5" rx="1" />
      </svg>
    ),
  },
  {
    path: '/traces',
    label: 'Traces',
    icon: (
      <svg viewBox="0 0 16 16" {...s}>
        <path d="M2 3.5h8M4 6.5h9M6 9.5h5M4 12.5h6" />
      </svg>
    ),
  },
  {
    path: '/service-map',
    label: 'Service map',
    icon: (
      <svg viewBox="0 0 16 16" {...s}>
        <circle cx="4" cy="4" r="2" />
        <circle cx="12" cy="5" r="2" />
        <circle cx="7" cy="12" r="2" />
        <path d="M5.8 4.3l4.2.5M4.8 5.8l1.5 4.3M11 6.7l-2.8 3.7" />
      </svg>
    ),
  },
  {
    path: '/alerts',
    label: 'Alerts',
    icon: (
      <svg viewBox="0 0 16 16" {...s}>
        <path d="M4 11V7a4 4 0 0 1 8 0v4l1.5 1.5h-11zM6.5 14h3" />
      </svg>
    ),
  },
];

/** The left navigation; links keep the time range and tenant. */
export function Nav({ current }: { current: string }) {
  return (
    <nav className="nav" aria-label="Main">
      <a className="brand" href={hrefFor('/graph')} onClick={onLinkClick}>
        <svg width="20" height="20" viewBox="0 0 20 20" aria-hidden="true">
          <circle cx="10" cy="10" r="8.5" fill="none" stroke="var(--accent)" strokeWidth="2" />
          <path d="M4 12l3.5-4 3 3 5.5-6" fill="none" stroke="var(--accent)" strokeWidth="2" strokeLinecap="round" strokeLinejoin="round" />
        </svg>
        <span>sightline</span>
      </a>
      <ul>
        {NAV_ITEMS.map((item) => {
          const active = current === item.path || current.startsWith(item.path + '/');
          return (
            <li key={item.path}>
              <a
                href={hrefFor(item.path)}
                onClick={onLinkClick}
                className={active ? 'active' : undefined}
                aria-current={active ? 'page' : undefined}
              >
                <span className="nav-icon" aria-hidden="true">
                  {item.icon}
                </span>
                {item.label}
              </a>
            </li>
          );
        })}
      </ul>
    </nav>
  );
}
