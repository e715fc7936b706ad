import { useEffect, useState } from 'react';
import { setParams } from '../router';
import { setTheme, useTheme } from '../theme';
import { REFRESH_CHOICES, type RangeSpec } from '../time';
import { TimeRangePicker } from './TimeRangePicker';

interface Props {
  title: string;
  range: RangeSpec;
  refresh: string;
  tenant: string;
  onRefresh: () => void;
  showTime: boolean;
}

/** The bar above every page: title, time range, refresh, tenant and theme. */
export function TopBar({ title, range, refresh, tenant, onRefresh, showTime }: Props) {
  const theme = useTheme();
  const [tenantDraft, setTenantDraft] = useState(tenant);
  useEffect(() => setTenantDraft(tenant), [tenant]);

  const commitTenant = () => {
    if (tenantDraft.trim() !== tenant) setParams({ tenant: tenantDraft.trim() || null }, true);
  };

  return (
    <header className="topbar">
      <h1 className="page-title">{title}</h1>
      <div className="topbar-controls">
        {showTime && <TimeRangePicker range={range} />}
        <div className="refresh-group">
          <button type="button" className="btn icon-btn" onClick={onRefresh} title="Refresh now" aria-label="Refresh now">
            <svg width="14" height="14" viewBox="0 0 16 16" aria-hidden="true">
              <path
                d="M13.5 8a5.5 5.5 0 1 1-1.6-3.9M13.5 2.5v3h-3"
                fill="none"
                stroke="currentColor"
                strokeWidth="1.5"
                strokeLinecap="round"
                strokeLinejoin="round"
              />
            </svg>
          </button>
          <select
            className="select refresh-select"
            value={refresh}
            aria-label="Auto refresh"
            title="Auto refresh"
            onChange={(e) => setParams({ refresh: e.target.value || null }, true)}
          >
            {REFRESH_CHOICES.map((r) => (
              <option key={r} value={r}>
                {r ? `every ${r}` : 'Auto off'}
              </option>
            ))}
          </select>
            </div>
        <label className="tenant-field" title="Tenant (sent as the X-Scope-OrgID header)">
          <span>Tenant</span>
          <input
            className="input"
            value={tenantDraft}
            placeholder="default"
            spellCheck={false}
            onChange={(e) => setTenantDraft(e.target.value)}
            onBlur={commitTenant}
            onKeyDown={(e) => {
              if (e.key === 'Enter') commitTenant();
            }}
          />
        </label>
        <button
          type="button"
          className="btn icon-btn"
          onClick={() => setTheme(theme === 'dark' ? 'light' : 'dark')}
          title={theme === 'dark' ? 'Switch to light theme' : 'Switch to dark theme'}
          aria-label="Toggle theme"
        >
          {theme === 'dark' ? (
            <svg width="15" height="15" viewBox="0 0 16 16" aria-hidden="true">
              <circle cx="8" cy="8" r="3" fill="currentColor" />
              <path
                d="M8 1v2M8 13v2M1 8h2M13 8h2M3 3l1.4 1.4M11.6 11.6L13 13M3 13l1.4-1.4M11.6 4.4L13 3"
                stroke="currentColor"
                strokeWidth="1.4"
                strokeLinecap="round"
              />
            </svg>
          ) : (
            <svg width="15" height="15" viewBox="0 0 16 16" aria-hidden="true">
              <path d="M13.5 9.5A6 6 0 0 1 6.5 2.5a6 6 0 1 0 7 7z" fill="currentColor" />
            </svg>
          )}
        </button>
      </div>
    </header>
  );
}
