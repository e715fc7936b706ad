package loki

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/coder/websocket"

	"github.com/sightline/sightline/internal/query/logql"
)

// maxTailDelay bounds delay_for, as Loki does.
const maxTailDelay = 5 * time.Second

type tailStream struct {
	Stream map[string]string `json:"stream"`
	Values [][2]string       `json:"values"`
}

type tailMessage struct {
	Streams        []tailStream `json:"streams"`
	DroppedEntries []struct{}   `json:"dropped_entries"`
}

// tail serves /loki/api/v1/tail: a websocket that receives every new line
// of a log query. It polls the store every TailPoll for lines newer than the
// last one sent (lines that arrive later with older timestamps are not
// sent), waiting delay_for seconds for late lines.
func (a *API) tail(w http.ResponseWriter, r *http.Request) {
	q := r.FormValue("query")
	expr, err := logql.ParseExpr(q)
	if err != nil {
		writeError(w, err)
		return
	}
	if _, ok := expr.(*logql.LogExpr); !ok {
		writeError(w, badRequest("tail needs a log query, not a metric query"))
		return
	}
	limit, err := parseLimit(r, 100)
	if err != nil {
		writeError(w, err)
		return
	}
	var delay time.Duration
	if s := r.FormValue("delay_for"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || time.Duration(n)*time.Second > maxTailDelay {
			writeError(w, badRequest("invalid delay_for %q: want 0 to %d seconds", s, int(maxTailDelay/time.Second)))
			return
		}
		delay = time.Duration(n) * time.Second
	}
	now := a.o.Now()
	from, err := ParseTime(r.FormValue("start"), now.Add(-time.Hour))
	if err != nil {
		writeError(w, badRequest("invalid start: %v", err))
		return
	}
	tenant := Tenant(r)
	if tenant == "" {
		// Browsers cannot set headers on a websocket, so the UI names the
		// tenant in the URL; a header, when present, wins.
		tenant = r.FormValue("tenant")
	}
	// The default origin check refuses cross-site browser pages (which
	// could otherwise read logs); clients without an Origin header
	// (logcli, Grafana's backend, loki-canary) are accepted.
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return // Accept has answered
	}
	defer c.CloseNow()
	ctx := c.CloseRead(r.Context())

	first := true
	tick := time.NewTicker(a.o.TailPoll)
	defer tick.Stop()
	for {
		end := a.o.Now().Add(-delay)
		if end.After(from) {
			p := logql.Params{Tenant: tenant, Start: from, End: end, Direction: logql.Forward, Limit: 5000}
			if first {
				// The first answer holds the last `limit` lines, like Loki.
				p.Direction, p.Limit = logql.Backward, limit
			}
			qctx, cancel := context.WithTimeout(ctx, a.o.Timeout)
			res, err := a.o.Engine.Eval(qctx, expr, p)
			cancel()
			if err != nil {
				if ctx.Err() == nil {
					a.o.Logger.Warn("tail query failed", "query", q, "err", err)
					c.Close(websocket.StatusInternalError, truncateReason(err.Error()))
				}
				return
			}
			msg, last := tailMessageOf(res)
			if len(msg.Streams) > 0 {
				b, _ := json.Marshal(msg)
				wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				err := c.Write(wctx, websocket.MessageText, b)
				cancel()
				if err != nil {
					return
				}
				from = time.Unix(0, last+1)
			} else {
				from = end
			}
			first = false
		}
		select {
		case <-ctx.Done():
			c.Close(websocket.StatusNormalClosure, "")
			return
		case <-tick.C:
		}
	}
}

func truncateReason(s string) string {
	if len(s) > 120 {
		return s[:120]
	}
	return s
}

// tailMessageOf converts a streams result into a tail message (entries
// oldest first) and returns the newest timestamp.
func tailMessageOf(res *logql.Result) (tailMessage, int64) {
	var msg tailMessage
	var last int64
	for _, s := range res.Streams {
		ts := tailStream{Stream: s.Labels.Map()}
		for i := range s.Entries {
			e := s.Entries[i]
			ts.Values = append(ts.Values, [2]string{strconv.FormatInt(e.Timestamp, 10), e.Line})
			last = max(last, e.Timestamp)
		}
		if n := len(s.Entries); n > 1 && s.Entries[0].Timestamp > s.Entries[n-1].Timestamp {
			for i, j := 0, len(ts.Values)-1; i < j; i, j = i+1, j-1 {
				ts.Values[i], ts.Values[j] = ts.Values[j], ts.Values[i]
			}
		}
		msg.Streams = append(msg.Streams, ts)
	}
	return msg, last
}
