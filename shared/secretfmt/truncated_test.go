package secretfmt

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// A value cut short (a bad paste into the console) is reported as cut
// short: "not a JSON object" sent people looking for the wrong mistake.
func TestParseSaysWhenTheValueIsCutShort(t *testing.T) {
	full, err := Marshal(Value{AccessKeyID: "ASIAEXAMPLEEXAMPLE01", SecretAccessKey: "s", SessionToken: "t", Expiration: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ why, in, says string }{
		{"half the value is reported as ending early", string(full[:len(full)/2]), "ends early"},
		{"an empty value keeps its existing message", "", "not a JSON object"},
		{"a JSON array is named as such", "[1]", "the value is a JSON array, not an object"},
		{"a JSON string is named as such", `"ASIA…"`, "the value is a JSON string, not an object"},
		{"a bad metadata time names the metadata times", `{"Version":1,"Stsrotator":{"issuedAt":"yesterday"}}`, "Stsrotator.issuedAt, refreshAt or writes holds something other than an RFC 3339 time"},
		{"a bad write time names the metadata times too", `{"Version":1,"Stsrotator":{"writes":["2026-11-01T00:00:00Z","soon"]}}`, "Stsrotator.issuedAt, refreshAt or writes holds something other than an RFC 3339 time"},
	}
	for _, c := range cases {
		_, err := Parse([]byte(c.in))
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: got %v, want a message containing %q", c.why, err, c.says)
		}
	}
}
