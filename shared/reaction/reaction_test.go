package reaction

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/rotation"
	"github.com/stsrotator/stsrotator/shared/secretfmt"
)

func TestParseSamples(t *testing.T) {
	want := map[string]Signal{
		"consumer-report.json":                  {Source: FromConsumer, Target: "billing-reader", Key: "ASIA…7XQZ", Service: "s3", Operation: "GetObject", ErrorCode: "ExpiredToken"},
		"logs-report.json":                      {Source: FromLogs, Target: "billing-reader", Service: "s3", Operation: "GetObject", ErrorCode: "ExpiredToken"},
		"cloudtrail-expiredtoken.json":          {Source: FromCloudTrail, RoleArn: "arn:aws:iam::123456789012:role/BillingReadOnly", Session: "stsrotator-billing-reader", Key: "ASIA…7XQZ", Service: "s3", Operation: "ListBuckets", ErrorCode: "ExpiredToken"},
		"cloudtrail-expiredtokenexception.json": {Source: FromCloudTrail, RoleArn: "arn:aws:iam::123456789012:role/BillingReadOnly", Session: "stsrotator-billing-reader", Key: "ASIA…7XQZ", Service: "dynamodb", Operation: "GetItem", ErrorCode: "ExpiredTokenException"},
		"cloudtrail-requestexpired.json":        {Source: FromCloudTrail, RoleArn: "arn:aws:iam::123456789012:role/BillingReadOnly", Session: "stsrotator-billing-reader", Key: "ASIA…7XQZ", Service: "ec2", Operation: "DescribeInstances", ErrorCode: "RequestExpired"},
	}
	for file, w := range want {
		raw, err := os.ReadFile(filepath.Join("testdata/match", file))
		if err != nil {
			t.Fatal(err)
		}
		s, err := ParseEvent(raw)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if s.Source != w.Source || s.Target != w.Target || s.RoleArn != w.RoleArn || s.Session != w.Session || s.Key != w.Key ||
			s.Service != w.Service || s.Operation != w.Operation || s.ErrorCode != w.ErrorCode || s.ObservedAt.IsZero() {
			t.Errorf("%s: got %+v", file, s)
		}
	}
}

func TestParseRejects(t *testing.T) {
	cases := []struct{ why, file, in, want string }{
		{"CloudTrail events with other error codes are not ours", "nearmiss/cloudtrail-accessdenied.json", "", `errorCode "AccessDenied"`},
		{"other sources name what is accepted", "nearmiss/consumer-other-source.json", "", `neither an stsrotator report`},
		{"a CloudTrail-shaped event from a custom source is a spoof, even if a rule lets it through", "nearmiss/cloudtrail-custom-source.json", "", `source "custom.app"`},
		{"a CloudTrail-shaped event without a source is refused the same way", "", `{"detail-type":"AWS API Call via CloudTrail","detail":{}}`, `source ""`},
		{"a consumer report without its fields says what is missing", "", `{"source":"stsrotator","detail-type":"ExpiredToken Observed","detail":{"schemaVersion":1}}`, "target, secretId and accessKeyId are all empty"},
		{"CloudTrail without a session issuer cannot be matched", "", `{"source":"aws.sts","detail-type":"AWS API Call via CloudTrail","detail":{"errorCode":"ExpiredToken","userIdentity":{"type":"IAMUser"}}}`, "sessionIssuer.arn"},
		{"garbage is not an event", "", `<xml/>`, "not an EventBridge event"},
	}
	for _, c := range cases {
		in := []byte(c.in)
		if c.file != "" {
			var err error
			if in, err = os.ReadFile(filepath.Join("testdata", c.file)); err != nil {
				t.Fatal(err)
			}
		}
		_, err := ParseEvent(in)
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want ErrMalformed containing %q", c.why, err, c.want)
		}
	}
}

func FuzzParseEvent(f *testing.F) {
	for _, dir := range []string{"testdata/match", "testdata/nearmiss", "testdata/ignored"} {
		files, _ := os.ReadDir(dir)
		for _, e := range files {
			b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
			f.Add(b)
		}
	}
	f.Add([]byte(`{"source":"aws.s3","detail-type":"AWS API Call via CloudTrail","detail":null}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		s, err := ParseEvent(in)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		if s.Source == "" || (s.Target == "" && s.SecretID == "" && s.RoleArn == "" && s.Key == "") {
			t.Fatalf("accepted a signal that cannot be matched: %+v", s)
		}
		if len(s.Key) > 0 && !strings.Contains(s.Key, "…") && len(s.Key) >= 12 {
			t.Fatalf("an unmasked key got through: %q", s.Key)
		}
	})
}

func TestDecide(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	tg := config.Target{Name: "app", RefreshBefore: 20 * time.Minute}
	ver := func(key string, issued, expires time.Duration) Version {
		return Version{Exists: true, VersionID: key, Value: secretfmt.Value{AccessKeyID: key, Expiration: now.Add(expires), Meta: secretfmt.Metadata{IssuedAt: now.Add(issued)}}}
	}
	cur := ver("ASIACURRENTKEY000001", -45*time.Minute, 15*time.Minute) // near expiry
	curFresh := ver("ASIACURRENTKEY000001", -10*time.Minute, 50*time.Minute)
	curJust := ver("ASIACURRENTKEY000001", -1*time.Minute, 59*time.Minute)
	prev := ver("ASIAPREVIOUSKEY00002", -100*time.Minute, -40*time.Minute)
	curKey, prevKey := secretfmt.Mask("ASIACURRENTKEY000001"), secretfmt.Mask("ASIAPREVIOUSKEY00002")
	cases := []struct {
		why      string
		key      string
		cur      Version
		action   Action
		match    KeyMatch
		replaced bool
	}{
		{"the current key near expiry forces a rotation", curKey, cur, Force, KeyCurrent, false},
		{"the current key already expired forces a rotation", curKey, ver("ASIACURRENTKEY000001", -61*time.Minute, -time.Minute), Force, KeyCurrent, false},
		{"a missing current version forces a rotation", prevKey, Version{}, Force, KeyPrevious, false},
		{"a garbage current version forces a rotation, whatever key is reported", prevKey, Version{Exists: true, ParseErr: secretfmt.ErrInvalid}, Force, KeyPrevious, false},
		{"an older key while the current is valid is a stale consumer, no rotation", prevKey, curFresh, Stale, KeyPrevious, false},
		{"an older key replaced inside the window: no second rotation, and the one that replaced it is the action to report", prevKey, curJust, Stale, KeyPrevious, true},
		{"the current key with plenty left points at the consumer's clock", curKey, curFresh, Inform, KeyCurrent, false},
		{"an unknown key is alert-only", secretfmt.Mask("ASIASOMEOTHERKEY0003"), curFresh, Unmatched, KeyUnknown, false},
		{"no key, fresh current rotated a minute ago: already rotated", "", curJust, Recent, KeyNone, false},
		{"no key, current valid for long: the consumer holds an old copy", "", curFresh, Stale, KeyNone, false},
		{"no key, current near expiry: rotate", "", cur, Force, KeyNone, false},
	}
	for _, c := range cases {
		d := Decide(now, tg, Signal{Key: c.key}, c.cur, prev, DefaultWindow)
		if d.Action != c.action || d.Key != c.match || d.Replaced != c.replaced || d.Reason == "" {
			t.Errorf("%s: got %+v, want %s / %s / replaced %v", c.why, d, c.action, c.match, c.replaced)
		}
	}
	// RequestExpired also means a clock more than 15 minutes off AWS's; the
	// reactor does what it does for ExpiredToken and says so.
	skew := []struct {
		why    string
		key    string
		cur    Version
		action Action
		reason string
	}{
		{"RequestExpired with the current key and plenty left: the consumer's clock", curKey, curFresh, Inform, "consumer's clock is off"},
		{"RequestExpired without a key and plenty left: an old copy, or the clock", "", curFresh, Stale, "clock"},
		{"RequestExpired with the current key near expiry still forces a rotation", curKey, cur, Force, "left"},
	}
	for _, c := range skew {
		d := Decide(now, tg, Signal{Key: c.key, ErrorCode: "RequestExpired"}, c.cur, prev, DefaultWindow)
		if d.Action != c.action || !strings.Contains(d.Reason, c.reason) {
			t.Errorf("%s: got %+v, want %s with %q in the reason", c.why, d, c.action, c.reason)
		}
	}
	if d := Decide(now, tg, Signal{Key: curKey, ErrorCode: "ExpiredToken"}, curFresh, prev, DefaultWindow); strings.Contains(d.Reason, "RequestExpired") {
		t.Errorf("an ExpiredToken report is explained as RequestExpired: %q", d.Reason)
	}
}

// An alert about an expired current version says it expired; it never
// shows the time since expiry as time left (issue 15 §5).
func TestAlertKeepsSign(t *testing.T) {
	now := time.Date(2026, 11, 1, 1, 30, 0, 0, time.UTC)
	tg := config.Target{Name: "billing-reader", RoleArn: "arn:aws:iam::123456789012:role/BillingReadOnly", SecretName: "stsrotator/billing-reader"}
	cur := Version{Exists: true, VersionID: "22222222-bbbb", Value: secretfmt.Value{AccessKeyID: "ASIANEWKEYNEWKEYABCD", SecretAccessKey: "s", SessionToken: "t",
		Expiration: now.Add(-25 * time.Minute), Meta: secretfmt.Metadata{IssuedAt: now.Add(25 * time.Minute)}}}
	s := Signal{Source: FromConsumer, Target: tg.Name, Key: "ASIA…ABCD", ErrorCode: "ExpiredToken", Observer: "app"}
	res := rotation.Result{Outcome: rotation.Failed, Reason: "AccessDenied: no"}
	out := Outcome{Target: tg.Name, Decision: Decide(now, tg, s, cur, Version{}, DefaultWindow), Rotation: &res}
	_, body := Alert(now, s, out, tg, cur, cur, 0, DefaultWindow)
	for _, want := range []string{
		"because the current credentials expired 25m ago",
		"expires 2026-11-01T01:05:00Z (expired 25m ago)",
		"issued 25m in the future — check the clock",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("alert lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "left)") {
		t.Errorf("alert shows time left for expired credentials:\n%s", body)
	}
}

func TestAlertText(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	tg := config.Target{Name: "billing-reader", RoleArn: "arn:aws:iam::123456789012:role/BillingReadOnly", SecretName: "stsrotator/billing-reader"}
	old := Version{Exists: true, VersionID: "11111111-aaaa", Value: secretfmt.Value{AccessKeyID: "ASIAOLDKEYOLDKEY7XQZ", SecretAccessKey: "oldsecretmaterial", SessionToken: "oldtokenmaterial",
		Expiration: now.Add(10 * time.Minute), Meta: secretfmt.Metadata{IssuedAt: now.Add(-50 * time.Minute)}}}
	cur := Version{Exists: true, VersionID: "22222222-bbbb", Value: secretfmt.Value{AccessKeyID: "ASIANEWKEYNEWKEYABCD", SecretAccessKey: "newsecretmaterial", SessionToken: "newtokenmaterial",
		Expiration: now.Add(time.Hour), Meta: secretfmt.Metadata{IssuedAt: now}}}
	s := Signal{Source: FromConsumer, Account: "123456789012", Target: tg.Name, Key: "ASIA…7XQZ", Service: "s3", Operation: "GetObject", Region: "eu-west-1",
		ErrorCode: "ExpiredToken", Message: "The provided token has expired.", ObservedAt: now.Add(-time.Second), Observer: "nightly-report on host-7 via cli"}
	res := rotation.Result{Outcome: rotation.Rotated, Key: "ASIA…ABCD", Expires: cur.Value.Expiration}
	out := Outcome{Target: tg.Name, Decision: Decision{Action: Force, Key: KeyCurrent, Reason: "the current credentials have only 10m0s left"}, Rotation: &res}
	// old is the failing version: the current one until the rotation this
	// outcome reports.
	subject, body := Alert(now, s, out, tg, cur, old, 7, DefaultWindow)
	if subject != "stsrotator: billing-reader — rotated after ExpiredToken" {
		t.Errorf("subject: %q", subject)
	}
	for _, want := range []string{
		"> observer:    \"nightly-report on host-7 via cli\"",
		"> call:        \"s3\" \"GetObject\"",
		"> region:      \"eu-west-1\"",
		"Claimed by the sender of the report, account 123456789012 (not checked by stsrotator):",
		"Signal:        ExpiredToken report (consumer) put on the bus by account 123456789012",
		"Target:        billing-reader (role arn:aws:iam::123456789012:role/BillingReadOnly)",
		"Failing key:   ASIA…7XQZ (current version), issued 50m ago",
		"Action taken:  forced a rotation because the current credentials have only 10m0s left → new key ASIA…ABCD",
		"Current:       version 22222222, key ASIA…ABCD",
		"Suppressed:    7 similar report(s)",
		"Inspect:       stsrotator status --target billing-reader",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("alert lacks %q:\n%s", want, body)
		}
	}
	for _, secret := range []string{"secretmaterial", "tokenmaterial", "ASIANEWKEY", "ASIAOLDKEY"} {
		if strings.Contains(body+subject, secret) {
			t.Fatalf("alert leaks %q", secret)
		}
	}
}

// Reports are matched to targets by AWS's rules for each name
// (config/names.go): role names without regard to case (IAM does not
// distinguish them, API_CreateRole.html), the role path ignored; secret
// names and session names exactly.
func TestMatchFollowsAWSNameRules(t *testing.T) {
	cfg := &config.Config{Targets: []config.Target{{Name: "billing", RoleArn: "arn:aws:iam::123456789012:role/BillingReader",
		SessionName: "stsrotator-billing", SecretName: "stsrotator/billing"}}}
	r := &Reactor{Config: cfg}
	for _, c := range []struct {
		why string
		s   Signal
		ok  bool
	}{
		{"the role name in another case, with a path", Signal{RoleArn: "arn:aws:iam::123456789012:role/ops/billingreader", Session: "stsrotator-billing"}, true},
		{"the session name in another case is another session", Signal{RoleArn: "arn:aws:iam::123456789012:role/BillingReader", Session: "STSROTATOR-billing"}, false},
		{"another account", Signal{RoleArn: "arn:aws:iam::210987654321:role/BillingReader"}, false},
		{"the secret by name", Signal{SecretID: "stsrotator/billing"}, true},
		{"the secret name in another case is another secret", Signal{SecretID: "stsrotator/Billing"}, false},
		{"the secret by full ARN", Signal{SecretID: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:stsrotator/billing-AbCdEf"}, true},
		{"a full ARN of another secret sharing the prefix", Signal{SecretID: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:stsrotator/billing-x-AbCdEf"}, false},
	} {
		if _, ok := r.match(c.s); ok != c.ok {
			t.Errorf("%s: matched = %v, want %v", c.why, ok, c.ok)
		}
	}
}

// A forced rotation held back by the secret version quota is alerted as
// such, with the time the next write is allowed (issue 15 §2).
func TestAlertSaysQuotaHold(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	tg := config.Target{Name: "billing-reader", RoleArn: "arn:aws:iam::123456789012:role/BillingReadOnly", SecretName: "stsrotator/billing-reader"}
	cur := Version{Exists: true, VersionID: "22222222-bbbb", Value: secretfmt.Value{AccessKeyID: "ASIANEWKEYNEWKEYABCD", SecretAccessKey: "s", SessionToken: "t",
		Expiration: now.Add(10 * time.Minute), Meta: secretfmt.Metadata{IssuedAt: now.Add(-50 * time.Minute)}}}
	until := now.Add(3*time.Hour + 2*time.Minute)
	res := rotation.Result{Outcome: rotation.Fresh, HeldUntil: until,
		Reason: "forced with 10m left, but held back: 55 versions written in the last 24h, …, so the next write is allowed at 2026-11-25T15:02:00Z (in 3h2m)"}
	s := Signal{Source: FromConsumer, Target: tg.Name, Key: "ASIA…ABCD", ErrorCode: "ExpiredToken", Observer: "app"}
	out := Outcome{Target: tg.Name, Decision: Decision{Action: Force, Key: KeyCurrent, Reason: "the current credentials have only 10m left"}, Rotation: &res}
	subject, body := Alert(now, s, out, tg, cur, cur, 0, DefaultWindow)
	if subject != "stsrotator: billing-reader — rotation held back until 15:02Z (version quota)" {
		t.Errorf("subject: %q", subject)
	}
	for _, want := range []string{"held back by the secret version quota", "next write is allowed at 2026-11-25T15:02:00Z (in 3h2m)"} {
		if !strings.Contains(body, want) {
			t.Errorf("alert lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "already rotated") {
		t.Errorf("a held rotation is not 'already rotated':\n%s", body)
	}
}
