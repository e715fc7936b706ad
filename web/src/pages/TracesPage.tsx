import type { PageProps } from '../App';
import { PendingApi } from '../components/PendingApi';

/** Trace search and trace view (waits for the trace API). */
export function TracesPage(_: PageProps) {
  return (
    <PendingApi
      summary="Find traces by service, operation, tags and duration, then open one as a waterfall with its critical path and errors highlighted."
      endpoints={[
        'GET /api/services, /api/services/{service}/operations',
        'GET /api/traces?service=…',
        'GET /api/traces/{traceID}',
      ]}
      features={[
        { title: 'Search', text: 'Service, operation, tags, minimum and maximum duration over the selected time range.' },
        { title: 'Results scatter', text: 'Each matching trace as a point by start time and duration; errors stand out.' },
        { title: 'Waterfall', text: 'Spans on a time axis with attributes, events and links; the critical path is marked.' },
        { title: 'To the logs', text: '“Logs of this trace” and “logs of this span” open the logs explorer on the same ids.' },
      ]}
    />
  );
}
