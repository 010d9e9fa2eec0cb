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
