// Package syslog receives syslog messages over TCP (octet-counted or
// newline framing, told apart per connection by the first byte) and UDP
// (one message per datagram), parses RFC 5424 and RFC 3164, and stores them
// in batches. The app name becomes the service_name stream label; host,
// facility, proc id, msg id and structured data become fields; the PRI
// severity becomes the level.
//
// Parse is pure and safe for concurrent use; a *Server is safe for
// concurrent use once started.
package syslog

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Message is one parsed syslog message.
type Message struct {
	Facility, Severity int
	Time               time.Time // zero when absent
	Hostname           string
	AppName            string
	ProcID             string
	MsgID              string
	// StructuredData holds SD params as "sdid.param" → value.
	StructuredData map[string]string
	Text           string
	RFC5424        bool
}

var severityNames = [...]string{"emerg", "alert", "crit", "error", "warning", "notice", "info", "debug"}

// SeverityName returns the level name of a syslog severity.
func SeverityName(s int) string {
	if s < 0 || s >= len(severityNames) {
		return ""
	}
	return severityNames[s]
}

var facilityNames = [...]string{"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv", "ftp", "ntp", "security", "console", "solaris-cron",
	"local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"}

// FacilityName returns the name of a syslog facility.
func FacilityName(f int) string {
	if f < 0 || f >= len(facilityNames) {
		return strconv.Itoa(f)
	}
	return facilityNames[f]
}

var errNoPRI = errors.New("message does not start with <PRI>")

// Parse parses one message (RFC 5424 when the PRI is followed by a version
// digit, else RFC 3164). now completes RFC 3164 timestamps, which have no
// year, and stands in when a message has no usable time.
func Parse(b []byte, now time.Time) (Message, error) {
	var m Message
	s := strings.TrimRight(string(b), "\r\n\x00")
	if len(s) < 3 || s[0] != '<' {
		return m, errNoPRI
	}
	end := strings.IndexByte(s, '>')
	if end < 2 || end > 4 {
		return m, fmt.Errorf("bad PRI %q", truncate(s, 6))
	}
	pri, err := strconv.Atoi(s[1:end])
	if err != nil || pri > 191 {
		return m, fmt.Errorf("bad PRI %q: want <0> to <191>", s[:end+1])
	}
	m.Facility, m.Severity = pri/8, pri%8
	s = s[end+1:]
	if len(s) >= 2 && s[0] >= '1' && s[0] <= '9' && s[1] == ' ' {
		return parse5424(m, s[2:], now)
	}
	return parse3164(m, s, now), nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func field(s string) (string, string) {
	i := strings.IndexByte(s, ' ')
	if i < 0 {
		return s, ""
	}
	return s[:i], s[i+1:]
}

func nilvalue(s string) string {
	if s == "-" {
		return ""
	}
	return s
}

func parse5424(m Message, s string, now time.Time) (Message, error) {
	m.RFC5424 = true
	var ts string
	ts, s = field(s)
	if ts != "-" {
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			return m, fmt.Errorf("RFC 5424 timestamp %q is not RFC 3339", truncate(ts, 40))
		}
		m.Time = t
	}
	var h, a, p, id string
	h, s = field(s)
	a, s = field(s)
	p, s = field(s)
	id, s = field(s)
	m.Hostname, m.AppName, m.ProcID, m.MsgID = nilvalue(h), nilvalue(a), nilvalue(p), nilvalue(id)
	if strings.HasPrefix(s, "-") {
		s = strings.TrimPrefix(s[1:], " ")
	} else if strings.HasPrefix(s, "[") {
		rest, sd, err := parseSD(s)
		if err != nil {
			return m, err
		}
		m.StructuredData = sd
		s = strings.TrimPrefix(rest, " ")
	}
	m.Text = strings.TrimPrefix(s, "\ufeff")
	return m, nil
}

// parseSD parses [id k="v" ...][id2 ...] and returns the rest.
func parseSD(s string) (string, map[string]string, error) {
	sd := map[string]string{}
	for strings.HasPrefix(s, "[") {
		s = s[1:]
		i := strings.IndexAny(s, " ]")
		if i <= 0 {
			return s, nil, errors.New("structured data: element without an id")
		}
		id := s[:i]
		s = s[i:]
		for strings.HasPrefix(s, " ") {
			s = s[1:]
			eq := strings.IndexByte(s, '=')
			if eq <= 0 || eq+1 >= len(s) || s[eq+1] != '"' {
				return s, nil, fmt.Errorf("structured data %q: want name=\"value\"", id)
			}
			name := s[:eq]
			s = s[eq+2:]
			var v strings.Builder
			closed := false
			for j := 0; j < len(s); j++ {
				c := s[j]
				if c == '\\' && j+1 < len(s) && (s[j+1] == '"' || s[j+1] == '\\' || s[j+1] == ']') {
					v.WriteByte(s[j+1])
					j++
					continue
				}
				if c == '"' {
					s = s[j+1:]
					closed = true
					break
				}
				v.WriteByte(c)
			}
			if !closed {
				return s, nil, fmt.Errorf("structured data %q: unterminated value of %q", id, name)
			}
			sd[id+"."+name] = v.String()
		}
		if !strings.HasPrefix(s, "]") {
			return s, nil, fmt.Errorf("structured data %q: missing ]", id)
		}
		s = s[1:]
	}
	return s, sd, nil
}

func parse3164(m Message, s string, now time.Time) Message {
	// TIMESTAMP: "Mmm dd hh:mm:ss" (dd space-padded), optionally an
	// RFC 3339 time as some senders use.
	if len(s) >= 15 {
		if t, err := time.ParseInLocation(time.Stamp, s[:15], now.Location()); err == nil {
			t = t.AddDate(now.Year(), 0, 0)
			if t.After(now.Add(24 * time.Hour)) {
				t = t.AddDate(-1, 0, 0) // December's lines read in January
			}
			m.Time = t
			s = strings.TrimPrefix(s[15:], " ")
		}
	}
	if m.Time.IsZero() {
		if ts, rest := field(s); len(ts) > 10 && ts[4] == '-' {
			if t, err := time.Parse(time.RFC3339Nano, ts); err == nil {
				m.Time, s = t, rest
			}
		}
	}
	// HOSTNAME (only when a timestamp was present, as RFC 3164 orders it),
	// then TAG[PID]: .
	if !m.Time.IsZero() {
		if h, rest := field(s); h != "" && !strings.HasSuffix(h, ":") && !strings.Contains(h, "[") {
			m.Hostname, s = h, rest
		}
	}
	if i := strings.IndexAny(s, ":[ "); i > 0 && i <= 48 {
		tag := s[:i]
		rest := s[i:]
		if strings.HasPrefix(rest, "[") {
			if j := strings.IndexByte(rest, ']'); j > 0 {
				m.ProcID = rest[1:j]
				rest = rest[j+1:]
			}
		}
		if strings.HasPrefix(rest, ":") {
			m.AppName = tag
			s = strings.TrimPrefix(rest[1:], " ")
		}
	}
	m.Text = s
	return m
}
