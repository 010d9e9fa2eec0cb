package reaction

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/stsrotator/stsrotator/internal/awstest"
	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/metrics"
	"github.com/stsrotator/stsrotator/shared/rotation"
	"github.com/stsrotator/stsrotator/shared/secretfmt"
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
	if want := "Failing key:   " + key + " (current version), issued 45m0s ago"; len(msgs) != 1 || !strings.Contains(msgs[0], want) {
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
		"Action taken:  rotated 1m0s ago after ExpiredToken: version ",
		"(key " + newKey + ") replaced the failing key; no second rotation inside the 5m0s window",
		"Failing key:   " + key + " (previous version), issued 46m0s ago",
	} {
		if !strings.Contains(msgs[0], want) {
			t.Errorf("retry's alert lacks %q:\n%s", want, msgs[0])
		}
	}
}

// memSecrets is Secrets Manager reduced to the two stages the reactor
// reads, so a test can set any history at any simulated time.
type memSecrets struct {
	mu       sync.Mutex
	cur, old Version
}

func (m *memSecrets) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v := m.cur
	if aws.ToString(in.VersionStage) == "AWSPREVIOUS" {
		v = m.old
	}
	body, err := secretfmt.Marshal(v.Value)
	if err != nil {
		return nil, err
	}
	return &secretsmanager.GetSecretValueOutput{VersionId: aws.String(v.VersionID), SecretString: aws.String(string(body))}, nil
}

// Rotate makes the rotator's write: a new current version, the old one
// previous.
func (m *memSecrets) Rotate(now time.Time, id string) Version {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.old, m.cur = m.cur, memVersion(id, now, now.Add(time.Hour))
	return m.cur
}

func memVersion(id string, issued, expires time.Time) Version {
	return Version{Exists: true, VersionID: id, Value: secretfmt.Value{AccessKeyID: "ASIAMEMORYKEY000" + id, SecretAccessKey: "s", SessionToken: "t",
		Expiration: expires.UTC().Truncate(time.Second), Meta: secretfmt.Metadata{IssuedAt: issued.UTC().Truncate(time.Second)}}}
}

// memRotator rotates memSecrets as a forced rotator invocation would.
type memRotator struct {
	secrets *memSecrets
	now     func() time.Time
	n       int
}

func (r *memRotator) Rotate(_ context.Context, t config.Target, _ string) (rotation.Result, error) {
	r.n++
	v := r.secrets.Rotate(r.now(), fmt.Sprintf("%04d", 100+r.n))
	return rotation.Result{Target: t.Name, Outcome: rotation.Rotated, VersionID: v.VersionID, Key: v.Value.MaskedKey(), Expires: v.Value.Expiration}, nil
}

// Pins the alert debounce as docs/reaction.md states it: one alert per
// target per window, the suppressed count carried by the next one, with
// one exception — the alert of a rotation the reactor just made always
// goes out, so a window can carry a non-rotation alert and then the
// rotation's (rotations themselves are limited to one per window).
func TestAlertDebounce(t *testing.T) {
	start := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	type step struct {
		after time.Duration // since start
		key   string        // "old" or "cur": whichever is AWSPREVIOUS / AWSCURRENT at the start
		alert bool
		// suppressed is the count the alert carries.
		suppressed int
		subject    string
	}
	cases := []struct {
		why string
		// curIssued and curLeft place the current version at the start.
		curIssued, curLeft time.Duration
		steps              []step
		rotations          int
	}{
		{"a stale alert then a forced rotation in one window: exactly 2 alerts, later reports held back",
			45 * time.Minute, 15 * time.Minute, []step{
				{0, "old", true, 0, "stale consumer"},
				{time.Minute, "cur", true, 0, "rotated after ExpiredToken"}, // the exception: inside the stale alert's window
				{2 * time.Minute, "cur", false, 0, ""},                      // now the previous version: stale, held back
				{3 * time.Minute, "old", false, 0, ""},                      // now no known version: held back too
			}, 1},
		{"two stale reports in one window: 1 alert, and the next window's alert counts the one held back",
			10 * time.Minute, 50 * time.Minute, []step{
				{0, "old", true, 0, "stale consumer"},
				{time.Minute, "old", false, 0, ""},
				{DefaultWindow, "old", true, 1, "stale consumer"},
			}, 0},
	}
	for _, c := range cases {
		clk := awstest.NewClock(start)
		mem := &memSecrets{old: memVersion("0001", start.Add(-c.curIssued-time.Hour), start.Add(-c.curIssued)),
			cur: memVersion("0002", start.Add(-c.curIssued), start.Add(c.curLeft))}
		keys := map[string]string{"old": mem.old.Value.MaskedKey(), "cur": mem.cur.Value.MaskedKey()}
		cfg, err := config.Parse("t.yaml", []byte("targets:\n  - name: app\n    roleArn: arn:aws:iam::000000000000:role/App\n"))
		if err != nil {
			t.Fatal(err)
		}
		rot := &memRotator{secrets: mem, now: clk.Now}
		box := &inbox{}
		r := &Reactor{Config: cfg, Secrets: mem, Rotator: rot, Topic: box, Now: clk.Now, Log: awstest.Logger(nil), Emit: metrics.NewWriter(io.Discard, clk.Now)}
		for i, st := range c.steps {
			clk.Add(start.Add(st.after).Sub(clk.Now()))
			out, err := r.React(context.Background(), Signal{Source: FromConsumer, Target: "app", Key: keys[st.key], ErrorCode: "ExpiredToken", Observer: "t"})
			if err != nil {
				t.Fatalf("%s: step %d: %v", c.why, i, err)
			}
			if out.Alerted != st.alert || out.Suppressed != st.suppressed {
				t.Errorf("%s: step %d (%s key at +%s, %s): alerted %v with %d suppressed, want %v with %d",
					c.why, i, st.key, st.after, out.Decision.Action, out.Alerted, out.Suppressed, st.alert, st.suppressed)
			}
			if subjects, _ := box.sent(); st.alert && len(subjects) > 0 && !strings.HasSuffix(subjects[len(subjects)-1], "— "+st.subject) {
				t.Errorf("%s: step %d: subject %q, want the %q alert", c.why, i, subjects[len(subjects)-1], st.subject)
			}
		}
		want := 0
		for _, st := range c.steps {
			if st.alert {
				want++
			}
		}
		if subjects, _ := box.sent(); len(subjects) != want || rot.n != c.rotations {
			t.Errorf("%s: %d alerts and %d rotations, want %d and %d: %q", c.why, len(subjects), rot.n, want, c.rotations, subjects)
		}
	}
}
