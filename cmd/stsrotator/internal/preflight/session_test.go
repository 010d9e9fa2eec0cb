package preflight_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/stsrotator/stsrotator/cmd/stsrotator/internal/preflight"
	"github.com/stsrotator/stsrotator/infra/plan"
	"github.com/stsrotator/stsrotator/internal/mototest"
)

// An iam-user target's role must allow its durationSeconds
// (MaxSessionDuration) and trust the source user, not the rotator roles;
// preflight blocks with the update-role command otherwise.
func TestIAMUserTargetsOnMoto(t *testing.T) {
	s := mototest.Start(t)
	ctx := context.Background()
	cfg := s.Config("")
	user := plan.UserArn("aws", acct, plan.SourceUserName(plan.DefaultStackName))
	trustUser := trustDoc([]string{"sts:AssumeRole"}, map[string]map[string]any{"ArnEquals": {"aws:PrincipalArn": user}})
	for name, max := range map[string]int32{"Long": 43200, "Short": 3600} {
		if _, err := iam.NewFromConfig(cfg).CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(name), AssumeRolePolicyDocument: aws.String(trustUser), MaxSessionDuration: aws.Int32(max)}); err != nil {
			t.Fatal(err)
		}
	}
	conf := load(t, `
defaults:
  sourceCredentials: iam-user
  durationSeconds: 43200
targets:
  - name: long
    roleArn: arn:aws:iam::`+acct+`:role/Long
  - name: short
    roleArn: arn:aws:iam::`+acct+`:role/Short
`)
	clients := motoClients(cfg)
	got := map[string]preflight.Finding{}
	for _, f := range preflight.Run(ctx, clients, preflight.Input{Config: conf, StackName: plan.DefaultStackName, Functions: 3, Reserved: 1}) {
		got[f.Check+" "+f.Subject] = f
	}
	long, short := got["session arn:aws:iam::"+acct+":role/Long"], got["session arn:aws:iam::"+acct+":role/Short"]
	if long.Level != preflight.OK {
		t.Errorf("a 12 h role: %v", long)
	}
	if short.Level != preflight.Block || !strings.Contains(short.Message, "MaxSessionDuration is 3600") || !strings.Contains(short.Fix, "aws iam update-role --role-name Short --max-session-duration 43200") {
		t.Errorf("a 1 h role asked for 12 h: %v", short)
	}
	// moto answers GetAccountSummary with IAM's default UsersQuota.
	if q := got["quota stsrotator-source"]; q.Level != preflight.OK || !strings.Contains(q.Message, "room for the source user: 0 IAM users of 5000") {
		t.Errorf("the IAM users quota: %v", q)
	}
	if tr := got["trust arn:aws:iam::"+acct+":role/Long"]; tr.Level != preflight.OK {
		t.Errorf("a role trusting the source user's exact ARN is what iam-user targets need: %v", tr)
	}
}
