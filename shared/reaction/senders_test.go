package reaction

import (
	"bytes"
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/stsrotator/stsrotator/internal/awstest"
	"github.com/stsrotator/stsrotator/shared/metrics"
)

const (
	ownAccount    = "000000000000"
	readerAccount = "111111111111" // reads app-00 by account ID
	roleAccount   = "222222222222" // reads app-01 through a role ARN
	otherAccount  = "333333333333" // reads nothing
)

// bindingReaders: app-00 is read by readerAccount, app-01 by a role of
// roleAccount, the rest by nobody outside the stack's account.
func bindingReaders(i int) []string {
	switch i {
	case 0:
		return []string{readerAccount}
	case 1:
		return []string{"arn:aws:iam::" + roleAccount + ":role/ReportingReader"}
	}
	return nil
}

// countingSecrets counts GetSecretValue calls, to prove which reports
// cost reads.
type countingSecrets struct {
	Secrets
	n atomic.Int64
}

func (c *countingSecrets) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, o ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	c.n.Add(1)
	return c.Secrets.GetSecretValue(ctx, in, o...)
}

// Issue 19 §1: a report is bound to its sender by the account EventBridge
// records in the envelope. The stack's own account may report on any
// target; another account only on a target it reads (an account-ID
// reader, or the account of a reader ARN) and only by naming it. The rest
// is refused: counted by reason, logged with the sender, no reads, no
// rotation, and only the one summary alert for unmatched reports.
func TestReportsBoundToSender(t *testing.T) {
	f := newFixture(t, 3, bindingReaders)
	ctx := awstest.Context(t)
	var logs bytes.Buffer
	f.reactor.Account = ownAccount
	f.reactor.Log, f.reactor.Emit = awstest.Logger(&logs), metrics.NewWriter(&logs, f.clk.Now)
	f.reactor.Topic = &inbox{}
	reads := &countingSecrets{Secrets: f.reactor.Secrets}
	f.reactor.Secrets = reads
	tg := f.cfg.Targets
	key0 := f.currentKey(t, tg[0])
	for _, c := range []struct {
		why    string
		s      Signal
		acts   bool
		reason string
	}{
		{"the stack's own account may report on any target", Signal{Account: ownAccount, Target: tg[2].Name}, true, ""},
		{"an account-ID reader reports on its target", Signal{Account: readerAccount, Target: tg[0].Name}, true, ""},
		{"the account of a reader role reports on its target", Signal{Account: roleAccount, Target: tg[1].Name}, true, ""},
		{"a reader account names its target's secret", Signal{Account: readerAccount, SecretID: tg[0].SecretName}, true, ""},
		{"a reader of one target may not report on another", Signal{Account: readerAccount, Target: tg[1].Name}, false, metrics.ReasonNotAReader},
		{"an account that reads nothing is refused", Signal{Account: otherAccount, Target: tg[0].Name}, false, metrics.ReasonNotAReader},
		{"a made-up target from a reader account is refused", Signal{Account: readerAccount, Target: "no-such-target"}, false, metrics.ReasonNotAReader},
		{"no envelope account is no account of the stack's", Signal{Target: tg[2].Name}, false, metrics.ReasonNotAReader},
		{"a reader account may not report a key alone", Signal{Account: readerAccount, Key: key0}, false, metrics.ReasonKeyOnly},
		{"the stack's own account may report a key alone", Signal{Account: ownAccount, Key: key0}, true, ""},
	} {
		logs.Reset()
		before := reads.n.Load()
		c.s.Source, c.s.ErrorCode, c.s.ObservedAt, c.s.Observer = FromConsumer, "ExpiredToken", f.clk.Now(), "test"
		out, err := f.reactor.React(ctx, c.s)
		if err != nil {
			t.Fatalf("%s: %v", c.why, err)
		}
		refused := strings.Contains(logs.String(), `"RefusedReports":1`)
		switch {
		case c.acts && (refused || out.Decision.Action == Unmatched || out.Target == ""):
			t.Errorf("%s: refused (%+v)\n%s", c.why, out.Decision, logs.String())
		case !c.acts && (!refused || !strings.Contains(logs.String(), `"Reason":"`+c.reason+`"`)):
			t.Errorf("%s: want RefusedReports with reason %s, got\n%s", c.why, c.reason, logs.String())
		case !c.acts && (out.Target != "" || out.Rotation != nil || reads.n.Load() != before):
			t.Errorf("%s: a refused report acted: %+v, %d secret reads", c.why, out, reads.n.Load()-before)
		case !c.acts && c.s.Account != "" && !strings.Contains(logs.String(), `"senderAccount":"`+c.s.Account+`"`):
			t.Errorf("%s: the sender account is not logged:\n%s", c.why, logs.String())
		}
	}
}

// Issue 19 §1: a report carrying only a masked key made the reactor read
// two versions of every target (20,000 GetSecretValue at 10,000 targets).
// From another account — even one that reads the target the key belongs
// to — it is refused before any read; from the stack's own account it is
// searched only while the config has at most MaxKeySearchTargets targets,
// and otherwise skipped with a metric and no read.
func TestAbuse_KeyOnlyReportFromOtherAccount(t *testing.T) {
	f := newFixture(t, 2, bindingReaders)
	ctx := awstest.Context(t)
	var logs bytes.Buffer
	box := &inbox{}
	f.reactor.Account = ownAccount
	f.reactor.Log, f.reactor.Emit, f.reactor.Topic = awstest.Logger(&logs), metrics.NewWriter(&logs, f.clk.Now), box
	tg := f.cfg.Targets[0]
	key := f.currentKey(t, tg)
	reads := &countingSecrets{Secrets: f.reactor.Secrets}
	f.reactor.Secrets = reads
	f.clk.Add(45 * time.Minute) // the key is due: a report acted on would rotate
	for i := range 100 {
		out, err := f.reactor.React(ctx, Signal{Source: FromConsumer, Account: readerAccount, Key: key, ErrorCode: "ExpiredToken", ObservedAt: f.clk.Now(), Observer: "forger"})
		if err != nil || out.Rotation != nil || out.Target != "" {
			t.Fatalf("report %d: %+v %v", i, out, err)
		}
	}
	if n := reads.n.Load(); n != 0 || f.versions(t, tg) != 1 {
		t.Errorf("100 key-only reports from a reader account: %d secret reads, %d versions; want 0 and 1", n, f.versions(t, tg))
	}
	if n := strings.Count(logs.String(), `"Reason":"`+metrics.ReasonKeyOnly+`"`); n != 100 {
		t.Errorf("RefusedReports(key-only) counted %d times, want 100", n)
	}
	if len(box.messages) > 1 {
		t.Errorf("%d alerts for 100 refused reports, want at most the one summary", len(box.messages))
	}

	// The stack's own account, over the cap: no search at all.
	big := appTargets(t, "big.yaml", MaxKeySearchTargets+1, 2, ownAccount, f.env.Unique)
	big.Targets[0] = tg
	f.reactor.Config = big
	logs.Reset()
	out, err := f.reactor.React(ctx, Signal{Source: FromConsumer, Account: ownAccount, Key: key, ErrorCode: "ExpiredToken", ObservedAt: f.clk.Now(), Observer: "own"})
	if err != nil || out.Rotation != nil || reads.n.Load() != 0 || !strings.Contains(logs.String(), `"KeySearchSkipped":1`) {
		t.Errorf("own-account key-only report over the cap: %+v %v, %d reads, log:\n%s", out, err, reads.n.Load(), logs.String())
	}
	// Under the cap it is still found, and acted on.
	f.reactor.Config = f.cfg
	out, err = f.reactor.React(ctx, Signal{Source: FromConsumer, Account: ownAccount, Key: key, ErrorCode: "ExpiredToken", ObservedAt: f.clk.Now(), Observer: "own"})
	if err != nil || out.Target != tg.Name || out.Rotation == nil {
		t.Errorf("own-account key-only report under the cap: want a forced rotation of %s, got %+v %v", tg.Name, out, err)
	}
}
