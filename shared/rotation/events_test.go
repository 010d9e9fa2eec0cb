package rotation

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/stsrotator/stsrotator/internal/awstest"
	"github.com/stsrotator/stsrotator/internal/eventschema"
	"github.com/stsrotator/stsrotator/shared/events"
	"github.com/stsrotator/stsrotator/shared/metrics"
)

// The engine announces each rotation and failure on kumo's EventBridge,
// with the cause and the previous version's validity; every detail it
// emits matches its published schema and carries no secret material. A
// failed announcement never fails the rotation.
func TestEngineAnnouncesLifecycle(t *testing.T) {
	env := awstest.Start(t)
	ctx := awstest.Context(t)
	bus := env.Unique("engine-events")
	if _, err := env.EventBridge().CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String(bus)}); err != nil {
		t.Fatal(err)
	}
	seen := env.LifecycleRules(t, bus)
	clk := awstest.NewClock(time.Now())
	eng := newEngine(env, clk)
	var emf bytes.Buffer
	eng.Emit = metrics.NewWriter(&emf, clk.Now)
	eng.Events = &events.Emitter{API: env.EventBridge(), Bus: bus}
	alpha := loadTargets(t, env)[0]
	root := awstest.RepoRoot(t)

	// last returns the newest delivery of a detail-type, validated.
	last := func(dt string, n int) map[string]any {
		t.Helper()
		got := seen()[dt]
		if len(got) != n {
			t.Fatalf("%d %q events, want %d", len(got), dt, n)
		}
		d := got[len(got)-1].Detail
		if err := eventschema.Validate(root, dt, []byte(d)); err != nil {
			t.Fatal(err)
		}
		if leaks := awstest.Leaks([]byte(d)); len(leaks) > 0 {
			t.Fatalf("%s event carries secret material %v", dt, leaks)
		}
		var m map[string]any
		_ = json.Unmarshal([]byte(d), &m)
		return m
	}

	first := eng.Rotate(ctx, alpha, Request{Why: "schedule"})
	e := last(events.DetailTypeRotated, 1)
	if first.Outcome != Rotated || e["why"] != "schedule" || e["previous"] != nil || e["versionId"] != first.VersionID ||
		e["accessKeyId"] != first.Key || !strings.Contains(e["secretArn"].(string), alpha.SecretName) {
		t.Fatalf("first rotation's event: %v (result %+v)", e, first)
	}

	clk.Add(11 * time.Minute)
	second := eng.Rotate(ctx, alpha, Request{Force: true, Why: "stsrotator rotate by x@y"})
	e = last(events.DetailTypeRotated, 2)
	prev, _ := e["previous"].(map[string]any)
	if second.Outcome != Rotated || e["why"] != "forced" || prev["versionId"] != first.VersionID || prev["stillValid"] != true {
		t.Fatalf("a forced rotation names the previous version, still valid: %v", e)
	}

	// Inside the write interval, a revocation still rotates: the current
	// credentials were issued before its cutoff and are denied.
	clk.Add(time.Minute)
	third := eng.Rotate(ctx, alpha, Request{Force: true, RevokedBefore: clk.Now()})
	e = last(events.DetailTypeRotated, 3)
	prev, _ = e["previous"].(map[string]any)
	if third.Outcome != Rotated || !strings.Contains(third.Reason, "issued before the revocation cutoff") || e["why"] != "revoke" ||
		prev["versionId"] != second.VersionID || prev["stillValid"] != false {
		t.Fatalf("a revocation's rotation: %+v %v", third, e)
	}

	env.Transport.Fault = func(op string, body []byte) *http.Response {
		if op == "AssumeRole" {
			return awstest.QueryError(403, "AccessDenied", "User ASIAWHOLEKEYINERROR01 is not authorized to perform: sts:AssumeRole")
		}
		return nil
	}
	clk.Add(45 * time.Minute)
	failed := eng.Rotate(ctx, alpha, Request{Why: "schedule"})
	e = last(events.DetailTypeRotationFailed, 1)
	cur, _ := e["current"].(map[string]any)
	left := e["currentValidSeconds"].(float64)
	if failed.Outcome != Failed || e["why"] != "schedule" || cur["versionId"] != third.VersionID || cur["stillValid"] != true ||
		left <= 0 || left > float64(time.Hour/time.Second) || !strings.Contains(e["reason"].(string), "AccessDenied") ||
		strings.Contains(e["reason"].(string), "ASIAWHOLEKEYINERROR01") {
		t.Fatalf("a failure says how long the current version stays valid, with keys masked: %v", e)
	}

	// EventBridge down: the rotation stands, the failure is counted.
	env.Transport.Fault = func(op string, body []byte) *http.Response {
		if op == "PutEvents" {
			return awstest.JSONError(500, "InternalException", "EventBridge is unavailable")
		}
		return nil
	}
	clk.Add(15 * time.Minute)
	if r := eng.Rotate(ctx, alpha, Request{Force: true}); r.Outcome != Rotated {
		t.Fatalf("a failed announcement failed the rotation: %+v", r)
	}
	if !strings.Contains(emf.String(), `"EventPublishFailures":1`) {
		t.Fatalf("the failed announcement was not counted:\n%s", emf.String())
	}
	if n := len(seen()[events.DetailTypeExpiredToken]); n != 0 {
		t.Fatalf("the ExpiredToken reaction pattern matched %d lifecycle events", n)
	}
}
