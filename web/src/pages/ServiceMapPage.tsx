import type { PageProps } from '../App';
import { PendingApi } from '../components/PendingApi';

/** Service map from service-graph series (waits for span-derived metrics). */
export function ServiceMapPage(_: PageProps) {
  return (
    <PendingApi
      summary="The services and the databases and queues they call, drawn from the service-graph series the server derives from spans."
      endpoints={[
        'GET /api/v1/query (service-graph request, failure and latency series)',
        'GET /api/dependencies',
      ]}
      features={[
        { title: 'Graph', text: 'Services and their calls; edges show request rate, error ratio and p95 latency, coloured by health.' },
        { title: 'Service details', text: 'Click a node for its rate, errors and duration graphs, recent errors, traces and logs.' },
      ]}
      meanwhile={{ label: 'Open the metrics explorer', path: '/graph' }}
    />
  );
}
