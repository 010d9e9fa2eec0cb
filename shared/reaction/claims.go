package reaction

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Lengths, in runes, to which a reporter's text is shortened in alerts
// (emails and Alert events). ExpiredToken reports allow 1,024 bytes per
// field (events.ExpiredToken.Validate); an alert needs far less to be
// useful, and a short field leaves no room for a second message inside
// the first.
const (
	MaxClaimedField   = 120
	MaxClaimedMessage = 300
)

// Clean makes untrusted text (a report's field, a log line, a CloudTrail
// userAgent) safe to show inside stsrotator's own text: every control or
// non-printing rune (CR, LF, tab, ESC, Unicode line and paragraph
// separators, bidirectional overrides…) is written as a Go escape
// (\n, \r, \u2028), invalid UTF-8 as \xNN, and the result is cut to max
// runes with "…". What is left is one line that reads as what it is.
func Clean(s string, max int) string {
	var b strings.Builder
	n := 0
	for i, w := 0, 0; i < len(s); i += w {
		if n >= max {
			b.WriteString("…")
			break
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		w = size
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == ' ' || (strconv.IsPrint(r) && r != '\\'):
			b.WriteRune(r)
		case r == '\\':
			b.WriteString(`\\`)
		default:
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		}
		n++
	}
	return b.String()
}

// quoted is Clean in double quotes, for the email: the quotes show where
// the reporter's text begins and ends.
func quoted(s string, max int) string { return strconv.Quote(Clean(s, max)) }

// Claimant says who vouches for a signal's free text, for the label above
// it in an alert: the sender of a consumer report (by the account
// EventBridge recorded, which the sender cannot choose), or CloudTrail.
func Claimant(s Signal) string {
	switch s.Source {
	case FromCloudTrail:
		return "CloudTrail (the user agent and error message are the caller's)"
	case FromLogs:
		if s.Account != "" {
			return "a log line, reported by account " + s.Account + " as seen by a log watcher"
		}
		return "a log line, reported as seen by a log watcher"
	}
	if s.Account != "" {
		return "the sender of the report, account " + s.Account
	}
	return "the sender of the report"
}
