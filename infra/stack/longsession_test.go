package stack_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/stsrotator/stsrotator/infra/plan"
	"github.com/stsrotator/stsrotator/infra/stack"
)

const longSessionConfig = `
targets:
  - name: nightly
    roleArn: arn:aws:iam::123456789012:role/Nightly
    sourceCredentials: iam-user
    durationSeconds: 43200
    sessionTags: {team: batch}
  - name: report
    roleArn: arn:aws:iam::123456789012:role/path/Report
    sourceCredentials: iam-user
    durationSeconds: 28800
  - name: web
    roleArn: arn:aws:iam::123456789012:role/Web
    replicaRegions: [eu-west-1, ap-southeast-2, ap-south-1]
    readers: ["210987654321"]
replicaKmsKeys:
  ap-southeast-2: arn:aws:kms:ap-southeast-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab
  ap-south-1: 1234abcd-12ab-34cd-56ef-1234567890ab
`

var (
	longOnce sync.Once
	longFx   *fixture
)

func longSession(t *testing.T) *fixture {
	t.Helper()
	longOnce.Do(func() { longFx = build("long.yaml", []byte(longSessionConfig)) })
	if longFx.buildErr != nil {
		t.Fatal(longFx.buildErr)
	}
	return longFx
}

// Proves: the deployment's IAM user exists only when a target asks for it,
// and may do exactly sts:AssumeRole (plus TagSession where the target
// passes session tags) on exactly the iam-user targets' roles — no other
// action, no other role, no wildcard, no inline policy.
func TestSourceUserMayOnlyAssumeListedRoles(t *testing.T) {
	if n := len(resources(example(t).rootJS, "AWS::IAM::User")); n != 0 {
		t.Fatalf("the example config has no iam-user target, yet the stack has %d IAM users", n)
	}
	fx := longSession(t)
	users := resources(fx.rootJS, "AWS::IAM::User")
	if len(users) != 1 {
		t.Fatalf("want one IAM user, got %d", len(users))
	}
	var userID string
	for id, u := range users {
		userID = id
		if p := props(u); p["UserName"] != plan.SourceUserName("stsrotator") || p["Path"] != nil || p["Policies"] != nil || p["ManagedPolicyArns"] != nil || p["LoginProfile"] != nil {
			t.Fatalf("user properties %s: want only its literal name (the ARN iam-user target roles trust), no path, no inline policies, no console login", js(p))
		}
	}
	granted := map[string][]string{}
	for _, pol := range resources(fx.rootJS, "AWS::IAM::ManagedPolicy") {
		p := props(pol)
		if js(p["Users"]) != js([]any{map[string]any{"Ref": userID}}) {
			continue
		}
		for _, st := range p["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			sm := st.(map[string]any)
			if sm["Effect"] != "Allow" || sm["Condition"] != nil {
				t.Fatalf("unexpected statement %s", js(sm))
			}
			for _, res := range asList(sm["Resource"]) {
				granted[res.(string)] = append(granted[res.(string)], asStrings(sm["Action"])...)
			}
		}
	}
	want := map[string]string{
		"arn:aws:iam::123456789012:role/Nightly":     "sts:AssumeRole,sts:TagSession",
		"arn:aws:iam::123456789012:role/path/Report": "sts:AssumeRole",
	}
	if len(granted) != len(want) {
		t.Fatalf("the user may act on %v, want exactly %v", granted, want)
	}
	for arn, acts := range want {
		if strings.Join(granted[arn], ",") != acts {
			t.Errorf("%s: actions %v, want %s", arn, granted[arn], acts)
		}
	}
}

// Proves: no access key is in the template (the rotator creates the first
// one), none can reach an output, and the key's secret is readable only
// by the rotators and writable only by the source-key rotator, which alone
// may manage the user's keys.
func TestSourceKeyNeverInTheTemplate(t *testing.T) {
	fx := longSession(t)
	for _, tpl := range append([]map[string]any{fx.rootJS}, values(fx.shardJS)...) {
		if n := len(resources(tpl, "AWS::IAM::AccessKey")); n != 0 {
			t.Fatalf("%d AWS::IAM::AccessKey resources: a key's secret would pass through CloudFormation", n)
		}
	}
	keySecret := ""
	for id, sec := range resources(fx.rootJS, "AWS::SecretsManager::Secret") {
		if strings.Contains(js(props(sec)["Description"]), "source user") {
			keySecret = id
		}
	}
	if keySecret == "" {
		t.Fatal("no source-key secret in the root stack")
	}
	for id, o := range fx.rootJS["Outputs"].(map[string]any) {
		if strings.Contains(js(o), keySecret) || strings.Contains(strings.ToLower(js(o)), "secretaccesskey") {
			t.Errorf("output %s refers to the source key: %s", id, js(o))
		}
	}
	fx.root.HasOutput(jsii.String("SourceUserArn"), map[string]any{"Value": map[string]any{"Fn::GetAtt": []any{assertions.Match_AnyValue(), "Arn"}}})

	var pol map[string]any
	for _, rp := range resources(fx.rootJS, "AWS::SecretsManager::ResourcePolicy") {
		if js(props(rp)["SecretId"]) == js(map[string]any{"Ref": keySecret}) {
			pol = props(rp)["ResourcePolicy"].(map[string]any)
		}
	}
	if pol == nil {
		t.Fatal("the source-key secret has no resource policy")
	}
	doc := js(pol)
	nightly := `":role/` + plan.RotatorRoleName("stsrotator", plan.ShardOf("nightly")) + `"`
	for _, want := range []string{`"Sid":"OnlyRotatorsRead"`, `"ArnNotEquals":{"aws:PrincipalArn":[{"Fn::GetAtt":[`, nightly, `"Sid":"OnlyTheSourceKeyRotatorWrites"`, `"Sid":"DenyReadsWithoutTLS"`} {
		if !strings.Contains(doc, want) {
			t.Errorf("key secret policy lacks %s: %s", want, doc)
		}
	}

	fns := resources(fx.rootJS, "AWS::Lambda::Function")
	var env map[string]any
	for _, f := range fns {
		if props(f)["FunctionName"] == "stsrotator-source-key" {
			env = props(f)["Environment"].(map[string]any)["Variables"].(map[string]any)
		}
	}
	if env == nil || env["STSROTATOR_SOURCE_USER"] == nil || js(env["STSROTATOR_SOURCE_KEY_SECRET"]) != js(map[string]any{"Ref": keySecret}) {
		t.Fatalf("source-key rotator environment: %s", js(env))
	}
	for _, r := range resources(fx.rootJS, "AWS::IAM::Role") {
		for _, ip := range asList(props(r)["Policies"]) {
			d := js(ip)
			if strings.Contains(d, "iam:CreateAccessKey") && !strings.Contains(props(r)["Path"].(string), "/source-key-rotator/") {
				t.Errorf("a role other than the source-key rotator's may create access keys: %s", d)
			}
		}
	}
	fx.root.HasResourceProperties(jsii.String("AWS::Scheduler::Schedule"), map[string]any{
		"ScheduleExpression": "rate(15 minutes)",
		"Target":             map[string]any{"Input": `{"sourceKey":true}`},
	})
}

// Proves: the iam-user targets' rotator lane is told where the key is and
// may read it.
func TestIAMUserLaneReadsTheSourceKey(t *testing.T) {
	fx := longSession(t)
	for _, sh := range fx.plan.Shards {
		for _, l := range sh.Lanes {
			if l.Targets[0].Name != "nightly" && (len(l.Targets) < 2 || l.Targets[1].Name != "nightly") {
				continue
			}
			tpl := fx.shardJS[sh.ID]
			found := false
			for _, f := range resources(tpl, "AWS::Lambda::Function") {
				if _, ok := props(f)["Environment"].(map[string]any)["Variables"].(map[string]any)["STSROTATOR_SOURCE_KEY_SECRET"]; ok {
					found = true
				}
			}
			if !found || !strings.Contains(js(tpl), `"Sid":"ReadTheSourceKey"`) {
				t.Fatalf("lane %s/%s: no source key secret in its environment or policy", sh.ID, l.ID)
			}
			return
		}
	}
	t.Fatal("no lane rotates nightly")
}

// Proves: a replicated target's secret names each region with its key —
// the replica-key stack's alias, or the key the config names — and the
// app adds a replica-key stack only where no key is named, deployed before
// the service stack, with the readers' decrypt statement.
func TestReplicaRegionsAndKeys(t *testing.T) {
	fx := longSession(t)
	fx.shards[shardOf(fx, "web")].HasResourceProperties(jsii.String("AWS::SecretsManager::Secret"), map[string]any{
		"Name": "stsrotator/web",
		"ReplicaRegions": []any{
			map[string]any{"Region": "eu-west-1", "KmsKeyId": "alias/stsrotator/replicas"},
			map[string]any{"Region": "ap-southeast-2", "KmsKeyId": "arn:aws:kms:ap-southeast-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
			map[string]any{"Region": "ap-south-1", "KmsKeyId": "1234abcd-12ab-34cd-56ef-1234567890ab"},
		},
	})
	if len(fx.replicaKeys) != 1 || *fx.replicaKeys[0].Region() != "eu-west-1" || *fx.replicaKeys[0].StackName() != "stsrotator-replica-keys-eu-west-1" {
		t.Fatalf("want one replica-key stack, in eu-west-1, got %d", len(fx.replicaKeys))
	}
	deps := fx.svc.Stack.Dependencies()
	if deps == nil || len(*deps) != 1 || *(*deps)[0].StackName() != "stsrotator-replica-keys-eu-west-1" {
		t.Fatal("the service stack must depend on the replica-key stack, so its key exists before secrets replicate")
	}
	rk := assertions.Template_FromStack(fx.replicaKeys[0], nil)
	rk.HasResourceProperties(jsii.String("AWS::KMS::Alias"), map[string]any{"AliasName": "alias/stsrotator/replicas"})
	rk.HasResourceProperties(jsii.String("AWS::KMS::Key"), map[string]any{
		"EnableKeyRotation": true,
		"KeyPolicy": map[string]any{"Statement": assertions.Match_ArrayWith(&[]any{
			assertions.Match_ObjectLike(&map[string]any{"Sid": "ReadersDecryptThroughSecretsManager", "Action": "kms:Decrypt"}),
		})},
	})
	if !strings.Contains(js(*rk.ToJSON()), "210987654321") {
		t.Error("the replica key does not let the reader account decrypt")
	}
	// The lane writing web's secret may have Secrets Manager encrypt its
	// replicas with those keys, and nothing else with them.
	shard := fx.shardJS[shardOf(fx, "web")]
	// A bare key ID is a key of this account in the replica's region.
	for _, want := range []string{`"Sid":"EncryptReplicasInEuWest1"`, `"kms:ResourceAliases":"alias/stsrotator/replicas"`, `"Sid":"EncryptReplicasInApSoutheast2"`, `secretsmanager.eu-west-1.`,
		`"Sid":"EncryptReplicasInApSouth1"`, `":kms:ap-south-1:",{"Ref":"AWS::AccountId"},":key/1234abcd-12ab-34cd-56ef-1234567890ab"`} {
		if !strings.Contains(js(shard), want) {
			t.Errorf("web's lane policy lacks %s", want)
		}
	}
}

// Proves: cdk-nag is clean for the user, its key, the replica keys and
// every reasoned suppression says why the user exists and how its key is
// rotated.
func TestLongSessionNagClean(t *testing.T) {
	fx := longSession(t)
	for _, st := range append([]awscdk.Stack{fx.svc.Stack}, fx.replicaKeys...) {
		errs := assertions.Annotations_FromStack(st).FindError(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*")))
		for _, e := range *errs {
			t.Errorf("%s: unsuppressed finding: %s", *st.StackName(), js(e))
		}
	}
	found := false
	for _, r := range resources(fx.rootJS, "AWS::SecretsManager::Secret") {
		md, _ := r["Metadata"].(map[string]any)
		nag, _ := md["cdk_nag"].(map[string]any)
		for _, s := range asList(nag["rules_to_suppress"]) {
			reason := s.(map[string]any)["reason"].(string)
			if !strings.Contains(reason, "This IAM user exists only because") {
				continue
			}
			found = true
			if !strings.Contains(reason, "replaces it every rotator.sourceKeyMaxAge (30 days)") || !strings.Contains(reason, "only call sts:AssumeRole") {
				t.Errorf("the source-key secret's suppression does not say how the key is rotated and what the user may do: %s", reason)
			}
		}
	}
	if !found {
		t.Error("no suppression on the source-key secret says why the IAM user exists")
	}
}

func asList(v any) []any {
	switch x := v.(type) {
	case []any:
		return x
	case nil:
		return nil
	default:
		return []any{x}
	}
}

func asStrings(v any) []string {
	var out []string
	for _, x := range asList(v) {
		out = append(out, x.(string))
	}
	return out
}

func values(m map[string]map[string]any) []map[string]any {
	var out []map[string]any
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// Proves: the source-key secret's policy denies every way of changing it —
// not only PutSecretValue but UpdateSecret, re-staging, delete/restore,
// rotation, replication, tags and the policy itself — to everyone but the
// source-key rotator and CloudFormation deploying the stack with its CDK
// execution role (exact ARNs, not aws:CalledVia), so the stack can still
// update and delete what it owns.
func TestOnlyTheSourceKeyRotatorWritesTheKeySecret(t *testing.T) {
	fx := longSession(t)
	var stmt map[string]any
	for _, rp := range resources(fx.rootJS, "AWS::SecretsManager::ResourcePolicy") {
		for _, s := range asList(props(rp)["ResourcePolicy"].(map[string]any)["Statement"]) {
			if m := s.(map[string]any); m["Sid"] == "OnlyTheSourceKeyRotatorWrites" {
				stmt = m
			}
		}
	}
	if stmt == nil || stmt["Effect"] != "Deny" || js(stmt["Principal"]) != js(map[string]any{"AWS": "*"}) {
		t.Fatalf("no deny-all-but-the-rotator write statement: %s", js(stmt))
	}
	if stmt["Action"] != nil {
		t.Errorf("the write statement lists actions; it must deny every action but reads (NotAction): %s", js(stmt))
	}
	// NotAction: what is NOT denied to others.
	spared := map[string]bool{}
	for _, a := range asList(stmt["NotAction"]) {
		spared[a.(string)] = true
	}
	// The list and cross-account replication, written out here
	// rather than taken from the code.
	for _, a := range []string{"PutSecretValue", "UpdateSecret", "UpdateSecretVersionStage", "RestoreSecret", "DeleteSecret", "PutResourcePolicy",
		"DeleteResourcePolicy", "RotateSecret", "CancelRotateSecret", "ReplicateSecretToRegions", "RemoveRegionsFromReplication", "StopReplicationToReplica", "TagResource", "UntagResource",
		"AssociateCrossAccountReplica", "DisassociateCrossAccountReplica"} {
		if spared["secretsmanager:"+a] {
			t.Errorf("secretsmanager:%s is not denied to others", a)
		}
	}
	if !spared["secretsmanager:GetSecretValue"] {
		t.Error("the write statement must not deny reads (OnlyRotatorsRead governs those)")
	}
	cond := js(stmt["Condition"])
	for _, want := range []string{`{"ArnNotEquals":{"aws:PrincipalArn":[{"Fn::GetAtt":["`,
		`{"Fn::Join":["",["arn:",{"Ref":"AWS::Partition"},":iam::",{"Ref":"AWS::AccountId"},":role/cdk-hnb659fds-cfn-exec-role-",{"Ref":"AWS::AccountId"},"-",{"Ref":"AWS::Region"}]]}]}}`} {
		if !strings.Contains(cond, want) {
			t.Errorf("condition lacks %s: %s", want, cond)
		}
	}
	// aws:CalledVia would exempt anyone who may create any stack.
	if strings.Contains(cond, "CalledVia") || strings.Contains(cond, "*") {
		t.Errorf("the exemption must name exact ARNs only: %s", cond)
	}
	roleID := ""
	for id, r := range resources(fx.rootJS, "AWS::IAM::Role") {
		if strings.Contains(js(props(r)["Path"]), "/source-key-rotator/") {
			roleID = id
		}
	}
	if roleID == "" || !strings.Contains(cond, `{"Fn::GetAtt":["`+roleID+`","Arn"]}`) {
		t.Errorf("the exempted role is not the source-key rotator's (%s): %s", roleID, cond)
	}
}

// Proves: the template refuses, before creating anything, to deploy into
// a region its secrets replicate to, whatever region a later deploy picks.
func TestTemplateRefusesItsReplicaRegions(t *testing.T) {
	fx := longSession(t)
	rules, _ := fx.rootJS["Rules"].(map[string]any)
	rule, ok := rules[stack.ReplicaRuleID].(map[string]any)
	if !ok {
		t.Fatalf("no %s rule: %s", stack.ReplicaRuleID, js(rules))
	}
	got := js(rule["Assertions"])
	for _, r := range []string{"ap-south-1", "ap-southeast-2", "eu-west-1"} {
		if !strings.Contains(got, `{"Fn::Not":[{"Fn::Equals":[{"Ref":"AWS::Region"},"`+r+`"]}]}`) || !strings.Contains(got, r+" is in replicaRegions") {
			t.Errorf("no assertion refusing %s: %s", r, got)
		}
	}
}
