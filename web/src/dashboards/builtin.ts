// The dashboards that ship with sightline. Each panel is one or more PromQL
// queries; `$var` stands for the dashboard variable's selected value (a regex
// matching every value when "All" is selected), `$__rate` for a rate window
// of four steps, at least one minute, and `$__tenant` for a matcher on the
// tenant label. Span-metric and service-graph series of a non-default tenant
// carry tenant="<id>" and those of the default tenant carry none, while the
// PromQL API reads one TSDB for every tenant: without the matcher a panel
// would add up (or list) the series of all tenants.

import type { Unit } from '../format';

export interface PanelQuery {
  expr: string;
  /** Legend template: {{label}} is replaced by the series' label value. */
  legend: string;
}

export interface Panel {
  title: string;
  unit: Unit;
  queries: PanelQuery[];
}

export interface DashboardVariable {
  /** Label whose values the variable offers, and the `$name` used in queries. */
  label: string;
  /** Series selector the values are taken from (may use `$__tenant`). */
  from: string;
}

export interface Dashboard {
  id: string;
  title: string;
  description: string;
  variable: DashboardVariable;
  panels: Panel[];
}

export const BUILTIN_DASHBOARDS: Dashboard[] = [
  {
    id: 'service-overview',
    title: 'Service overview',
    description:
      'Request rate, error ratio and latency percentiles per service, from the span metrics the server derives from traces; calls to downstream services and databases from the service graph.',
    variable: { label: 'service', from: 'traces_spanmetrics_calls_total{$__tenant}' },
    panels: [
      {
        title: 'Request rate',
        unit: 'ops',
        queries: [
          {
            expr: 'sum by (service) (rate(traces_spanmetrics_calls_total{$__tenant, service=~"$service", span_kind=~"SPAN_KIND_SERVER|SPAN_KIND_CONSUMER"}[$__rate]))',
            legend: '{{service}}',
          },
        ],
      },
      {
        title: 'Error ratio',
        unit: 'percent',
        queries: [
          {
            // Services without failed calls have no error series: count them as 0, not as absent.
            expr:
              '(sum by (service) (rate(traces_spanmetrics_calls_total{$__tenant, service=~"$service", span_kind=~"SPAN_KIND_SERVER|SPAN_KIND_CONSUMER", status_code="STATUS_CODE_ERROR"}[$__rate]))' +
              ' or 0 * sum by (service) (rate(traces_spanmetrics_calls_total{$__tenant, service=~"$service", span_kind=~"SPAN_KIND_SERVER|SPAN_KIND_CONSUMER"}[$__rate])))' +
              ' / sum by (service) (rate(traces_spanmetrics_calls_total{$__tenant, service=~"$service", span_kind=~"SPAN_KIND_SERVER|SPAN_KIND_CONSUMER"}[$__rate]))',
            legend: '{{service}}',
          },
        ],
      },
      {
        title: 'Latency p95',
        unit: 'seconds',
        queries: [
          {
            expr: 'histogram_quantile(0.95, sum by (service, le) (rate(traces_spanmetrics_duration_seconds_bucket{$__tenant, service=~"$service", span_kind=~"SPAN_KIND_SERVER|SPAN_KIND_CONSUMER"}[$__rate])))',
            legend: '{{service}}',
          },
        ],
      },
      {
        title: 'Latency percentiles (all selected services)',
        unit: 'seconds',
        queries: [0.5, 0.95, 0.99].map((q) => ({
          expr: `histogram_quantile(${q}, sum by (le) (rate(traces_spanmetrics_duration_seconds_bucket{$__tenant, service=~"$service", span_kind=~"SPAN_KIND_SERVER|SPAN_KIND_CONSUMER"}[$__rate])))`,
          legend: `p${q * 100}`,
        })),
      },
      {
        title: 'Requests by operation',
        unit: 'ops',
        queries: [
          {
            expr: 'sum by (service, span_name) (rate(traces_spanmetrics_calls_total{$__tenant, service=~"$service", span_kind=~"SPAN_KIND_SERVER|SPAN_KIND_CONSUMER"}[$__rate]))',
            legend: '{{service}} {{span_name}}',
          },
        ],
      },
      {
        title: 'Calls to downstream services',
        unit: 'ops',
        queries: [
          {
            expr: 'sum by (client, server) (rate(traces_service_graph_request_total{$__tenant, client=~"$service"}[$__rate]))',
            legend: '{{client}} → {{server}}',
          },
        ],
      },
      {
        title: 'Downstream error ratio',
        unit: 'percent',
        queries: [
          {
            expr:
              '(sum by (client, server) (rate(traces_service_graph_request_failed_total{$__tenant, client=~"$service"}[$__rate]))' +
              ' or 0 * sum by (client, server) (rate(traces_service_graph_request_total{$__tenant, client=~"$service"}[$__rate])))' +
              ' / sum by (client, server) (rate(traces_service_graph_request_total{$__tenant, client=~"$service"}[$__rate]))',
            legend: '{{client}} → {{server}}',
          },
        ],
      },
      {
        title: 'Downstream latency p95 (server side)',
        unit: 'seconds',
        queries: [
          {
            expr: 'histogram_quantile(0.95, sum by (client, server, le) (rate(traces_service_graph_request_server_seconds_bucket{$__tenant, client=~"$service"}[$__rate])))',
            legend: '{{client}} → {{server}}',
          },
        ],
      },
    ],
  },
  {
    id: 'go-runtime',
    title: 'Go runtime',
    description: 'Goroutines, heap, garbage collection and CPU of Go processes instrumented with client_golang.',
    variable: { label: 'job', from: 'go_goroutines' },
    panels: [
      { title: 'Goroutines', unit: 'short', queries: [{ expr: 'go_goroutines{job=~"$job"}', legend: '{{instance}}' }] },
      {
        title: 'CPU used',
        unit: 'cores',
        queries: [{ expr: 'rate(process_cpu_seconds_total{job=~"$job"}[$__rate])', legend: '{{instance}}' }],
      },
      {
        title: 'Memory',
        unit: 'bytes',
        queries: [
          { expr: 'go_memstats_heap_inuse_bytes{job=~"$job"}', legend: '{{instance}} heap in use' },
          { expr: 'process_resident_memory_bytes{job=~"$job"}', legend: '{{instance}} resident' },
        ],
      },
      {
        title: 'Allocation rate',
        unit: 'bytes/s',
        queries: [{ expr: 'rate(go_memstats_alloc_bytes_total{job=~"$job"}[$__rate])', legend: '{{instance}}' }],
      },
      {
        title: 'GC pause (average)',
        unit: 'seconds',
        queries: [
          {
            expr: 'rate(go_gc_duration_seconds_sum{job=~"$job"}[$__rate]) / rate(go_gc_duration_seconds_count{job=~"$job"}[$__rate])',
            legend: '{{instance}}',
          },
        ],
      },
      {
        title: 'GC cycles',
        unit: 'ops',
        queries: [{ expr: 'rate(go_gc_duration_seconds_count{job=~"$job"}[$__rate])', legend: '{{instance}}' }],
      },
      { title: 'OS threads', unit: 'short', queries: [{ expr: 'go_threads{job=~"$job"}', legend: '{{instance}}' }] },
      {
        title: 'Open file descriptors',
        unit: 'short',
        queries: [
          { expr: 'process_open_fds{job=~"$job"}', legend: '{{instance}} open' },
          { expr: 'process_max_fds{job=~"$job"}', legend: '{{instance}} limit' },
        ],
      },
    ],
  },
  {
    id: 'host',
    title: 'Host (node_exporter)',
    description: 'CPU, load, memory, disks and network of machines running node_exporter.',
    variable: { label: 'instance', from: 'node_uname_info' },
    panels: [
      {
        title: 'CPU busy',
        unit: 'percent',
        queries: [
          {
            expr: '1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle",instance=~"$instance"}[$__rate]))',
            legend: '{{instance}}',
          },
        ],
      },
      {
        title: 'Load average',
        unit: 'short',
        queries: [
          { expr: 'node_load1{instance=~"$instance"}', legend: '{{instance}} 1m' },
          { expr: 'node_load5{instance=~"$instance"}', legend: '{{instance}} 5m' },
          { expr: 'node_load15{instance=~"$instance"}', legend: '{{instance}} 15m' },
        ],
      },
      {
        title: 'Memory',
        unit: 'bytes',
        queries: [
          {
            expr: 'node_memory_MemTotal_bytes{instance=~"$instance"} - node_memory_MemAvailable_bytes{instance=~"$instance"}',
            legend: '{{instance}} used',
          },
          { expr: 'node_memory_MemTotal_bytes{instance=~"$instance"}', legend: '{{instance}} total' },
        ],
      },
      {
        title: 'Disk space used',
        unit: 'percent',
        queries: [
          {
            expr: '1 - node_filesystem_avail_bytes{instance=~"$instance",fstype!~"tmpfs|overlay|squashfs"} / node_filesystem_size_bytes{instance=~"$instance",fstype!~"tmpfs|overlay|squashfs"}',
            legend: '{{instance}} {{mountpoint}}',
          },
        ],
      },
      {
        title: 'Disk I/O',
        unit: 'bytes/s',
        queries: [
          { expr: 'rate(node_disk_read_bytes_total{instance=~"$instance"}[$__rate])', legend: '{{device}} read' },
          { expr: 'rate(node_disk_written_bytes_total{instance=~"$instance"}[$__rate])', legend: '{{device}} write' },
        ],
      },
      {
        title: 'Network',
        unit: 'bytes/s',
        queries: [
          {
            expr: 'rate(node_network_receive_bytes_total{instance=~"$instance",device!="lo"}[$__rate])',
            legend: '{{device}} in',
          },
          {
            expr: 'rate(node_network_transmit_bytes_total{instance=~"$instance",device!="lo"}[$__rate])',
            legend: '{{device}} out',
          },
        ],
      },
    ],
  },
  {
    id: 'jvm',
    title: 'JVM (Micrometer)',
    description: 'Heap, garbage collection, threads and CPU of Java services exporting Micrometer metrics.',
    variable: { label: 'job', from: 'jvm_memory_used_bytes' },
    panels: [
      {
        title: 'Heap',
        unit: 'bytes',
        queries: [
          { expr: 'sum by (instance) (jvm_memory_used_bytes{area="heap",job=~"$job"})', legend: '{{instance}} used' },
          { expr: 'sum by (instance) (jvm_memory_max_bytes{area="heap",job=~"$job"})', legend: '{{instance}} max' },
        ],
      },
      {
        title: 'Non-heap',
        unit: 'bytes',
        queries: [{ expr: 'sum by (instance) (jvm_memory_used_bytes{area="nonheap",job=~"$job"})', legend: '{{instance}}' }],
      },
      {
        title: 'GC pause time',
        unit: 'seconds',
        queries: [
          {
            expr: 'sum by (instance) (rate(jvm_gc_pause_seconds_sum{job=~"$job"}[$__rate]))',
            legend: '{{instance}} per second',
          },
        ],
      },
      {
        title: 'Threads',
        unit: 'short',
        queries: [
          { expr: 'jvm_threads_live_threads{job=~"$job"}', legend: '{{instance}} live' },
          { expr: 'jvm_threads_daemon_threads{job=~"$job"}', legend: '{{instance}} daemon' },
        ],
      },
      {
        title: 'CPU',
        unit: 'percent',
        queries: [
          { expr: 'process_cpu_usage{job=~"$job"}', legend: '{{instance}} process' },
          { expr: 'system_cpu_usage{job=~"$job"}', legend: '{{instance}} system' },
        ],
      },
      {
        title: 'Loaded classes',
        unit: 'short',
        queries: [{ expr: 'jvm_classes_loaded_classes{job=~"$job"}', legend: '{{instance}}' }],
      },
    ],
  },
];

/** Escapes a label value for use inside a PromQL regex matcher in double quotes. */
export function regexValue(v: string): string {
  const re = v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return re.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
}

/** Quotes a string as a PromQL double-quoted label value. */
export function quoteLabelValue(v: string): string {
  return '"' + v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') + '"';
}

/**
 * The matcher `$__tenant` stands for: the selected tenant's series, or for
 * the default tenant ('') the series without a tenant label.
 */
export function tenantMatcher(tenant: string): string {
  return 'tenant=' + quoteLabelValue(tenant.trim());
}

/** Expands `$__tenant` in a selector such as a variable's `from`. */
export function expandSelector(selector: string, tenant: string): string {
  return selector.replaceAll('$__tenant', tenantMatcher(tenant));
}

/** Expands `$<label>`, `$__rate` and `$__tenant` in a panel query. */
export function expandQuery(expr: string, d: Dashboard, value: string, rateWindow: string, tenant = ''): string {
  const v = value === '' ? '.+' : regexValue(value);
  // One pass, so a value that itself contains a placeholder is not expanded again.
  return expr.replace(/\$(__rate|__tenant|[a-zA-Z_][a-zA-Z0-9_]*)/g, (m, name: string) => {
    if (name === '__rate') return rateWindow;
    if (name === '__tenant') return tenantMatcher(tenant);
    return name === d.variable.label ? v : m;
  });
}
