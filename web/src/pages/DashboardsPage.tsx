import type { PageProps } from '../App';
import { PendingApi } from '../components/PendingApi';

/** Dashboards: built-in and user dashboards (user storage waits for the server API). */
export function DashboardsPage(_: PageProps) {
  return (
    <PendingApi
      summary="Built-in dashboards for services, JVM, Go runtime and hosts, and your own dashboards stored by the server."
      endpoints={['GET /api/v1/query_range', 'GET/PUT /api/v1/dashboards (user dashboards)']}
      features={[
        { title: 'Service overview', text: 'Request rate, error ratio and latency percentiles per service from span metrics.' },
        { title: 'Runtimes and hosts', text: 'JVM (Micrometer names), Go runtime and node_exporter host dashboards.' },
        { title: 'Your dashboards', text: 'Saved on the server as JSON; import and export, including simple Grafana dashboards.' },
      ]}
      meanwhile={{ label: 'Open the metrics explorer', path: '/graph' }}
    />
  );
}
