package secretfmt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials/processcreds"
)

func sample() Value {
	return Value{
		AccessKeyID:     "ASIAEXAMPLEKEY123456",
		SecretAccessKey: "SECRETsecretSECRETsecretSECRETsecret1234",
		SessionToken:    "TOKENtokenTOKENtokenTOKEN",
		Expiration:      time.Date(2026, 11, 25, 19, 0, 0, 0, time.UTC),
		Meta: Metadata{
			Target:    "billing-reader",
			RoleArn:   "arn:aws:iam::123456789012:role/BillingReadOnly",
			Identity:  "arn:aws:sts::123456789012:assumed-role/BillingReadOnly/stsrotator-billing-reader",
			IssuedAt:  time.Date(2026, 11, 25, 18, 0, 0, 0, time.UTC),
			RefreshAt: time.Date(2026, 11, 25, 18, 40, 0, 0, time.UTC),
		},
	}
}

// The SDK's own credential_process provider must accept the stored secret
// byte for byte: that is the zero-code promise to consumers.
func TestProcessCredsAcceptsSecretUnchanged(t *testing.T) {
	v := sample()
	v.Expiration = time.Now().Add(time.Hour).Truncate(time.Second).UTC()
	b, err := Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "secret.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	creds, err := processcreds.NewProvider("cat " + path).Retrieve(context.Background())
	if err != nil {
		t.Fatalf("processcreds rejected the secret: %v", err)
	}
	if creds.AccessKeyID != v.AccessKeyID || creds.SecretAccessKey != v.SecretAccessKey || creds.SessionToken != v.SessionToken {
		t.Fatal("processcreds read different credentials than were written")
	}
	if !creds.CanExpire || !creds.Expires.Equal(v.Expiration) {
		t.Fatalf("processcreds expiry %v (can expire %v), want %v", creds.Expires, creds.CanExpire, v.Expiration)
	}
}

func TestRoundTrip(t *testing.T) {
	v := sample()
	b, err := Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), `{"Version":1,"AccessKeyId":"ASIAEXAMPLEKEY123456",`) {
		t.Fatalf("credential_process fields must lead the document: %s", b)
	}
	if !strings.Contains(string(b), `"Expiration":"2026-11-25T19:00:00Z"`) {
		t.Fatalf("Expiration must be RFC 3339 UTC: %s", b)
	}
	got, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	v.Meta.Schema = MetadataSchema
	if fmt.Sprint(got.Meta) != fmt.Sprint(v.Meta) || got.SecretAccessKey != v.SecretAccessKey || !got.Expiration.Equal(v.Expiration) {
		t.Fatalf("round trip changed the value:\n got %+v\nwant %+v", got.Meta, v.Meta)
	}
	p, _ := ProcessJSON(v)
	if strings.Contains(string(p), "Stsrotator") {
		t.Fatalf("ProcessJSON must carry only credential_process fields: %s", p)
	}
}

func TestParseRejects(t *testing.T) {
	good, _ := Marshal(sample())
	cases := []struct {
		why, in, want string
	}{
		{"garbage is named as not JSON", "hunter2 SECRETsecret", "not JSON"},
		{"an empty secret is not JSON", "", "not a JSON object"},
		{"a wrong Version is named", strings.Replace(string(good), `"Version":1`, `"Version":2`, 1), "Version is 2"},
		{"a missing token is refused: stsrotator never stores long-term keys", strings.Replace(string(good), `"SessionToken":"TOKENtokenTOKENtokenTOKEN"`, `"SessionToken":""`, 1), "SessionToken is missing"},
		{"a bad expiry is named", strings.Replace(string(good), `2026-11-25T19:00:00Z`, `tomorrow`, 1), "Expiration is not an RFC 3339 time"},
		{"a wrongly typed field is named without quoting it", `{"Version":1,"AccessKeyId":12,"SecretAccessKey":"SECRETsecret"}`, "field AccessKeyId has the wrong type"},
		{"a malformed key id is refused", strings.Replace(string(good), "ASIAEXAMPLEKEY123456", "AS IA", 1), "AccessKeyId is missing or malformed"},
		{"trailing data is refused", string(good) + `{}`, "trailing data"},
		{"an offset that pushes the expiry before year 0001 in UTC is refused, not accepted and then unwritable", strings.Replace(string(good), `2026-11-25T19:00:00Z`, `0000-01-01T00:00:00+01:00`, 1), "Expiration is outside years"},
		{"a metadata time outside the writable range is named", strings.Replace(string(good), `"issuedAt":"2026-11-25T18:00:00Z"`, `"issuedAt":"0000-01-01T00:00:00+01:00"`, 1), "issuedAt is outside years"},
	}
	for _, c := range cases {
		t.Run(c.why, func(t *testing.T) {
			_, err := Parse([]byte(c.in))
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want ErrInvalid containing %q", err, c.want)
			}
			if strings.Contains(err.Error(), "SECRET") || strings.Contains(err.Error(), "TOKEN") {
				t.Fatalf("error leaks secret material: %v", err)
			}
		})
	}
}

func TestMask(t *testing.T) {
	cases := []struct{ why, in, want string }{
		{"a real key keeps 4+4 characters", "ASIAEXAMPLEKEY123456", "ASIA…3456"},
		{"a short string is hidden entirely", "ASIA1234", "********"},
		{"empty stays empty", "", ""},
	}
	for _, c := range cases {
		if got := Mask(c.in); got != c.want {
			t.Errorf("%s: Mask(%q) = %q, want %q", c.why, c.in, got, c.want)
		}
	}
	v := sample()
	for _, s := range []string{v.String(), fmt.Sprintf("%v %+v %#v %s", v, v, v, v)} {
		if strings.Contains(s, v.SecretAccessKey) || strings.Contains(s, v.SessionToken) || strings.Contains(s, v.AccessKeyID) {
			t.Fatalf("formatting a Value leaks secret material: %s", s)
		}
	}
}

func FuzzParse(f *testing.F) {
	good, _ := Marshal(sample())
	f.Add(good)
	f.Add([]byte(`{"Version":1}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"Version":1,"AccessKeyId":"ASIAAAAAAAAAAAAAAAAA","SecretAccessKey":"x","SessionToken":"y","Expiration":"2026-01-01T00:00:00+02:00"}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		v, err := Parse(in)
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
		// Anything accepted must re-marshal into something accepted.
		out, err := Marshal(v)
		if err != nil {
			t.Fatalf("accepted value does not marshal: %v", err)
		}
		if _, err := Parse(out); err != nil {
			t.Fatalf("re-marshalled value rejected: %v", err)
		}
	})
}

// A secret written before schema 2 has no reportBus and still parses; one
// written now carries it through a round trip.
func TestReportBusIsAnAddition(t *testing.T) {
	v := sample()
	v.Meta.ReportBus = "arn:aws:events:eu-west-1:123456789012:event-bus/default"
	b, err := Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(b)
	if err != nil || got.Meta.ReportBus != v.Meta.ReportBus || got.Meta.Schema != MetadataSchema {
		t.Fatalf("round trip: %+v %v", got.Meta, err)
	}
	old := strings.Replace(strings.Replace(string(b), `,"reportBus":"`+v.Meta.ReportBus+`"`, "", 1), `"schema":2`, `"schema":1`, 1)
	if strings.Contains(old, "reportBus") || !strings.Contains(old, `"schema":1`) {
		t.Fatalf("could not make a schema-1 secret from %s", b)
	}
	got, err = Parse([]byte(old))
	if err != nil || got.Meta.ReportBus != "" || got.Meta.Target != v.Meta.Target {
		t.Fatalf("a schema-1 secret: %+v %v", got.Meta, err)
	}
}

// A hand-written secret that the rotator (encoding/json: the last of two
// equal keys, names in any case) and a consumer reading exact keys
// (botocore's credential_process, the JS SDK v3) read as different
// credentials: the rotator judged one key and expiry while consumers used
// another, so what it logged, matched reports against and counted as
// revoked was not what consumers held. Parse refuses every such value as
// unusable (the rotator replaces it at once), never quoting the content.
func TestAbuse_SecretReadTwoWays(t *testing.T) {
	good, err := Marshal(sample())
	if err != nil {
		t.Fatal(err)
	}
	body := strings.TrimSuffix(string(good), "}")
	cases := map[string]string{
		"a second AccessKeyId in another case":    body + `,"accessKeyId":"ASIAOTHERKEYBBBBBBBB"}`,
		"Expiration twice":                        body + `,"Expiration":"2099-01-01T00:00:00Z"}`,
		"only a lower-case sessiontoken":          strings.Replace(string(good), `"SessionToken"`, `"sessiontoken"`, 1),
		"the write history twice in the metadata": strings.Replace(string(good), `"target":`, `"writes":["2026-11-25T18:00:00Z"],"Writes":[],"target":`, 1),
	}
	for why, in := range cases {
		v, err := Parse([]byte(in))
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: accepted as %v; want ErrInvalid", why, v)
			continue
		}
		if strings.Contains(err.Error(), "OTHERKEY") || strings.Contains(err.Error(), "TOKENtoken") {
			t.Errorf("%s: the error quotes the secret: %v", why, err)
		}
	}
}

// Every key the parser reads is one Parse holds to its exact spelling.
func TestWireNamesCoverEveryField(t *testing.T) {
	for _, typ := range []reflect.Type{reflect.TypeFor[wire](), reflect.TypeFor[Metadata]()} {
		for f := range typ.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if !slices.Contains(wireNames, name) {
				t.Errorf("%s.%s (%q) is missing from wireNames", typ.Name(), f.Name, name)
			}
		}
	}
}
