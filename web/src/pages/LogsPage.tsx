import type { PageProps } from '../App';
import { PendingApi } from '../components/PendingApi';

/** Logs explorer: LogQL search, volume histogram and log lines (waits for the log API). */
export function LogsPage(_: PageProps) {
  return (
    <PendingApi
      summary="Search logs with LogQL, see their volume over time by level, and follow a trace id from a line to its trace."
      endpoints={[
        'GET /loki/api/v1/query_range',
        'GET /loki/api/v1/labels, /label/{name}/values',
        'GET /api/v1/logs/hits (volume by level)',
        'WS /loki/api/v1/tail',
      ]}
      features={[
        { title: 'LogQL editor', text: 'Completion of stream labels and their values, pipeline stages and filters.' },
        { title: 'Volume histogram', text: 'Log volume over the time range stacked by level; drag across it to zoom.' },
        { title: 'Log lines', text: 'Newest first, coloured by level, expandable to every field; click a value to filter on it.' },
        { title: 'Live tail and trace links', text: 'Follow new lines as they arrive; a trace id in a line opens that trace.' },
      ]}
    />
  );
}
