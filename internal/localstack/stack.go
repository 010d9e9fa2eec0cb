package localstack

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/stsrotator/stsrotator/internal/emulator"
	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/humantime"
	"github.com/stsrotator/stsrotator/shared/lambdaenv"
	"github.com/stsrotator/stsrotator/shared/rotation"
	"github.com/stsrotator/stsrotator/shared/secretfmt"
)

// Options configure a local stack.
type Options struct {
	// Root is the repository root (functions are built from it).
	Root string
	// Assembly is the synthesized cloud assembly (cdk.out).
	Assembly string
	// Port serves the emulator on 127.0.0.1:Port; it must equal KUMO_PORT.
	Port int
	// WorkDir is where the stack builds the host binaries (WorkDir/bin)
	// and keeps the dev clock. Close removes both: they belong to one run,
	// and the binaries weigh tens of MB. Anything else the caller puts
	// there (make local's functions.log) stays.
	WorkDir string
	// FunctionLog receives every line the functions print.
	FunctionLog io.Writer
	// BinDir, when set, holds the host binaries already built (rotator,
	// reactor, stsrotator: what `make local` builds with the emulator in
	// one go build); Start then builds nothing and Close leaves them.
	BinDir string
	// Once says the stack stops when the scripted demo ends (make local
	// --once): no export line is printed after it and nothing is left
	// running for another shell, so the narration promises neither.
	Once bool
}

// Stack is stsrotator running on kumo.
type Stack struct {
	Endpoint string
	Assembly *Assembly
	// Config is the config the assembly's functions carry.
	Config *config.Config

	opts      Options
	server    *emulator.Server
	aws       aws.Config
	clockFile string
	// configFile is the config the CLI reads ($STSROTATOR_CONFIG in
	// ClientEnv): the checkout's stsrotator.yaml when the assembly was
	// synthesized from it, as make local's is.
	configFile string
	binDir     string
	cli        string
	// closers stop what a script step started that must outlive the
	// step (the moto standing in for a target account's IAM), at Close.
	closers []func()
	// shift is the functions' AWS endpoint (see expiryShift).
	shift   *expiryShift
	lanes   []*emulator.Process
	reactor *emulator.Process
	// decisions carries the reactor's decisions (decisionTap).
	decisions *decisionTap
	topicArn  string
	queueURL  string
	// eventsURL is the queue lifecycle events are delivered to.
	eventsURL string
	mu        sync.Mutex
	offset    time.Duration
}

// ReactorName is the local name of the reactor function.
const ReactorName = "stsrotator-reactor"

// Start builds the functions and the CLI for the host, starts kumo, and
// creates what the assembly describes: secrets, topic, rules with the
// reactor as target, and one rotator per lane.
func Start(ctx context.Context, opts Options) (s *Stack, err error) {
	asm, err := LoadAssembly(opts.Assembly)
	if err != nil {
		return nil, err
	}
	cfg, err := config.Load(filepath.Join(asm.Lanes[0].AssetDir, lambdaenv.ConfigFile))
	if err != nil {
		return nil, err
	}
	if opts.WorkDir == "" {
		// Without it the binaries would land in ./bin, which Close would
		// then remove: refuse rather than guess.
		return nil, fmt.Errorf("no work dir for the stack's binaries and dev clock (Options.WorkDir)")
	}
	work, err := filepath.Abs(opts.WorkDir)
	if err != nil {
		return nil, err
	}
	s = &Stack{Assembly: asm, Config: cfg, opts: opts, configFile: userConfig(opts.Root, filepath.Join(asm.Lanes[0].AssetDir, lambdaenv.ConfigFile)),
		binDir: filepath.Join(work, "bin"), clockFile: filepath.Join(work, "dev-clock")}
	// From here on a failed start cleans up like a stopped stack, so a
	// half-built bin directory is not left behind either. The stack is
	// held apart from the named result, which `return nil, err` clears
	// before deferred calls run.
	started := s
	defer func() {
		if err != nil {
			_ = started.Close()
		}
	}()
	var bins map[string]string
	if opts.BinDir != "" {
		s.binDir = ""
		if bins, err = prebuilt(opts.BinDir); err != nil {
			return nil, err
		}
	} else if bins, err = buildAll(opts.Root, s.binDir); err != nil {
		return nil, err
	}
	s.cli = bins["stsrotator"]
	if s.server, err = emulator.Start(opts.Port); err != nil {
		return nil, err
	}
	s.Endpoint = s.server.URL
	if err := lambdaenv.SetDevClock(s.clockFile, 0); err != nil {
		return nil, err
	}
	s.aws = aws.Config{Region: emulator.Region, BaseEndpoint: aws.String(s.Endpoint),
		Credentials: credentials.NewStaticCredentialsProvider(emulator.AccessKey, emulator.SecretKey, "")}

	// Secrets as the stack creates them: named, with no value yet.
	sm := secretsmanager.NewFromConfig(s.aws)
	for _, sec := range asm.Secrets {
		in := &secretsmanager.CreateSecretInput{Name: aws.String(sec.Name), Description: aws.String("stsrotator (local)")}
		for _, k := range slices.Sorted(maps.Keys(sec.Tags)) {
			in.Tags = append(in.Tags, smtypes.Tag{Key: aws.String(k), Value: aws.String(sec.Tags[k])})
		}
		if _, err := sm.CreateSecret(ctx, in); err != nil {
			return nil, fmt.Errorf("create secret %s: %w", sec.Name, err)
		}
	}
	if err := s.alertInbox(ctx); err != nil {
		return nil, err
	}
	if err := s.eventsInbox(ctx); err != nil {
		return nil, err
	}

	if s.shift, err = newExpiryShift(s.Endpoint, s.Offset, opts.FunctionLog); err != nil {
		return nil, err
	}
	// emulator.Run points the Runtime API and AWS_ENDPOINT_URL at kumo;
	// the later AWS_ENDPOINT_URL here wins (os/exec keeps the last of
	// duplicate keys), so only the functions' AWS calls take the shift.
	common := []string{lambdaenv.VerifyMode + "=" + string(rotation.VerifyCaller), lambdaenv.DevClockFile + "=" + s.clockFile,
		"AWS_ENDPOINT_URL=" + s.shift.URL}
	lc := lambda.NewFromConfig(s.aws)
	for _, l := range asm.Lanes {
		env := append([]string{"LAMBDA_TASK_ROOT=" + l.AssetDir}, common...)
		for k, v := range l.Env {
			if k == lambdaenv.ConfigPath {
				// The template names the path inside Lambda's /var/task.
				v = filepath.Join(l.AssetDir, strings.TrimPrefix(v, "/var/task/"))
			}
			env = append(env, k+"="+v)
		}
		p, err := emulator.Run(ctx, lc, s.Endpoint, l.Name, bins["rotator"], env, opts.FunctionLog)
		if err != nil {
			return nil, err
		}
		s.lanes = append(s.lanes, p)
	}

	// The reactor's package as synthesized: the config and the routes to
	// the lanes, whose local names are the deployed ones.
	taskRoot := asm.ReactorDir
	fnLog := opts.FunctionLog
	if fnLog == nil {
		fnLog = io.Discard
	}
	s.decisions = newDecisionTap(fnLog)
	s.reactor, err = emulator.Run(ctx, lc, s.Endpoint, ReactorName, bins["reactor"],
		append([]string{"LAMBDA_TASK_ROOT=" + taskRoot, lambdaenv.TopicArn + "=" + s.topicArn}, common...), s.decisions)
	if err != nil {
		return nil, err
	}

	eb := eventbridge.NewFromConfig(s.aws)
	for i, r := range asm.Rules {
		name := fmt.Sprintf("stsrotator-rule-%d", i)
		if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String(name), EventPattern: aws.String(r.Pattern)}); err != nil {
			return nil, fmt.Errorf("rule %s: %w", r.ID, err)
		}
		if _, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String(name), Targets: []ebtypes.Target{{
			Id: aws.String("reactor"), Arn: aws.String(fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", emulator.Region, emulator.Account, ReactorName))}}}); err != nil {
			return nil, fmt.Errorf("rule %s target: %w", r.ID, err)
		}
	}
	return s, nil
}

// alertInbox creates the topic and an SQS queue subscribed to it, so alerts
// can be read back and shown.
func (s *Stack) alertInbox(ctx context.Context) error {
	topic, err := sns.NewFromConfig(s.aws).CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("stsrotator-" + strings.ToLower(s.Assembly.Topics[0]))})
	if err != nil {
		return fmt.Errorf("create topic: %w", err)
	}
	s.topicArn = aws.ToString(topic.TopicArn)
	q := sqs.NewFromConfig(s.aws)
	queue, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("stsrotator-alert-inbox")})
	if err != nil {
		return fmt.Errorf("create alert inbox: %w", err)
	}
	s.queueURL = aws.ToString(queue.QueueUrl)
	attrs, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: queue.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		return err
	}
	_, err = sns.NewFromConfig(s.aws).Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"),
		Endpoint: aws.String(attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)])})
	return err
}

// hostBinaries are the packages the local stack runs, by binary name.
var hostBinaries = map[string]string{"rotator": "./functions/rotator", "reactor": "./functions/reactor", "stsrotator": "./cmd/stsrotator"}

// prebuilt names the host binaries `go build -o dir/` wrote, as absolute
// paths: the CLI's is printed for the user to run from any directory.
func prebuilt(dir string) (map[string]string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for name, pkg := range hostBinaries {
		out[name] = filepath.Join(dir, name)
		if _, err := os.Stat(out[name]); err != nil {
			return nil, fmt.Errorf("prebuilt %s: %w (fix: go build -o %s/ %s, as make local does)", name, err, dir, pkg)
		}
	}
	return out, nil
}

// buildAll builds the functions and the CLI for the host into dir, one
// subdirectory each.
func buildAll(root, dir string) (map[string]string, error) {
	out := map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var firstErr error
	for name, pkg := range hostBinaries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bin, err := emulator.Build(root, pkg, dir)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			out[name] = bin
		}()
	}
	wg.Wait()
	return out, firstErr
}

// SetClock moves every function's clock to the wall clock plus offset.
// It never moves it back: the versions already written carry IssuedAt on
// the functions' clock, and the engine's one-write-per-10-minutes guard
// would read them as written in the future and hold their rotation back,
// past expiry for a short session.
func (s *Stack) SetClock(offset time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if offset < s.offset {
		return fmt.Errorf("the functions' clock runs %s ahead; moving it to %s ahead would turn it back, and it only moves forward", humantime.Span(s.offset), humantime.Span(offset))
	}
	// Written under the lock, so the file and Now never disagree for
	// longer than the rename takes.
	if err := lambdaenv.SetDevClock(s.clockFile, offset); err != nil {
		return fmt.Errorf("set the dev clock: %w", err)
	}
	s.offset = offset
	return nil
}

// Advance moves every function's clock d further ahead: what the wall
// clock does over d, in a test that cannot wait for it.
func (s *Stack) Advance(d time.Duration) error {
	return s.SetClock(s.Offset() + d)
}

// Offset is how far the functions' clock runs ahead of the wall clock.
func (s *Stack) Offset() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.offset
}

// Now is the functions' current time.
func (s *Stack) Now() time.Time {
	return time.Now().Add(s.Offset())
}

// Tick does what the schedules do: invoke every lane with its input.
func (s *Stack) Tick(ctx context.Context) (rotation.Summary, error) {
	var all rotation.Summary
	lc := lambda.NewFromConfig(s.aws)
	for i, l := range s.Assembly.Lanes {
		payload, fnErr, err := emulator.Invoke(ctx, lc, s.lanes[i].Name, []byte(l.Input))
		if err != nil {
			return all, err
		}
		var resp rotation.Response
		if fnErr != "" {
			return all, fmt.Errorf("%s: %s", l.Name, payload)
		}
		if err := json.Unmarshal(payload, &resp); err != nil {
			return all, fmt.Errorf("%s answered %s: %w", l.Name, payload, err)
		}
		all.Rotated = append(all.Rotated, resp.Summary.Rotated...)
		all.Failed = append(all.Failed, resp.Summary.Failed...)
		all.Fresh += resp.Summary.Fresh
		all.Superseded += resp.Summary.Superseded
	}
	return all, nil
}

// Row is one line of the status table.
type Row struct {
	Target, Key, VersionID string
	Expires, Issued        time.Time
	Left                   time.Duration
	Versions               int
	Err                    error
}

// Status reads every target's current version (as consumers would) and
// sorts the most urgent first.
func (s *Stack) Status(ctx context.Context) []Row {
	sm := secretsmanager.NewFromConfig(s.aws)
	now := s.Now()
	var rows []Row
	for _, t := range s.Config.Targets {
		r := Row{Target: t.Name}
		out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(t.SecretName)})
		if err != nil {
			r.Err = err
			rows = append(rows, r)
			continue
		}
		v, err := secretfmt.Parse([]byte(aws.ToString(out.SecretString)))
		r.Err, r.Key, r.VersionID = err, v.MaskedKey(), aws.ToString(out.VersionId)
		r.Expires, r.Issued, r.Left = v.Expiration, v.Meta.IssuedAt, v.Remaining(now)
		if d, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(t.SecretName)}); err == nil {
			r.Versions = len(d.VersionIdsToStages)
		}
		rows = append(rows, r)
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Left < rows[j].Left })
	return rows
}

// CLI runs the stsrotator CLI against the emulator, as a user would.
func (s *Stack) CLI(ctx context.Context, args ...string) (stdout, stderr string, err error) {
	cmd := exec.CommandContext(ctx, s.cli, args...)
	cmd.Env = append(os.Environ(), s.ClientEnv()...)
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// CLIPath is the built CLI.
func (s *Stack) CLIPath() string { return s.cli }

// ClientEnv is what a shell needs to talk to the local stack: make local
// prints it as the line to paste. The region is set both ways: the Go SDK
// and the AWS CLI v2 read AWS_REGION, while the AWS CLI v1 and boto3 read
// only AWS_DEFAULT_REGION and otherwise fail with "You must specify a
// region" (https://docs.aws.amazon.com/sdkref/latest/guide/feature-region.html,
// https://docs.aws.amazon.com/cli/v1/userguide/cli-configure-envvars.html).
//
// It also names the config (so `stsrotator rotate/revoke --target` find
// the target's rotator from any directory) and the functions' dev clock
// (so `stsrotator status` counts LEFT on the clock that wrote the
// versions; the CLI honours it only with AWS_ENDPOINT_URL set).
func (s *Stack) ClientEnv() []string {
	env := []string{"AWS_ENDPOINT_URL=" + s.Endpoint, "AWS_REGION=" + emulator.Region, "AWS_DEFAULT_REGION=" + emulator.Region,
		"AWS_ACCESS_KEY_ID=" + emulator.AccessKey, "AWS_SECRET_ACCESS_KEY=" + emulator.SecretKey}
	if s.configFile != "" {
		env = append(env, lambdaenv.ConfigPath+"="+s.configFile)
	}
	if s.clockFile != "" {
		env = append(env, lambdaenv.DevClockFile+"="+s.clockFile)
	}
	return env
}

// userConfig is the checkout's config when it holds what the assembly's
// functions carry (asset), else the asset's copy: either way an absolute
// path that works from any directory.
func userConfig(root, asset string) string {
	carried, err := os.ReadFile(asset)
	if err != nil {
		return ""
	}
	if root != "" {
		own := filepath.Join(root, config.DefaultPath)
		if b, err := os.ReadFile(own); err == nil && string(b) == string(carried) {
			if abs, err := filepath.Abs(own); err == nil {
				return abs
			}
		}
	}
	abs, _ := filepath.Abs(asset)
	return abs
}

// NextAlert waits up to wait for the next alert on the topic.
func (s *Stack) NextAlert(ctx context.Context, wait time.Duration) (string, bool, error) {
	q := sqs.NewFromConfig(s.aws)
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		secs := int32(min(20, max(1, time.Until(deadline).Seconds())))
		out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(s.queueURL), WaitTimeSeconds: secs, MaxNumberOfMessages: 1})
		if err != nil {
			return "", false, err
		}
		for _, m := range out.Messages {
			_, _ = q.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(s.queueURL), ReceiptHandle: m.ReceiptHandle})
			return alertText(aws.ToString(m.Body)), true, nil
		}
	}
	return "", false, nil
}

// alertText unwraps SNS's JSON envelope when the queue receives one.
func alertText(body string) string {
	var env struct{ Subject, Message string }
	if json.Unmarshal([]byte(body), &env) == nil && env.Message != "" {
		return env.Subject + "\n" + env.Message
	}
	return body
}

// secretName is target's secret, as the config names it.
func (s *Stack) secretName(target string) string {
	for _, t := range s.Config.Targets {
		if t.Name == target {
			return t.SecretName
		}
	}
	return "?"
}

// NextDecision waits up to wait for the reactor's next decision.
func (s *Stack) NextDecision(ctx context.Context, wait time.Duration) (Decision, bool) {
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case d := <-s.decisions.ch:
		return d, true
	case <-t.C:
	case <-ctx.Done():
	}
	return Decision{}, false
}

// Pids lists the function processes, for leak checks.
func (s *Stack) Pids() []int {
	var pids []int
	for _, p := range append(append([]*emulator.Process{}, s.lanes...), s.reactor) {
		if p != nil {
			pids = append(pids, p.Pid())
		}
	}
	return pids
}

// Close stops every function and the emulator, then removes the binaries
// it built and the dev clock. An error names anything that could not be
// stopped or removed.
func (s *Stack) Close() error {
	var errs []string
	for _, c := range s.closers {
		c()
	}
	s.closers = nil
	for _, p := range append(append([]*emulator.Process{}, s.lanes...), s.reactor) {
		if p == nil {
			continue
		}
		if err := p.Stop(); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if s.shift != nil {
		if err := s.shift.Close(); err != nil {
			errs = append(errs, fmt.Sprintf("functions' AWS endpoint: %v", err))
		}
	}
	if s.server != nil {
		s.server.Close()
	}
	// Removed only after the processes are gone: they run these binaries
	// and read the clock until then.
	for _, path := range []string{s.binDir, s.clockFile, s.clockFile + ".tmp"} {
		if path == "" {
			continue
		}
		if err := os.RemoveAll(path); err != nil {
			errs = append(errs, fmt.Sprintf("remove %s: %v", path, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("left behind: %s", strings.Join(errs, "; "))
	}
	return nil
}
