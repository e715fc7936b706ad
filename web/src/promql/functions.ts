// Names the PromQL language defines, offered by the editor's completion:
// functions (with their argument shapes), aggregation operators and the
// keywords that follow them.

export interface PromFunction {
  name: string;
  args: string;
}

export const FUNCTIONS: PromFunction[] = [
  { name: 'abs', args: 'v instant-vector' },
  { name: 'absent', args: 'v instant-vector' },
  { name: 'absent_over_time', args: 'v range-vector' },
  { name: 'acos', args: 'v instant-vector' },
  { name: 'acosh', args: 'v instant-vector' },
  { name: 'asin', args: 'v instant-vector' },
  { name: 'asinh', args: 'v instant-vector' },
  { name: 'atan', args: 'v instant-vector' },
  { name: 'atanh', args: 'v instant-vector' },
  { name: 'avg_over_time', args: 'v range-vector' },
  { name: 'ceil', args: 'v instant-vector' },
  { name: 'changes', args: 'v range-vector' },
  { name: 'clamp', args: 'v instant-vector, min scalar, max scalar' },
  { name: 'clamp_max', args: 'v instant-vector, max scalar' },
  { name: 'clamp_min', args: 'v instant-vector, min scalar' },
  { name: 'cos', args: 'v instant-vector' },
  { name: 'cosh', args: 'v instant-vector' },
  { name: 'count_over_time', args: 'v range-vector' },
  { name: 'day_of_month', args: 'v=vector(time()) instant-vector' },
  { name: 'day_of_week', args: 'v=vector(time()) instant-vector' },
  { name: 'day_of_year', args: 'v=vector(time()) instant-vector' },
  { name: 'days_in_month', args: 'v=vector(time()) instant-vector' },
  { name: 'deg', args: 'v instant-vector' },
  { name: 'delta', args: 'v range-vector' },
  { name: 'deriv', args: 'v range-vector' },
  { name: 'exp', args: 'v instant-vector' },
  { name: 'floor', args: 'v instant-vector' },
  { name: 'histogram_avg', args: 'v instant-vector' },
  { name: 'histogram_count', args: 'v instant-vector' },
  { name: 'histogram_fraction', args: 'lower scalar, upper scalar, v instant-vector' },
  { name: 'histogram_quantile', args: 'φ scalar, b instant-vector' },
  { name: 'histogram_stddev', args: 'v instant-vector' },
  { name: 'histogram_stdvar', args: 'v instant-vector' },
  { name: 'histogram_sum', args: 'v instant-vector' },
  { name: 'double_exponential_smoothing', args: 'v range-vector, sf scalar, tf scalar' },
  { name: 'hour', args: 'v=vector(time()) instant-vector' },
  { name: 'idelta', args: 'v range-vector' },
  { name: 'increase', args: 'v range-vector' },
  { name: 'info', args: 'v instant-vector, [data-label-selector instant-vector]' },
  { name: 'irate', args: 'v range-vector' },
  { name: 'label_join', args: 'v instant-vector, dst string, sep string, src string...' },
  { name: 'label_replace', args: 'v instant-vector, dst string, replacement string, src string, regex string' },
  { name: 'last_over_time', args: 'v range-vector' },
  { name: 'ln', args: 'v instant-vector' },
  { name: 'log10', args: 'v instant-vector' },
  { name: 'log2', args: 'v instant-vector' },
  { name: 'mad_over_time', args: 'v range-vector' },
  { name: 'max_over_time', args: 'v range-vector' },
  { name: 'min_over_time', args: 'v range-vector' },
  { name: 'minute', args: 'v=vector(time()) instant-vector' },
  { name: 'month', args: 'v=vector(time()) instant-vector' },
  { name: 'pi', args: '' },
  { name: 'predict_linear', args: 'v range-vector, t scalar' },
  { name: 'present_over_time', args: 'v range-vector' },
  { name: 'quantile_over_time', args: 'φ scalar, v range-vector' },
  { name: 'rad', args: 'v instant-vector' },
  { name: 'rate', args: 'v range-vector' },
  { name: 'resets', args: 'v range-vector' },
  { name: 'round', args: 'v instant-vector, to_nearest=1 scalar' },
  { name: 'scalar', args: 'v instant-vector' },
  { name: 'sgn', args: 'v instant-vector' },
  { name: 'sin', args: 'v instant-vector' },
  { name: 'sinh', args: 'v instant-vector' },
  { name: 'sort', args: 'v instant-vector' },
  { name: 'sort_by_label', args: 'v instant-vector, label string...' },
  { name: 'sort_by_label_desc', args: 'v instant-vector, label string...' },
  { name: 'sort_desc', args: 'v instant-vector' },
  { name: 'sqrt', args: 'v instant-vector' },
  { name: 'stddev_over_time', args: 'v range-vector' },
  { name: 'stdvar_over_time', args: 'v range-vector' },
  { name: 'sum_over_time', args: 'v range-vector' },
  { name: 'tan', args: 'v instant-vector' },
  { name: 'tanh', args: 'v instant-vector' },
  { name: 'time', args: '' },
  { name: 'timestamp', args: 'v instant-vector' },
  { name: 'vector', args: 's scalar' },
  { name: 'year', args: 'v=vector(time()) instant-vector' },
];

export const AGGREGATIONS: string[] = [
  'sum', 'min', 'max', 'avg', 'group', 'stddev', 'stdvar', 'count', 'count_values',
  'bottomk', 'topk', 'quantile', 'limitk', 'limit_ratio',
];

export const KEYWORDS: string[] = [
  'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'offset', 'bool', 'and', 'or', 'unless',
];

/** Keywords after which a parenthesised list holds label names. */
export const LABEL_LIST_KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);
