package preflight_test

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/stsrotator/stsrotator/cmd/stsrotator/internal/preflight"
	"github.com/stsrotator/stsrotator/infra/plan"
	"github.com/stsrotator/stsrotator/internal/mototest"
	"github.com/stsrotator/stsrotator/shared/config"
)

// Proves: the fix preflight prints for a trust policy is one a user can
// apply as written (moto's IAM stores it; preflight then passes) and that
// keeps what the role owner asked for: a role trusting only one external
// ID still refuses any other after the fix; a Deny on a session tag the
// target sends blocks, and its fix says to change the Deny, because an
// Allow added beside it would change nothing.
func TestTrustFixesOnMoto(t *testing.T) {
	s := mototest.Start(t)
	ctx := context.Background()
	f := fixture{t: t, ctx: ctx, cfg: s.Config("")}
	iamc := iam.NewFromConfig(f.cfg)
	f.role("WithExternalID", trustDoc([]string{"sts:AssumeRole"}, map[string]map[string]any{"StringEquals": {"sts:ExternalId": "old-id"}}))
	denyTag := `{"Version":"2012-10-17","Statement":[` +
		`{"Sid":"Rotators","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acct + `:root"},"Action":["sts:AssumeRole","sts:TagSession"],"Condition":{"ArnEquals":{"aws:PrincipalArn":["` + assumer("tagged-prod") + `","` + assumer("tagged-dev") + `"]}}},` +
		`{"Sid":"NoProdTag","Effect":"Deny","Principal":{"AWS":"*"},"Action":"sts:TagSession","Condition":{"StringEquals":{"aws:RequestTag/Env":"prod"}}}]}`
	f.role("DenyProdTag", denyTag)
	f.role("DenyProdTag2", denyTag)
	cfg := load(t, `
targets:
  - name: ext
    roleArn: arn:aws:iam::`+acct+`:role/WithExternalID
    externalId: new-id
    sourceIdentity: rotator
  - name: tagged-prod
    roleArn: arn:aws:iam::`+acct+`:role/DenyProdTag
    sessionTags: {env: prod}
  - name: tagged-dev
    roleArn: arn:aws:iam::`+acct+`:role/DenyProdTag2
    sessionTags: {env: dev}
  - name: absent
    roleArn: arn:aws:iam::`+acct+`:role/team/Absent
    externalId: abs-id
`)
	run := func() map[string]preflight.Finding { return trustFindings(f, cfg) }
	role := func(n string) string { return "arn:aws:iam::" + acct + ":role/" + n }
	got := run()

	ext := got[role("WithExternalID")]
	wantStmt := `{"Action":["sts:AssumeRole","sts:SetSourceIdentity"],"Condition":{"ArnEquals":{"aws:PrincipalArn":"` + assumer("ext") + `"},"StringEquals":{"sts:ExternalId":"new-id"}},"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acct + `:root"},"Sid":"StsrotatorExt"}`
	if ext.Level != preflight.Block || !strings.Contains(ext.Fix, wantStmt) {
		t.Fatalf("wrong external ID: got %s\nwant BLOCK with fix %s", ext, wantStmt)
	}
	// Apply the fix as printed, alone, as a user would.
	stmt := ext.Fix[strings.Index(ext.Fix, "{") : strings.LastIndex(ext.Fix, "}")+1]
	doc := `{"Version":"2012-10-17","Statement":[` + stmt + `]}`
	if _, err := iamc.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String("WithExternalID"), PolicyDocument: aws.String(doc)}); err != nil {
		t.Fatalf("the printed fix is not a policy IAM stores: %v", err)
	}
	if g := run()[role("WithExternalID")]; g.Level != preflight.OK {
		t.Errorf("after applying the printed fix: %s, want OK", g)
	}
	out, err := iamc.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("WithExternalID")})
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := url.QueryUnescape(aws.ToString(out.Role.AssumeRolePolicyDocument))
	pol, err := preflight.ParseTrustPolicy(stored)
	if err != nil {
		t.Fatal(err)
	}
	other := pol.Allows(preflight.Caller{Account: acct, PrincipalArn: assumer("ext"), ExternalID: "guessed-id", SourceIdentity: "rotator"}, []string{"sts:AssumeRole"})
	if other[0].Verdict != preflight.No {
		t.Errorf("after the fix, a caller with another external ID is %v: the fix dropped the external-ID protection", other[0])
	}

	deny := got[role("DenyProdTag")]
	if deny.Level != preflight.Block || !strings.Contains(deny.Message, "denied by statement NoProdTag") ||
		!strings.Contains(deny.Fix, "remove or narrow Deny statement NoProdTag") || !strings.Contains(deny.Fix, "an Allow cannot override a Deny") {
		t.Errorf("a Deny on a tag the target sends (keys compared case-insensitively): %s", deny)
	}
	if g := got[role("DenyProdTag2")]; g.Level != preflight.OK {
		t.Errorf("a Deny on a tag value the target does not send: %s, want OK", g)
	}

	absent := got[role("team/Absent")]
	if absent.Level != preflight.Block || strings.Contains(absent.Fix, "trust policy for") {
		t.Fatalf("missing role: %s", absent)
	}
	// The printed command creates a role IAM accepts, whose trust passes.
	cmd := absent.Fix
	policy := cmd[strings.Index(cmd, "'")+1 : strings.LastIndex(cmd, "'")]
	var parsed map[string]any
	if err := json.Unmarshal([]byte(policy), &parsed); err != nil {
		t.Fatalf("the create-role fix's policy is not JSON: %v (%s)", err, cmd)
	}
	if !strings.Contains(cmd, "aws iam create-role --role-name Absent --path /team/ ") || !strings.Contains(policy, `"sts:ExternalId":"abs-id"`) ||
		!strings.Contains(policy, `"ArnEquals":{"aws:PrincipalArn":"`+assumer("absent")+`"}`) {
		t.Errorf("create-role fix: %s", cmd)
	}
	if _, err := iamc.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("Absent"), Path: aws.String("/team/"), AssumeRolePolicyDocument: aws.String(policy)}); err != nil {
		t.Fatalf("create the role as the fix says: %v", err)
	}
	if g := run()[role("team/Absent")]; g.Level != preflight.OK {
		t.Errorf("after creating the role as printed: %s, want OK", g)
	}
}

// Proves (issue 18's first finding): a target role that trusts the old
// rotator path pattern, or the stsrotator account's root with nothing
// narrowing it, is a BLOCK naming the risk, even though the real rotator
// could assume it: anyone in the account who may create a role could
// create one at /stsrotator/rotator/ and assume it. The printed fix is the
// exact statement `stsrotator trust` prints; once applied on moto,
// preflight passes, and the impostor role's ARN no longer matches it
// (evaluated with the same logic preflight uses).
func TestAbuse_RotatorPathImpersonation(t *testing.T) {
	s := mototest.Start(t)
	ctx := context.Background()
	f := fixture{t: t, ctx: ctx, cfg: s.Config("")}
	iamc := iam.NewFromConfig(f.cfg)
	f.role("OldPath", trustDoc([]string{"sts:AssumeRole"}, map[string]map[string]any{"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::" + acct + ":role/stsrotator/rotator/*"}}))
	f.role("RootOnly", trustDoc([]string{"sts:AssumeRole"}, nil))
	f.role("BareAccount", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"`+acct+`"},"Action":"sts:AssumeRole"}]}`)
	cfg := load(t, `
targets:
  - name: old-path
    roleArn: arn:aws:iam::`+acct+`:role/OldPath
  - name: root-only
    roleArn: arn:aws:iam::`+acct+`:role/RootOnly
  - name: bare-account
    roleArn: arn:aws:iam::`+acct+`:role/BareAccount
`)
	run := func() map[string]preflight.Finding { return trustFindings(f, cfg) }
	got := run()
	for _, c := range []struct{ role, target, say string }{
		{"OldPath", "old-path", "trusts a pattern (ArnLike aws:PrincipalArn arn:aws:iam::" + acct + ":role/stsrotator/rotator/*)"},
		{"RootOnly", "root-only", "trusts the account root arn:aws:iam::" + acct + ":root as Principal with no exact aws:PrincipalArn"},
		{"BareAccount", "bare-account", "trusts the account root " + acct + " as Principal"},
	} {
		g := got["arn:aws:iam::"+acct+":role/"+c.role]
		want := preflight.TrustStatement("aws", acct, plan.DefaultStackName, config.Target{Name: c.target})
		if g.Level != preflight.Block || !strings.Contains(g.Message, c.say) || !strings.Contains(g.Message, preflight.BroadTrustRisk(acct)) || !strings.Contains(g.Fix, want) {
			t.Errorf("%s: %s\nwant BLOCK saying %q, the risk, and the fix %s", c.role, g, c.say, want)
			continue
		}
		doc := `{"Version":"2012-10-17","Statement":[` + want + `]}`
		if _, err := iamc.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String(c.role), PolicyDocument: aws.String(doc)}); err != nil {
			t.Fatalf("%s: the printed statement is not a policy IAM stores: %v", c.role, err)
		}
		pol, err := preflight.ParseTrustPolicy(doc)
		if err != nil {
			t.Fatal(err)
		}
		impostor := "arn:aws:iam::" + acct + ":role/stsrotator/rotator/" + plan.RotatorRoleName(plan.DefaultStackName, plan.ShardOf(c.target))
		if v := pol.Allows(preflight.Caller{Account: acct, PrincipalArn: impostor}, []string{"sts:AssumeRole"}); v[0].Verdict != preflight.No {
			t.Errorf("%s: a role at the old rotator path with the rotator's name is %v by the fixed trust", c.role, v[0])
		}
	}
	after := run()
	for _, r := range []string{"OldPath", "RootOnly", "BareAccount"} {
		if g := after["arn:aws:iam::"+acct+":role/"+r]; g.Level != preflight.OK {
			t.Errorf("%s after applying the printed statement: %s, want OK", r, g)
		}
	}
}

// trustFindings runs preflight for cfg in f's moto account and returns
// its trust findings by subject (the role ARN).
func trustFindings(f fixture, cfg *config.Config) map[string]preflight.Finding {
	out := map[string]preflight.Finding{}
	for _, g := range preflight.Run(f.ctx, motoClients(f.cfg), preflight.Input{Config: cfg, StackName: plan.DefaultStackName, Functions: 2}) {
		if g.Check == preflight.CheckTrust {
			out[g.Subject] = g
		}
	}
	return out
}
