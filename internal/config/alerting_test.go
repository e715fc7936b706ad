package config

import (
	"strings"
	"testing"
	"time"
)

func TestAlertmanagerSectionIsAlertmanagersOwnFormat(t *testing.T) {
	text := `scrape_configs: []
alertmanager:
  # pasted from alertmanager.yml
  route:
    receiver: team
    group_by: [alertname, service]
    group_wait: 5s
    routes:
      - matchers: ['severity="page"']
        receiver: pager
  receivers:
    - name: team
      webhook_configs:
        - url: http://127.0.0.1:9/hook
    - name: pager
      slack_configs:
        - api_url: http://127.0.0.1:9/slack
          channel: '#oncall'
  inhibit_rules:
    - source_matchers: ['severity="page"']
      target_matchers: ['severity="ticket"']
      equal: [service]
rules:
  log_rule_files: [log-rules/*.yml]
`
	c, err := Load([]byte(text), nil)
	if err != nil {
		t.Fatal(err)
	}
	am := c.Alertmanager.Config
	if am == nil {
		t.Fatal("alertmanager section not parsed")
	}
	if am.Route.Receiver != "team" || len(am.Route.Routes) != 1 || time.Duration(*am.Route.GroupWait) != 5*time.Second {
		t.Errorf("route: %+v", am.Route)
	}
	if len(am.Receivers) != 2 || len(am.InhibitRules) != 1 {
		t.Errorf("receivers %d, inhibit rules %d", len(am.Receivers), len(am.InhibitRules))
	}
	if len(c.Rules.LogRuleFiles) != 1 {
		t.Errorf("rules.log_rule_files: %v", c.Rules.LogRuleFiles)
	}
	dump, err := c.Dump()
	if err != nil || !strings.Contains(dump, "group_wait: 5s") {
		t.Errorf("dump lacks the alertmanager section (%v):\n%s", err, dump)
	}
}

func TestAlertmanagerErrorsKeepLineNumbers(t *testing.T) {
	text := "server:\n  log_level: info\nalertmanager:\n  route:\n    receiver: nobody\n  receivers:\n    - name: team\n      webhook_configs:\n        - url: http://x/\n          send_resolvd: true\n"
	_, err := Load([]byte(text), nil)
	if err == nil || !strings.Contains(err.Error(), "line 10") || !strings.Contains(err.Error(), "send_resolvd") {
		t.Fatalf("want an error naming line 10 and the key, got %v", err)
	}
	text = "alertmanager:\n  route:\n    receiver: nobody\n  receivers:\n    - name: team\n"
	if _, err := Load([]byte(text), nil); err == nil || !strings.Contains(err.Error(), `"nobody"`) {
		t.Fatalf("want Alertmanager's undefined-receiver error, got %v", err)
	}
}
