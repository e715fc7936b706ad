package notify

import (
	"fmt"
	"log/slog"

	amconfig "github.com/prometheus/alertmanager/config"
	amnotify "github.com/prometheus/alertmanager/notify"
	"github.com/prometheus/alertmanager/notify/email"
	"github.com/prometheus/alertmanager/notify/slack"
	"github.com/prometheus/alertmanager/notify/webhook"
	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
)

// buildIntegrations turns a receiver's webhook, Slack and e-mail configs
// into Alertmanager integrations. Other kinds are refused with an error
// naming them, rather than silently dropping notifications.
func buildIntegrations(rcv amconfig.Receiver, tmpl *template.Template, logger *slog.Logger) ([]amnotify.Integration, error) {
	if other := unsupportedKinds(rcv); len(other) > 0 {
		return nil, fmt.Errorf("alertmanager: receiver %q uses %v, which sightline does not send to (supported: webhook_configs, slack_configs, email_configs; or forward to an Alertmanager via alerting.alertmanagers)", rcv.Name, other)
	}
	var out []amnotify.Integration
	for i, c := range rcv.WebhookConfigs {
		n, err := webhook.New(c, tmpl, logger.With("integration", "webhook", "receiver", rcv.Name))
		if err != nil {
			return nil, fmt.Errorf("build webhook receiver %q: %w", rcv.Name, err)
		}
		out = append(out, amnotify.NewIntegration(n, c, "webhook", i, rcv.Name))
	}
	for i, c := range rcv.SlackConfigs {
		n, err := slack.New(c, tmpl, logger.With("integration", "slack", "receiver", rcv.Name))
		if err != nil {
			return nil, fmt.Errorf("build slack receiver %q: %w", rcv.Name, err)
		}
		out = append(out, amnotify.NewIntegration(n, c, "slack", i, rcv.Name))
	}
	for i, c := range rcv.EmailConfigs {
		n := email.New(c, tmpl, logger.With("integration", "email", "receiver", rcv.Name))
		out = append(out, amnotify.NewIntegration(n, c, "email", i, rcv.Name))
	}
	return out, nil
}

func unsupportedKinds(r amconfig.Receiver) []string {
	var out []string
	add := func(n int, name string) {
		if n > 0 {
			out = append(out, name)
		}
	}
	add(len(r.DiscordConfigs), "discord_configs")
	add(len(r.IncidentioConfigs), "incidentio_configs")
	add(len(r.PagerdutyConfigs), "pagerduty_configs")
	add(len(r.OpsGenieConfigs), "opsgenie_configs")
	add(len(r.WechatConfigs), "wechat_configs")
	add(len(r.PushoverConfigs), "pushover_configs")
	add(len(r.VictorOpsConfigs), "victorops_configs")
	add(len(r.SNSConfigs), "sns_configs")
	add(len(r.TelegramConfigs), "telegram_configs")
	add(len(r.WebexConfigs), "webex_configs")
	add(len(r.MSTeamsConfigs), "msteams_configs")
	add(len(r.MSTeamsV2Configs), "msteamsv2_configs")
	add(len(r.JiraConfigs), "jira_configs")
	add(len(r.RocketchatConfigs), "rocketchat_configs")
	add(len(r.MattermostConfigs), "mattermost_configs")
	return out
}

func labelSet(ls labels.Labels) model.LabelSet {
	out := make(model.LabelSet, ls.Len())
	ls.Range(func(l labels.Label) { out[model.LabelName(l.Name)] = model.LabelValue(l.Value) })
	return out
}
