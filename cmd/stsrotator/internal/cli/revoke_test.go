package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"github.com/stsrotator/stsrotator/internal/awstest"
	"github.com/stsrotator/stsrotator/internal/eventschema"
	"github.com/stsrotator/stsrotator/internal/mototest"
	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/events"
	"github.com/stsrotator/stsrotator/shared/revocation"
	"github.com/stsrotator/stsrotator/shared/rotation"
	"github.com/stsrotator/stsrotator/shared/secretfmt"
)

// revokeFixture: the target role lives in moto's IAM (revoke's --profile
// target-admin), the deployed rotator is the real binary under kumo's
// Lambda Runtime API (--rotator-profile ops).
type revokeFixture struct {
	env      *awstest.Env
	moto     *mototest.Server
	iam      *iam.Client
	cfgPath  string
	fn       string
	strictFn string
	secret   string
	logs     *awstest.Buffer
	// announced lists the rotator's lifecycle events on kumo's bus.
	announced func() map[string][]awstest.Delivery
	// offset moves AWS's clock as revoke sees it (the Date header).
	offset time.Duration
	slept  []time.Duration
	// opsDown makes the rotator's profile fail to load.
	opsDown bool
}

const revokeRole = "BillingReadOnly"

func newRevokeFixture(t *testing.T) *revokeFixture {
	t.Helper()
	f := &revokeFixture{env: awstest.Start(t), moto: mototest.Start(t)}
	f.iam = iam.NewFromConfig(f.moto.Config(""))
	ctx := awstest.Context(t)
	if _, err := f.iam.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(revokeRole), MaxSessionDuration: aws.Int32(7200),
		AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}]}`)}); err != nil {
		t.Fatal(err)
	}
	f.announced = f.env.LifecycleRules(t, "")
	stack := f.env.Unique("rv")
	var rotCfg string
	rotCfg, f.fn, f.logs = startRotator(t, f.env, stack, rotation.VerifyCaller)
	_, f.strictFn, _ = startRotator(t, f.env, f.env.Unique("strict"), rotation.VerifyIdentity)
	rc, err := config.Load(rotCfg)
	if err != nil {
		t.Fatal(err)
	}
	f.secret = rc.Targets[0].SecretName
	// The CLI's config: the same target, its role in moto's account.
	src, err := os.ReadFile(rotCfg)
	if err != nil {
		t.Fatal(err)
	}
	f.cfgPath = filepath.Join(t.TempDir(), "stsrotator.yaml")
	cli := strings.Replace(string(src), "arn:aws:iam::000000000000:role/BillingReadOnly", "arn:aws:iam::"+mototest.Account+":role/"+revokeRole, 1)
	cli += "  - name: other-partition\n    roleArn: arn:aws-cn:iam::" + mototest.Account + ":role/" + revokeRole + "\n"
	cli += "  - name: other-account\n    roleArn: arn:aws:iam::210987654321:role/" + revokeRole + "\n"
	cli += "  - name: no-role\n    roleArn: arn:aws:iam::" + mototest.Account + ":role/NoSuchRole\n"
	if err := os.WriteFile(f.cfgPath, []byte(cli), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *revokeFixture) app(stdin string) (*App, *syncBuffer, *syncBuffer) {
	a, out, errb := testApp(f.env, time.Now, nil)
	a.LoadAWS = func(_ context.Context, g Globals) (aws.Config, error) {
		switch g.Profile {
		case "target-admin":
			return f.moto.Config(""), nil
		case "ops":
			if f.opsDown {
				return aws.Config{}, errors.New("test: the ops profile's SSO session expired")
			}
			return f.env.Config.Copy(), nil
		}
		return aws.Config{}, coded(ExitUsage, fmt.Errorf("test: unknown profile %q", g.Profile))
	}
	a.ServerTime = func(md middleware.Metadata) (time.Time, bool) {
		at, ok := awsmiddleware.GetServerTime(md)
		return at.Add(f.offset), ok
	}
	a.Sleep = func(_ context.Context, d time.Duration) error { f.slept = append(f.slept, d); return nil }
	a.Stdin = strings.NewReader(stdin)
	return a, out, errb
}

func (f *revokeFixture) run(t *testing.T, stdin string, args ...string) run {
	t.Helper()
	a, out, errb := f.app(stdin)
	args = append(args, "--config", f.cfgPath, "--profile", "target-admin", "--rotator-profile", "ops")
	return execute(t, a, out, errb, args...)
}

// policy is the revocation on the role now (nil: none).
func (f *revokeFixture) policy(t *testing.T, name string) *revocation.Revocation {
	t.Helper()
	out, err := f.iam.GetRolePolicy(awstest.Context(t), &iam.GetRolePolicyInput{RoleName: aws.String(revokeRole), PolicyName: aws.String(name)})
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() == "NoSuchEntity" {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	r, err := revocation.Parse(name, aws.ToString(out.PolicyDocument))
	if err != nil {
		t.Fatalf("the policy on the role is not a revocation: %v\n%s", err, aws.ToString(out.PolicyDocument))
	}
	return &r
}

// revoke end to end: moto holds the role (it stores inline policies but
// does not enforce denies, so the document is asserted), kumo runs the
// real rotator. The steps run in order on one role.
func TestRevokeEndToEnd(t *testing.T) {
	f := newRevokeFixture(t)
	scoped := revocation.PolicyName("billing-reader")
	// The current version was written five minutes ago: inside the
	// ten-minute write interval, which a revocation must override.
	now := time.Now()
	v := value(1, now.Add(55*time.Minute), now.Add(35*time.Minute))
	v.Meta.IssuedAt = now.Add(-5 * time.Minute).UTC()
	putValue(t, f.env, f.secret, "billing-reader", v)

	r := f.run(t, "", "revoke", "--target", "billing-reader", "--dry-run", "--function", f.fn)
	if r.code != ExitOK || !strings.Contains(r.stdout, `"aws:userid":"*:stsrotator-billing-reader"`) || !strings.Contains(r.stdout, "Dry run: nothing written") {
		t.Fatalf("--dry-run prints the scoped policy: %+v", r)
	}
	if f.policy(t, scoped) != nil || strings.Contains(f.logs.String(), "stsrotator revoke by") {
		t.Fatal("--dry-run wrote a policy or requested a rotation")
	}

	r = f.run(t, "n\n", "revoke", "billing-reader", "--function", f.fn)
	if r.code != ExitUsage || !strings.Contains(r.stderr, "not confirmed; nothing written") || f.policy(t, scoped) != nil {
		t.Fatalf("answering no writes nothing: %+v", r)
	}

	// AWS's clock as revoke reads it runs 2s behind the real one, so the
	// rotation (which cannot wait on moto's and kumo's real clocks) is
	// issued after the cutoff; revoke's own wait for AWS's clock to pass
	// the cutoff is recorded instead of slept.
	f.offset = -2 * time.Second
	before := time.Now().UTC().Truncate(time.Second).Add(f.offset)
	r = f.run(t, "y\n", "revoke", "billing-reader", "--function", f.fn)
	after := time.Now().UTC().Add(f.offset)
	if r.code != ExitOK {
		t.Fatalf("revoke: %+v\nrotator logs:\n%s", r, f.logs.String())
	}
	if len(f.slept) != 1 || f.slept[0] <= 0 || f.slept[0] > time.Second {
		t.Fatalf("revoke must wait (at most a second) for AWS's clock to pass the cutoff before rotating; waited %v", f.slept)
	}
	got := f.policy(t, scoped)
	if got == nil || !slices.Equal(got.Scope.SessionNames, []string{"stsrotator-billing-reader"}) {
		t.Fatalf("the scoped policy is not on the role: %+v", got)
	}
	// The cutoff is moto's Date plus the second the header drops.
	if got.Cutoff.Before(before.Add(time.Second)) || got.Cutoff.After(after.Add(2*time.Second)) {
		t.Fatalf("cutoff %s is not AWS's clock (+1s) between %s and %s", got.Cutoff, before, after)
	}
	if f.policy(t, revocation.AllSessionsPolicyName) != nil {
		t.Fatal("a scoped revoke wrote AWSRevokeOlderSessions")
	}
	for _, want := range []string{"Rotated: new key ASIA", "What consumers see now", "credential_process consumers", "stsrotator status --target billing-reader --revocations"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("revoke output lacks %q:\n%s", want, r.stdout)
		}
	}
	// The forced rotation reached the rotator with the cutoff, and the
	// write interval did not hold it back.
	if !strings.Contains(f.logs.String(), `"why":"stsrotator revoke by tester@test-host"`) || !strings.Contains(f.logs.String(), "issued before the revocation cutoff") {
		t.Fatalf("the rotator did not rotate for the revocation:\n%s", f.logs.String())
	}

	// A revoke whose AWS clock reads an hour earlier than the cutoff in
	// force (the cutoff was written by a clock running ahead) keeps the
	// cutoff, does not wait for it (it used to sleep until its context
	// died), labels it as the policy's, not AWS's clock, and exits 11
	// with nothing written and no rotation requested.
	f.offset = -time.Hour
	f.slept = nil
	logsBefore := f.logs.String()
	r = f.run(t, "", "revoke", "billing-reader", "--yes", "--function", f.fn)
	if r.code != ExitCutoffAhead || !strings.Contains(r.stderr, "ahead of AWS's clock") || !strings.Contains(r.stderr, "nothing written, no rotation requested") ||
		!strings.Contains(r.stderr, "aws iam delete-role-policy --role-name "+revokeRole+" --policy-name "+scoped) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Fatalf("a cutoff in force an hour ahead of AWS's clock: %+v", r)
	}
	if len(f.slept) != 0 || f.logs.String() != logsBefore {
		t.Fatalf("revoke waited %v or asked for a rotation for a cutoff an hour ahead", f.slept)
	}
	if strings.Contains(r.stdout, "(AWS's clock)") || !strings.Contains(r.stdout, "(the cutoff already in force; AWS's clock reads") {
		t.Fatalf("a cutoff taken from the policy in force is labelled as AWS's clock:\n%s", r.stdout)
	}
	if again := f.policy(t, scoped); !again.Cutoff.Equal(got.Cutoff) {
		t.Fatalf("the cutoff moved back from %s to %s", got.Cutoff, again.Cutoff)
	}

	// --cleanup: the role's MaxSessionDuration was 2h when the policy was
	// written (recorded in its Sid); lowering it to 1h afterwards does not
	// end the sessions issued before, so cleanup still waits 2h.
	if got.MaxSession != 2*time.Hour {
		t.Fatalf("the policy does not record the role's MaxSessionDuration 2h: %+v", got)
	}
	if _, err := f.iam.UpdateRole(awstest.Context(t), &iam.UpdateRoleInput{RoleName: aws.String(revokeRole), MaxSessionDuration: aws.Int32(3600)}); err != nil {
		t.Fatal(err)
	}
	f.offset = time.Hour + 2*time.Second
	r = f.run(t, "", "revoke", "billing-reader", "--cleanup")
	if r.code != ExitCleanupRefused || !strings.Contains(r.stderr, "refused: sessions issued before the cutoff") || !strings.Contains(r.stderr, "allowed sessions of 2h when the revocation was written") || f.policy(t, scoped) == nil {
		t.Fatalf("--cleanup inside the recorded window must refuse and keep the policy, although the role now allows only 1h: %+v", r)
	}
	f.offset = 2*time.Hour + 2*time.Second
	r = f.run(t, "", "revoke", "billing-reader", "--cleanup", "--dry-run")
	if r.code != ExitOK || !strings.Contains(r.stdout, "Dry run: would remove") || f.policy(t, scoped) == nil {
		t.Fatalf("--cleanup --dry-run: %+v", r)
	}
	r = f.run(t, "", "revoke", "billing-reader", "--cleanup")
	if r.code != ExitOK || !strings.Contains(r.stdout, "Removed "+scoped) || f.policy(t, scoped) != nil {
		t.Fatalf("--cleanup after the window removes the policy: %+v", r)
	}

	// --all-sessions writes AWS's console policy.
	f.offset = 0
	r = f.run(t, "", "revoke", "billing-reader", "--all-sessions", "--dry-run")
	if r.code != ExitOK || !strings.Contains(r.stdout, "Inline policy AWSRevokeOlderSessions:\n{\"Version\":\"2012-10-17\",\"Statement\":{\"Effect\":\"Deny\",\"Action\":\"*\",\"Resource\":\"*\",\"Condition\":{\"DateLessThan\":{\"aws:TokenIssueTime\":") {
		t.Fatalf("--all-sessions --dry-run: %+v", r)
	}

	// A rotation that fails after the policy is written says the target
	// is left with no valid credentials, and exits 8.
	r = f.run(t, "", "revoke", "billing-reader", "--yes", "--function", f.strictFn)
	if r.code != ExitRevokedUnrotated || !strings.Contains(r.stderr, "target billing-reader has NO valid credentials") || f.policy(t, scoped) == nil {
		t.Fatalf("a failed forced rotation: %+v", r)
	}

	// The fix revoke prints when the rotation failed after the policy was
	// written works as printed: it re-sends the cutoff, so the rotator
	// replaces the key although the current version is minutes old (the
	// ten-minute write guidance would hold a plain rotate back).
	f.opsDown, f.offset = true, -2*time.Second
	r = f.run(t, "", "revoke", "billing-reader", "--yes", "--function", f.fn)
	f.opsDown = false
	_, fix, ok := strings.Cut(r.stderr, "then run: ")
	fix, _, _ = strings.Cut(fix, " — ")
	if r.code != ExitRevokedUnrotated || !ok || !strings.HasPrefix(fix, "stsrotator revoke --target billing-reader --yes ") || strings.Contains(r.stderr, "stsrotator rotate") {
		t.Fatalf("a failed forced rotation must name revoke, re-run, as its fix: %+v", r)
	}
	a, out, errb := f.app("")
	r = execute(t, a, out, errb, strings.Fields(fix)[1:]...)
	if r.code != ExitOK || !strings.Contains(r.stdout, "Rotated: new key ASIA") {
		t.Fatalf("the printed fix %q did not rotate: %+v\nrotator logs:\n%s", fix, r, f.logs.String())
	}

	// The rotator announced the revocation's rotation and the failed one
	// on EventBridge, each as its schema says.
	seen := f.announced()
	if len(seen[events.DetailTypeRotated]) != 2 || !strings.Contains(seen[events.DetailTypeRotated][0].Detail, `"why":"revoke"`) ||
		!strings.Contains(seen[events.DetailTypeRotated][0].Detail, `"stillValid":false`) {
		t.Fatalf("want two Credentials Rotated events for the revocations (the first and its re-run), previous version no longer valid: %+v", seen[events.DetailTypeRotated])
	}
	if len(seen[events.DetailTypeRotationFailed]) != 1 || !strings.Contains(seen[events.DetailTypeRotationFailed][0].Detail, `"why":"revoke"`) {
		t.Fatalf("want one Rotation Failed event for the failed revocation rotation: %+v", seen[events.DetailTypeRotationFailed])
	}
	for dt, ds := range seen {
		for _, d := range ds {
			if err := eventschema.Validate(awstest.RepoRoot(t), dt, []byte(d.Detail)); err != nil {
				t.Error(err)
			}
			noSecrets(t, dt+" event", d.Detail)
		}
	}
}

// Bad input: one clear line, a documented exit code, nothing written.
func TestRevokeRefusesBadInput(t *testing.T) {
	f := newRevokeFixture(t)
	cases := []struct {
		why    string
		args   []string
		code   int
		stderr string
	}{
		{"an unknown target lists the valid ones", []string{"revoke", "nope", "--yes"}, ExitNotFound, `target "nope" is not in`},
		{"a role in another partition than the credentials", []string{"revoke", "other-partition", "--yes", "--function", "x"}, ExitUsage, "is in partition aws-cn, but profile target-admin signs in partition aws"},
		{"a role in another account than the credentials", []string{"revoke", "other-account", "--yes", "--function", "x"}, ExitUsage, "is in account 210987654321"},
		{"a role that does not exist", []string{"revoke", "no-role", "--yes", "--function", "x"}, ExitNotFound, "does not exist in this account"},
		{"no target named", []string{"revoke", "--yes"}, ExitUsage, "name the target"},
	}
	for _, c := range cases {
		r := f.run(t, "", c.args...)
		if r.code != c.code || !strings.Contains(r.stderr, c.stderr) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("%s: exit %d (want %d), stderr %q (want one line with %q)", c.why, r.code, c.code, r.stderr, c.stderr)
		}
	}
	out, err := f.iam.ListRolePolicies(awstest.Context(t), &iam.ListRolePoliciesInput{RoleName: aws.String(revokeRole)})
	if err != nil || len(out.PolicyNames) != 0 {
		t.Fatalf("bad input wrote policies %v (%v)", out.PolicyNames, err)
	}
}

// A missing IAM permission is named in the one line revoke prints.
func TestRevokeNamesMissingPermission(t *testing.T) {
	r := &revoker{t: configTarget("billing-reader", "arn:aws:iam::123456789012:role/R"), profile: credsName("ops")}
	err := r.iamErr("iam:PutRolePolicy", &smithy.GenericAPIError{Code: "AccessDenied", Message: "User: arn:aws:sts::123456789012:assumed-role/Ops/me is not authorized to perform: iam:PutRolePolicy"})
	if codeOf(err) != ExitFailure || !strings.Contains(err.Error(), "profile ops may not iam:PutRolePolicy on role arn:aws:iam::123456789012:role/R") {
		t.Fatalf("got %v (exit %d)", err, codeOf(err))
	}
	// Without --profile the message names the default credentials, not
	// a profile called "-".
	r.profile = credsName("")
	if err := r.iamErr("iam:GetRole", &smithy.GenericAPIError{Code: "AccessDenied"}); !strings.HasPrefix(err.Error(), "your default credentials (no --profile) may not iam:GetRole") {
		t.Fatalf("got %v", err)
	}
}

func configTarget(name, role string) config.Target {
	return config.Target{Name: name, RoleArn: role, SessionName: "stsrotator-" + name, Duration: time.Hour}
}

// status --revocations lists the revocations in force on each target's
// role, read back from IAM (moto), and when each stops denying anything.
func TestStatusShowsRevocations(t *testing.T) {
	m := mototest.Start(t)
	ctx := awstest.Context(t)
	cfg := m.Config("")
	api := iam.NewFromConfig(cfg)
	if _, err := api.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(revokeRole), MaxSessionDuration: aws.Int32(3600),
		AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}]}`)}); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 30, 9, 30, 0, 0, time.UTC)
	cutoff := now.Add(-20 * time.Minute)
	for name, doc := range map[string]string{
		revocation.PolicyName("billing-reader"): revocation.Document(revocation.Scope{SessionNames: []string{"stsrotator-billing-reader", "billing-v2"}, SourceIdentities: []string{"ops"}}, cutoff),
		revocation.AllSessionsPolicyName:        revocation.Document(revocation.Scope{}, now.Add(-2*time.Hour)),
	} {
		if _, err := api.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(revokeRole), PolicyName: aws.String(name), PolicyDocument: aws.String(doc)}); err != nil {
			t.Fatal(err)
		}
	}
	env := awstest.Start(t)
	secret := "stsrotator/billing-reader-status"
	tg := config.Target{Name: "billing-reader", RoleArn: "arn:aws:iam::" + mototest.Account + ":role/" + revokeRole, SecretName: secret}
	path := writeConfig(t, tg)
	a, out, errb := testApp(env, func() time.Time { return now }, nil)
	a.LoadAWS = func(context.Context, Globals) (aws.Config, error) { return cfg, nil }
	r := execute(t, a, out, errb, "status", "--config", path, "--revocations")
	for _, want := range []string{
		"REVOCATIONS", "stsrotator-revoke-billing-reader  stsrotator-billing-reader,billing-v2,sourceIdentity=ops  2026-11-30T09:10:00Z  2026-11-30T10:10:00Z  IN FORCE, 40m left",
		"AWSRevokeOlderSessions", "denies nothing now (remove: stsrotator revoke --target billing-reader --cleanup)",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("status --revocations lacks %q:\n%s", want, r.stdout)
		}
	}
	// Under make local's dev clock the CLI's Now runs ahead with the
	// functions' (41m in the demo); the cutoff is on AWS's clock, so its
	// time left is still counted on the wall clock: with Now counted, the
	// demo's status said "denies nothing now" while revoke --cleanup,
	// reading AWS's clock, still refused.
	a, out, errb = testApp(env, func() time.Time { return now.Add(41 * time.Minute) }, nil)
	a.Wall = func() time.Time { return now }
	a.LoadAWS = func(context.Context, Globals) (aws.Config, error) { return cfg, nil }
	r = execute(t, a, out, errb, "status", "--config", path, "--revocations")
	if !strings.Contains(r.stdout, "2026-11-30T10:10:00Z  IN FORCE, 40m left") {
		t.Errorf("status --revocations with the dev clock 41m ahead must count the cutoff on AWS's clock:\n%s", r.stdout)
	}
	a, out, errb = testApp(env, func() time.Time { return now }, nil)
	a.LoadAWS = func(context.Context, Globals) (aws.Config, error) { return cfg, nil }
	r = execute(t, a, out, errb, "status", "--config", path, "--revocations", "--json")
	var rows []Row
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || len(rows) != 1 || len(rows[0].Revocations) != 2 || !rows[0].Revocations[0].InForce {
		t.Fatalf("status --revocations --json: %v %+v\n%s", err, rows, r.stdout)
	}

	// A target whose revocations cannot be read (its role is not there)
	// shows UNKNOWN, and the check does not pass: exit 12.
	// Its secret is healthy, so only the revocation check can fail.
	// (status reads it from moto, which the test's LoadAWS answers with).
	healthy := value(1, now.Add(55*time.Minute), now.Add(35*time.Minute))
	healthy.Meta.Target = "billing-reader"
	body, err := secretfmt.Marshal(healthy)
	if err != nil {
		t.Fatal(err)
	}
	awstest.Remember(body)
	if _, err := secretsmanager.NewFromConfig(cfg).CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(secret), SecretString: aws.String(string(body)),
		Tags: []smtypes.Tag{{Key: aws.String(rotation.TagManagedBy), Value: aws.String(rotation.ManagedBy)}, {Key: aws.String(rotation.TagTarget), Value: aws.String("billing-reader")}}}); err != nil {
		t.Fatal(err)
	}
	gone := config.Target{Name: "billing-reader", RoleArn: "arn:aws:iam::" + mototest.Account + ":role/NoSuchRole", SecretName: secret}
	a, out, errb = testApp(env, func() time.Time { return now }, nil)
	a.LoadAWS = func(context.Context, Globals) (aws.Config, error) { return cfg, nil }
	r = execute(t, a, out, errb, "status", "--config", writeConfig(t, gone), "--revocations")
	if r.code != ExitCheckFailed || !strings.Contains(r.stdout, "UNKNOWN") || !strings.Contains(r.stderr, "could not read the revocations of 1 of 1 targets (billing-reader)") {
		t.Fatalf("status --revocations with an unreadable role must not pass: %+v", r)
	}
}

// Issue 19 §5: a second revoke wrote the current session-name scope over
// the first, so after a sessionName change the leaked sessions (the old
// name) were no longer denied; and a leaked session that re-assumed the
// role under another name before the cutoff escaped the scoped deny.
// Revoke twice, the second time with a changed sessionName and a
// sourceIdentity: both names stay denied, and so does any session
// carrying the source identity, each evaluated on the document IAM (moto)
// holds.
func TestAbuse_RevokeNarrowsScope(t *testing.T) {
	f := newRevokeFixture(t)
	scoped := revocation.PolicyName("billing-reader")
	f.offset = -2 * time.Second
	if r := f.run(t, "", "revoke", "billing-reader", "--yes", "--function", f.fn); r.code != ExitOK {
		t.Fatalf("first revoke: %+v", r)
	}
	first := f.policy(t, scoped)
	// The operator renames the target's sessions and sets a source
	// identity; the sessions leaked under the old name are still out there.
	src, err := os.ReadFile(f.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	renamed := strings.Replace(string(src), "  - name: billing-reader\n", "  - name: billing-reader\n    sessionName: billing-v2\n    sourceIdentity: ops-billing\n", 1)
	if renamed == string(src) {
		t.Fatal("the fixture's config has no billing-reader target to rename")
	}
	if err := os.WriteFile(f.cfgPath, []byte(renamed), 0o600); err != nil {
		t.Fatal(err)
	}
	f.offset = -time.Second
	r := f.run(t, "", "revoke", "billing-reader", "--yes", "--function", f.fn)
	if r.code != ExitOK || !strings.Contains(r.stdout, "Keeps every session the revocation in force denies (sessions named stsrotator-billing-reader)") {
		t.Fatalf("second revoke: %+v", r)
	}
	second := f.policy(t, scoped)
	if second.Cutoff.Before(first.Cutoff) {
		t.Fatalf("the cutoff moved back from %s to %s", first.Cutoff, second.Cutoff)
	}
	before := first.Cutoff.Add(-time.Minute)
	cases := []struct {
		why, userID, sourceID string
		denied                bool
	}{
		{"a session leaked under the old name stays denied", "AROAEXAMPLE:stsrotator-billing-reader", "", true},
		{"an older session under the new name is denied", "AROAEXAMPLE:billing-v2", "ops-billing", true},
		{"a leaked session re-assumed under another name is caught by its source identity", "AROAEXAMPLE:innocent", "ops-billing", true},
		{"another user of the role keeps working", "AROAEXAMPLE:alice", "", false},
	}
	for _, c := range cases {
		if got := second.Denies(c.userID, c.sourceID, before); got != c.denied {
			t.Errorf("%s: Denies = %v\nscope %+v", c.why, got, second.Scope)
		}
	}
	// Revoking again with the original config changes nothing that is
	// denied: the new name and the identity stay in the scope.
	if err := os.WriteFile(f.cfgPath, src, 0o600); err != nil {
		t.Fatal(err)
	}
	if r := f.run(t, "", "revoke", "billing-reader", "--yes", "--function", f.fn); r.code != ExitOK {
		t.Fatalf("third revoke: %+v", r)
	}
	if third := f.policy(t, scoped); !third.Scope.Covers(second.Scope) {
		t.Fatalf("a revoke with the old config narrowed the scope from %+v to %+v", second.Scope, third.Scope)
	}
}

// Scopes only ever grow (a revocation keeps every session name and
// source identity it held), and IAM allows a role 10,240 characters of
// inline policy in all. A scope piled up by renames past that limit must
// fail safely: the revocation in force untouched (never rewritten
// narrower to fit), nothing invoked, and an error that names the limit
// and the way out. moto stores an inline policy of any size
// (docs/local.md), so without revoke's own check the oversized document
// was written.
func TestAbuse_RevokePastPolicySizeLimit(t *testing.T) {
	f := newRevokeFixture(t)
	scoped := revocation.PolicyName("billing-reader")
	// As many renamed sessions as fit IAM's limit, to the character: the
	// target's own name is then one too many.
	doc := func(names []string) string {
		return revocation.DocumentOf(revocation.Revocation{Scope: revocation.Scope{SessionNames: names}, Cutoff: time.Now().Add(-time.Hour), MaxSession: 2 * time.Hour})
	}
	var names []string
	for i := 0; len(doc(names)) <= revocation.MaxRolePolicySize; i++ {
		names = append(names, fmt.Sprintf("renamed-%03d-%s", i, strings.Repeat("x", 52)))
	}
	names = names[:len(names)-1]
	for l := 64; l > 0; l-- {
		if more := append(slices.Clone(names), strings.Repeat("y", l)); len(doc(more)) <= revocation.MaxRolePolicySize {
			names = more
			break
		}
	}
	pile := doc(names)
	if len(pile) > revocation.MaxRolePolicySize || len(pile)+len(`,"*:stsrotator-billing-reader"`) <= revocation.MaxRolePolicySize {
		t.Fatalf("the piled-up revocation is %d characters; want it just inside IAM's limit", len(pile))
	}
	if _, err := f.iam.PutRolePolicy(awstest.Context(t), &iam.PutRolePolicyInput{RoleName: aws.String(revokeRole), PolicyName: aws.String(scoped), PolicyDocument: aws.String(pile)}); err != nil {
		t.Fatal(err)
	}
	before := f.policy(t, scoped)
	r := f.run(t, "", "revoke", "billing-reader", "--yes", "--function", f.fn)
	if r.code == ExitOK || !strings.Contains(r.stderr, "10,240") || !strings.Contains(r.stderr, "--all-sessions") {
		t.Fatalf("revoke past IAM's inline policy limit must refuse, naming the limit and --all-sessions: %+v", r)
	}
	after := f.policy(t, scoped)
	if !after.Cutoff.Equal(before.Cutoff) || !after.Scope.Equal(before.Scope) {
		t.Fatalf("the revocation in force changed: %+v → %+v", before, after)
	}
	if strings.Contains(r.stdout, "Rotated:") {
		t.Fatalf("nothing may be invoked when the revocation could not be written:\n%s", r.stdout)
	}
}
