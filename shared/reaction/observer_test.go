package reaction

import (
	"testing"

	"github.com/stsrotator/stsrotator/shared/events"
)

// The observer is the alert's claimed "observer" line, so
// it reads as one with or without an app (issue 15 §6: report-expired
// without --app produced "on vm via cli got ExpiredToken").
func TestObserverReadsAsASubject(t *testing.T) {
	cases := []struct {
		why  string
		o    events.Observer
		want string
	}{
		{"app, host and channel", events.Observer{App: "nightly-report", Host: "host-7", Via: "cli"}, "nightly-report on host-7 via cli"},
		{"no app: a process", events.Observer{Host: "vm", Via: "cli"}, "a process on vm via cli"},
		{"no app and no host", events.Observer{Via: "manual"}, "a process via manual"},
	}
	for _, c := range cases {
		if got := observer(c.o); got != c.want {
			t.Errorf("%s: %q, want %q", c.why, got, c.want)
		}
	}
}
