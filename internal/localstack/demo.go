package localstack

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/humantime"
	"github.com/stsrotator/stsrotator/shared/reaction"
	"github.com/stsrotator/stsrotator/shared/rotation"
	"github.com/stsrotator/stsrotator/shared/secretfmt"
)

// Narrator prints timestamped, human-readable lines.
type Narrator struct {
	Out   io.Writer
	Stack *Stack
}

// Say prints one line stamped with the wall clock and, when the functions'
// clock has been moved ahead, by how much.
func (n *Narrator) Say(format string, args ...any) {
	stamp := time.Now().Format("15:04:05.000")
	if n.Stack != nil {
		if off := time.Until(n.Stack.Now()).Round(time.Minute); off != 0 {
			stamp += " (clock " + humantime.Signed(off) + ")"
		}
	}
	fmt.Fprintf(n.Out, "[%s] %s\n", stamp, fmt.Sprintf(format, args...))
}

// Result is what the scripted run observed, for the end-to-end test.
type Result struct {
	FirstMint    time.Duration
	Minted       []string
	TickRotated  []string
	ForcedTarget string
	ForcedAlert  string
	StaleAlert   string
	// Final is credential-process's output for the forced target.
	Final string
	// Events are the detail-types of the lifecycle events seen, in order.
	Events []string
	// Revoke is the scripted revoke.
	Revoke RevokeResult
}

// Demo runs the script: mint everything, pass refreshBefore so the tick
// rotates, report the current key near expiry (forced rotation + alert),
// then report a stale key (alert only). t0 is when the command started.
// The functions' clock stays where the script moved it (47 min ahead with
// the example config): it never runs backwards, so what comes next sees
// the versions the script wrote age as they would.
func Demo(ctx context.Context, s *Stack, out io.Writer, t0 time.Time) (Result, error) {
	n := &Narrator{Out: out, Stack: s}
	var res Result

	sum, err := s.Tick(ctx)
	if err != nil {
		return res, fmt.Errorf("first sweep: %w", err)
	}
	res.FirstMint = time.Since(t0)
	for _, r := range sum.Rotated {
		res.Minted = append(res.Minted, r.Target)
		n.Say("minted %s: key %s, valid %s, stored in Secrets Manager as version %s of %s", r.Target, r.Key,
			humantime.Span(time.Duration(r.LeftSec)*time.Second), shortID(r.VersionID), s.secretName(r.Target))
	}
	if len(sum.Failed) > 0 || len(res.Minted) != len(s.Config.Targets) {
		return res, fmt.Errorf("first sweep minted %d of %d targets (failed: %+v)", len(res.Minted), len(s.Config.Targets), sum.Failed)
	}
	n.Say("first credential minted %.1fs after the command started", res.FirstMint.Seconds())
	n.Events(ctx, &res, len(res.Minted))
	n.Status(ctx)

	first, second := refreshOrder(s.Config.Targets)
	// Incident response before the clock moves: revoke's cutoff comes
	// from AWS's clock, which the functions' dev clock does not move.
	if res.Revoke, err = n.Revoke(ctx, second.Name); err != nil {
		return res, err
	}
	if res.Revoke.Skipped == "" {
		n.Events(ctx, &res, 1)
	}

	// Move the functions' clock just past the earliest refresh point: only
	// the targets with the shortest fresh period are due.
	o1 := first.Duration - first.RefreshBefore + time.Minute
	if err := s.SetClock(o1); err != nil {
		return res, err
	}
	n.Say("clock moved %s ahead: %s is inside its refreshBefore (%s); the schedule ticks", humantime.Span(o1), first.Name, humantime.Span(first.RefreshBefore))
	sum, err = n.Sweep(ctx)
	if err != nil {
		return res, fmt.Errorf("tick: %w", err)
	}
	for _, r := range sum.Rotated {
		res.TickRotated = append(res.TickRotated, r.Target)
	}
	n.Events(ctx, &res, len(sum.Rotated))

	// A consumer of the other target hits ExpiredToken with the current
	// key once it is close to expiry.
	o2 := second.Duration - second.RefreshBefore + time.Minute
	if err := s.SetClock(o2); err != nil {
		return res, err
	}
	old := currentKey(ctx, s, second.Name)
	res.ForcedTarget = second.Name
	n.Say("clock moved %s ahead; a consumer of %s reports ExpiredToken for the current key %s:", humantime.Span(o2), second.Name, old)
	if err := n.report(ctx, second.Name, old); err != nil {
		return res, err
	}
	if res.ForcedAlert, err = n.alert(ctx); err != nil {
		return res, err
	}
	n.Say("%s now has key %s", second.Name, currentKey(ctx, s, second.Name))
	n.Events(ctx, &res, 2) // the forced rotation and the alert

	// The same consumer, still holding the old key after the debounce
	// window, is told it is stale: no rotation.
	if err := s.SetClock(o2 + reaction.DefaultWindow + time.Minute); err != nil {
		return res, err
	}
	n.Say("a consumer still using %s's previous key %s reports again:", second.Name, old)
	if err := n.report(ctx, second.Name, old); err != nil {
		return res, err
	}
	if res.StaleAlert, err = n.alert(ctx); err != nil {
		return res, err
	}
	n.Events(ctx, &res, 1)

	stdout, stderr, err := s.CLI(ctx, "credential-process", "--target", second.Name)
	if err != nil {
		return res, fmt.Errorf("credential-process: %v: %s", err, stderr)
	}
	res.Final = stdout
	v, err := secretfmt.Parse([]byte(stdout))
	if err != nil {
		return res, fmt.Errorf("credential-process printed something credential_process cannot read: %w", err)
	}
	n.Say("stsrotator credential-process --target %s → credential_process JSON with key %s, expires %s", second.Name, v.MaskedKey(), v.Expiration.Format(time.RFC3339))
	n.Status(ctx)
	return res, nil
}

// Events narrates the lifecycle events delivered to the event inbox,
// waiting (bounded) until at least want have arrived: kumo delivers to the
// queue asynchronously, after the call that published them returned.
func (n *Narrator) Events(ctx context.Context, res *Result, want int) {
	seen := 0
	deadline := time.Now().Add(10 * time.Second)
	for {
		evs, err := n.Stack.Events(ctx, 2*time.Second)
		if err != nil {
			n.Say("event inbox: %v", err)
			return
		}
		for _, e := range evs {
			n.Say("event %s", e.Describe())
			if res != nil {
				res.Events = append(res.Events, e.DetailType)
			}
		}
		seen += len(evs)
		if seen >= want || time.Now().After(deadline) {
			return
		}
	}
}

func (n *Narrator) report(ctx context.Context, target, key string) error {
	args := []string{"report-expired", "--target", target, "--access-key-id", key, "--service", "s3", "--operation", "GetObject", "--app", "local-demo",
		"--message", "The provided token has expired."}
	n.Say("  $ stsrotator %s", shellArgs(args))
	id, stderr, err := n.Stack.CLI(ctx, args...)
	if err != nil {
		return fmt.Errorf("report-expired: %v: %s", err, stderr)
	}
	n.Say("  report published to EventBridge (event %s); the rule hands it to the reactor", strings.TrimSpace(id))
	if d, ok := n.Stack.NextDecision(ctx, 30*time.Second); ok {
		n.Say("  %s", d.Describe())
	} else {
		n.Say("  the reactor decided nothing within 30 s (its log: .local/functions.log)")
	}
	return nil
}

func (n *Narrator) alert(ctx context.Context) (string, error) {
	text, ok, err := n.Stack.NextAlert(ctx, 60*time.Second)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", fmt.Errorf("no alert arrived within 60s")
	}
	n.Say("alert on the SNS topic:")
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		fmt.Fprintf(n.Out, "    │ %s\n", line)
	}
	return text, nil
}

// Sweep is one schedule tick, narrated: what `make local` does at every
// tick once the script is done.
func (n *Narrator) Sweep(ctx context.Context) (rotation.Summary, error) {
	sum, err := n.Stack.Tick(ctx)
	if err != nil {
		n.Say("tick failed: %v", err)
		return sum, err
	}
	n.Say("tick: %d rotated, %d fresh, %d failed", len(sum.Rotated), sum.Fresh, len(sum.Failed))
	for _, r := range sum.Rotated {
		n.Say("  rotated %s (%s): new key %s, stored in Secrets Manager as version %s", r.Target, r.Reason, r.Key, shortID(r.VersionID))
	}
	for _, r := range sum.Failed {
		n.Say("  failed %s: %s", r.Target, r.Reason)
	}
	return sum, nil
}

// Status prints the status table; LEFT counts from the functions' clock,
// and the header says so once that clock runs ahead of the wall clock.
func (n *Narrator) Status(ctx context.Context) {
	n.Say("status:")
	left := "LEFT"
	if off := n.Stack.Offset(); off > 0 {
		left = "LEFT (on the demo clock, " + humantime.Span(off) + " ahead)"
	}
	fmt.Fprintf(n.Out, "    %-16s %-10s %-9s %-20s %s\n", "TARGET", "KEY", "VERSIONS", "EXPIRES", left)
	for _, r := range n.Stack.Status(ctx) {
		if r.Err != nil {
			fmt.Fprintf(n.Out, "    %-16s %v\n", r.Target, r.Err)
			continue
		}
		fmt.Fprintf(n.Out, "    %-16s %-10s %-9d %-20s %s\n", r.Target, r.Key, r.Versions, r.Expires.Format(time.RFC3339), humantime.Remaining(r.Left))
	}
}

func currentKey(ctx context.Context, s *Stack, target string) string {
	for _, r := range s.Status(ctx) {
		if r.Target == target {
			return r.Key
		}
	}
	return ""
}

// refreshOrder returns the target that falls due first and one that falls
// due strictly later (by session length minus refreshBefore).
func refreshOrder(ts []config.Target) (config.Target, config.Target) {
	fresh := func(t config.Target) time.Duration { return t.Duration - t.RefreshBefore }
	first, second := ts[0], ts[0]
	for _, t := range ts {
		if fresh(t) < fresh(first) {
			first = t
		}
	}
	for _, t := range ts {
		if fresh(t) > fresh(first) && (fresh(second) <= fresh(first) || fresh(t) < fresh(second)) {
			second = t
		}
	}
	return first, second
}

// Try is what make local suggests running in another shell once the
// script is done: the export line and the alias first, then commands that
// work from any directory (no assembly paths, no function names: the CLI
// finds the target's secret and rotator from the config the export line
// names). Each command is paired with what it shows.
func (s *Stack) Try(res Result) (setup []string, cmds [][2]string) {
	setup = []string{"export " + shellWords(s.ClientEnv()), "alias stsrotator=" + shellWord(s.CLIPath())}
	target := s.Config.Targets[0].Name
	cmds = [][2]string{
		{"stsrotator status", "LEFT on the demo clock, as in the table above"},
		{"stsrotator credential-process --target " + target, "what an SDK's credential_process reads"},
		{"stsrotator report-expired --target " + target, "what the reactor decides shows up here"},
	}
	if res.Revoke.Check != "" {
		cmds = append(cmds, [2]string{res.Revoke.Check, "the revocation, read from moto's IAM"})
	}
	return setup, cmds
}

// PrintTry prints Try's lines.
func (n *Narrator) PrintTry(res Result) {
	setup, cmds := n.Stack.Try(res)
	n.Say("try, in another shell, from any directory:")
	fmt.Fprintln(n.Out)
	for _, l := range setup {
		fmt.Fprintf(n.Out, "    %s\n", l)
	}
	for _, c := range cmds {
		fmt.Fprintf(n.Out, "    %s   # %s\n", c[0], c[1])
	}
	fmt.Fprintln(n.Out)
}

func shellArgs(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = shellWord(a)
	}
	return strings.Join(out, " ")
}

func shellWords(kvs []string) string {
	out := make([]string, len(kvs))
	for i, kv := range kvs {
		k, v, _ := strings.Cut(kv, "=")
		out[i] = k + "=" + shellWord(v)
	}
	return strings.Join(out, " ")
}

// shellWord quotes w for sh when it holds anything but plain path and URL
// characters.
func shellWord(w string) string {
	plain := w != ""
	for _, r := range w {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_./:=@+,-", r)) {
			plain = false
			break
		}
	}
	if plain {
		return w
	}
	return "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
}
