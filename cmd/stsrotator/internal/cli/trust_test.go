package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/stsrotator/stsrotator/cmd/stsrotator/internal/preflight"
	"github.com/stsrotator/stsrotator/infra/plan"
	"github.com/stsrotator/stsrotator/internal/mototest"
)

// trustConfig has a target of each shape the statement varies with.
const trustConfig = `targets:
  - name: plain
    roleArn: arn:aws:iam::%[1]s/Plain
  - name: tagged
    roleArn: arn:aws:iam::%[1]s/team/Tagged
    sessionTags: {purpose: reports}
    sourceIdentity: stsrotator
    externalId: ext-42
  - name: long
    roleArn: arn:aws:iam::%[1]s/Long
    sourceCredentials: iam-user
  - name: remote
    roleArn: arn:aws:iam::210987654321:role/Remote
`

func writeTrustConfig(t *testing.T, acct string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "stsrotator.yaml")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(trustConfig, "%[1]s", acct+":role")), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Proves: `stsrotator trust --target` prints exactly the trust each
// target needs: its own shard's rotator role by exact ARN (the source
// user's for iam-user), ExternalId, TagSession and SetSourceIdentity only
// where configured, and never a path wildcard.
func TestTrustStatementPerTarget(t *testing.T) {
	const acct = "111122223333"
	path := writeTrustConfig(t, acct)
	rotator := func(name string) string {
		return "arn:aws:iam::" + acct + ":role/" + plan.RotatorRoleName("prod", plan.ShardOf(name))
	}
	for _, c := range []struct {
		proves, target, want string
	}{
		{"a plain target: AssumeRole for its rotator role only", "plain",
			`{"Statement":[{"Action":"sts:AssumeRole","Condition":{"ArnEquals":{"aws:PrincipalArn":"` + rotator("plain") + `"}},"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acct + `:root"},"Sid":"StsrotatorPlain"}],"Version":"2012-10-17"}`},
		{"session tags, source identity and external ID add exactly their actions and condition", "tagged",
			`{"Statement":[{"Action":["sts:AssumeRole","sts:SetSourceIdentity","sts:TagSession"],"Condition":{"ArnEquals":{"aws:PrincipalArn":"` + rotator("tagged") + `"},"StringEquals":{"sts:ExternalId":"ext-42"}},"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acct + `:root"},"Sid":"StsrotatorTagged"}],"Version":"2012-10-17"}`},
		{"an iam-user target is assumed by the source user, so it trusts that user's exact ARN", "long",
			`{"Statement":[{"Action":"sts:AssumeRole","Condition":{"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::` + acct + `:user/prod-source"}},"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acct + `:root"},"Sid":"StsrotatorLong"}],"Version":"2012-10-17"}`},
	} {
		a, out, errb := New(&syncBuffer{}, &syncBuffer{}), &syncBuffer{}, &syncBuffer{}
		a.Stdout, a.Stderr = out, errb
		r := execute(t, a, out, errb, "trust", "--config", path, "--target", c.target, "--account", acct, "--stack", "prod")
		var got any
		if r.code != ExitOK || json.Unmarshal([]byte(r.stdout), &got) != nil {
			t.Fatalf("%s: exit %d\n%s%s", c.proves, r.code, r.stdout, r.stderr)
		}
		b, _ := json.Marshal(got)
		if string(b) != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.proves, b, c.want)
		}
		if strings.Contains(r.stdout, "*") || strings.Contains(r.stdout, "ArnLike") {
			t.Errorf("%s: a wildcard in %s", c.proves, r.stdout)
		}
	}
	// --all: every target role's policy, keyed by role ARN.
	a, out, errb := New(&syncBuffer{}, &syncBuffer{}), &syncBuffer{}, &syncBuffer{}
	a.Stdout, a.Stderr = out, errb
	r := execute(t, a, out, errb, "trust", "--config", path, "--all", "--account", acct, "--stack", "prod")
	var all map[string]struct{ Statement []map[string]any }
	if err := json.Unmarshal([]byte(r.stdout), &all); err != nil || r.code != ExitOK || len(all) != 4 {
		t.Fatalf("--all: exit %d, %d policies: %v\n%s", r.code, len(all), err, r.stdout)
	}
	if st := all["arn:aws:iam::210987654321:role/Remote"].Statement; len(st) != 1 || st[0]["Sid"] != "StsrotatorRemote" ||
		!strings.Contains(fmt.Sprint(st[0]["Condition"]), rotator("remote")) {
		t.Errorf("--all: the cross-account role's policy %v", st)
	}
	for _, c := range []struct {
		args []string
		code int
		say  string
	}{
		{[]string{"--target", "ghost", "--account", acct}, ExitNotFound, `target "ghost" is not declared`},
		{[]string{"--all", "--target", "plain", "--account", acct}, ExitUsage, "--target NAME, or every target with --all"},
		{[]string{"--all", "--format", "cloudformation", "--account", acct}, ExitUsage, "--out DIR"},
		{[]string{"--target", "plain", "--account", "12"}, ExitUsage, "12 digits"},
		// A new user without a region or credentials is told the
		// offline way first, not only how to set a region.
		{[]string{"--target", "plain"}, ExitUsage, "find the stack's account (or pass --account ID): no AWS region"},
	} {
		a, out, errb := New(&syncBuffer{}, &syncBuffer{}), &syncBuffer{}, &syncBuffer{}
		a.Stdout, a.Stderr = out, errb
		a.LoadAWS = func(context.Context, Globals) (aws.Config, error) {
			return aws.Config{}, coded(ExitUsage, errors.New("no AWS region (fix: pass --region, set AWS_REGION, or set region in the profile)"))
		}
		r := execute(t, a, out, errb, append([]string{"trust", "--config", path}, c.args...)...)
		if r.code != c.code || !strings.Contains(r.stderr, c.say) {
			t.Errorf("%v: exit %d %q, want %d %q", c.args, r.code, r.stderr, c.code, c.say)
		}
	}
}

// Proves (issue 18's proof on moto): the roles created with exactly what
// `stsrotator trust` prints pass preflight's trust check, with the
// account read from the caller's credentials; `--all --format
// cloudformation` writes one template per account that cfn-lint accepts
// and that moto's CloudFormation deploys into roles preflight passes too.
func TestTrustOutputPassesPreflightOnMoto(t *testing.T) {
	s := mototest.Start(t)
	ctx := context.Background()
	acct := mototest.Account
	cfg := s.Config("")
	path := writeTrustConfig(t, acct)
	app := func() (*App, *syncBuffer, *syncBuffer) {
		out, errb := &syncBuffer{}, &syncBuffer{}
		a := New(out, errb)
		a.LoadAWS = func(context.Context, Globals) (aws.Config, error) { return cfg, nil }
		a.PreflightClients = func(c aws.Config) preflight.Clients {
			pc := PreflightClients(c)
			pc.Lambda = accountSettings{limit: 1000, unreserved: 1000}
			return pc
		}
		return a, out, errb
	}
	iamc := iam.NewFromConfig(cfg)
	for _, c := range []struct{ target, name, rolePath string }{{"plain", "Plain", "/"}, {"tagged", "Tagged", "/team/"}, {"long", "Long", "/"}} {
		a, out, errb := app()
		r := execute(t, a, out, errb, "trust", "--config", path, "--target", c.target)
		if r.code != ExitOK {
			t.Fatalf("trust %s: exit %d\n%s", c.target, r.code, r.stderr)
		}
		if _, err := iamc.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(c.name), Path: aws.String(c.rolePath), AssumeRolePolicyDocument: aws.String(r.stdout), MaxSessionDuration: aws.Int32(3600)}); err != nil {
			t.Fatalf("create %s with the printed trust: %v", c.name, err)
		}
	}
	a, out, errb := app()
	r := execute(t, a, out, errb, "preflight", "--config", path, "--json")
	var fs []preflight.Finding
	if err := json.Unmarshal([]byte(r.stdout), &fs); err != nil {
		t.Fatalf("preflight --json: %v\n%s%s", err, r.stdout, r.stderr)
	}
	trusted := 0
	for _, f := range fs {
		if f.Check != preflight.CheckTrust {
			continue
		}
		switch {
		case strings.HasSuffix(f.Subject, ":role/Remote"):
			if f.Level != preflight.Skip || !strings.Contains(f.Fix, "stsrotator trust --target remote") {
				t.Errorf("the cross-account role: %s", f)
			}
		case f.Level != preflight.OK:
			t.Errorf("a role created with the printed trust: %s", f)
		default:
			trusted++
		}
	}
	if trusted != 3 {
		t.Errorf("%d trust findings OK, want 3: %v", trusted, fs)
	}

	dir := t.TempDir()
	a, out, errb = app()
	r = execute(t, a, out, errb, "trust", "--config", path, "--all", "--format", "cloudformation", "--out", dir)
	if r.code != ExitOK || !strings.Contains(r.stdout, "3 target roles of account "+acct) || !strings.Contains(r.stdout, "1 target roles of account 210987654321") {
		t.Fatalf("--all --format cloudformation: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	local := filepath.Join(dir, acct+".template.json")
	if _, err := exec.LookPath("cfn-lint"); err == nil {
		if b, err := exec.Command("cfn-lint", "--", local, filepath.Join(dir, "210987654321.template.json")).CombinedOutput(); err != nil {
			t.Errorf("cfn-lint rejects the trust templates: %v\n%s", err, b)
		}
	} else {
		t.Fatalf("cfn-lint is needed (.ci/run installs it): %v", err)
	}
	// Deployed as-is (moto's CloudFormation creates the roles): the same
	// trust, so preflight passes for a second copy of the stack's targets.
	for _, n := range []string{"Plain", "Tagged", "Long"} {
		if _, err := iamc.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: aws.String(n)}); err != nil {
			t.Fatal(err)
		}
	}
	body, err := os.ReadFile(local)
	if err != nil {
		t.Fatal(err)
	}
	cf := cloudformation.NewFromConfig(cfg)
	if _, err := cf.CreateStack(ctx, &cloudformation.CreateStackInput{StackName: aws.String("stsrotator-trust"), TemplateBody: aws.String(string(body)),
		Capabilities: []cftypes.Capability{cftypes.CapabilityCapabilityNamedIam}}); err != nil {
		t.Fatalf("deploy the trust template: %v", err)
	}
	a, out, errb = app()
	r = execute(t, a, out, errb, "preflight", "--config", path, "--json")
	fs = nil
	if err := json.Unmarshal([]byte(r.stdout), &fs); err != nil {
		t.Fatalf("preflight --json: %v\n%s%s", err, r.stdout, r.stderr)
	}
	for _, f := range fs {
		if f.Check == preflight.CheckTrust && !strings.HasSuffix(f.Subject, ":role/Remote") && f.Level != preflight.OK {
			t.Errorf("a role the trust template created: %s", f)
		}
	}
}
