package events_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stsrotator/stsrotator/internal/awstest"
	"github.com/stsrotator/stsrotator/internal/eventschema"
	"github.com/stsrotator/stsrotator/shared/events"
)

// The published schema is bumped compatibly: a version-1 report still
// validates, version 2 adds RequestExpired, and a code outside the table
// is refused by the schema as by ParseExpiredToken.
func TestExpiredTokenSchemaVersions(t *testing.T) {
	root := awstest.RepoRoot(t)
	cases := []struct {
		why, detail string
		ok          bool
	}{
		{"a version-1 report as consumers sent it before", `{"schemaVersion":1,"target":"a","errorCode":"ExpiredTokenException","observedAt":"2026-11-25T10:00:00Z","observer":{"via":"cli"}}`, true},
		{"a version-2 RequestExpired report", `{"schemaVersion":2,"target":"a","service":"EC2","operation":"DescribeInstances","errorCode":"RequestExpired","observedAt":"2026-11-25T10:00:00Z","observer":{"via":"logs"}}`, true},
		{"a report from serve (via added in version 2)", `{"schemaVersion":2,"target":"a","errorCode":"ExpiredToken","errorMessage":"stsrotator serve refused its clients: the secret holds only key ASIA…0031, expired at 2026-11-25T09:00:00Z","observedAt":"2026-11-25T10:00:00Z","observer":{"via":"serve"}}`, true},
		{"a via outside the list", `{"schemaVersion":2,"target":"a","errorCode":"ExpiredToken","observedAt":"2026-11-25T10:00:00Z","observer":{"via":"pager"}}`, false},
		{"a code that is not an expired credential", `{"schemaVersion":2,"target":"a","errorCode":"InvalidClientTokenId","observedAt":"2026-11-25T10:00:00Z","observer":{"via":"cli"}}`, false},
	}
	for _, c := range cases {
		err := eventschema.Validate(root, events.DetailTypeExpiredToken, []byte(c.detail))
		_, perr := events.ParseExpiredToken([]byte(c.detail))
		if (err == nil) != c.ok || (perr == nil) != c.ok {
			t.Errorf("%s: schema says %v, ParseExpiredToken says %v; want ok=%v", c.why, err, perr, c.ok)
		}
		if !c.ok && perr != nil && !strings.Contains(perr.Error(), "RequestExpired") && !strings.Contains(perr.Error(), events.ViaList()) {
			t.Errorf("%s: the refusal does not list the accepted codes: %v", c.why, perr)
		}
	}
}

// The schema's observer.via enum is events.Vias, so the CLI's --via, the
// validator and the published schema cannot drift apart.
func TestSchemaViaEnumIsVias(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(awstest.RepoRoot(t), "docs", "expired-token.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Properties struct {
			Observer struct {
				Properties struct {
					Via struct {
						Enum []string `json:"enum"`
					} `json:"via"`
				} `json:"properties"`
			} `json:"observer"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	if got := s.Properties.Observer.Properties.Via.Enum; !slices.Equal(got, events.Vias()) {
		t.Errorf("schema observer.via enum %q, events.Vias %q", got, events.Vias())
	}
}
