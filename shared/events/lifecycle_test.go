package events_test

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stsrotator/stsrotator/internal/awstest"
	"github.com/stsrotator/stsrotator/internal/eventschema"
	"github.com/stsrotator/stsrotator/shared/events"
)

var at = time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)

func samples() []events.Lifecycle {
	prev := &events.VersionRef{VersionID: "v-1", AccessKeyID: "ASIA…AAAA", Expiration: at.Add(20 * time.Minute), StillValid: false}
	return []events.Lifecycle{
		events.Rotated{SchemaVersion: 1, Target: "billing-reader", SecretArn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:stsrotator/billing-reader-AbCdEf",
			VersionID: "v-2", AccessKeyID: "ASIA…BBBB", Expiration: at.Add(time.Hour), Why: events.CauseRevoke, Previous: prev, RotatedAt: at},
		events.Rotated{SchemaVersion: 1, Target: "first", SecretArn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:stsrotator/first-AbCdEf",
			VersionID: "v-1", AccessKeyID: "ASIA…CCCC", Expiration: at.Add(time.Hour), Why: events.CauseSchedule, RotatedAt: at},
		events.RotationFailed{SchemaVersion: 1, Target: "billing-reader", Reason: "AccessDenied: not authorized to perform sts:AssumeRole", Why: events.CauseExpiredTokenReport,
			Current: prev, CurrentValidSeconds: 0, FailedAt: at},
		events.Alert{SchemaVersion: 1, Target: "billing-reader", RoleArn: "arn:aws:iam::123456789012:role/B", SecretName: "stsrotator/billing-reader",
			Subject: "stsrotator: billing-reader — rotated after ExpiredToken", Action: "force-rotation", Reason: "the current credentials expired",
			Signal: "consumer", Observer: "app on host via cli", ErrorCode: "ExpiredToken", FailingKey: "ASIA…AAAA", KeyMatch: "current version",
			Rotation: &events.AlertRotation{Outcome: "rotated", VersionID: "v-2", AccessKeyID: "ASIA…BBBB", Expiration: at.Add(time.Hour)},
			Current:  &events.VersionRef{VersionID: "v-2", AccessKeyID: "ASIA…BBBB", Expiration: at.Add(time.Hour), StillValid: true},
			Inspect:  "stsrotator status --target billing-reader", AlertedAt: at},
		events.Alert{SchemaVersion: 1, Subject: "stsrotator: unknown target — unmatched ExpiredToken report", Action: "unmatched", Reason: "no target matches",
			Signal: "logs", Inspect: "stsrotator status", AlertedAt: at},
	}
}

// Every lifecycle detail the types can hold validates against its
// published schema.
func TestLifecycleSamplesMatchSchemas(t *testing.T) {
	root := awstest.RepoRoot(t)
	for _, d := range samples() {
		b, err := events.Encode(d)
		if err != nil {
			t.Fatalf("%s: %v", d.DetailType(), err)
		}
		if err := eventschema.Validate(root, d.DetailType(), b); err != nil {
			t.Error(err)
		}
	}
}

// The schemas and the Go types name the same fields, nested objects too.
func TestLifecycleSchemasNameTheGoFields(t *testing.T) {
	root := awstest.RepoRoot(t)
	cases := []struct {
		file string
		path []string
		typ  any
	}{
		{"credentials-rotated.schema.json", nil, events.Rotated{}},
		{"credentials-rotated.schema.json", []string{"previous"}, events.VersionRef{}},
		{"rotation-failed.schema.json", nil, events.RotationFailed{}},
		{"rotation-failed.schema.json", []string{"current"}, events.VersionRef{}},
		{"alert.schema.json", nil, events.Alert{}},
		{"alert.schema.json", []string{"rotation"}, events.AlertRotation{}},
		{"alert.schema.json", []string{"current"}, events.VersionRef{}},
	}
	for _, c := range cases {
		b, err := os.ReadFile(root + "/docs/" + c.file)
		if err != nil {
			t.Fatal(err)
		}
		var node map[string]any
		if err := json.Unmarshal(b, &node); err != nil {
			t.Fatal(err)
		}
		for _, p := range c.path {
			node = node["properties"].(map[string]any)[p].(map[string]any)
		}
		var doc, code []string
		for k := range node["properties"].(map[string]any) {
			doc = append(doc, k)
		}
		typ := reflect.TypeOf(c.typ)
		for i := range typ.NumField() {
			code = append(code, strings.Split(typ.Field(i).Tag.Get("json"), ",")[0])
		}
		sort.Strings(doc)
		sort.Strings(code)
		if !reflect.DeepEqual(doc, code) {
			t.Errorf("%s %v: schema properties %v != Go fields %v", c.file, c.path, doc, code)
		}
	}
	for dt, file := range events.SchemaFiles {
		if _, err := os.Stat(root + "/docs/" + file); err != nil {
			t.Errorf("%s: schema %s missing: %v", dt, file, err)
		}
	}
}

// What Validate refuses: anything that could carry a whole key, and
// details a consumer could not route.
func TestLifecycleValidate(t *testing.T) {
	s := samples()
	rot, fail, alert := s[0].(events.Rotated), s[2].(events.RotationFailed), s[3].(events.Alert)
	cases := []struct {
		why  string
		d    events.Lifecycle
		want string
	}{
		{"a whole new key is refused", func() events.Lifecycle { d := rot; d.AccessKeyID = "ASIAABCDEFGHIJKLMNOP"; return d }(), "accessKeyId is not masked"},
		{"a whole previous key is refused", func() events.Lifecycle {
			d := rot
			p := *d.Previous
			p.AccessKeyID = "ASIAABCDEFGHIJKLMNOP"
			d.Previous = &p
			return d
		}(), "previous.accessKeyId is not masked"},
		{"a whole key quoted in a failure reason is refused", func() events.Lifecycle {
			d := fail
			d.Reason = "InvalidClientTokenId: ASIAABCDEFGHIJKLMNOP is not valid"
			return d
		}(), "reason contains a whole access key ID"},
		{"a whole key deep in an alert's rotation reason is refused", func() events.Lifecycle {
			d := alert
			r := *d.Rotation
			r.Reason = "key AKIAABCDEFGHIJKLMNOP refused"
			d.Rotation = &r
			return d
		}(), "rotation.reason contains a whole access key ID"},
		{"an undocumented cause is refused", func() events.Lifecycle { d := rot; d.Why = "because"; return d }(), `why is "because"`},
		{"a rotation without its version is refused", func() events.Lifecycle { d := rot; d.VersionID = ""; return d }(), "are required"},
		{"an alert without its subject is refused", func() events.Lifecycle { d := alert; d.Subject = ""; return d }(), "are required"},
	}
	for _, c := range cases {
		_, err := events.Encode(c.d)
		if !errors.Is(err, events.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.why, err, c.want)
		}
	}
}

// Published on kumo's EventBridge: each detail-type reaches a rule that
// asks for it, and none reaches the reaction rule's ExpiredToken pattern,
// so a rotation announcing itself can never trigger a rotation.
func TestEmitterOnKumo(t *testing.T) {
	env := awstest.Start(t)
	bus := env.Unique("lifecycle")
	if _, err := env.EventBridge().CreateEventBus(awstest.Context(t), newBus(bus)); err != nil {
		t.Fatal(err)
	}
	seen := env.LifecycleRules(t, bus)
	em := &events.Emitter{API: env.EventBridge(), Bus: bus}
	for _, d := range samples() {
		if id, err := em.Emit(awstest.Context(t), d); err != nil || id == "" {
			t.Fatalf("emit %s: %q %v", d.DetailType(), id, err)
		}
	}
	got := seen()
	want := map[string]int{events.DetailTypeRotated: 2, events.DetailTypeRotationFailed: 1, events.DetailTypeAlert: 2}
	for dt, n := range want {
		if len(got[dt]) != n {
			t.Errorf("rule for %q received %d events, want %d", dt, len(got[dt]), n)
		}
		for _, d := range got[dt] {
			if d.Source != events.Source || d.DetailType != dt {
				t.Errorf("delivery %+v", d)
			}
			if err := eventschema.Validate(awstest.RepoRoot(t), dt, []byte(d.Detail)); err != nil {
				t.Error(err)
			}
		}
	}
	if n := len(got[events.DetailTypeExpiredToken]); n != 0 {
		t.Fatalf("the ExpiredToken reaction pattern matched %d lifecycle events", n)
	}
	// A nil emitter publishes nothing and fails nothing.
	var none *events.Emitter
	if id, err := none.Emit(awstest.Context(t), samples()[0]); id != "" || err != nil {
		t.Fatalf("nil emitter: %q %v", id, err)
	}
}
