package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"github.com/stsrotator/stsrotator/infra/plan"
	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/credprovider"
	"github.com/stsrotator/stsrotator/shared/events"
	"github.com/stsrotator/stsrotator/shared/humantime"
	"github.com/stsrotator/stsrotator/shared/lambdaenv"
	"github.com/stsrotator/stsrotator/shared/revocation"
	"github.com/stsrotator/stsrotator/shared/rotation"
)

// roleAPI is the IAM surface revoke and status use, with the SDK's exact
// signatures.
type roleAPI interface {
	GetRole(context.Context, *iam.GetRoleInput, ...func(*iam.Options)) (*iam.GetRoleOutput, error)
	GetRolePolicy(context.Context, *iam.GetRolePolicyInput, ...func(*iam.Options)) (*iam.GetRolePolicyOutput, error)
	PutRolePolicy(context.Context, *iam.PutRolePolicyInput, ...func(*iam.Options)) (*iam.PutRolePolicyOutput, error)
	DeleteRolePolicy(context.Context, *iam.DeleteRolePolicyInput, ...func(*iam.Options)) (*iam.DeleteRolePolicyOutput, error)
}

// callerAPI tells whose credentials revoke runs with.
type callerAPI interface {
	GetCallerIdentity(context.Context, *sts.GetCallerIdentityInput, ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
}

type revokeOpts struct {
	target, function, stack, rotatorProfile string
	all, dryRun, yes, cleanup               bool
}

func (a *App) revoke(ctx context.Context, args []string) error {
	var o revokeOpts
	fs := a.flags("revoke", "--target NAME [--all-sessions] [--dry-run] [--yes] [--cleanup]", `
Incident response for a target whose credentials may have leaked. With an
identity that may iam:GetRole, iam:GetRolePolicy and iam:PutRolePolicy on
the target's role (--profile, in the role's account):

 1. takes a cutoff from AWS's clock (the Date of an AWS response);
 2. puts an inline policy on the role denying every action to sessions
    issued before the cutoff (aws:TokenIssueTime) — by default only the
    sessions stsrotator issues for this target (aws:userid *:<sessionName>),
    so other users of the role keep working; --all-sessions writes AWS's
    own console policy AWSRevokeOlderSessions instead. A cutoff only ever
    moves forward;
 3. asks the deployed rotator (as rotate does; --rotator-profile) for
    credentials issued after the cutoff;
 4. says what consumers see now.

--dry-run prints the policy and writes nothing. --cleanup removes the
policy once every session it denies has expired (the role's
MaxSessionDuration after the cutoff) and refuses before.

Exits 9 if the revocation is in force but the rotation failed (the target
then has NO valid credentials; the fix is to run the same revoke again,
which re-sends the cutoff), 10 if --cleanup is refused as too early, 11 if
a revocation in force has its cutoff more than 5s ahead of AWS's clock
(nothing written, no rotation requested).`)
	fs.profileFor("change the target's role, in its own account,")
	fs.targetArg = true
	fs.StringVar(&o.target, "target", "", "config target `name` (or give it as the argument)")
	fs.BoolVar(&o.all, "all-sessions", false, "deny every older session of the role, everyone's (AWSRevokeOlderSessions)")
	fs.BoolVar(&o.dryRun, "dry-run", false, "print the policy and what would happen; write nothing")
	fs.BoolVar(&o.yes, "yes", false, "do not ask for confirmation")
	fs.BoolVar(&o.cleanup, "cleanup", false, "remove the revocation policy once every session it denies has expired")
	fs.StringVar(&o.function, "function", "", "rotator Lambda `name or ARN` (default: $"+lambdaenv.RotatorFunction+", else found from the config)")
	fs.StringVar(&o.stack, "stack", plan.DefaultStackName, "the deployed stack's `name` (cdk -c stackName): finds its rotator and the default session names (<stack>.<target>; stsrotator-<target> in the default stack)")
	fs.StringVar(&o.rotatorProfile, "rotator-profile", "", "AWS `profile` of the stsrotator account, to invoke the rotator with (default: --profile)")
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	if o.target, err = oneTarget(fs, o.target, pos); err != nil {
		return err
	}
	cfg, err := a.loadConfig(fs.g)
	if err != nil {
		return err
	}
	if cfg == nil {
		return coded(ExitUsage, errors.New("revoke needs the config that declares the target (its role and session name): pass --config or run where stsrotator.yaml is"))
	}
	// The session names revoke denies are the ones the stack's rotator
	// uses: config.DefaultSessionName of --stack for targets without one.
	if err := cfg.InStack(o.stack); err != nil {
		return coded(ExitUsage, err)
	}
	t, ok := cfg.Target(o.target)
	if !ok {
		return coded(ExitNotFound, fmt.Errorf("target %q is not in %s; valid targets: %s", o.target, cfg.File, strings.Join(cfg.Names(), ", ")))
	}
	// The rotator is found before anything is written, so a revocation is
	// never left in force because its rotation could not even be named.
	if !o.cleanup && !o.dryRun && o.function == "" {
		if o.function = a.Getenv(lambdaenv.RotatorFunction); o.function == "" {
			if o.function, err = a.rotatorOf(fs.g, o.stack, t.Name); err != nil {
				return err
			}
		}
	}
	awsCfg, err := a.LoadAWS(ctx, fs.g)
	if err != nil {
		return err
	}
	r := &revoker{a: a, o: o, t: t, iam: iam.NewFromConfig(awsCfg), sts: sts.NewFromConfig(awsCfg), profile: credsName(fs.g.Profile), again: rerun(o, fs.g)}
	st, err := r.inspect(ctx)
	if err != nil {
		return err
	}
	if o.cleanup {
		return r.doCleanup(ctx, st)
	}
	if err := r.putRevocation(ctx, st); err != nil || o.dryRun {
		return err
	}
	rg := fs.g
	if o.rotatorProfile != "" {
		rg.Profile = o.rotatorProfile
	}
	rotCfg, err := a.LoadAWS(ctx, rg)
	if err != nil {
		return r.unrotated(st.cutoff, err)
	}
	return r.rotate(ctx, lambda.NewFromConfig(rotCfg), st)
}

// revoker carries one revoke run.
type revoker struct {
	a   *App
	o   revokeOpts
	t   config.Target
	iam roleAPI
	sts callerAPI
	// profile names the credentials revoke runs with, for messages.
	profile string
	// again is the command that runs this revoke again (its fix when
	// the forced rotation failed).
	again string
}

// credsName names the credentials of --profile for a message.
func credsName(profile string) string {
	if profile == "" {
		return "your default credentials (no --profile)"
	}
	return "profile " + profile
}

// rerun is the revoke command line that repeats this one: the same
// target, scope, identities, rotator and config, with --yes.
func rerun(o revokeOpts, g Globals) string {
	args := []string{"stsrotator", "revoke", "--target", o.target, "--yes"}
	if o.all {
		args = append(args, "--all-sessions")
	}
	for _, f := range [][2]string{{"--config", g.Config}, {"--profile", g.Profile}, {"--rotator-profile", o.rotatorProfile},
		{"--region", g.Region}, {"--endpoint-url", g.EndpointURL}, {"--function", o.function}} {
		if f[1] != "" {
			args = append(args, f[0], word(f[1]))
		}
	}
	if o.stack != plan.DefaultStackName && o.function == "" {
		args = append(args, "--stack", word(o.stack))
	}
	return strings.Join(args, " ")
}

// word leaves a plain shell word alone and quotes anything else.
func word(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:@=+,") == "" {
		return s
	}
	return shellQuote(s)
}

// roleState is what revoke learned about the role before writing.
type roleState struct {
	role       string
	maxSession time.Duration
	scope      revocation.Scope
	policy     string
	existing   *revocation.Revocation
	// awsNow is AWS's clock at the last response; skew is awsNow minus
	// the local clock then.
	awsNow time.Time
	skew   time.Duration
	cutoff time.Time
}

// inspect checks the caller can act on the role and reads the revocation
// in force. It writes nothing.
func (r *revoker) inspect(ctx context.Context) (roleState, error) {
	partition, account, roleName, err := splitRoleArn(r.t.RoleArn)
	if err != nil {
		return roleState{}, coded(ExitUsage, fmt.Errorf("target %s: %w", r.t.Name, err))
	}
	id, err := r.sts.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return roleState{}, fmt.Errorf("who am I (sts:GetCallerIdentity with %s): %w", r.profile, err)
	}
	st := roleState{role: roleName, scope: revocation.ForTarget(r.t)}
	r.clock(&st, id.ResultMetadata)
	callerPartition, callerAccount, _, _ := splitArn(aws.ToString(id.Arn))
	switch {
	case callerPartition != partition:
		return roleState{}, coded(ExitUsage, fmt.Errorf("role %s is in partition %s, but %s signs in partition %s (fix: pass --profile for an identity in that partition and account)",
			r.t.RoleArn, partition, r.profile, callerPartition))
	case callerAccount != account:
		return roleState{}, coded(ExitUsage, fmt.Errorf("role %s is in account %s, but %s is %s in account %s; an inline policy can only be put from the role's own account (fix: pass --profile for an identity in account %s)",
			r.t.RoleArn, account, r.profile, aws.ToString(id.Arn), callerAccount, account))
	}
	if r.o.all {
		st.scope = revocation.Scope{}
	}
	st.policy = st.scope.Name(r.t.Name)
	role, err := r.iam.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(roleName)})
	if err != nil {
		return roleState{}, r.iamErr("iam:GetRole", err)
	}
	r.clock(&st, role.ResultMetadata)
	if role.Role == nil || role.Role.MaxSessionDuration == nil {
		return roleState{}, fmt.Errorf("iam:GetRole %s returned no MaxSessionDuration", roleName)
	}
	st.maxSession = time.Duration(*role.Role.MaxSessionDuration) * time.Second
	existing, err := r.current(ctx, roleName, st.policy)
	if err != nil {
		return roleState{}, err
	}
	st.existing = existing
	if existing != nil {
		// A revocation keeps every scope it ever had: after a sessionName
		// (or sourceIdentity) change the sessions issued under the old
		// one are still the leaked ones.
		st.scope = st.scope.Union(existing.Scope)
	}
	return st, nil
}

// clock records AWS's time from a response's Date header.
func (r *revoker) clock(st *roleState, md middleware.Metadata) {
	if at, ok := r.a.ServerTime(md); ok {
		st.awsNow, st.skew = at, at.Sub(r.a.Now())
	}
}

// now is AWS's clock at local time, estimated from the last Date seen.
func (st roleState) now(local time.Time) time.Time { return local.Add(st.skew) }

// current reads the revocation policy in force (nil: none). A policy of
// that name that is not a revocation is never overwritten or removed.
func (r *revoker) current(ctx context.Context, role, name string) (*revocation.Revocation, error) {
	out, err := r.iam.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(role), PolicyName: aws.String(name)})
	if isCode(err, "NoSuchEntity") {
		return nil, nil
	}
	if err != nil {
		return nil, r.iamErr("iam:GetRolePolicy", err)
	}
	rev, err := revocation.Parse(name, aws.ToString(out.PolicyDocument))
	if err != nil {
		return nil, coded(ExitUsage, fmt.Errorf("role %s already has an inline policy %s that is not a session revocation; refusing to touch it (%w)", role, name, err))
	}
	return &rev, nil
}

// maxCutoffWait bounds revoke's wait for AWS's clock to pass the cutoff
// before it asks for the rotation. A cutoff revoke takes itself is at most
// a second ahead (CutoffAfter); one a concurrent revoke wrote moments ago a
// few seconds. A cutoff further ahead was written by a clock running
// ahead of AWS's: revoke never moves a cutoff back, and waiting for it
// would hang the incident (ExitCutoffAhead instead).
const maxCutoffWait = 5 * time.Second

// cutoffOf is the cutoff revoke writes and rotates against, and whether
// it is the one already in force (kept, never moved back) rather than
// AWS's clock now.
func (st roleState) cutoffOf() (cutoff time.Time, kept bool) {
	want := revocation.CutoffAfter(st.awsNow)
	cutoff = revocation.Next(st.existing, want)
	return cutoff, !cutoff.Equal(want)
}

func (r *revoker) putRevocation(ctx context.Context, st roleState) error {
	if st.awsNow.IsZero() {
		return errors.New("AWS sent no Date header, so there is no AWS clock to take the cutoff from; refusing to use the local clock")
	}
	cutoff, kept := st.cutoffOf()
	// The role's MaxSessionDuration is recorded with the cutoff (the
	// longer of now's and any recorded before), so --cleanup waits for
	// sessions issued before a later cut in the role's maximum.
	rec := revocation.Revocation{Scope: st.scope, Cutoff: cutoff, MaxSession: st.maxSession}
	if st.existing != nil {
		rec.MaxSession = st.existing.Lasts(st.maxSession)
	}
	doc := revocation.DocumentOf(rec)
	w := r.a.Stdout
	who := fmt.Sprintf("%s (stsrotator's, for target %s)", st.scope, r.t.Name)
	if st.scope.All() {
		who = "EVERY session of the role, everyone's (--all-sessions)"
	}
	if st.existing != nil && !st.scope.Covers(st.existing.Scope) {
		// Union makes this unreachable; the check is what keeps any
		// future change from lifting a revocation by rewriting it.
		return fmt.Errorf("refusing to narrow the revocation in force (%s on role %s denies %s; this would deny only %s): nothing written", st.policy, st.role, st.existing.Scope, st.scope)
	}
	widened := st.existing != nil && !st.existing.Scope.Equal(st.scope)
	ahead := cutoff.Sub(st.awsNow)
	switch {
	case kept:
		// The cutoff comes from the policy in force, not from AWS's
		// clock: say so, and how it compares with AWS's clock.
		fmt.Fprintf(w, "Revoke %s on role %s issued before %s (the cutoff already in force; AWS's clock reads %s).\n", who, r.t.RoleArn, stamp3339(cutoff), stamp3339(st.awsNow))
		fmt.Fprintf(w, "A revocation with a later cutoff (%s) is already in force; it is kept, never moved back.\n", stamp3339(cutoff))
	default:
		fmt.Fprintf(w, "Revoke %s on role %s issued before %s (AWS's clock).\n", who, r.t.RoleArn, stamp3339(cutoff))
		if st.existing != nil {
			fmt.Fprintf(w, "Moves the cutoff of the revocation in force forward from %s.\n", stamp3339(st.existing.Cutoff))
		}
	}
	if widened {
		fmt.Fprintf(w, "Keeps every session the revocation in force denies (%s) and adds the target's current ones.\n", st.existing.Scope)
	}
	fmt.Fprintf(w, "Inline policy %s:\n%s\n", st.policy, doc)
	if ahead > maxCutoffWait {
		return coded(ExitCutoffAhead, fmt.Errorf("the revocation in force (%s on role %s) has its cutoff %s, %s ahead of AWS's clock (%s), probably written with a clock running ahead: it denies every session issued before then, including any rotation now, so revoke neither moves it back nor waits for it; nothing written, no rotation requested. Target %s has no valid credentials until %s. Fix: if that cutoff is a mistake, remove it (aws iam delete-role-policy --role-name %s --policy-name %s) and run %s; else run that after %s",
			st.policy, st.role, stamp3339(cutoff), humantime.Span(ahead), stamp3339(st.awsNow), r.t.Name, stamp3339(cutoff), st.role, st.policy, r.again, stamp3339(cutoff)))
	}
	if size := revocation.PolicySize(doc); size > revocation.MaxRolePolicySize {
		return fmt.Errorf("the revocation would be %d characters, more than the %s IAM allows a role's inline policies together: it denies %d session names and %d source identities (every one it ever held is kept, so a cutoff never lifts a deny); nothing written, no rotation requested, the revocation in force (if any) stays. Fix: revoke with --all-sessions (AWS's AWSRevokeOlderSessions, every session of the role), or once every session %s denies has expired remove it (stsrotator revoke --target %s --cleanup) and revoke again",
			size, "10,240 characters", len(st.scope.SessionNames), len(st.scope.SourceIdentities), st.policy, r.t.Name)
	}
	if r.o.dryRun {
		fmt.Fprintln(w, "Dry run: nothing written, no rotation requested.")
		return nil
	}
	if !r.o.yes {
		ok, err := r.confirm(fmt.Sprintf("Write %s on %s and force a rotation of %s? [y/N] ", st.policy, st.role, r.t.Name))
		if err != nil {
			return err
		}
		if !ok {
			return coded(ExitUsage, errors.New("not confirmed; nothing written (pass --yes to skip the question)"))
		}
	}
	if kept && !widened {
		// The document in force already says this; writing it again
		// changes nothing.
		fmt.Fprintf(w, "Revocation in force: %s on role %s, unchanged.\n", st.policy, st.role)
		return nil
	}
	if _, err := r.iam.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(st.role), PolicyName: aws.String(st.policy), PolicyDocument: aws.String(doc)}); err != nil {
		return r.iamErr("iam:PutRolePolicy", err)
	}
	fmt.Fprintf(w, "Revocation in force: %s on role %s (IAM may take a few minutes to apply it everywhere).\n", st.policy, st.role)
	return nil
}

func (r *revoker) confirm(question string) (bool, error) {
	fmt.Fprint(r.a.Stdout, question)
	line, err := bufio.NewReader(r.a.Stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return false, err
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true, nil
	}
	return false, nil
}

// rotate forces the rotation through the deployed rotator, telling it
// the cutoff so credentials issued before it count as unusable.
func (r *revoker) rotate(ctx context.Context, api invoker, st roleState) error {
	cutoff, _ := st.cutoffOf()
	// Wait for AWS's clock to pass the cutoff, so the new session's
	// aws:TokenIssueTime is not before it: about a second, bounded by
	// maxCutoffWait (putRevocation refused anything further ahead; the
	// bound holds again here should the local clock have jumped).
	if wait := cutoff.Sub(st.now(r.a.Now())); wait > 0 {
		if wait > maxCutoffWait {
			return r.unrotated(cutoff, fmt.Errorf("the cutoff is %s ahead of AWS's clock, more than the %s revoke waits", humantime.Span(wait), humantime.Span(maxCutoffWait)))
		}
		fmt.Fprintf(r.a.Stdout, "Waiting %s for AWS's clock to pass the cutoff, so the new session is not denied too.\n", humantime.Span(wait))
		if err := r.a.Sleep(ctx, wait); err != nil {
			return r.unrotated(cutoff, err)
		}
	}
	resp, _, err := r.a.callRotator(ctx, api, r.o.function, rotation.Invocation{
		Target: r.t.Name, Force: true, Reason: r.a.askedBy("revoke"), Why: events.CauseRevoke, RevokedBefore: cutoff})
	if err != nil {
		return r.unrotated(cutoff, err)
	}
	s := resp.Summary
	switch {
	case len(s.Failed) > 0:
		return r.unrotated(cutoff, errors.New(s.Failed[0].Reason))
	case len(s.Rotated) > 0:
		n := s.Rotated[0]
		fmt.Fprintf(r.a.Stdout, "Rotated: new key %s, version %s, issued after the cutoff, expires %s.\n", dash(n.Key), dash(n.VersionID), stamp3339(n.Expires))
	case s.Superseded > 0:
		return r.unrotated(cutoff, errors.New("another rotation wrote the secret at the same moment; run stsrotator status --target "+r.t.Name+" to see whether its key was issued after the cutoff"))
	default:
		fmt.Fprintln(r.a.Stdout, "Not rotated: the current version was already issued after the cutoff.")
	}
	r.consumers(cutoff)
	return nil
}

// consumers says what each kind of consumer sees now.
func (r *revoker) consumers(cutoff time.Time) {
	until := stamp3339(cutoff.Add(r.t.Duration))
	fmt.Fprintf(r.a.Stdout, `What consumers see now:
  - Go programs using credprovider.Config (WithExpiredTokenRecovery): the first call the revocation denies
    makes them re-read the secret (at most once per %s) and retry with the new key.
  - stsrotator serve: re-reads the secret at most %s after its last read, so a process that asks (a restarted
    consumer) gets the new key; an SDK already holding the revoked key asks again only near its expiry, before %s.
  - credential_process consumers (AWS CLI, SDKs): keep the revoked key, denied, until their next refresh,
    at the latest when it expires, before %s (durationSeconds %s after the cutoff).
    Restart them, or delete the AWS CLI's cache (~/.aws/cli/cache), to switch now.
Check: stsrotator status --target %s --revocations
Remove the policy once every denied session has expired: stsrotator revoke --target %s --cleanup
`, humantime.Span(credprovider.DefaultRetryAfter), humantime.Span(credprovider.DefaultRetryAfter), until, until, humantime.Span(r.t.Duration), r.t.Name, r.t.Name)
}

// unrotated is the one failure revoke must shout about: the policy is in
// force, so the target's consumers are denied, and no new credentials
// replaced the revoked ones.
func (r *revoker) unrotated(cutoff time.Time, err error) error {
	// The fix is revoke itself: it re-sends the cutoff, which is what lets
	// the rotator replace credentials it would otherwise call fresh. A
	// plain rotate carries no cutoff, so the ten-minute write guidance
	// may hold it back, and the schedule rotates only at refreshAt.
	return coded(ExitRevokedUnrotated, fmt.Errorf("the revocation (cutoff %s) is in force but the forced rotation failed: target %s has NO valid credentials until a rotation succeeds (fix what the error below names, then run: %s — it moves the cutoff forward and re-sends it to the rotator; a plain rotate or the schedule does not know the cutoff): %w",
		stamp3339(cutoff), r.t.Name, r.again, err))
}

func (r *revoker) doCleanup(ctx context.Context, st roleState) error {
	w := r.a.Stdout
	if st.existing == nil {
		fmt.Fprintf(w, "No revocation in force on role %s (no inline policy %s); nothing to remove.\n", st.role, st.policy)
		return nil
	}
	if st.awsNow.IsZero() {
		return errors.New("AWS sent no Date header, so there is no AWS clock to judge expiry by; refusing to use the local clock")
	}
	lasts := st.existing.Lasts(st.maxSession)
	until := revocation.ExpiresAt(st.existing.Cutoff, lasts)
	if st.awsNow.Before(until) {
		why := fmt.Sprintf("role %s MaxSessionDuration %s", st.role, humantime.Span(st.maxSession))
		if lasts > st.maxSession {
			why = fmt.Sprintf("role %s allowed sessions of %s when the revocation was written; it allows %s now, but sessions keep the duration they were issued with", st.role, humantime.Span(lasts), humantime.Span(st.maxSession))
		}
		return coded(ExitCleanupRefused, fmt.Errorf("refused: sessions issued before the cutoff %s may live until %s (%s); the policy is what denies them. Run --cleanup again after %s (in %s)",
			stamp3339(st.existing.Cutoff), stamp3339(until), why, stamp3339(until), humantime.Span(until.Sub(st.awsNow))))
	}
	if r.o.dryRun {
		fmt.Fprintf(w, "Dry run: would remove %s from role %s (every session it denies expired by %s).\n", st.policy, st.role, stamp3339(until))
		return nil
	}
	if _, err := r.iam.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: aws.String(st.role), PolicyName: aws.String(st.policy)}); err != nil {
		return r.iamErr("iam:DeleteRolePolicy", err)
	}
	fmt.Fprintf(w, "Removed %s from role %s: every session it denied expired by %s.\n", st.policy, st.role, stamp3339(until))
	return nil
}

// iamErr turns an IAM failure into one line that names the permission.
func (r *revoker) iamErr(action string, err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "AccessDenied", "AccessDeniedException":
			return fmt.Errorf("%s may not %s on role %s (fix: use an identity allowed iam:GetRole, iam:GetRolePolicy, iam:PutRolePolicy and iam:DeleteRolePolicy on it): %s",
				r.profile, action, r.t.RoleArn, ae.ErrorMessage())
		case "NoSuchEntity":
			return coded(ExitNotFound, fmt.Errorf("role %s does not exist in this account (%s): fix roleArn of target %s", r.t.RoleArn, action, r.t.Name))
		case "LimitExceeded":
			// Every inline policy of the role counts towards IAM's
			// limit; the write was refused whole, so what was in
			// force stays.
			return fmt.Errorf("%s on role %s refused: its inline policies together would pass IAM's limit of 10,240 characters; nothing written, the revocation in force (if any) stays (fix: remove an inline policy the role no longer needs, or revoke with --all-sessions): %s",
				action, r.t.RoleArn, ae.ErrorMessage())
		case "UnmodifiableEntity":
			return coded(ExitUsage, fmt.Errorf("role %s cannot be changed (%s): service-linked roles cannot have their sessions revoked", r.t.RoleArn, action))
		}
	}
	return fmt.Errorf("%s on role %s: %w", action, r.t.RoleArn, err)
}

// splitRoleArn reads arn:<partition>:iam::<account>:role/<path/>name.
func splitRoleArn(arn string) (partition, account, name string, err error) {
	partition, account, res, ok := splitArn(arn)
	if !ok || !strings.HasPrefix(res, "role/") {
		return "", "", "", fmt.Errorf("roleArn %q is not arn:<partition>:iam::<account>:role/<name>", arn)
	}
	return partition, account, res[strings.LastIndex(res, "/")+1:], nil
}

func splitArn(arn string) (partition, account, resource string, ok bool) {
	p := strings.SplitN(arn, ":", 6)
	if len(p) != 6 || p[0] != "arn" {
		return "", "", "", false
	}
	return p[1], p[4], p[5], true
}

func isCode(err error, code string) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == code
}

func stamp3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }
