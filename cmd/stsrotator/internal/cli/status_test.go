package cli

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/stsrotator/stsrotator/internal/awstest"
	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/reaction"
)

func TestStatus(t *testing.T) {
	env := awstest.Start(t)
	now := time.Now().UTC().Truncate(time.Second)
	fixtures := []struct {
		name   string
		health Health
		write  func(secret, name string)
	}{
		{"ok", HealthOK, func(s, n string) { putValue(t, env, s, n, value(11, now.Add(50*time.Minute), now.Add(30*time.Minute))) }},
		{"late", HealthLate, func(s, n string) { putValue(t, env, s, n, value(12, now.Add(15*time.Minute), now.Add(-5*time.Minute))) }},
		{"ending", HealthExpiring, func(s, n string) { putValue(t, env, s, n, value(13, now.Add(2*time.Minute), now.Add(-18*time.Minute))) }},
		{"expired", HealthExpired, func(s, n string) { putValue(t, env, s, n, value(14, now.Add(-time.Minute), now.Add(-21*time.Minute))) }},
		{"broken", HealthInvalid, func(s, n string) { putRaw(t, env, s, n, `{"Version":1}`) }},
		{"absent", HealthMissing, func(string, string) {}},
	}
	var tgs []config.Target
	for _, f := range fixtures {
		tg := target(env, f.name)
		f.write(tg.SecretName, f.name)
		tgs = append(tgs, tg)
	}
	// An untagged secret is not stsrotator's and must not be listed.
	if _, err := env.Secrets.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{Name: aws.String(env.Unique("someone-else")), SecretString: aws.String("x")}); err != nil {
		t.Fatal(err)
	}
	cfgPath := writeConfig(t, tgs...)

	a, out, errb := testApp(env, func() time.Time { return now }, nil)
	r := execute(t, a, out, errb, "status", "--config", cfgPath, "--json")
	if r.code != ExitUnhealthy || !strings.Contains(r.stderr, "3 of 6 secrets need attention") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	var rows []Row
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		t.Fatalf("status --json: %v\n%s", err, r.stdout)
	}
	// Most urgent first: what is broken now, then what breaks soonest.
	want := []string{"absent missing", "broken invalid", "expired expired", "ending expiring", "late late", "ok ok"}
	var got []string
	for _, row := range rows {
		got = append(got, row.Target+" "+strings.ToLower(row.Health.String()))
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("order %v, want %v", got, want)
	}
	if ok := rows[5]; ok.Key != "ASIA…0011" || ok.RoleArn == "" || ok.Validity != 3000 || ok.LastRotation.IsZero() {
		t.Fatalf("ok row %+v", ok)
	}
	noSecrets(t, "status --json", r.stdout)

	a, out, errb = testApp(env, func() time.Time { return now }, nil)
	r = execute(t, a, out, errb, "status", "--config", cfgPath)
	for _, want := range []string{"TARGET", "ROLE", "KEY", "HEALTH", "ASIA…0011", "[███", "EXPIRED: expired 1m ago", "LATE: rotation was due 5m ago", "MISSING"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, r.stdout)
		}
	}
	noSecrets(t, "status table", r.stdout)

	// The line every ExpiredToken alert prints shows that one target.
	inspect := strings.Fields(reaction.InspectCommand(tgs[0].Name))[1:]
	a, out, errb = testApp(env, func() time.Time { return now }, nil)
	r = execute(t, a, out, errb, append(inspect, "--config", cfgPath)...)
	if r.code != 0 || strings.Count(r.stdout, "\n") != 2 || !strings.Contains(r.stdout, tgs[0].Name) || !strings.Contains(r.stdout, "ASIA…0011") {
		t.Fatalf("%v: exit %d, stderr %q, stdout:\n%s", inspect, r.code, r.stderr, r.stdout)
	}
	cases := []struct {
		why  string
		args []string
		code int
		msg  string
	}{
		{"an unknown target is named with the ones there are", []string{"--target", "nope", "--config", cfgPath}, ExitNotFound, `no target "nope" among the secrets status can see (targets: ` + tgs[5].Name},
		{"--target and --all contradict each other", []string{"--target", tgs[0].Name, "--all", "--config", cfgPath}, ExitUsage, "give one"},
		{"a watch interval of 0 is refused, not a crash", []string{"--watch", "--interval", "0s", "--config", cfgPath}, ExitUsage, "--interval is 0s; it must be positive"},
		{"a negative watch interval is shown with its sign, in humantime's form (issue 15 §5)", []string{"--watch", "--interval=-90s", "--config", cfgPath}, ExitUsage, "--interval is -1m30s; it must be positive"},
	}
	for _, c := range cases {
		a, out, errb = testApp(env, func() time.Time { return now }, nil)
		r = execute(t, a, out, errb, append([]string{"status"}, c.args...)...)
		if r.code != c.code || !strings.Contains(r.stderr, c.msg) || r.stdout != "" {
			t.Errorf("%s: exit %d, stderr %q, stdout %q", c.why, r.code, r.stderr, r.stdout)
		}
	}

	// Without a config: every secret tagged as managed, found through
	// ListSecrets (filtered here, as kumo ignores the filter).
	a, out, errb = testApp(env, func() time.Time { return now }, nil)
	r = execute(t, a, out, errb, "status", "--json")
	rows = nil
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		t.Fatal(err)
	}
	mine := map[string]bool{}
	for _, row := range rows {
		if strings.HasPrefix(row.SecretID, env.Unique("")) {
			mine[row.Target] = true
		}
		if strings.Contains(row.SecretID, "someone-else") {
			t.Fatalf("listed an untagged secret: %+v", row)
		}
	}
	if len(mine) != 5 || mine["absent"] {
		t.Fatalf("listed %v, want the 5 written secrets", mine)
	}
}

// Under make local's dev clock (the CLI's Now 41m ahead with the
// functions'), LAST ROTATION is Secrets Manager's CreatedDate, stamped on
// AWS's clock: it is counted on the wall clock, so a version written a
// moment ago says so instead of "41m ago", while LEFT stays on the clock
// that wrote the version.
func TestStatusDevClockLastRotation(t *testing.T) {
	env := awstest.Start(t)
	demo := time.Now().UTC().Truncate(time.Second).Add(41 * time.Minute)
	tg := target(env, "dev-clock")
	putValue(t, env, tg.SecretName, tg.Name, value(21, demo.Add(50*time.Minute), demo.Add(30*time.Minute)))
	a, out, errb := testApp(env, func() time.Time { return demo }, nil)
	a.Wall = time.Now
	r := execute(t, a, out, errb, "status", "--config", writeConfig(t, tg))
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != ExitOK || len(lines) != 2 {
		t.Fatalf("exit %d, stderr %q, stdout:\n%s", r.code, r.stderr, r.stdout)
	}
	row := lines[1]
	if !strings.Contains(row, " 50m ") || !regexp.MustCompile(`(just now|\b\d+s ago)`).MatchString(row) || strings.Contains(row, "41m") {
		t.Fatalf("want LEFT 50m on the demo clock and LAST ROTATION within seconds on the wall clock:\n%s", r.stdout)
	}
}

// --watch redraws on every tick until interrupted, then exits 0.
func TestStatusWatch(t *testing.T) {
	env := awstest.Start(t)
	now := time.Now().UTC()
	tg := target(env, "watched")
	putValue(t, env, tg.SecretName, tg.Name, value(21, now.Add(50*time.Minute), now.Add(30*time.Minute)))
	cfgPath := writeConfig(t, tg)
	a, out, errb := testApp(env, func() time.Time { return now }, nil)
	ticks := make(chan time.Time)
	stopped := make(chan struct{})
	a.Tick = func(d time.Duration) (<-chan time.Time, func()) {
		if d != 3*time.Second {
			t.Errorf("interval %s, want 3s", d)
		}
		return ticks, func() { close(stopped) }
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() { done <- a.Run(ctx, []string{"status", "--watch", "--interval", "3s", "--config", cfgPath}) }()
	ticks <- now // received only once the first frame is drawn
	ticks <- now
	cancel()
	if code := <-done; code != ExitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	<-stopped
	if n := strings.Count(out.String(), "\x1b[2J"); n != 3 {
		t.Fatalf("%d frames, want 3", n)
	}
	_, _ = awstest.Logs.Write([]byte(out.String()))
}

// A target removed from the config leaves its secret behind (the stack
// retains it): status --all shows it as ORPHANED with the ways out that
// work (a plain re-add fails the deploy while the name is taken), and
// it does not make status fail; plain status shows only what is declared.
func TestStatusOrphaned(t *testing.T) {
	env := awstest.Start(t)
	now := time.Now().UTC().Truncate(time.Second)
	kept, removed := target(env, "kept"), target(env, "removed")
	putValue(t, env, kept.SecretName, kept.Name, value(31, now.Add(50*time.Minute), now.Add(30*time.Minute)))
	putValue(t, env, removed.SecretName, removed.Name, value(32, now.Add(-2*time.Hour), now.Add(-150*time.Minute)))
	cfgPath := writeConfig(t, kept)

	a, out, errb := testApp(env, func() time.Time { return now }, nil)
	r := execute(t, a, out, errb, "status", "--config", cfgPath, "--all", "--json")
	if r.code != ExitOK {
		t.Fatalf("an orphan must not fail status: exit %d, %s", r.code, r.stderr)
	}
	var rows []Row
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		t.Fatal(err)
	}
	got := map[string]Row{}
	for _, row := range rows {
		got[row.SecretID] = row
	}
	if got[kept.SecretName].Health != HealthOK {
		t.Errorf("declared target: %+v", got[kept.SecretName])
	}
	o := got[removed.SecretName]
	for _, want := range []string{"not declared in " + cfgPath, "nothing rotates it; expired 2h ago",
		"aws secretsmanager delete-secret --secret-id " + removed.SecretName + " (recoverable for 30 days, its name stays taken meanwhile)",
		"to declare target removed again, first free the name with aws secretsmanager delete-secret --secret-id " + removed.SecretName + " --force-delete-without-recovery",
		"ResourceExistsException", "or declare it with another secretName"} {
		if o.Health != HealthOrphaned || !strings.Contains(o.Problem, want) {
			t.Errorf("orphan row %+v lacks %q", o, want)
		}
	}

	a, out, errb = testApp(env, func() time.Time { return now }, nil)
	r = execute(t, a, out, errb, "status", "--config", cfgPath, "--all")
	if !strings.Contains(r.stdout, "ORPHANED: not declared") {
		t.Errorf("table:\n%s", r.stdout)
	}
	a, out, errb = testApp(env, func() time.Time { return now }, nil)
	r = execute(t, a, out, errb, "status", "--config", cfgPath)
	if r.code != ExitOK || strings.Contains(r.stdout, removed.SecretName) {
		t.Errorf("without --all only declared targets: exit %d\n%s", r.code, r.stdout)
	}
	noSecrets(t, "status", r.stdout)
}
