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
