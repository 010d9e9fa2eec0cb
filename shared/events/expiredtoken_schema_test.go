package events_test

import (
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
		{"a code that is not an expired credential", `{"schemaVersion":2,"target":"a","errorCode":"InvalidClientTokenId","observedAt":"2026-11-25T10:00:00Z","observer":{"via":"cli"}}`, false},
	}
	for _, c := range cases {
		err := eventschema.Validate(root, events.DetailTypeExpiredToken, []byte(c.detail))
		_, perr := events.ParseExpiredToken([]byte(c.detail))
		if (err == nil) != c.ok || (perr == nil) != c.ok {
			t.Errorf("%s: schema says %v, ParseExpiredToken says %v; want ok=%v", c.why, err, perr, c.ok)
		}
		if !c.ok && perr != nil && !strings.Contains(perr.Error(), "RequestExpired") {
			t.Errorf("%s: the refusal does not list the accepted codes: %v", c.why, perr)
		}
	}
}
