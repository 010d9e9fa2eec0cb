package awstest

import (
	"strings"
	"testing"
)

func TestLeaks(t *testing.T) {
	Remember([]byte(`<SecretAccessKey>rememberedSecretValue123</SecretAccessKey>`))
	cases := []struct {
		why  string
		log  string
		want string // "" when the text is clean
	}{
		{"a remembered secret anywhere is a leak", `{"msg":"oops rememberedSecretValue123"}`, "reme…"},
		{"a credential field with any value is a leak, remembered or not", `{"msg":"value","v":"{\"SessionToken\":\"FwoGZXIvYXdzEneverSeen\"}"}`, "a credential field with value FwoG…"},
		{"a whole access key ID is a leak", `{"key":"ASIAZZZZYYYYXXXX1234"}`, "a whole access key ID ASIA…1234"},
		{"a masked access key ID is what logs should carry", `{"key":"ASIA…1234"}`, ""},
		{"naming a field without a value is fine", `secret is missing SecretAccessKey (fix: re-run the rotator)`, ""},
	}
	for _, c := range cases {
		got := strings.Join(Leaks([]byte(c.log)), "; ")
		if c.want == "" && got != "" || c.want != "" && !strings.Contains(got, c.want) {
			t.Errorf("%s: Leaks = %q, want %q", c.why, got, c.want)
		}
		if strings.Contains(got, "ASIAZZZZYYYYXXXX1234") || strings.Contains(got, "neverSeen") {
			t.Errorf("%s: the report repeats the secret: %q", c.why, got)
		}
	}
}
