package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/stsrotator/stsrotator/shared/expiredcreds"
)

func TestParseExpiredToken(t *testing.T) {
	good, err := os.ReadFile("testdata/consumer-report.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev struct {
		Source     string          `json:"source"`
		DetailType string          `json:"detail-type"`
		Detail     json.RawMessage `json:"detail"`
	}
	if err := json.Unmarshal(good, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Source != Source || ev.DetailType != DetailTypeExpiredToken {
		t.Fatalf("sample event has source %q detail-type %q", ev.Source, ev.DetailType)
	}
	d, err := ParseExpiredToken(ev.Detail)
	if err != nil || d.Target != "billing-reader" || d.AccessKeyID != "ASIA…7XQZ" || d.Observer.Via != "cli" {
		t.Fatalf("parse sample: %+v %v", d, err)
	}
	cases := []struct{ why, detail, want string }{
		{"a whole key inside the message is refused too", `{"schemaVersion":1,"target":"a","errorCode":"ExpiredToken","errorMessage":"key AKIAABCDEFGHIJKLMNOP expired","observedAt":"2026-11-25T10:00:00Z","observer":{"via":"cli"}}`, "errorMessage contains a whole access key ID"},
		{"a whole access key is refused so it can never reach logs", `{"schemaVersion":1,"target":"a","accessKeyId":"ASIAABCDEFGHIJKLMNOP","errorCode":"ExpiredToken","observedAt":"2026-11-25T10:00:00Z","observer":{"via":"cli"}}`, "accessKeyId is not masked"},
		{"another error code is refused", `{"schemaVersion":1,"target":"a","errorCode":"AccessDenied","observedAt":"2026-11-25T10:00:00Z","observer":{"via":"cli"}}`, `errorCode is "AccessDenied"`},
		{"no target, no secret and no key cannot be matched", `{"schemaVersion":1,"errorCode":"ExpiredToken","observedAt":"2026-11-25T10:00:00Z","observer":{"via":"cli"}}`, "target, secretId and accessKeyId are all empty"},
		{"a missing time is named", `{"schemaVersion":1,"target":"a","errorCode":"ExpiredToken","observer":{"via":"cli"}}`, "observedAt is missing"},
		{"a missing version is named", `{"target":"a","errorCode":"ExpiredToken","observedAt":"2026-11-25T10:00:00Z","observer":{"via":"cli"}}`, "schemaVersion is missing"},
		{"not JSON points to the schema", `target=a`, "docs/expired-token.schema.json"},
		{"a wrong type is named", `{"schemaVersion":"1"}`, "cannot unmarshal"},
	}
	for _, c := range cases {
		_, err := ParseExpiredToken([]byte(c.detail))
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.why, err, c.want)
		}
	}
	// Later versions add fields; today's reactor must still read them.
	if _, err := ParseExpiredToken([]byte(`{"schemaVersion":2,"target":"a","errorCode":"ExpiredTokenException","observedAt":"2026-11-25T10:00:00Z","observer":{"via":"library"},"newField":1}`)); err != nil {
		t.Errorf("a v2 report with an added field must parse: %v", err)
	}
}

// The published JSON Schema and the Go type name the same fields.
func TestSchemaDocMatchesType(t *testing.T) {
	b, err := os.ReadFile("../../docs/expired-token.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(b, &schema); err != nil {
		t.Fatal(err)
	}
	var doc, code []string
	for k := range schema.Properties {
		doc = append(doc, k)
	}
	typ := reflect.TypeOf(ExpiredToken{})
	for i := range typ.NumField() {
		code = append(code, strings.Split(typ.Field(i).Tag.Get("json"), ",")[0])
	}
	sort.Strings(doc)
	sort.Strings(code)
	if !reflect.DeepEqual(doc, code) {
		t.Fatalf("schema properties %v != Go fields %v", doc, code)
	}
}

func FuzzParseExpiredToken(f *testing.F) {
	f.Add([]byte(`{"schemaVersion":1,"target":"a","errorCode":"ExpiredToken","observedAt":"2026-11-25T10:00:00Z","observer":{"via":"cli"}}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, in []byte) {
		d, err := ParseExpiredToken(in)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			// Every rejection says what was wrong, beyond "invalid".
			if len(err.Error()) <= len(ErrInvalid.Error())+3 {
				t.Fatalf("rejection gives no reason: %q", err)
			}
			return
		}
		if d.Validate() != nil {
			t.Fatal("accepted a detail that does not validate")
		}
	})
}

// The schema's errorCode enum is the classifier's code table, so a code
// the provider, CLI or log watcher reports is never refused downstream.
func TestSchemaCodesAreTheClassifierTable(t *testing.T) {
	b, err := os.ReadFile("../../docs/expired-token.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Properties struct {
			ErrorCode struct {
				Enum []string `json:"enum"`
			} `json:"errorCode"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(b, &schema); err != nil {
		t.Fatal(err)
	}
	if got, want := schema.Properties.ErrorCode.Enum, expiredcreds.Codes(); !reflect.DeepEqual(got, want) {
		t.Fatalf("schema errorCode enum %v, classifier codes %v", got, want)
	}
	for _, code := range expiredcreds.Codes() {
		// A version-1 consumer could only send the first two; accepting
		// every code at every version keeps old reports valid.
		d := fmt.Sprintf(`{"schemaVersion":1,"target":"a","errorCode":%q,"observedAt":"2026-11-25T10:00:00Z","observer":{"via":"logs"}}`, code)
		if _, err := ParseExpiredToken([]byte(d)); err != nil {
			t.Errorf("%s refused: %v", code, err)
		}
	}
}
