package reaction

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/stsrotator/stsrotator/internal/awstest"
	"github.com/stsrotator/stsrotator/shared/rotation"
)

// inbox is a Publisher that records what it published and refuses the
// first fail calls, the way SNS does when throttled or unreachable. next,
// when set, is the real topic the accepted alerts go on to.
type inbox struct {
	next Publisher
	fail int

	mu                 sync.Mutex
	subjects, messages []string
	refused            int
}

var errPublish = errors.New("sns unreachable")

func (p *inbox) Publish(ctx context.Context, in *sns.PublishInput, opts ...func(*sns.Options)) (*sns.PublishOutput, error) {
	p.mu.Lock()
	if p.refused < p.fail {
		p.refused++
		p.mu.Unlock()
		return nil, errPublish
	}
	p.subjects = append(p.subjects, aws.ToString(in.Subject))
	p.messages = append(p.messages, aws.ToString(in.Message))
	p.mu.Unlock()
	if p.next == nil {
		return &sns.PublishOutput{MessageId: aws.String("m")}, nil
	}
	return p.next.Publish(ctx, in, opts...)
}

func (p *inbox) sent() (subjects, messages []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.subjects...), append([]string(nil), p.messages...)
}

// A forced rotation's alert says how old the failing credentials were,
// although by then they are no longer the current version (issue: the
// alert includes the age of the failing credentials).
func TestForcedRotationAlertAgesFailingKey(t *testing.T) {
	f := newFixture(t, 1)
	tg := f.cfg.Targets[0]
	key := f.currentKey(t, tg)
	box := &inbox{next: f.reactor.Topic}
	f.reactor.Topic = box
	f.clk.Add(45 * time.Minute) // inside refreshBefore: the report forces a rotation
	out, err := f.reactor.React(awstest.Context(t), Signal{Source: FromConsumer, Target: tg.Name, Key: key, ErrorCode: "ExpiredToken", ObservedAt: f.clk.Now(), Observer: "t"})
	if err != nil || out.Rotation == nil || out.Rotation.Outcome != rotation.Rotated || !out.Alerted {
		t.Fatalf("want a forced rotation and its alert: %+v %v", out, err)
	}
	_, msgs := box.sent()
	if want := "Failing key:   " + key + " (current version), issued 45m ago"; len(msgs) != 1 || !strings.Contains(msgs[0], want) {
		t.Fatalf("the alert must age the failing key with %q:\n%s", want, msgs)
	}
}

// A forced rotation whose alert failed to publish is still reported: the
// error makes Lambda retry, the retry finds the failing key already
// replaced (so it does not rotate again), and its alert names the
// rotation as the action taken instead of only "stale consumer".
func TestRotationAlertSurvivesFailedPublish(t *testing.T) {
	f := newFixture(t, 1)
	tg := f.cfg.Targets[0]
	key := f.currentKey(t, tg)
	box := &inbox{next: f.reactor.Topic, fail: 1}
	f.reactor.Topic = box
	f.clk.Add(45 * time.Minute)
	s := Signal{Source: FromConsumer, Target: tg.Name, Key: key, ErrorCode: "ExpiredToken", ObservedAt: f.clk.Now(), Observer: "nightly-report via cli"}

	out, err := f.reactor.React(awstest.Context(t), s)
	if !errors.Is(err, errPublish) || out.Rotation == nil || out.Rotation.Outcome != rotation.Rotated || out.Alerted {
		t.Fatalf("first attempt: want a rotation and the publish error returned for a retry, got %+v %v", out, err)
	}
	newKey := f.currentKey(t, tg)

	f.clk.Add(time.Minute) // Lambda's first asynchronous retry
	out, err = f.reactor.React(awstest.Context(t), s)
	if err != nil || out.Rotation != nil || !out.Alerted || out.Decision.Action != Stale || !out.Decision.Replaced {
		t.Fatalf("retry: want no second rotation and an alert, got %+v %v", out, err)
	}
	if n := f.versions(t, tg); n != 2 {
		t.Fatalf("%d versions, want 2: the retry must not rotate again", n)
	}
	subjects, msgs := box.sent()
	if len(msgs) != 1 {
		t.Fatalf("%d alerts published, want exactly the retry's", len(msgs))
	}
	if subjects[0] != "stsrotator: "+tg.Name+" — rotated after ExpiredToken" {
		t.Errorf("subject %q must headline the rotation, not a stale consumer", subjects[0])
	}
	for _, want := range []string{
		"Action taken:  rotated 1m ago after ExpiredToken: version ",
		"(key " + newKey + ") replaced the failing key; no second rotation inside the 5m window",
		"Failing key:   " + key + " (previous version), issued 46m ago",
	} {
		if !strings.Contains(msgs[0], want) {
			t.Errorf("retry's alert lacks %q:\n%s", want, msgs[0])
		}
	}
}

// Pins the alert debounce as docs/reaction.md states it: one alert per
// target per window, the suppressed count carried by the next one, with
// one exception — the alert of a rotation the reactor just made always
// goes out, so a window can carry a non-rotation alert and then the
// rotation's (rotations themselves are limited to one per window).
func TestAlertDebounce(t *testing.T) {
	type step struct {
		after time.Duration // since the second version was written
		key   string        // "v1" or "v2": the first and second version's keys
		alert bool
		// suppressed is the count the alert carries.
		suppressed int
		subject    string
	}
	cases := []struct {
		why   string
		steps []step
		// rotations is how many forced rotations the reports cause.
		rotations int
	}{
		{"a stale alert then a forced rotation in one window: exactly 2 alerts, later reports held back", []step{
			{34 * time.Minute, "v1", true, 0, "stale consumer"},             // v2 has 15m left: due, but v1 is the stale key
			{35 * time.Minute, "v2", true, 0, "rotated after ExpiredToken"}, // the exception: inside the stale alert's window
			{36 * time.Minute, "v2", false, 0, ""},                          // now the previous version: held back
			{37 * time.Minute, "v1", false, 0, ""},                          // now no known version: held back too
		}, 1},
		{"two stale reports in one window: 1 alert, and the next window's alert counts the one held back", []step{
			{10 * time.Minute, "v1", true, 0, "stale consumer"},
			{11 * time.Minute, "v1", false, 0, ""},
			{10*time.Minute + DefaultWindow, "v1", true, 1, "stale consumer"},
		}, 0},
	}
	for _, c := range cases {
		t.Run(c.why, func(t *testing.T) {
			// kumo's STS stamps Expiration on the wall clock: v1 and v2 both
			// expire about an hour after the fixture's start.
			f := newFixture(t, 1)
			tg := f.cfg.Targets[0]
			keys := map[string]string{"v1": f.currentKey(t, tg)}
			f.clk.Add(11 * time.Minute) // past the 10-minute write guard
			if r := f.engine.Rotate(awstest.Context(t), tg, rotation.Request{Force: true, Why: "test"}); r.Outcome != rotation.Rotated {
				t.Fatalf("second version: %+v", r)
			}
			keys["v2"] = f.currentKey(t, tg)
			written := f.clk.Now()
			box := &inbox{next: f.reactor.Topic}
			f.reactor.Topic = box
			before := f.versions(t, tg)
			for i, st := range c.steps {
				f.clk.Add(written.Add(st.after).Sub(f.clk.Now()))
				out, err := f.reactor.React(awstest.Context(t), Signal{Source: FromConsumer, Target: tg.Name, Key: keys[st.key], ErrorCode: "ExpiredToken", ObservedAt: f.clk.Now(), Observer: "t"})
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if out.Alerted != st.alert || out.Suppressed != st.suppressed {
					t.Errorf("step %d (%s key at +%s, %s): alerted %v with %d suppressed, want %v with %d",
						i, st.key, st.after, out.Decision.Action, out.Alerted, out.Suppressed, st.alert, st.suppressed)
				}
				if subjects, _ := box.sent(); st.alert && len(subjects) > 0 && !strings.HasSuffix(subjects[len(subjects)-1], "— "+st.subject) {
					t.Errorf("step %d: subject %q, want the %q alert", i, subjects[len(subjects)-1], st.subject)
				}
			}
			want := 0
			for _, st := range c.steps {
				if st.alert {
					want++
				}
			}
			if subjects, _ := box.sent(); len(subjects) != want || f.versions(t, tg)-before != c.rotations {
				t.Errorf("%d alerts and %d rotations, want %d and %d: %q", len(subjects), f.versions(t, tg)-before, want, c.rotations, subjects)
			}
		})
	}
}
