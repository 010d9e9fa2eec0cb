package localstack

import (
	"strings"
	"testing"
	"time"
)

// An AssumeRole answer as kumo writes it: the Expiration moves by the
// offset, to the second and in UTC as STS writes it, and every other byte
// stays; an answer the shift cannot read is refused, not passed on
// unshifted (the functions would then see credentials expired at birth).
func TestShiftExpiration(t *testing.T) {
	const answer = `<?xml version="1.0" encoding="UTF-8"?>
<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials><AccessKeyId>ASIAEXAMPLE</AccessKeyId><SecretAccessKey>s</SecretAccessKey><SessionToken>t</SessionToken><Expiration>%s</Expiration></Credentials></AssumeRoleResult></AssumeRoleResponse>`
	in := strings.Replace(answer, "%s", "2026-11-25T19:00:00Z", 1)

	got, err := shiftExpiration([]byte(in), 47*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Replace(answer, "%s", "2026-11-25T19:47:00Z", 1); string(got) != want {
		t.Errorf("shifted by 47m:\n got %s\nwant %s", got, want)
	}
	if got, err := shiftExpiration([]byte(in), 0); err != nil || string(got) != in {
		t.Errorf("shifted by 0: %v\n got %s\nwant %s", err, got, in)
	}

	for name, bad := range map[string]string{
		"no Expiration":   strings.Replace(in, "<Expiration>2026-11-25T19:00:00Z</Expiration>", "", 1),
		"two Expirations": strings.Replace(in, "</Credentials>", "<Expiration>2026-11-25T19:00:00Z</Expiration></Credentials>", 1),
		"not RFC 3339":    strings.Replace(answer, "%s", "Wed Nov 25 19:00:00 UTC 2026", 1),
	} {
		if out, err := shiftExpiration([]byte(bad), time.Minute); err == nil {
			t.Errorf("%s: shifted without complaint: %s", name, out)
		}
	}
}
