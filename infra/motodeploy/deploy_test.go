package motodeploy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/stsrotator/stsrotator/infra/plan"
	"github.com/stsrotator/stsrotator/infra/plan/plantest"
	"github.com/stsrotator/stsrotator/internal/awstest"
	"github.com/stsrotator/stsrotator/internal/iameval"
	"github.com/stsrotator/stsrotator/internal/mototest"
	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/lambdaenv"
	"github.com/stsrotator/stsrotator/shared/secretfmt"
)

func TestMain(m *testing.M) { awstest.Main(m) }

// motoSkips are the resource types moto 5.2.1's CloudFormation engine
// accepts and reports CREATE_COMPLETE without creating anything (its
// stack lists them with an empty logical ID). docs/local.md lists them;
// the test checks each from the deployed template instead.
var motoSkips = map[string]bool{
	"AWS::SecretsManager::Secret":         true,
	"AWS::SecretsManager::ResourcePolicy": true,
	"AWS::CloudWatch::Alarm":              true,
	"AWS::Lambda::EventInvokeConfig":      true,
	"AWS::Scheduler::Schedule":            true,
	"AWS::SNS::TopicPolicy":               true,
	"AWS::SNS::Subscription":              true,
	"AWS::SQS::QueuePolicy":               true,
	"AWS::Logs::SubscriptionFilter":       true,
	"AWS::Events::EventBusPolicy":         true,
}

// unsupportedNote is what moto logs for each resource it skips.
const unsupportedNote = "No Moto CloudFormation support for "

// cdkEnv is the environment of the CDK CLI: this process's, with AWS
// pointed at moto. moto reads a nested stack's TemplateURL from its own
// S3 only when the endpoint's host is "localhost".
func cdkEnv(s *mototest.Server) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	for _, kv := range s.Env() {
		if strings.HasPrefix(kv, "AWS_ENDPOINT_URL=") {
			kv = fmt.Sprintf("AWS_ENDPOINT_URL=http://localhost:%d", s.Port)
		}
		env = append(env, kv)
	}
	// As the Makefile exports them: no version check, no jsii Node banner.
	return append(env, "CDK_DISABLE_VERSION_CHECK=1", "JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION=1",
		"JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION=1", "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=18,20")
}

// cdk runs the CLI pinned in package-lock.json (what `npx --no-install
// cdk` runs) in dir.
func cdk(t testing.TB, root, dir string, env []string, args ...string) (string, time.Duration) {
	t.Helper()
	bin := filepath.Join(root, "node_modules", ".bin", "cdk")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("the CDK CLI is not installed (fix: npm ci --no-audit --no-fund): %v", err)
	}
	cmd := exec.Command(bin, append(args, "--no-notices")...)
	cmd.Dir, cmd.Env = dir, env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	if err != nil {
		t.Fatalf("cdk %s: %v (after %s)\n%s", strings.Join(args, " "), err, took.Round(time.Second), tail(out.String(), 6000))
	}
	return out.String(), took
}

// phases picks the CLI's own timings ("Synthesis time: 25.1s",
// "Deployment time: 89.4s") out of its output.
func phases(out string) string {
	var got []string
	for _, line := range strings.Split(out, "\n") {
		if i := strings.Index(line, "Synthesis time:"); i >= 0 {
			got = append(got, "synth "+strings.TrimSpace(line[i+len("Synthesis time:"):]))
		}
		if i := strings.Index(line, "Deployment time:"); i >= 0 {
			got = append(got, "CloudFormation on moto "+strings.TrimSpace(line[i+len("Deployment time:"):]))
		}
	}
	return strings.Join(got, ", ")
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// TestDeployOnMoto is the proof: bootstrap, then deploy the
// example config and a 2,000-target config into one moto, every stack
// CREATE_COMPLETE, and the deployed example rotates every target with
// strict identity verification.
func TestDeployOnMoto(t *testing.T) {
	root := awstest.RepoRoot(t)
	s := mototest.Start(t)
	env := cdkEnv(s)
	// Bootstrap from an empty directory: with no cdk.json there, the CLI
	// does not synthesise the app first.
	_, took := cdk(t, root, t.TempDir(), env, "bootstrap", "aws://"+mototest.Account+"/"+mototest.Region)
	t.Logf("cdk bootstrap: %s", took.Round(100*time.Millisecond))

	t.Run("example", func(t *testing.T) {
		src, err := os.ReadFile(filepath.Join(root, config.DefaultPath))
		if err != nil {
			t.Fatal(err)
		}
		d := deploy(t, root, env, s, config.DefaultPath, src, plan.DefaultStackName)
		cli := buildCLI(t, root)
		trusts := createTargetRoles(t, cli, root, d, s)
		rotator := awstest.BuildFunction(t, root, "rotator")
		k := awstest.Start(t)
		for _, sh := range d.plan.Shards {
			for _, l := range sh.Lanes {
				d.assumableBy(t, sh, l, trusts)
				d.sweep(t, k, rotator, sh.ID, l, s)
			}
		}
		d.minted(t, d.plan.Config.Targets)
		preflightAfter(t, cli, root, s)
	})

	t.Run("2000-targets", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "big.yaml")
		src := plantest.Config(2000)
		if err := os.WriteFile(path, src, 0o600); err != nil {
			t.Fatal(err)
		}
		d := deploy(t, root, env, s, path, src, "big")
		// One lane end to end: its per-lane config file, read from the
		// package through the deployed STSROTATOR_CONFIG, rotates exactly
		// its targets.
		rotator := awstest.BuildFunction(t, root, "rotator")
		k := awstest.Start(t)
		sh := d.plan.Shards[0]
		d.sweep(t, k, rotator, sh.ID, sh.Lanes[0], s)
		d.minted(t, sh.Lanes[0].Targets)
	})
}

// deployed is one `cdk deploy` of a config on moto.
type deployed struct {
	stack  string
	outdir string
	plan   *plan.Plan
	cfg    aws.Config
	// templates maps each stack (root and nested) to its deployed
	// template, as moto's GetTemplate returns it.
	templates map[string]template
}

type template struct {
	Resources map[string]struct {
		Type       string         `json:"Type"`
		Properties map[string]any `json:"Properties"`
		Metadata   map[string]any `json:"Metadata"`
	} `json:"Resources"`
}

func deploy(t *testing.T, root string, env []string, s *mototest.Server, path string, src []byte, stack string) *deployed {
	t.Helper()
	conf, err := config.Parse(path, src)
	if err != nil {
		t.Fatal(err)
	}
	// The deployed rotators name their sessions for this stack
	// (STSROTATOR_STACK), so the identities they store do too.
	if err := conf.InStack(stack); err != nil {
		t.Fatal(err)
	}
	p, err := plan.New(conf, src)
	if err != nil {
		t.Fatal(err)
	}
	d := &deployed{stack: stack, outdir: filepath.Join(t.TempDir(), "cdk.out"), plan: p, cfg: s.Config(""), templates: map[string]template{}}
	out, took := cdk(t, root, root, env, "deploy", "--all", "--require-approval", "never",
		"-c", "config="+path, "-c", "stackName="+stack, "-o", d.outdir)
	t.Logf("cdk deploy of %d targets (%d shards, %d lanes): %s (%s)", len(conf.Targets), len(p.Shards), len(p.Lanes()), took.Round(100*time.Millisecond), phases(out))
	skipped := d.complete(t)
	// A resource counts as skipped only if moto itself says it has no
	// support for its type: a creation that failed silently is not a gap.
	log := s.Tail(1 << 30)
	for typ := range skipped {
		if !strings.Contains(log, unsupportedNote+typ) {
			t.Errorf("moto did not create the %s resources, yet did not log %q", typ, unsupportedNote+typ)
		}
	}
	d.skippedFromTemplate(t)
	return d
}

// complete requires the root stack and every nested stack of it
// CREATE_COMPLETE, every resource moto created CREATE_COMPLETE, and
// nothing skipped but the known gaps.
func (d *deployed) complete(t *testing.T) map[string]int {
	t.Helper()
	ctx := context.Background()
	cf := cloudformation.NewFromConfig(d.cfg)
	skipped := map[string]int{}
	nested := 0
	// moto sets neither ParentId nor RootId: the root's
	// AWS::CloudFormation::Stack resources name the nested stacks.
	queue := []string{d.stack}
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		got, err := cf.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(id)})
		if err != nil || len(got.Stacks) != 1 {
			t.Fatalf("describe stack %s: %v", id, err)
		}
		st := got.Stacks[0]
		name := aws.ToString(st.StackName)
		if st.StackStatus != cfntypes.StackStatusCreateComplete {
			t.Errorf("stack %s is %s: %s", name, st.StackStatus, aws.ToString(st.StackStatusReason))
			continue
		}
		body, err := cf.GetTemplate(ctx, &cloudformation.GetTemplateInput{StackName: st.StackId})
		if err != nil {
			t.Fatal(err)
		}
		var tpl template
		if err := json.Unmarshal([]byte(aws.ToString(body.TemplateBody)), &tpl); err != nil {
			t.Fatalf("template of %s: %v", name, err)
		}
		d.templates[name] = tpl
		created := map[string]cfntypes.StackResourceSummary{}
		res := cloudformation.NewListStackResourcesPaginator(cf, &cloudformation.ListStackResourcesInput{StackName: st.StackId})
		for res.HasMorePages() {
			page, err := res.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range page.StackResourceSummaries {
				created[aws.ToString(r.LogicalResourceId)] = r
			}
		}
		for lid, r := range tpl.Resources {
			c, ok := created[lid]
			switch {
			case !ok && motoSkips[r.Type]:
				skipped[r.Type]++
			case !ok:
				t.Errorf("%s/%s (%s) was not created, and %s is not a known moto gap (fix: if moto skips it, add it to motoSkips and docs/local.md)", name, lid, r.Type, r.Type)
			case c.ResourceStatus != cfntypes.ResourceStatusCreateComplete:
				t.Errorf("%s/%s (%s) is %s", name, lid, r.Type, c.ResourceStatus)
			case aws.ToString(c.ResourceType) != r.Type:
				t.Errorf("%s/%s is a %s on moto, %s in the template", name, lid, aws.ToString(c.ResourceType), r.Type)
			case r.Type == "AWS::CloudFormation::Stack":
				nested++
				queue = append(queue, aws.ToString(c.PhysicalResourceId))
			}
		}
	}
	var want int
	for _, r := range d.templates[d.stack].Resources {
		if r.Type == "AWS::CloudFormation::Stack" {
			want++
		}
	}
	if nested != want || nested < len(d.plan.Shards) {
		t.Errorf("%d nested stacks on moto, %d in the root template, %d shards planned", nested, want, len(d.plan.Shards))
	}
	var kinds []string
	for k, n := range skipped {
		kinds = append(kinds, fmt.Sprintf("%s×%d", k, n))
	}
	sort.Strings(kinds)
	t.Logf("%d stacks CREATE_COMPLETE; moto skipped (checked from the template instead): %s", nested+1, strings.Join(kinds, ", "))
	return skipped
}

// skippedFromTemplate checks, in the deployed templates, what moto did not
// create: a secret, named as configured, for every target; a schedule per
// lane that invokes that lane's function; a subscription filter per
// logGroups entry; every alarm notifying someone.
func (d *deployed) skippedFromTemplate(t *testing.T) {
	t.Helper()
	secrets, schedules, groups := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for name, tpl := range d.templates {
		for lid, r := range tpl.Resources {
			switch r.Type {
			case "AWS::SecretsManager::Secret":
				secrets[fmt.Sprint(r.Properties["Name"])] = true
			case "AWS::Scheduler::Schedule":
				tgt, _ := r.Properties["Target"].(map[string]any)
				if tgt == nil || tgt["Arn"] == nil || tgt["RoleArn"] == nil {
					t.Errorf("%s/%s: schedule without a target and role: %v", name, lid, r.Properties)
				}
				schedules[name+"/"+lid] = true
			case "AWS::Logs::SubscriptionFilter":
				groups[fmt.Sprint(r.Properties["LogGroupName"])] = true
			case "AWS::CloudWatch::Alarm":
				if acts, _ := r.Properties["AlarmActions"].([]any); len(acts) == 0 {
					t.Errorf("%s/%s: alarm notifies nobody", name, lid)
				}
			}
		}
	}
	var want []string
	wantGroups := map[string]bool{}
	for _, tg := range d.plan.Config.Targets {
		want = append(want, tg.SecretName)
		if !secrets[tg.SecretName] {
			t.Errorf("no AWS::SecretsManager::Secret named %s for target %s", tg.SecretName, tg.Name)
		}
		for _, g := range tg.LogGroups {
			wantGroups[g] = true
		}
	}
	// At least: the stack may add its own (the source user's key secret
	// and its rotator's schedule when a target uses iam-user).
	if len(secrets) < len(want) {
		t.Errorf("%d secrets in the templates for %d targets", len(secrets), len(want))
	}
	if len(schedules) < len(d.plan.Lanes()) {
		t.Errorf("%d schedules for %d lanes", len(schedules), len(d.plan.Lanes()))
	}
	if len(groups) != len(wantGroups) {
		t.Errorf("subscription filters on %v, want %v", groups, wantGroups)
	}
}

// sweep runs the deployed lane: the host build of the rotator package
// under the Lambda Runtime API (kumo's), with the environment moto holds
// for the function, its package from the cloud assembly in place of
// /var/task, and every AWS call going to moto.
func (d *deployed) sweep(t *testing.T, k *awstest.Env, binary, shardID string, l plan.Lane, s *mototest.Server) {
	t.Helper()
	ctx := awstest.Context(t)
	name := plan.FunctionName(d.stack, shardID, l.ID)
	fc, err := lambda.NewFromConfig(d.cfg).GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(name)})
	if err != nil {
		t.Fatalf("the deployed rotator %s: %v", name, err)
	}
	pkg := d.assetOf(t, name)
	var vars []string
	var deployedEnv map[string]string
	if fc.Environment != nil {
		deployedEnv = fc.Environment.Variables
	}
	if _, ok := deployedEnv[lambdaenv.KMSKeyID]; !ok {
		t.Fatalf("%s has no %s in its deployed environment: %v", name, lambdaenv.KMSKeyID, deployedEnv)
	}
	if _, ok := deployedEnv[lambdaenv.VerifyMode]; ok {
		t.Fatalf("%s sets %s; deployed rotators must verify identity strictly (the default)", name, lambdaenv.VerifyMode)
	}
	for k, v := range deployedEnv {
		if strings.HasPrefix(v, plan.TaskRoot+"/") {
			v = filepath.Join(pkg, strings.TrimPrefix(v, plan.TaskRoot+"/"))
		}
		vars = append(vars, k+"="+v)
	}
	vars = append(vars, "LAMBDA_TASK_ROOT="+pkg)
	// After emulator.Env's kumo settings, so these win: AWS is moto.
	vars = append(vars, s.Env()...)
	fn := k.RunFunction(t, name, binary, vars, nil)
	payload, fnErr, err := k.Invoke(ctx, name, []byte("{}"))
	if err != nil || fnErr != "" {
		t.Fatalf("sweep of %s: %v %s %s\n%s", name, err, fnErr, payload, tail(fn.Output.String(), 4000))
	}
	t.Logf("sweep of %s (%d targets): %s", name, len(l.Targets), tail(string(payload), 300))
}

// minted requires each target's secret on moto to hold credentials that
// STS identified as the target's assumed role and session.
func (d *deployed) minted(t *testing.T, targets []config.Target) {
	t.Helper()
	sm := secretsmanager.NewFromConfig(d.cfg)
	for _, tg := range targets {
		out, err := sm.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(tg.SecretName)})
		if err != nil {
			t.Errorf("target %s: %v", tg.Name, err)
			continue
		}
		awstest.Remember([]byte(aws.ToString(out.SecretString)))
		v, err := secretfmt.Parse([]byte(aws.ToString(out.SecretString)))
		if err != nil {
			t.Errorf("target %s: %v", tg.Name, err)
			continue
		}
		arn := strings.SplitN(tg.RoleArn, ":", 6)
		role := arn[5][strings.LastIndex(arn[5], "/")+1:]
		want := "arn:aws:sts::" + arn[4] + ":assumed-role/" + role + "/" + tg.SessionName
		if v.Meta.Identity != want || v.Meta.Target != tg.Name {
			t.Errorf("target %s: identity %q (target %q), want %q", tg.Name, v.Meta.Identity, v.Meta.Target, want)
		}
	}
}

// assetOf finds the function's package in the cloud assembly through the
// deployed template's aws:asset:path metadata.
func (d *deployed) assetOf(t *testing.T, function string) string {
	t.Helper()
	for _, tpl := range d.templates {
		for _, r := range tpl.Resources {
			if r.Type != "AWS::Lambda::Function" || fmt.Sprint(r.Properties["FunctionName"]) != function {
				continue
			}
			p, _ := r.Metadata["aws:asset:path"].(string)
			if p == "" {
				t.Fatalf("%s has no aws:asset:path metadata", function)
			}
			return filepath.Join(d.outdir, p)
		}
	}
	t.Fatalf("no function %s in the deployed templates", function)
	return ""
}

// preflightAfter runs the CLI's preflight on the account moto now holds:
// the bootstrap stack is there, but moto deployed the example although
// its log group and reader roles do not exist (it skips the resources
// that would have failed), which is exactly what preflight blocks on.
func preflightAfter(t *testing.T, bin, root string, s *mototest.Server) {
	t.Helper()
	cmd := exec.Command(bin, "preflight", "--config", filepath.Join(root, config.DefaultPath))
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, s.Env()...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := -1
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	}
	// 8: something blocks the deploy (cli.ExitBlocked).
	if code != 8 {
		t.Fatalf("preflight exit %d (%v), want 8:\n%s", code, err, out.String())
	}
	for _, want := range []string{
		"OK    bootstrap   CDKToolkit",
		"BLOCK log-group   /ecs/nightly-report: the log group does not exist",
		"BLOCK reader      arn:aws:iam::123456789012:role/ReportsJob: the role does not exist",
		"SKIP  trust       arn:aws:iam::210987654321:role/AuditS3Reader",
		// Created with exactly what `stsrotator trust` printed.
		"OK    trust       arn:aws:iam::123456789012:role/BillingReadOnly",
		"OK    trust       arn:aws:iam::123456789012:role/DeployBot",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("preflight output lacks %q:\n%s", want, out.String())
		}
	}
	t.Logf("preflight after the deploy:\n%s", out.String())
}

// buildCLI builds the stsrotator CLI once for the proof's steps.
func buildCLI(t *testing.T, root string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "stsrotator")
	build := exec.Command("go", "build", "-o", bin, "./cmd/stsrotator")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the CLI: %v\n%s", err, out)
	}
	return bin
}

// createTargetRoles creates each of the example's target roles in the
// moto account with exactly the trust policy `stsrotator trust --target`
// prints (the account read from the caller's credentials, as a user would
// run it), and returns those policies by target.
func createTargetRoles(t *testing.T, bin, root string, d *deployed, s *mototest.Server) map[string]*iameval.Policy {
	t.Helper()
	iamc := iam.NewFromConfig(d.cfg)
	out := map[string]*iameval.Policy{}
	for _, tg := range d.plan.Config.Targets {
		cmd := exec.Command(bin, "trust", "--config", filepath.Join(root, config.DefaultPath), "--target", tg.Name, "--stack", d.stack)
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, s.Env()...)
		doc, err := cmd.Output()
		if err != nil {
			t.Fatalf("stsrotator trust --target %s: %v", tg.Name, err)
		}
		if out[tg.Name], err = iameval.Parse(doc); err != nil {
			t.Fatal(err)
		}
		arn := strings.SplitN(tg.RoleArn, ":", 6)
		if arn[4] != mototest.Account {
			continue
		}
		name := arn[5][strings.LastIndex(arn[5], "/")+1:]
		if _, err := iamc.CreateRole(context.Background(), &iam.CreateRoleInput{RoleName: aws.String(name), AssumeRolePolicyDocument: aws.String(string(doc))}); err != nil {
			t.Fatalf("create %s with the printed trust: %v", name, err)
		}
	}
	return out
}

// assumableBy proves, before the lane's sweep, that the deployed function
// runs as its shard's rotator role, by its literal name, and that every
// target's new trust lets exactly that role do everything the target
// needs (moto evaluates no trust policy: this is AWS's documented logic,
// internal/iameval), and a role at the old rotator path nothing.
func (d *deployed) assumableBy(t *testing.T, sh plan.Shard, l plan.Lane, trusts map[string]*iameval.Policy) {
	t.Helper()
	name := plan.FunctionName(d.stack, sh.ID, l.ID)
	fc, err := lambda.NewFromConfig(d.cfg).GetFunctionConfiguration(context.Background(), &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	role := aws.ToString(fc.Role)
	if want := plan.RoleArn("aws", mototest.Account, plan.RotatorRoleName(d.stack, sh.Index)); role != want {
		t.Fatalf("%s runs as %s, want its shard's rotator role %s", name, role, want)
	}
	impostor := "arn:aws:iam::" + mototest.Account + ":role/" + d.stack + "/rotator/" + plan.RotatorRoleName(d.stack, sh.Index)
	for _, tg := range l.Targets {
		actions, _ := plan.AssumeActions(tg)
		ctx := map[string][]string{"sts:RoleSessionName": {tg.SessionName}}
		if tg.ExternalID != "" {
			ctx["sts:ExternalId"] = []string{tg.ExternalID}
		}
		if tg.SourceIdentity != "" {
			ctx["sts:SourceIdentity"] = []string{tg.SourceIdentity}
		}
		for _, st := range tg.SessionTags {
			ctx["aws:RequestTag/"+st.Key] = []string{st.Value}
			ctx["aws:TagKeys"] = append(ctx["aws:TagKeys"], st.Key)
		}
		// The rotator's own grant (its Grants0 policy, which
		// infra/stack's TestRotatorPolicyIsExact pins): needed too when
		// the target role is in another account.
		grant := iameval.MustParse(map[string]any{"Statement": []any{map[string]any{"Effect": "Allow", "Action": actions, "Resource": tg.RoleArn}}})
		for _, a := range actions {
			req := iameval.Request{Principal: role, Action: a, Resource: tg.RoleArn, Context: ctx, TrustPolicy: true}
			if got, err := iameval.Evaluate(req, []*iameval.Policy{grant}, trusts[tg.Name]); got != iameval.Allow {
				t.Errorf("target %s: the deployed rotator %s may not %s under the printed trust: %v %v", tg.Name, role, a, got, err)
			}
			req.Principal = impostor
			if got, err := iameval.Evaluate(req, []*iameval.Policy{grant}, trusts[tg.Name]); got == iameval.Allow {
				t.Errorf("target %s: a role at the old rotator path may %s: %v %v", tg.Name, a, got, err)
			}
		}
	}
}
