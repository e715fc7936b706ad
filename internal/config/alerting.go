package config

import (
	"fmt"
	"strings"

	amconfig "github.com/prometheus/alertmanager/config"
	"go.yaml.in/yaml/v3"
)

// RulesConfig lists rule files beyond Prometheus' own `rule_files` (which
// hold PromQL rules and mean what they mean to Prometheus).
type RulesConfig struct {
	// LogRuleFiles are globs of rule files in Prometheus' rule format whose
	// expressions are LogQL metric queries (Loki ruler style).
	LogRuleFiles []string `yaml:"log_rule_files"`
}

// Alertmanager is the `alertmanager:` section: an Alertmanager
// configuration (route, receivers, inhibit_rules, templates, …) parsed by
// Alertmanager's own config package, so an existing alertmanager.yml can be
// pasted in as it is.
type Alertmanager struct {
	// Config is nil when the section is absent.
	Config *amconfig.Config
	// Raw is the section's text as written (for /api/v2/status).
	Raw string
}

// UnmarshalYAML keeps the node; the section is parsed by Alertmanager's
// parser in loadAlertmanager, which needs the original text.
func (a *Alertmanager) UnmarshalYAML(*yaml.Node) error { return nil }

// MarshalYAML renders the section as Alertmanager does (secrets masked).
func (a Alertmanager) MarshalYAML() (any, error) {
	if a.Config == nil {
		return nil, nil
	}
	var v any
	if err := yaml.Unmarshal([]byte(a.Config.String()), &v); err != nil {
		return nil, err
	}
	return v, nil
}

// loadAlertmanager parses the `alertmanager:` section of text. The
// section's lines are handed to Alertmanager's parser dedented and at the
// same line numbers, so its errors point at the user's lines.
func loadAlertmanager(text []byte, root *yaml.Node) (Alertmanager, error) {
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Value != "alertmanager" {
			continue
		}
		if v.Kind == yaml.ScalarNode && (v.Tag == "!!null" || v.Value == "") {
			return Alertmanager{}, nil
		}
		if v.Kind != yaml.MappingNode || v.Style&yaml.FlowStyle != 0 {
			return Alertmanager{}, fmt.Errorf("line %d: alertmanager: must be a block mapping holding an Alertmanager configuration", k.Line)
		}
		lines := strings.SplitAfter(string(text), "\n")
		end := len(lines)
		if i+2 < len(root.Content) {
			end = root.Content[i+2].Line - 1
		}
		indent := v.Column - 1
		var b strings.Builder
		for l := range lines[:end] {
			if l < v.Line-1 {
				b.WriteString("\n")
				continue
			}
			line := lines[l]
			if len(strings.TrimSpace(line)) == 0 {
				b.WriteString("\n")
				continue
			}
			if len(line) < indent || strings.TrimSpace(line[:indent]) != "" {
				// A comment at a shallower indentation: keep the line count.
				if strings.HasPrefix(strings.TrimSpace(line), "#") {
					b.WriteString("\n")
					continue
				}
				return Alertmanager{}, fmt.Errorf("line %d: inconsistent indentation inside alertmanager:", l+1)
			}
			b.WriteString(line[indent:])
		}
		raw := b.String()
		c, err := amconfig.Load(raw)
		if err != nil {
			return Alertmanager{}, fmt.Errorf("alertmanager: %w", err)
		}
		return Alertmanager{Config: c, Raw: strings.TrimLeft(raw, "\n")}, nil
	}
	return Alertmanager{}, nil
}
