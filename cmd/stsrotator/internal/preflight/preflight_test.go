package preflight_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/stsrotator/stsrotator/cmd/stsrotator/internal/preflight"
	"github.com/stsrotator/stsrotator/infra/plan"
	"github.com/stsrotator/stsrotator/internal/mototest"
	"github.com/stsrotator/stsrotator/shared/config"
)

const acct = mototest.Account

// assumer is the exact ARN that calls AssumeRole for the named (role
// credentials) target of the default stack in the moto account.
func assumer(target string) string {
	return plan.AssumerArn("aws", acct, plan.DefaultStackName, config.Target{Name: target})
}

// exactly is the trust condition that narrows the account root to the
// assumers of the named targets.
func exactly(targets ...string) map[string]map[string]any {
	arns := make([]string, len(targets))
	for i, t := range targets {
		arns[i] = assumer(t)
	}
	return map[string]map[string]any{"ArnEquals": {"aws:PrincipalArn": arns}}
}

// trustDoc is a trust policy with one Allow statement for the account,
// narrowed by the given conditions.
func trustDoc(actions []string, cond map[string]map[string]any) string {
	st := map[string]any{"Effect": "Allow", "Principal": map[string]any{"AWS": "arn:aws:iam::" + acct + ":root"}, "Action": actions}
	if cond != nil {
		st["Condition"] = cond
	}
	b, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": []any{st}})
	return string(b)
}

// motoClients are preflight's clients against the emulator behind cfg,
// with a Lambda account of 1,000 concurrent executions, all unreserved
// (see accountSettings).
func motoClients(cfg aws.Config) preflight.Clients {
	return preflight.Clients{STS: sts.NewFromConfig(cfg), IAM: iam.NewFromConfig(cfg), Logs: cloudwatchlogs.NewFromConfig(cfg),
		Lambda: accountSettings{limit: 1000, unreserved: 1000}, CloudFormation: cloudformation.NewFromConfig(cfg), Secrets: secretsmanager.NewFromConfig(cfg)}
}

// AccountSettings stands in for Lambda's GetAccountSettings, which moto
// 5.2.1 does not implement (404; docs/local.md); it answers with the
// documented shape of the API's response.
type accountSettings struct{ limit, unreserved int32 }

func (a accountSettings) GetAccountSettings(context.Context, *lambda.GetAccountSettingsInput, ...func(*lambda.Options)) (*lambda.GetAccountSettingsOutput, error) {
	return &lambda.GetAccountSettingsOutput{AccountLimit: &lambdatypes.AccountLimit{ConcurrentExecutions: a.limit, UnreservedConcurrentExecutions: aws.Int32(a.unreserved)}}, nil
}

type fixture struct {
	t   *testing.T
	ctx context.Context
	cfg aws.Config
}

func (f fixture) role(name, doc string) {
	f.t.Helper()
	_, err := iam.NewFromConfig(f.cfg).CreateRole(f.ctx, &iam.CreateRoleInput{RoleName: aws.String(name), AssumeRolePolicyDocument: aws.String(doc)})
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() == "EntityAlreadyExists" {
		// The SDK retries a request whose connection broke; on a loaded
		// machine moto can create the role and drop the answer, and the
		// retry then meets the role the first try made. The server is the
		// test's own and fresh, so the role is this call's.
		return
	}
	if err != nil {
		f.t.Fatalf("create role %s: %v", name, err)
	}
}

func (f fixture) logGroup(name string, destinations ...string) {
	f.t.Helper()
	logs := cloudwatchlogs.NewFromConfig(f.cfg)
	if _, err := logs.CreateLogGroup(f.ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(name)}); err != nil {
		f.t.Fatal(err)
	}
	for i, d := range destinations {
		_, err := logs.PutSubscriptionFilter(f.ctx, &cloudwatchlogs.PutSubscriptionFilterInput{
			LogGroupName: aws.String(name), FilterName: aws.String(fmt.Sprintf("filter-%d", i)), FilterPattern: aws.String(""),
			DestinationArn: aws.String("arn:aws:lambda:" + mototest.Region + ":" + acct + ":function:" + d),
		})
		if err != nil {
			f.t.Fatalf("subscribe %s to %s: %v", name, d, err)
		}
	}
}

// function creates a Lambda function in moto, which refuses a
// subscription filter whose destination does not exist.
func (f fixture) function(name string) {
	f.t.Helper()
	var zb bytes.Buffer
	zw := zip.NewWriter(&zb)
	w, _ := zw.Create("bootstrap")
	_, _ = w.Write([]byte("#!/bin/sh\n"))
	_ = zw.Close()
	_, err := lambda.NewFromConfig(f.cfg).CreateFunction(f.ctx, &lambda.CreateFunctionInput{
		FunctionName: aws.String(name), Role: aws.String("arn:aws:iam::" + acct + ":role/FunctionRole"),
		Runtime: lambdatypes.RuntimeProvidedal2023, Handler: aws.String("bootstrap"), Code: &lambdatypes.FunctionCode{ZipFile: zb.Bytes()},
	})
	if err != nil {
		f.t.Fatalf("create function %s: %v", name, err)
	}
}

func load(t *testing.T, src string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("preflight.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// Every check, against accounts built on moto: each line a user would
// read, its level and its fix.
func TestRunOnMoto(t *testing.T) {
	s := mototest.Start(t)
	ctx := context.Background()
	f := fixture{t: t, ctx: ctx, cfg: s.Config("")}
	f.role("FunctionRole", trustDoc([]string{"sts:AssumeRole"}, nil))
	f.role("Trusting", trustDoc([]string{"sts:AssumeRole", "sts:TagSession"}, exactly("trusted")))
	f.role("NoTagSession", trustDoc([]string{"sts:AssumeRole"}, exactly("tags-not-trusted")))
	f.role("OtherPath", trustDoc([]string{"sts:AssumeRole"}, map[string]map[string]any{"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::" + acct + ":role/ci/*"}}))
	extTrust := exactly("right-external-id", "wrong-external-id")
	extTrust["StringEquals"] = map[string]any{"sts:ExternalId": "shared-secret-id"}
	f.role("WithExternalID", trustDoc([]string{"sts:AssumeRole"}, extTrust))
	byTag := exactly("by-tag")
	byTag["StringEquals"] = map[string]any{"aws:PrincipalTag/team": "platform"}
	f.role("ByTag", trustDoc([]string{"sts:AssumeRole"}, byTag))
	f.role("Consumer", trustDoc([]string{"sts:AssumeRole"}, nil))
	if _, err := iam.NewFromConfig(f.cfg).CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("ci-user")}); err != nil {
		t.Fatal(err)
	}
	for _, fn := range []string{plan.LogWatchFunctionName(plan.DefaultStackName), "team-a-shipper", "team-b-shipper"} {
		f.function(fn)
	}
	f.logGroup("/app/free", "team-a-shipper")
	f.logGroup("/app/full", "team-a-shipper", "team-b-shipper")
	f.logGroup("/app/ours", "team-a-shipper", plan.LogWatchFunctionName(plan.DefaultStackName))

	// Secret names: one free-standing secret, one scheduled for deletion,
	// one this stack still holds and one it left behind.
	sm := secretsmanager.NewFromConfig(f.cfg)
	cf := cloudformation.NewFromConfig(f.cfg)
	shard, err := cf.CreateStack(ctx, &cloudformation.CreateStackInput{StackName: aws.String(plan.DefaultStackName + "-Shard001NestedStack-ABC"),
		TemplateBody: aws.String(`{"Resources":{"SecretOtherPath":{"Type":"AWS::SSM::Parameter","Properties":{"Type":"String","Name":"/stand-in","Value":"1"}}}}`)})
	if err != nil {
		t.Fatal(err)
	}
	secret := func(name string, tags ...string) {
		t.Helper()
		var ts []smtypes.Tag
		for i := 0; i+1 < len(tags); i += 2 {
			ts = append(ts, smtypes.Tag{Key: aws.String(tags[i]), Value: aws.String(tags[i+1])})
		}
		if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String("{}"), Tags: ts}); err != nil {
			t.Fatal(err)
		}
	}
	secret("stsrotator/trusted")
	secret("stsrotator/tags-not-trusted")
	if _, err := sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("stsrotator/tags-not-trusted"), RecoveryWindowInDays: aws.Int64(7)}); err != nil {
		t.Fatal(err)
	}
	secret("stsrotator/other-path", "aws:cloudformation:stack-id", aws.ToString(shard.StackId), "aws:cloudformation:logical-id", "SecretOtherPath")
	secret("stsrotator/by-tag", "aws:cloudformation:stack-id", aws.ToString(shard.StackId), "aws:cloudformation:logical-id", "SecretByTag")
	secret("stsrotator/absent", "stsrotator:managed-by", "stsrotator", "stsrotator:target", "absent")

	cfg := load(t, `
targets:
  - name: trusted
    roleArn: arn:aws:iam::`+acct+`:role/Trusting
    sessionTags: {purpose: test}
    readers: [arn:aws:iam::`+acct+`:role/Consumer, arn:aws:iam::`+acct+`:user/ci-user, "`+acct+`"]
    logGroups: [/app/free, /app/ours]
  - name: tags-not-trusted
    roleArn: arn:aws:iam::`+acct+`:role/path/NoTagSession
    sessionTags: {purpose: test}
    readers: [arn:aws:iam::`+acct+`:role/Ghost, arn:aws:iam::`+acct+`:user/ghost-user, arn:aws:iam::210987654321:role/Elsewhere]
    logGroups: [/app/full, /app/missing]
  - name: other-path
    roleArn: arn:aws:iam::`+acct+`:role/OtherPath
  - name: right-external-id
    roleArn: arn:aws:iam::`+acct+`:role/WithExternalID
    externalId: shared-secret-id
  - name: wrong-external-id
    roleArn: arn:aws:iam::`+acct+`:role/WithExternalID
    externalId: another-id
  - name: by-tag
    roleArn: arn:aws:iam::`+acct+`:role/ByTag
  - name: absent
    roleArn: arn:aws:iam::`+acct+`:role/Absent
  - name: cross-account
    roleArn: arn:aws:iam::210987654321:role/Remote
`)
	clients := motoClients(f.cfg)
	in := preflight.Input{Config: cfg, StackName: plan.DefaultStackName, Functions: 3, Reserved: 1}
	got := preflight.Run(ctx, clients, in)
	lines := map[string]preflight.Finding{}
	for _, g := range got {
		lines[g.Check+" "+g.Subject] = g
	}
	role := func(n string) string { return "arn:aws:iam::" + acct + ":role/" + n }
	cases := []struct {
		key   string
		level preflight.Level
		say   []string
		why   string
	}{
		{"bootstrap CDKToolkit", preflight.Block, []string{"does not exist", "npx cdk bootstrap"}, "an unbootstrapped account blocks the deploy"},
		{"concurrency Lambda", preflight.OK, []string{"1000 unreserved"}, "a default account has headroom"},
		{"log-group /app/free", preflight.OK, []string{"1 of 2 subscription filters used"}, "one foreign filter leaves our slot"},
		{"log-group /app/ours", preflight.OK, []string{"already subscribed by this stack"}, "our own filter counts as ours, not as a third"},
		{"log-group /app/full", preflight.Block, []string{"already has 2 subscription filters (filter-0, filter-1)", "delete-subscription-filter", "tags-not-trusted"}, "two foreign filters leave none"},
		{"log-group /app/missing", preflight.Block, []string{"does not exist", "aws logs create-log-group --log-group-name /app/missing"}, "a missing group fails the subscription"},
		{"reader " + role("Consumer"), preflight.OK, []string{"exists"}, "an existing reader role"},
		{"reader arn:aws:iam::" + acct + ":user/ci-user", preflight.OK, []string{"exists"}, "an existing reader user"},
		{"reader " + role("Ghost"), preflight.Block, []string{"does not exist", "Secrets Manager refuses"}, "a missing reader role fails the secret policy"},
		{"reader arn:aws:iam::" + acct + ":user/ghost-user", preflight.Block, []string{"user does not exist"}, "a missing reader user too"},
		{"reader arn:aws:iam::210987654321:role/Elsewhere", preflight.Skip, []string{"cannot check from here"}, "other accounts cannot be read"},
		{"trust " + role("Trusting"), preflight.OK, []string{"sts:AssumeRole, sts:TagSession"}, "the documented trust statement passes, session tags included"},
		{"trust " + role("path/NoTagSession"), preflight.Block, []string{"sts:TagSession (no statement allows it)", `"Action":["sts:AssumeRole","sts:TagSession"]`, assumer("tags-not-trusted")}, "session tags need sts:TagSession in the trust policy"},
		{"trust " + role("OtherPath"), preflight.Block, []string{"trusts a pattern (ArnLike aws:PrincipalArn arn:aws:iam::" + acct + ":role/ci/*)", "can create a role", "stsrotator trust --target other-path", assumer("other-path")}, "a path pattern is a blocking risk whatever it matches"},
		{"trust " + role("Absent"), preflight.Block, []string{"does not exist"}, "a missing target role"},
		{"trust " + role("ByTag"), preflight.Warn, []string{"aws:PrincipalTag/team"}, "a condition preflight cannot evaluate is a warning, not a pass"},
		{"trust arn:aws:iam::210987654321:role/Remote", preflight.Skip, []string{"cannot check its trust policy from here"}, "cross-account targets"},
		{"secret-name stsrotator/trusted", preflight.Block, []string{"taken by an existing secret, not created by CloudFormation or stsrotator", "ResourceExistsException", "--force-delete-without-recovery"}, "a secret made outside the stack holds the name"},
		{"secret-name stsrotator/absent", preflight.Warn, []string{"tagged by stsrotator but not by CloudFormation", "describe-stack-resources --physical-resource-id arn:aws:secretsmanager:"}, "ours by its tags, but not provably the stack's: a warning, not a block"},
		{"secret-name stsrotator/tags-not-trusted", preflight.Block, []string{"scheduled for deletion", "restore-secret"}, "a name held until a scheduled deletion ends"},
		{"secret-name stsrotator/by-tag", preflight.Block, []string{"left behind by CloudFormation stack " + plan.DefaultStackName + "-Shard001NestedStack-ABC"}, "an orphan the stack retained when its target was removed"},
		{"secret-name 8 targets", preflight.OK, []string{"3 secret names free, 1 already held by this stack"}, "the stack's own secret is no obstacle to a redeploy"},
	}
	for _, c := range cases {
		g, ok := lines[c.key]
		if !ok {
			t.Errorf("%s: no finding for %q", c.why, c.key)
			continue
		}
		if g.Level != c.level {
			t.Errorf("%s: %s is %s, want %s: %s", c.why, c.key, g.Level, c.level, g)
		}
		for _, w := range c.say {
			if !strings.Contains(g.String(), w) {
				t.Errorf("%s: %q lacks %q", c.why, g, w)
			}
		}
	}
	// The same role reached by two targets: right and wrong external ID.
	var ext []string
	for _, g := range got {
		if g.Subject == role("WithExternalID") {
			ext = append(ext, g.Level.String()+" "+g.Message)
		}
	}
	if len(ext) != 2 || !strings.Contains(strings.Join(ext, "|"), "OK target right-external-id") ||
		!strings.Contains(strings.Join(ext, "|"), "BLOCK target wrong-external-id: the trust policy does not let its rotator role "+assumer("wrong-external-id")+" sts:AssumeRole (statement Statement[0] condition StringEquals sts:ExternalId does not hold)") {
		t.Errorf("external ID findings: %q", ext)
	}
	if got[0].Level != preflight.Block || preflight.Worst(got) != preflight.Block {
		t.Errorf("blocking findings must come first: %v", got[0])
	}
}

// The bootstrap stack exists but is older than the templates need, then
// current: the version is read from its BootstrapVersion output.
func TestBootstrapVersionOnMoto(t *testing.T) {
	s := mototest.Start(t)
	ctx := context.Background()
	cf := cloudformation.NewFromConfig(s.Config(""))
	stack := func(name string, version int) {
		t.Helper()
		tpl := fmt.Sprintf(`{"Resources":{"Version":{"Type":"AWS::SSM::Parameter","Properties":{"Type":"String","Name":"/cdk-bootstrap/%s/version","Value":"%d"}}},
"Outputs":{"BootstrapVersion":{"Value":"%d"}}}`, strings.ToLower(name), version, version)
		if _, err := cf.CreateStack(ctx, &cloudformation.CreateStackInput{StackName: aws.String(name), TemplateBody: aws.String(tpl)}); err != nil {
			t.Fatal(err)
		}
	}
	stack("OldToolkit", 5)
	stack("CDKToolkit", 30)
	cfg := load(t, "targets:\n  - name: a\n    roleArn: arn:aws:iam::210987654321:role/A\n")
	clients := motoClients(s.Config(""))
	for _, c := range []struct {
		toolkit string
		level   preflight.Level
		say     string
	}{
		{"OldToolkit", preflight.Block, "bootstrap version 5 is older than the 6 the templates require"},
		{"", preflight.OK, "CDKToolkit: the CDK bootstrap stack is CREATE_COMPLETE"},
	} {
		got := preflight.Run(ctx, clients, preflight.Input{Config: cfg, StackName: "stsrotator", ToolkitStackName: c.toolkit, Functions: 2})
		found := false
		for _, g := range got {
			if g.Check == preflight.CheckBootstrap {
				found = true
				if g.Level != c.level || !strings.Contains(g.String(), c.say) {
					t.Errorf("toolkit %q: %s, want %s %q", c.toolkit, g, c.level, c.say)
				}
			}
		}
		if !found {
			t.Errorf("toolkit %q: no bootstrap finding in %v", c.toolkit, got)
		}
	}
}

func TestConcurrencyFinding(t *testing.T) {
	for _, c := range []struct {
		why                                    string
		limit, unreserved, reserved, functions int
		level                                  preflight.Level
		say                                    string
	}{
		{"a new account (quota 10) cannot reserve any concurrency", 10, 10, 1, 4, preflight.Block, "Lambda keeps 100 unreserved"},
		{"reserving exactly down to 100 unreserved is allowed", 1000, 101, 1, 4, preflight.OK, "101 unreserved"},
		{"one below is refused", 1000, 100, 1, 4, preflight.Block, "only 100 of 1000 are unreserved"},
		{"nothing reserved: a small account works, sweeps are throttled", 10, 10, 0, 40, preflight.Warn, "sweeps will be throttled"},
		{"nothing reserved, enough headroom", 1000, 900, 0, 40, preflight.OK, "for 40 functions"},
	} {
		got := preflight.ConcurrencyFinding(c.limit, c.unreserved, c.reserved, c.functions)
		if got.Level != c.level || !strings.Contains(got.String(), c.say) {
			t.Errorf("%s: %s, want %s %q", c.why, got, c.level, c.say)
		}
		if got.Level != preflight.OK && !strings.Contains(got.Fix, "L-B99A9384") {
			t.Errorf("%s: fix %q does not name the quota", c.why, got.Fix)
		}
	}
}
