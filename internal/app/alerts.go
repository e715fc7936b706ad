package app

import (
	"net/http"
)

// setupAlerts wires the alerts pillar: PromQL and LogQL rule managers
// (results and ALERTS series into the metric store) and the notifier
// (routing, grouping, inhibition, silences, receivers), plus their APIs on
// mux. It sets a.rules for /api/v1/rules and /api/v1/alerts.
func (a *App) setupAlerts(mux *http.ServeMux) error {
	_ = mux // the alerts pillar (issue 6) lands here
	return nil
}
