import { useCallback, useState } from 'react';
import { setTenant } from './api';
import { ErrorBoundary } from './components/ErrorBoundary';
import { Nav } from './components/Nav';
import { TopBar } from './components/TopBar';
import { useRefreshTick } from './hooks';
import { AlertsPage } from './pages/AlertsPage';
import { DashboardsPage } from './dashboards/DashboardsPage';
import { LogsPage } from './pages/LogsPage';
import { MetricsPage } from './pages/MetricsPage';
import { ServiceMapPage } from './pages/ServiceMapPage';
import { TracesPage } from './traces/TracesPage';
import { useRoute } from './router';
import { rangeFromParams, type RangeSpec } from './time';

/** What every page receives: the URL's shared state and a refresh counter. */
export interface PageProps {
  /** The URL path, for pages with sub-views (such as /dashboards/<id>). */
  path: string;
  range: RangeSpec;
  params: URLSearchParams;
  /** Changes on manual refresh and on each auto-refresh tick. */
  refreshKey: number;
}

interface PageDef {
  title: string;
  component: (p: PageProps) => React.ReactNode;
  showTime: boolean;
}

const PAGES: Record<string, PageDef> = {
  '/logs': { title: 'Logs', component: LogsPage, showTime: true },
  '/graph': { title: 'Metrics explorer', component: MetricsPage, showTime: true },
  '/dashboards': { title: 'Dashboards', component: DashboardsPage, showTime: true },
  '/traces': { title: 'Traces', component: TracesPage, showTime: true },
  '/service-map': { title: 'Service map', component: ServiceMapPage, showTime: true },
  '/alerts': { title: 'Alerts', component: AlertsPage, showTime: false },
};

export function App() {
  const { path, params } = useRoute();
  const tenant = params.get('tenant') ?? '';
  // Set before children render so their first requests carry the tenant.
  setTenant(tenant);
  const refresh = params.get('refresh') ?? '';
  const tick = useRefreshTick(refresh);
  const [manual, setManual] = useState(0);
  const onRefresh = useCallback(() => setManual((m) => m + 1), []);

  const key = path === '/' ? '/graph' : Object.keys(PAGES).find((p) => path === p || path.startsWith(p + '/'));
  const page = key ? PAGES[key] : undefined;
  const range = rangeFromParams(params);

  return (
    <div className="app">
      <Nav current={key ?? path} />
      <div className="main">
        <TopBar
          title={page?.title ?? 'Not found'}
          range={range}
          refresh={refresh}
          tenant={tenant}
          onRefresh={onRefresh}
          showTime={page?.showTime ?? false}
        />
        <main className="content">
          {page ? (
            <ErrorBoundary key={key}>
              <page.component path={path} range={range} params={params} refreshKey={tick * 100000 + manual} />
            </ErrorBoundary>
          ) : (
            <div className="empty-state">
              <h2>Page not found</h2>
              <p>
                There is no page at <code>{path}</code>. Pick one on the left.
              </p>
            </div>
          )}
        </main>
      </div>
    </div>
  );
}
