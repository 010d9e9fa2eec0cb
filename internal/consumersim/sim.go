package consumersim

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/stsrotator/stsrotator/internal/awstest"
	"github.com/stsrotator/stsrotator/internal/faults"
	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/credprovider"
	"github.com/stsrotator/stsrotator/shared/metrics"
	"github.com/stsrotator/stsrotator/shared/reaction"
	"github.com/stsrotator/stsrotator/shared/revocation"
	"github.com/stsrotator/stsrotator/shared/rotation"
	"github.com/stsrotator/stsrotator/shared/secretfmt"
)

// Model names one kind of consumer: an SDK's cache in front of a source,
// stsrotator's Go provider, or a control.
type Model struct {
	Name string
	// Window is the refresh window the consumer needs kept clear: it runs
	// only on targets whose consumerRefreshWindow is at least this (the
	// config's own statement of which consumers a target has).
	Window time.Duration
	// Control marks a model expected to sign with expired credentials.
	Control bool
	// Start is when the n-th consumer of this model starts, after the
	// simulation's start.
	Start func(n int) time.Duration
	make  func(s *Sim, tg *target) Signer
}

// Models is every consumer model the simulation runs.
var Models = []Model{
	cacheModel("botocore/credential_process", Botocore, false),
	cacheModel("botocore/serve", Botocore, true),
	cacheModel("js-v3/credential_process", JSv3, false),
	cacheModel("js-v3/serve", JSv3, true),
	cacheModel("java-v2/credential_process", JavaProcess, false),
	cacheModel("java-v2/serve", JavaContainer, true),
	cacheModel("go-v2/credential_process", GoProcess, false),
	cacheModel("go-v2/serve", GoContainer, true),
	{Name: "stsrotator/credprovider", make: func(s *Sim, tg *target) Signer { return NewGoProvider(s.consumerSM, tg.secret, s.clk.Now) }},
	{Name: "control/env-once", Control: true, make: func(s *Sim, tg *target) Signer { return &LoadOnce{Src: s.process(tg)} }},
	// A program that starts later and reads a credentials file once.
	{Name: "control/file-once", Control: true, Start: func(n int) time.Duration { return time.Duration(n+1) * 97 * time.Minute },
		make: func(s *Sim, tg *target) Signer { return &LoadOnce{Src: s.process(tg)} }},
}

func cacheModel(name string, spec Spec, serve bool) Model {
	return Model{Name: name, Window: spec.Advisory, make: func(s *Sim, tg *target) Signer {
		if serve {
			return &Cache{Spec: spec, Src: Endpoint{P: tg.serve}}
		}
		return &Cache{Spec: spec, Src: s.process(tg)}
	}}
}

// Target is one target of a fleet.
type Target struct {
	Name   string
	Source string // config.SourceRole or config.SourceIAMUser
	// Session, Window and RefreshBefore are durationSeconds,
	// consumerRefreshWindow and refreshBefore.
	Session, Window, RefreshBefore time.Duration
}

// Fleet is one config: its jitter and its targets.
type Fleet struct {
	Jitter  time.Duration
	Targets []Target
}

// Event is something that happens during the run, At after its start.
type Event struct {
	At   time.Duration
	Kind EventKind
	// Len is an outage's length, or how long forced rotations go on.
	Len time.Duration
}

// EventKind names an event.
type EventKind string

// The events of a simulated day.
const (
	STSOutage     EventKind = "STS outage"
	SecretsOutage EventKind = "Secrets Manager outage"
	// Crash arms the crash points one after the other: each kills the
	// first sweep that reaches it.
	Crash    EventKind = "rotator crashes"
	Rollback EventKind = "operator rollback"
	Storm    EventKind = "ExpiredToken storm"
	Revoke   EventKind = "revoke"
	// Quota is `stsrotator rotate` every 10 minutes on the first target
	// for Len: Secrets Manager's version quota is reached.
	Quota EventKind = "version quota"
)

// CrashPoints are the rotator's crash points (shared/rotation
// TestResilienceCrashPoints).
var CrashPoints = []faults.Rule{
	{Service: "sts", Op: "AssumeRole", Rate: 1, Kinds: []faults.Kind{faults.KillAfter}, Limit: 1},
	{Service: "secretsmanager", Op: "PutSecretValue", Rate: 1, Kinds: []faults.Kind{faults.Kill}, Limit: 1},
	{Service: "secretsmanager", Op: "PutSecretValue", Rate: 1, Kinds: []faults.Kind{faults.KillAfter}, Limit: 1},
}

// Options shape a run.
type Options struct {
	Seed uint64
	Span time.Duration
	// Tick is how often every consumer signs a request.
	Tick time.Duration
	// PerModel is how many consumers of each model each target has.
	PerModel  int
	FaultRate float64
	Events    []Event
}

// Stats is what one model's consumers did.
type Stats struct {
	Model     string
	Control   bool
	Consumers int
	Requests  int
	Signed    int
	// Failed requests: the SDK failed them before signing.
	Failed int
	// Expired: signed with credentials at or past their expiration.
	Expired int
	// Revoked: signed after a revocation's cutoff with a key issued
	// before it (AWS denies those; not an expiry).
	Revoked int
	// MinLeft is the least validity left at a signing.
	MinLeft time.Duration
	Fetches int
	// ConsumerRotations sums, over consumers, the rotations of their
	// target while they ran.
	ConsumerRotations int
	// FirstExpired describes the first expired signing.
	FirstExpired string
	// FailedAt counts failed requests by target and the hour of the run
	// they fell in ("name +5h"), to tell which event they followed.
	FailedAt map[string]int
}

// FetchesPerRotation is fetches per consumer per rotation.
func (s Stats) FetchesPerRotation() float64 {
	if s.ConsumerRotations == 0 {
		return 0
	}
	return float64(s.Fetches) / float64(s.ConsumerRotations)
}

type target struct {
	cfg    config.Target
	secret string
	serve  *credprovider.Provider
	// written are the SecretStrings written, in order (from the wire).
	written   []string
	rotations int
	revoked   time.Time
	issued    map[string]time.Time
}

type consumer struct {
	model *Model
	stats *Stats
	tg    *target
	start time.Time
	s     Signer
	mu    *sync.Mutex
	// runStart is the run's start.
	runStart time.Time
	begun    bool
	rot0     int
}

// Sim is one run.
type Sim struct {
	tb         testing.TB
	opt        Options
	env        *awstest.Env
	clean      *awstest.Env
	inj        *faults.Injector
	clk        *awstest.Clock
	consumerSM *secretsmanager.Client
	fleets     []*fleetRun
	stats      map[string]*Stats
	consumers  []*consumer
	mu         sync.Mutex
	bySecret   map[string]*target
	base       []faults.Rule
	outages    []faults.Rule
	crash      int
	crashArmed bool
	log        []string
	start      time.Time
	// Held counts forced writes the version quota held back; QuotaWrites
	// the forced writes that went through.
	Held, QuotaWrites int
	Sweeps            int
	// RolledBack counts values the operator wrote back; StormRotations
	// the rotations the reactor made for ExpiredToken reports.
	RolledBack, StormRotations int
	// Calm counts AWS calls, and failed ones, outside outages and crash
	// points: the base fault rate.
	Calm            faults.OpStats
	FailedSweepRuns int
	Crashed         int
}

type fleetRun struct {
	cfg     *config.Config
	eng     *rotation.Engine
	react   *reaction.Reactor
	targets []*target
	next    time.Time
}

// New builds a run: the emulator behind the fault layer, one engine and
// reactor per fleet, every target's first version minted, and the
// consumers.
func New(tb testing.TB, opt Options, fleets ...Fleet) *Sim {
	tb.Helper()
	env := awstest.Start(tb)
	inj := faults.New(env.Transport.Base, opt.Seed)
	env.Transport.Base = inj
	fenv := env.Retrying(faults.Retryer())
	s := &Sim{tb: tb, opt: opt, env: fenv, clean: awstest.Connect(env.URL), inj: inj, clk: awstest.NewClock(time.Now().Truncate(time.Second)),
		consumerSM: fenv.Secrets, stats: map[string]*Stats{}, bySecret: map[string]*target{}}
	s.start = s.clk.Now()
	inj.OnDelivered(s.observe)
	ctx := context.Background()
	topic, err := fenv.SNS().CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(env.Unique("alerts"))})
	if err != nil {
		tb.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	for i, f := range fleets {
		cfg := f.config(tb, env, i)
		eng := func() *rotation.Engine {
			return &rotation.Engine{STS: faults.SimulatedExpiry{STS: fenv.STS, Now: s.clk.Now}, Secrets: fenv.Secrets, Now: s.clk.Now,
				Log: log, Emit: metrics.NewWriter(io.Discard, s.clk.Now), Verify: rotation.VerifyCaller, Jitter: cfg.Rotator.Jitter,
				Source: credentials.NewStaticCredentialsProvider("AKIASOURCEUSER000001", "source-secret", ""),
				// A cutoff a second ahead is waited out on the simulated
				// clock, never the machine's.
				Sleep: func(_ context.Context, d time.Duration) error { s.clk.Add(d); return nil }}
		}
		fr := &fleetRun{cfg: cfg, eng: eng(), next: s.start}
		fr.react = &reaction.Reactor{Config: cfg, Secrets: fenv.Secrets, Rotator: reaction.EngineRotator{Engine: eng()}, Topic: fenv.SNS(),
			TopicArn: aws.ToString(topic.TopicArn), Now: s.clk.Now, Log: log, Emit: metrics.NewWriter(io.Discard, s.clk.Now)}
		for _, t := range cfg.Targets {
			tg := &target{cfg: t, secret: t.SecretName, issued: map[string]time.Time{}}
			tg.serve = Serve(fenv.Secrets, t.SecretName, s.clk.Now)
			fr.targets = append(fr.targets, tg)
			s.bySecret[t.SecretName] = tg
		}
		s.fleets = append(s.fleets, fr)
	}
	// Faults from the start, so even the first mint meets them; the first
	// sweep that mints every target ends the set-up.
	s.base = []faults.Rule{{Rate: opt.FaultRate}}
	s.setRules()
	for _, fr := range s.fleets {
		for range 20 {
			_, sum := fr.eng.Sweep(ctx, fr.cfg.Targets, fr.cfg.Rotator.Concurrency, rotation.Request{Why: "schedule"})
			if sum.OK() {
				break
			}
		}
		fr.next = s.start.Add(fr.cfg.SweepInterval())
	}
	for _, fr := range s.fleets {
		for _, tg := range fr.targets {
			s.mu.Lock()
			minted := tg.rotations > 0
			s.mu.Unlock()
			if !minted {
				tb.Fatalf("%s was never minted", tg.cfg.Name)
			}
			for mi := range Models {
				m := &Models[mi]
				if m.Window > tg.cfg.ConsumerRefreshWindow {
					continue
				}
				st := s.stats[m.Name]
				if st == nil {
					st = &Stats{Model: m.Name, Control: m.Control, MinLeft: 1<<63 - 1}
					s.stats[m.Name] = st
				}
				for n := range opt.PerModel {
					c := &consumer{model: m, stats: st, tg: tg, start: s.start, s: m.make(s, tg), mu: &s.mu, runStart: s.start}
					if m.Start != nil {
						c.start = s.start.Add(m.Start(n))
					}
					st.Consumers++
					s.consumers = append(s.consumers, c)
				}
			}
		}
	}
	return s
}

// config writes the fleet's config file and parses it with the product's
// own validator.
func (f Fleet) config(tb testing.TB, env *awstest.Env, n int) *config.Config {
	var b strings.Builder
	fmt.Fprintf(&b, "rotator: {concurrency: 8, jitter: %ds}\ntargets:\n", int(f.Jitter/time.Second))
	for i, t := range f.Targets {
		fmt.Fprintf(&b, "  - name: %s\n    roleArn: arn:aws:iam::000000000000:role/Sim%d%02d\n    secretName: %s\n    durationSeconds: %d\n    consumerRefreshWindow: %ds\n    refreshBefore: %ds\n",
			t.Name, n, i, env.Unique(t.Name), int(t.Session/time.Second), int(t.Window/time.Second), int(t.RefreshBefore/time.Second))
		if t.Source != "" {
			fmt.Fprintf(&b, "    sourceCredentials: %s\n", t.Source)
		}
	}
	cfg, err := config.Parse(fmt.Sprintf("fleet-%d.yaml", n), []byte(b.String()))
	if err != nil {
		tb.Fatalf("the validator refused the fleet: %v\n%s", err, b.String())
	}
	return cfg
}

// observe records, from the wire, every version Secrets Manager stored.
func (s *Sim) observe(c faults.Call, status int, _ []byte) {
	if status != 200 || (c.Op != "PutSecretValue" && c.Op != "CreateSecret") {
		return
	}
	var in struct {
		SecretID     string `json:"SecretId"`
		Name         string
		SecretString string
	}
	if err := json.Unmarshal(c.Body, &in); err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tg := s.bySecret[in.SecretID+in.Name]
	if tg == nil {
		return
	}
	v, err := secretfmt.Parse([]byte(in.SecretString))
	if err != nil {
		return
	}
	if _, seen := tg.issued[v.AccessKeyID]; seen {
		return // a retried write of the same version
	}
	tg.issued[v.AccessKeyID] = v.Meta.IssuedAt
	tg.written = append(tg.written, in.SecretString)
	tg.rotations++
}

func (s *Sim) setRules() {
	rules := append([]faults.Rule{}, s.outages...)
	if s.crashArmed {
		rules = append(rules, CrashPoints[s.crash])
	}
	s.inj.SetRules(append(rules, s.base...)...)
}

// process is one `stsrotator credential-process` run per fetch.
func (s *Sim) process(tg *target) Fetcher {
	return Process{Secrets: s.consumerSM, SecretID: tg.secret, Now: s.clk.Now}
}

// Run plays the span and returns each model's figures, sorted by name.
func (s *Sim) Run() []Stats {
	ctx := context.Background()
	end := s.start.Add(s.opt.Span)
	events := append([]Event{}, s.opt.Events...)
	sort.Slice(events, func(i, j int) bool { return events[i].At < events[j].At })
	type window struct {
		end  time.Time
		rule faults.Rule
	}
	var open []window
	var quotaUntil, nextForce time.Time
	before := s.inj.Totals()
	for now := s.start; now.Before(end); now = s.clk.Now() {
		for len(events) > 0 && !s.start.Add(events[0].At).After(now) {
			e := events[0]
			events = events[1:]
			s.logf("+%s %s", e.At, e.Kind)
			switch e.Kind {
			case STSOutage, SecretsOutage:
				svc := map[EventKind]string{STSOutage: "sts", SecretsOutage: "secretsmanager"}[e.Kind]
				open = append(open, window{now.Add(e.Len), faults.Rule{Service: svc, Rate: 1, Kinds: []faults.Kind{faults.ServerError, faults.Reset, faults.Timeout}}})
			case Crash:
				s.crash, s.crashArmed = 0, true
			case Rollback:
				s.rollback(ctx)
			case Storm:
				s.storm(ctx)
			case Revoke:
				s.revoke(ctx)
			case Quota:
				quotaUntil, nextForce = now.Add(e.Len), now
			}
		}
		crashedNow := s.crashArmed
		s.outages = s.outages[:0]
		kept := open[:0]
		for _, w := range open {
			if now.Before(w.end) {
				kept = append(kept, w)
				s.outages = append(s.outages, w.rule)
			}
		}
		open = kept
		s.setRules()
		if now.Before(quotaUntil) && !now.Before(nextForce) {
			fr := s.fleets[0]
			r := fr.eng.Rotate(ctx, fr.cfg.Targets[0], rotation.Request{Force: true, Why: "stsrotator rotate"})
			switch {
			case !r.HeldUntil.IsZero():
				s.Held++
			case r.Outcome == rotation.Rotated:
				s.QuotaWrites++
			}
			nextForce = now.Add(10 * time.Minute)
		}
		for _, fr := range s.fleets {
			if now.Before(fr.next) {
				continue
			}
			fr.next = fr.next.Add(fr.cfg.SweepInterval())
			s.Sweeps++
			run, killed := faults.Killable(ctx)
			_, sum := fr.eng.Sweep(run, fr.cfg.Targets, fr.cfg.Rotator.Concurrency, rotation.Request{Why: "schedule"})
			if !sum.OK() {
				s.FailedSweepRuns++
			}
			if killed() {
				crashedNow = true
				s.Crashed++
				s.logf("+%s crash point %d killed a sweep", now.Sub(s.start), s.crash)
				s.crash++
				s.crashArmed = s.crash < len(CrashPoints)
				s.setRules()
			}
		}
		for _, c := range s.consumers {
			if now.Before(c.start) {
				continue
			}
			c.sign(ctx, now)
		}
		after := s.inj.Totals()
		if len(s.outages) == 0 && !s.crashArmed && !crashedNow {
			s.Calm.Attempted += after.Attempted - before.Attempted
			s.Calm.Failed += after.Failed - before.Failed
		}
		before = after
		s.clk.Add(s.opt.Tick)
	}
	var out []Stats
	s.mu.Lock()
	for _, c := range s.consumers {
		if c.begun {
			c.stats.ConsumerRotations += c.tg.rotations - c.rot0
		}
	}
	s.mu.Unlock()
	for _, st := range s.stats {
		for _, c := range s.consumers {
			if c.stats == st {
				st.Fetches += c.s.Fetches()
			}
		}
		out = append(out, *st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Model < out[j].Model })
	return out
}

func (c *consumer) sign(ctx context.Context, now time.Time) {
	if !c.begun {
		c.mu.Lock()
		c.begun, c.rot0 = true, c.tg.rotations
		c.mu.Unlock()
	}
	c.stats.Requests++
	cr, err := c.s.Sign(ctx, now)
	if err != nil {
		c.stats.Failed++
		if c.stats.FailedAt == nil {
			c.stats.FailedAt = map[string]int{}
		}
		c.stats.FailedAt[fmt.Sprintf("%s +%dh", c.tg.cfg.Name, int(now.Sub(c.runStart)/time.Hour))]++
		return
	}
	c.stats.Signed++
	left := cr.Expires.Sub(now)
	c.stats.MinLeft = min(c.stats.MinLeft, left)
	if !cr.Expires.After(now) {
		if c.stats.Expired == 0 {
			c.stats.FirstExpired = fmt.Sprintf("%s at %s signed with a key %s past its expiration", c.tg.cfg.Name, now.Format(time.RFC3339), -left)
		}
		c.stats.Expired++
	}
	if !c.tg.revoked.IsZero() && now.After(c.tg.revoked) {
		c.mu.Lock()
		at, ok := c.tg.issued[cr.Key]
		c.mu.Unlock()
		if ok && at.Before(c.tg.revoked) {
			c.stats.Revoked++
		}
	}
}

// rollback is an operator restoring each target's previous value as the
// current one (kumo has no UpdateSecretVersionStage, so the restore is a
// PutSecretValue of the old SecretString, which is also what a hand
// restore from a backup does).
func (s *Sim) rollback(ctx context.Context) {
	for _, fr := range s.fleets {
		for _, tg := range fr.targets {
			s.mu.Lock()
			n := len(tg.written)
			var prev string
			if n >= 2 {
				prev = tg.written[n-2]
			}
			s.mu.Unlock()
			if prev == "" {
				continue
			}
			if _, err := s.clean.Secrets.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(tg.secret), SecretString: aws.String(prev)}); err != nil {
				s.tb.Fatalf("rollback %s: %v", tg.cfg.Name, err)
			}
			s.RolledBack++
		}
	}
}

// storm is 20 ExpiredToken reports about every target, through the
// reactor, as consumers and log watchers would send them.
func (s *Sim) storm(ctx context.Context) {
	for range 20 {
		for _, fr := range s.fleets {
			for _, tg := range fr.targets {
				sig := reaction.Signal{Source: reaction.FromConsumer, Target: tg.cfg.Name, ErrorCode: "ExpiredToken", ObservedAt: s.clk.Now(), Observer: "consumersim"}
				out, err := fr.react.React(ctx, sig)
				if err == nil && out.Rotation != nil && out.Rotation.Outcome == rotation.Rotated {
					s.StormRotations++
				}
			}
		}
	}
}

// revoke is `stsrotator revoke` on the first target of each fleet: the
// role denies sessions issued before the cutoff, and the target is
// rotated at once.
func (s *Sim) revoke(ctx context.Context) {
	for _, fr := range s.fleets {
		tg := fr.targets[0]
		cutoff := revocation.CutoffAfter(s.clk.Now())
		tg.revoked = cutoff
		for range 20 {
			if r := fr.eng.Rotate(ctx, tg.cfg, rotation.Request{RevokedBefore: cutoff, Why: "revoke"}); r.Outcome != rotation.Failed {
				break
			}
		}
	}
}

func (s *Sim) logf(format string, args ...any) { s.log = append(s.log, fmt.Sprintf(format, args...)) }

// Log is what happened, in order.
func (s *Sim) Log() []string { return s.log }

// Injector is the fault layer, for its totals.
func (s *Sim) Injector() *faults.Injector { return s.inj }

// Rotations is every target's number of stored versions, by name.
func (s *Sim) Rotations() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for _, fr := range s.fleets {
		for _, tg := range fr.targets {
			out[tg.cfg.Name] = tg.rotations
		}
	}
	return out
}

// Config is the i-th fleet's parsed config.
func (s *Sim) Config(i int) *config.Config { return s.fleets[i].cfg }

// Due is when target name's current version becomes due (its refreshAt
// hint), as an offset from the run's start.
func (s *Sim) Due(name string) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, fr := range s.fleets {
		for _, tg := range fr.targets {
			if tg.cfg.Name == name && len(tg.written) > 0 {
				v, err := secretfmt.Parse([]byte(tg.written[len(tg.written)-1]))
				if err != nil {
					s.tb.Fatal(err)
				}
				return v.Meta.RefreshAt.Sub(s.start)
			}
		}
	}
	s.tb.Fatalf("no version of %s", name)
	return 0
}

// Add schedules an event before Run.
func (s *Sim) Add(e Event) { s.opt.Events = append(s.opt.Events, e) }

// SetSpan sets how long Run plays.
func (s *Sim) SetSpan(d time.Duration) { s.opt.Span = d }
