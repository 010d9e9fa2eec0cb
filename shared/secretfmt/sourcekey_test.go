package secretfmt

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestSourceKeyRoundTrip(t *testing.T) {
	k := SourceKey{AccessKeyID: "AKIAEXAMPLEKEY123456", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSOURCEKEY", UserName: "stsrotator-source", CreatedAt: time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)}
	b, err := MarshalSourceKey(k)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseSourceKey(b)
	if err != nil {
		t.Fatal(err)
	}
	if got != k {
		t.Fatalf("round trip: got %v, want %v", got, k)
	}
	for _, printed := range []string{fmt.Sprint(k), fmt.Sprintf("%#v", k), fmt.Sprintf("%+v", k)} {
		if strings.Contains(printed, k.SecretAccessKey) || strings.Contains(printed, k.AccessKeyID) {
			t.Fatalf("printing a source key reveals it: %s", printed)
		}
	}
}

func TestParseSourceKeyRejects(t *testing.T) {
	cases := []struct{ why, in, want string }{
		{"not JSON, and the message does not quote it", `AKIAEXAMPLEKEY123456 s3cr3t`, "not a JSON object"},
		{"a target's session credentials are not a source key", `{"Version":1,"AccessKeyId":"ASIAEXAMPLEKEY123456","SecretAccessKey":"x","SessionToken":"t","Expiration":"2026-11-30T09:00:00Z"}`, "CreatedAt is not an RFC 3339 time"},
		{"no user name", `{"Version":1,"AccessKeyId":"AKIAEXAMPLEKEY123456","SecretAccessKey":"x","CreatedAt":"2026-11-30T09:00:00Z"}`, "UserName is missing"},
		{"no secret", `{"Version":1,"AccessKeyId":"AKIAEXAMPLEKEY123456","UserName":"u","CreatedAt":"2026-11-30T09:00:00Z"}`, "SecretAccessKey is missing"},
		{"trailing data", `{"Version":1,"AccessKeyId":"AKIAEXAMPLEKEY123456","SecretAccessKey":"x","UserName":"u","CreatedAt":"2026-11-30T09:00:00Z"} {}`, "trailing data"},
	}
	for _, c := range cases {
		t.Run(c.why, func(t *testing.T) {
			_, err := ParseSourceKey([]byte(c.in))
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want ErrInvalid containing %q", err, c.want)
			}
			if strings.Contains(err.Error(), "s3cr3t") {
				t.Fatalf("error quotes the secret: %v", err)
			}
		})
	}
}

func FuzzParseSourceKey(f *testing.F) {
	f.Add([]byte(`{"Version":1,"AccessKeyId":"AKIAEXAMPLEKEY123456","SecretAccessKey":"x","UserName":"u","CreatedAt":"2026-11-30T09:00:00Z"}`))
	f.Add([]byte(`{"Version":1,"CreatedAt":"0000-01-01T00:00:00+23:59"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := ParseSourceKey(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		b, err := MarshalSourceKey(k)
		if err != nil {
			t.Fatalf("parsed a key that cannot be written back: %v", err)
		}
		again, err := ParseSourceKey(b)
		if err != nil || again != k {
			t.Fatalf("round trip changed the key: %v %v", again, err)
		}
	})
}
