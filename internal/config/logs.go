package config

import (
	"fmt"
	"net"
	"regexp"
)

// LogsConfig configures the logs pillar: which incoming keys form a log
// stream, the bounds on fields flattened from JSON, the Elasticsearch bulk
// mapping and the optional syslog listener.
type LogsConfig struct {
	// StreamFields are the resource attributes / labels / JSON fields that
	// form a stream, as "key" (label name = key with dots as underscores)
	// or "key=label". Keep the set small and low-cardinality.
	StreamFields []string `yaml:"stream_fields"`
	// MaxFields caps attributes per line; the rest are dropped and counted.
	MaxFields int `yaml:"max_fields"`
	// MaxFieldNameBytes and MaxFieldValueBytes cut longer names / values.
	MaxFieldNameBytes  int `yaml:"max_field_name_bytes"`
	MaxFieldValueBytes int `yaml:"max_field_value_bytes"`
	// MaxLineBytes cuts longer log lines.
	MaxLineBytes int `yaml:"max_line_bytes"`
	// MessageFields and TimeFields name the JSON fields (first present wins)
	// holding the line and its time, for JSON lines and Elasticsearch bulk.
	MessageFields []string `yaml:"message_fields"`
	TimeFields    []string `yaml:"time_fields"`
	// ElasticStreamFields, when set, replace stream_fields for documents
	// sent to the Elasticsearch bulk API (e.g. ["kubernetes.namespace_name"]);
	// the index name is always kept as the es_index field.
	ElasticStreamFields []string `yaml:"elastic_stream_fields"`
	// SyslogAddr, when set, listens for syslog on TCP and UDP at this
	// address (e.g. ":5514"). Empty disables syslog.
	SyslogAddr string `yaml:"syslog_addr"`
	// SyslogTenant is the tenant syslog lines are stored under.
	SyslogTenant string `yaml:"syslog_tenant"`
	// MaxQueryEntries caps the lines one log query may return.
	MaxQueryEntries int `yaml:"max_query_entries"`
	// MaxQuerySeries caps the series of one metric query.
	MaxQuerySeries int `yaml:"max_query_series"`
}

func defaultLogs() LogsConfig {
	return LogsConfig{
		StreamFields: []string{
			"service.name=service_name", "service_name", "service.namespace=service_namespace",
			"deployment.environment=env", "deployment.environment.name=env", "env",
			"k8s.namespace.name=namespace", "namespace",
		},
		MaxFields:          256,
		MaxFieldNameBytes:  128,
		MaxFieldValueBytes: 16 << 10,
		MaxLineBytes:       256 << 10,
		MessageFields:      []string{"_msg", "message", "msg", "log"},
		TimeFields:         []string{"_time", "@timestamp", "timestamp", "time", "ts"},
		MaxQueryEntries:    5000,
		MaxQuerySeries:     500,
	}
}

var logsLabelRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

func (l LogsConfig) validate(bad func(key, format string, args ...any)) {
	check := func(key string, fields []string) {
		for _, f := range fields {
			_, label, err := ParseStreamField(f)
			if err != nil {
				bad(key, "%v", err)
				continue
			}
			if !logsLabelRE.MatchString(label) {
				bad(key, "%q: stream label %q is not a valid label name", f, label)
			}
		}
	}
	check("logs.stream_fields", l.StreamFields)
	check("logs.elastic_stream_fields", l.ElasticStreamFields)
	if len(l.StreamFields) > 32 {
		bad("logs.stream_fields", "%d fields: keep streams to a few low-cardinality keys (at most 32)", len(l.StreamFields))
	}
	if l.MaxFields < 1 {
		bad("logs.max_fields", "must be at least 1")
	}
	if l.MaxFieldNameBytes < 8 {
		bad("logs.max_field_name_bytes", "must be at least 8")
	}
	if l.MaxFieldValueBytes < 64 {
		bad("logs.max_field_value_bytes", "must be at least 64")
	}
	if l.MaxLineBytes < 256 {
		bad("logs.max_line_bytes", "must be at least 256")
	}
	if len(l.MessageFields) == 0 {
		bad("logs.message_fields", "must name at least one field")
	}
	if len(l.TimeFields) == 0 {
		bad("logs.time_fields", "must name at least one field")
	}
	if l.SyslogAddr != "" {
		if _, _, err := net.SplitHostPort(l.SyslogAddr); err != nil {
			bad("logs.syslog_addr", "%q is not host:port: %v", l.SyslogAddr, err)
		}
	}
	if l.MaxQueryEntries < 1 {
		bad("logs.max_query_entries", "must be at least 1")
	}
	if l.MaxQuerySeries < 1 {
		bad("logs.max_query_series", "must be at least 1")
	}
}

// ParseStreamField splits a stream field entry "key" or "key=label"; a bare
// key's label is the key with every byte outside [a-zA-Z0-9_] made "_".
func ParseStreamField(s string) (key, label string, err error) {
	key, label = s, ""
	for i := 0; i < len(s); i++ {
		if s[i] == '=' {
			key, label = s[:i], s[i+1:]
			break
		}
	}
	if key == "" {
		return "", "", fmt.Errorf("stream field %q: empty key", s)
	}
	if label == "" {
		b := []byte(key)
		for i, c := range b {
			if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' && i > 0) {
				b[i] = '_'
			}
		}
		label = string(b)
	}
	return key, label, nil
}

// DefaultLogs returns the logs section's defaults (for wiring before the
// section is part of Config).
func DefaultLogs() LogsConfig { return defaultLogs() }
