package preflight_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/stsrotator/stsrotator/cmd/stsrotator/internal/preflight"
	"github.com/stsrotator/stsrotator/infra/plan"
	"github.com/stsrotator/stsrotator/internal/mototest"
)

// Proves: preflight counts every role of the account (more than one
// ListRoles page) against IAM's roles-per-account quota (1,000 by
// default, as moto reports it): the stack's roles exactly filling the
// quota pass, one more blocks with the quota's fix, and roles already
// under the stack's path (a redeploy) make it a warning.
func TestRolesQuotaOnMoto(t *testing.T) {
	s := mototest.Start(t)
	ctx := context.Background()
	cfg := s.Config("")
	iamc := iam.NewFromConfig(cfg)
	const existing = 120 // over one ListRoles page (100)
	for i := range existing {
		if _, err := iamc.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(fmt.Sprintf("Existing%03d", i)), AssumeRolePolicyDocument: aws.String(trustDoc([]string{"sts:AssumeRole"}, nil))}); err != nil {
			t.Fatal(err)
		}
	}
	clients := motoClients(cfg)
	conf := load(t, "targets:\n  - name: a\n    roleArn: arn:aws:iam::210987654321:role/A\n")
	finding := func(stackRoles int) preflight.Finding {
		for _, g := range preflight.Run(ctx, clients, preflight.Input{Config: conf, StackName: "stsrotator", Functions: 2, Roles: stackRoles}) {
			if g.Subject == "IAM roles" {
				return g
			}
		}
		t.Fatal("no IAM roles finding")
		return preflight.Finding{}
	}
	for _, c := range []struct {
		proves string
		roles  int
		level  preflight.Level
		say    string
	}{
		{"the stack's roles exactly fill the quota", 1000 - existing, preflight.OK, "the account has 120 IAM roles of its 1000"},
		{"one more role than the quota leaves", 1000 - existing + 1, preflight.Block, "the stack creates 881"},
	} {
		g := finding(c.roles)
		if g.Level != c.level || !strings.Contains(g.String(), c.say) || c.level == preflight.Block && !strings.Contains(g.Fix, "Roles in an AWS account") {
			t.Errorf("%s: %s, want %s %q", c.proves, g, c.level, c.say)
		}
	}
	if _, err := iamc.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(plan.RotatorRoleName(plan.DefaultStackName, 7)), AssumeRolePolicyDocument: aws.String(trustDoc([]string{"sts:AssumeRole"}, nil))}); err != nil {
		t.Fatal(err)
	}
	if g := finding(1000 - existing); g.Level != preflight.Warn || !strings.Contains(g.Message, "1 are already named stsrotator-…") {
		t.Errorf("a redeploy over the quota: %s, want WARN", g)
	}
}
