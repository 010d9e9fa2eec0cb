package logwatch

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stsrotator/stsrotator/shared/events"
	"github.com/stsrotator/stsrotator/shared/expiredcreds"
)

func TestReport(t *testing.T) {
	at := time.Date(2026, 11, 26, 1, 0, 0, 0, time.UTC)
	long := strings.Repeat("x", 487) // the key straddles the 512-byte cut
	cases := []struct {
		why, msg string
		ok       bool
		key      string // the masked key reported
		op, svc  string
	}{
		{"the Go SDK's shape gives service and operation", "operation error S3: GetObject, https response error StatusCode: 400, api error ExpiredToken: The provided token has expired.", true, "", "GetObject", "S3"},
		{"the AWS CLI's shape gives the operation", "An error occurred (ExpiredTokenException) when calling the Query operation: The security token included in the request is expired", true, "", "Query", ""},
		{"a line without the error code is not a report", "token refreshed at 10:00", false, "", "", ""},
		// A bare code is a report only beside an SDK's error (here Go v1's
		// "status code: …, request id: …" line); in prose it is none.
		{"a code named in prose is not a report", "INFO token refresh: ExpiredToken: false", false, "", "", ""},
		{"every key in the line goes out masked, the first one as the failing key", "ExpiredToken: refused ASIAAAAAAAAAAAAAAAA1, retried with ASIABBBBBBBBBBBBBBB2\n\tstatus code: 403, request id: 5b7f3a2e", true, "ASIA…AAA1", "", ""},
		{"a key where the message is cut leaves no part of itself", "ExpiredToken: " + long + " ASIACCCCCCCCCCCCCCC3 tail\n\tstatus code: 403, request id: 5b7f3a2e", true, "ASIA…CCC3", "", ""},
	}
	for _, c := range cases {
		d, ok := Report("app", Line{Group: "/g", Stream: "s", Time: at, Message: c.msg})
		if ok != c.ok {
			t.Fatalf("%s: ok = %v", c.why, ok)
		}
		if !ok {
			continue
		}
		if err := d.Validate(); err != nil {
			t.Errorf("%s: report does not validate: %v", c.why, err)
		}
		if d.AccessKeyID != c.key || d.Operation != c.op || d.Service != c.svc {
			t.Errorf("%s: key %q op %q service %q, want %q %q %q", c.why, d.AccessKeyID, d.Operation, d.Service, c.key, c.op, c.svc)
		}
		for _, part := range []string{"AAAAAA", "BBBBBB", "CCCCCC"} {
			if strings.Contains(d.ErrorMessage, part) {
				t.Errorf("%s: the message keeps key material %q: %q", c.why, part, d.ErrorMessage)
			}
		}
		if k := events.FirstKey(d.ErrorMessage); k != "" {
			t.Errorf("%s: a whole key went out: %s…", c.why, k[:4])
		}
	}
}

// Issue proof: every rendering of the corpus, in any SDK's words, is one
// valid report with the code, service and operation it carries; no
// negative is.
func TestReportCorpus(t *testing.T) {
	f, err := os.Open(filepath.Join("..", "..", expiredcreds.CorpusPath))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	corpus, err := expiredcreds.ParseCorpus(f)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 26, 1, 0, 0, 0, time.UTC)
	for _, r := range corpus {
		d, ok := Report("app", Line{Group: "/g", Stream: "s", Time: at, Message: r.Text})
		if r.Want == nil {
			if ok {
				t.Errorf("corpus line %d (%s negative) reported: %+v", r.Line, r.SDK, d)
			}
			continue
		}
		if !ok {
			t.Errorf("corpus line %d (%s): no report", r.Line, r.SDK)
			continue
		}
		if err := d.Validate(); err != nil {
			t.Errorf("corpus line %d (%s): report does not validate: %v", r.Line, r.SDK, err)
		}
		if d.ErrorCode != r.Want.Code || d.Service != r.Want.Service || d.Operation != r.Want.Operation {
			t.Errorf("corpus line %d (%s): code %q service %q operation %q, want %+v", r.Line, r.SDK, d.ErrorCode, d.Service, d.Operation, *r.Want)
		}
	}
}
