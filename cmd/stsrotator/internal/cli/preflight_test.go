package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/stsrotator/stsrotator/cmd/stsrotator/internal/preflight"
	"github.com/stsrotator/stsrotator/infra/plan"
	"github.com/stsrotator/stsrotator/internal/mototest"
)

// accountSettings answers Lambda's GetAccountSettings, which moto 5.2.1
// does not implement (docs/local.md), with the API's documented shape.
type accountSettings struct{ limit, unreserved int32 }

func (a accountSettings) GetAccountSettings(context.Context, *lambda.GetAccountSettingsInput, ...func(*lambda.Options)) (*lambda.GetAccountSettingsOutput, error) {
	return &lambda.GetAccountSettingsOutput{AccountLimit: &lambdatypes.AccountLimit{ConcurrentExecutions: a.limit, UnreservedConcurrentExecutions: aws.Int32(a.unreserved)}}, nil
}

// preflight on a fresh account blocks with one line per missing thing;
// once each fix is applied, it exits 0.
func TestPreflightOnMoto(t *testing.T) {
	s := mototest.Start(t)
	ctx := context.Background()
	acct := mototest.Account
	src := `targets:
  - name: billing-reader
    roleArn: arn:aws:iam::` + acct + `:role/BillingReadOnly
    sessionTags: {purpose: reports}
    readers: [arn:aws:iam::` + acct + `:role/ReportsJob]
    logGroups: [/ecs/nightly-report]
  - name: audit-s3
    roleArn: arn:aws:iam::210987654321:role/AuditS3Reader
    readers: ["210987654321"]
`
	path := filepath.Join(t.TempDir(), "stsrotator.yaml")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	app := func() (*App, *syncBuffer, *syncBuffer) {
		out, errb := &syncBuffer{}, &syncBuffer{}
		a := New(out, errb)
		a.LoadAWS = func(context.Context, Globals) (aws.Config, error) { return s.Config(""), nil }
		a.PreflightClients = func(cfg aws.Config) preflight.Clients {
			c := PreflightClients(cfg)
			c.Lambda = accountSettings{limit: 1000, unreserved: 1000}
			return c
		}
		return a, out, errb
	}

	a, out, errb := app()
	r := execute(t, a, out, errb, "preflight", "--config", path)
	if r.code != ExitBlocked {
		t.Fatalf("fresh account: exit %d, want %d\n%s%s", r.code, ExitBlocked, r.stdout, r.stderr)
	}
	for _, want := range []string{
		"BLOCK bootstrap   CDKToolkit: the CDK bootstrap stack does not exist",
		"BLOCK log-group   /ecs/nightly-report: the log group does not exist",
		"BLOCK reader      arn:aws:iam::" + acct + ":role/ReportsJob: the role does not exist",
		"BLOCK trust       arn:aws:iam::" + acct + ":role/BillingReadOnly: target billing-reader's role does not exist",
		"SKIP  trust       arn:aws:iam::210987654321:role/AuditS3Reader",
		"OK    concurrency",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "4 block") || !strings.Contains(r.stderr, "fix the BLOCK lines") {
		t.Errorf("stderr %q", r.stderr)
	}

	// Apply each fix the lines gave.
	cfg := s.Config("")
	if _, err := cloudwatchlogs.NewFromConfig(cfg).CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String("/ecs/nightly-report")}); err != nil {
		t.Fatal(err)
	}
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acct + `:root"},"Action":["sts:AssumeRole","sts:TagSession"],` +
		`"Condition":{"ArnEquals":{"aws:PrincipalArn":"` + plan.RoleArn("aws", acct, plan.RotatorRoleName(plan.DefaultStackName, plan.ShardOf("billing-reader"))) + `"}}}]}`
	for _, role := range []string{"BillingReadOnly", "ReportsJob"} {
		if _, err := iam.NewFromConfig(cfg).CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(role), AssumeRolePolicyDocument: aws.String(trust)}); err != nil {
			t.Fatal(err)
		}
	}
	toolkit := `{"Resources":{"V":{"Type":"AWS::SSM::Parameter","Properties":{"Type":"String","Name":"/cdk-bootstrap/hnb659fds/version","Value":"30"}}},"Outputs":{"BootstrapVersion":{"Value":"30"}}}`
	if _, err := cloudformation.NewFromConfig(cfg).CreateStack(ctx, &cloudformation.CreateStackInput{StackName: aws.String("CDKToolkit"), TemplateBody: aws.String(toolkit)}); err != nil {
		t.Fatal(err)
	}

	a, out, errb = app()
	r = execute(t, a, out, errb, "preflight", "--config", path)
	if r.code != ExitOK || !strings.Contains(r.stdout, "nothing blocks the deploy") || !strings.Contains(r.stdout, "1 cannot check from here") {
		t.Fatalf("after the fixes: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	a, out, errb = app()
	r = execute(t, a, out, errb, "preflight", "--config", path, "--json")
	var fs []preflight.Finding
	if err := json.Unmarshal([]byte(r.stdout), &fs); err != nil || r.code != ExitOK || len(fs) != 9 || fs[0].Level != preflight.Skip {
		t.Fatalf("--json: exit %d, %v, %d findings\n%s", r.code, err, len(fs), r.stdout)
	}
	// The roles the plan creates are counted against the account's quota.
	if !strings.Contains(r.stdout, `"subject": "IAM roles"`) || !strings.Contains(r.stdout, "IAM roles of its 1000 (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html); the stack creates ") {
		t.Errorf("no roles-quota finding:\n%s", r.stdout)
	}
}

func TestPreflightUsage(t *testing.T) {
	a := New(&syncBuffer{}, &syncBuffer{})
	a.Stat = func(string) (os.FileInfo, error) { return nil, os.ErrNotExist }
	errb := &syncBuffer{}
	a.Stderr = errb
	if code := a.Run(context.Background(), []string{"preflight"}); code != ExitUsage || !strings.Contains(errb.String(), "no config to check") {
		t.Fatalf("exit %d: %s", code, errb)
	}
}
