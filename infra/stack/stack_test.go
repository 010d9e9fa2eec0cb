package stack_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"

	"github.com/stsrotator/stsrotator/infra/plan"
	"github.com/stsrotator/stsrotator/infra/quotacheck"
	"github.com/stsrotator/stsrotator/infra/stack"
	"github.com/stsrotator/stsrotator/shared/events"
	"github.com/stsrotator/stsrotator/shared/lambdaenv"
	"github.com/stsrotator/stsrotator/shared/metrics"
	"github.com/stsrotator/stsrotator/shared/quotas"
)

// Proves: the key rotates, and every secret, the topic and the queue are
// encrypted with it (not with an AWS-managed key or not at all).
func TestEverythingIsEncryptedWithTheKey(t *testing.T) {
	fx := example(t)
	assert(t, "key rotation", func() {
		fx.root.HasResourceProperties(jsii.String("AWS::KMS::Key"), map[string]any{"EnableKeyRotation": true})
	})
	assert(t, "the topic refuses publishing without TLS", func() {
		fx.root.HasResourceProperties(jsii.String("AWS::SNS::TopicPolicy"), map[string]any{
			"PolicyDocument": map[string]any{"Statement": assertions.Match_ArrayWith(&[]any{assertions.Match_ObjectLike(&map[string]any{
				"Effect": "Deny", "Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}},
			})})},
		})
	})
	key := fx.rootRef(t, "AWS::KMS::Key")
	keyArn := map[string]any{"Fn::GetAtt": []any{key, "Arn"}}
	for _, typ := range []string{"AWS::SNS::Topic", "AWS::SQS::Queue"} {
		for id, r := range resources(fx.rootJS, typ) {
			if strings.HasPrefix(id, "ReactorReports") {
				// The one exception: the reports queue EventBridge delivers
				// to is encrypted with SQS-managed keys, so the key policy
				// needs no statement for events.amazonaws.com, whose KMS
				// calls carry no source condition to scope one by. It holds
				// reports (masked keys only), never credentials.
				if js(props(r)["SqsManagedSseEnabled"]) != "true" {
					t.Errorf("%s %s: not encrypted", typ, id)
				}
				continue
			}
			if got := props(r)["KmsMasterKeyId"]; !reflect.DeepEqual(got, keyArn) {
				t.Errorf("%s %s: KmsMasterKeyId %s, want the stack's key", typ, id, js(got))
			}
		}
	}
	n := 0
	for sid, tpl := range fx.shardJS {
		for id, r := range resources(tpl, "AWS::SecretsManager::Secret") {
			n++
			if !fx.refersTo(sid, props(r)["KmsKeyId"], key) {
				t.Errorf("%s/%s: KmsKeyId %s does not resolve to the stack's key", sid, id, js(props(r)["KmsKeyId"]))
			}
		}
	}
	if n != len(fx.plan.Config.Targets) {
		t.Fatalf("%d secrets for %d targets", n, len(fx.plan.Config.Targets))
	}
}

// Proves: each target has one secret, named and tagged from its config,
// created empty (no generated or placeholder value that looks like
// credentials), in the shard the plan put it in.
func TestOneSecretPerTargetNamedAndTagged(t *testing.T) {
	fx := example(t)
	keys := plan.OutputKeys(fx.plan.Config)
	for _, sh := range fx.plan.Shards {
		secrets := resources(fx.shardJS[sh.ID], "AWS::SecretsManager::Secret")
		if len(secrets) != len(sh.Targets) {
			t.Fatalf("%s: %d secrets for %d targets", sh.ID, len(secrets), len(sh.Targets))
		}
		for _, tg := range sh.Targets {
			p := props(secrets["Secret"+keys[tg.Name]])
			if p == nil {
				t.Fatalf("%s: no secret for %s", sh.ID, tg.Name)
			}
			if p["Name"] != tg.SecretName || p["SecretString"] != nil || p["GenerateSecretString"] != nil {
				t.Errorf("%s: name %v, value %v/%v; want %s and no value", tg.Name, p["Name"], p["SecretString"], p["GenerateSecretString"], tg.SecretName)
			}
			// The rotator's own two tags, as on a secret it creates itself:
			// `stsrotator status` lists managed secrets by them.
			want := map[string]any{"stsrotator:target": tg.Name, "stsrotator:managed-by": "stsrotator"}
			for _, kv := range tg.Tags {
				want[kv.Key] = kv.Value
			}
			got := map[string]any{}
			for _, kv := range p["Tags"].([]any) {
				m := kv.(map[string]any)
				got[m["Key"].(string)] = m["Value"]
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s: tags %v, want %v", tg.Name, got, want)
			}
		}
	}
	want := map[string]string{"billing-reader": "stsrotator/billing-reader", "deploy-bot": "stsrotator/deploy-bot", "audit-s3": "stsrotator/audit-s3"}
	for name, secret := range want {
		assert(t, "secret of "+name, func() {
			fx.shards[shardOf(fx, name)].HasResourceProperties(jsii.String("AWS::SecretsManager::Secret"), map[string]any{
				"Name": secret, "Tags": assertions.Match_ArrayWith(&[]any{map[string]any{"Key": "team", "Value": "platform"}}),
			})
		})
	}
}

func shardOf(fx *fixture, target string) string {
	for _, sh := range fx.plan.Shards {
		for _, tg := range sh.Targets {
			if tg.Name == target {
				return sh.ID
			}
		}
	}
	return ""
}

// Proves: a secret's resource policy lets exactly its declared readers read
// it, denies GetSecretValue to every other principal except the target's
// rotator role and the stack's reactor role (exact ARNs: literal names, no
// path), denies reads without TLS, denies every write, staging, policy,
// replication and deletion action, and changes to stsrotator: tags, to
// everyone but the rotator role and the CDK execution role (exact ARNs),
// and is checked against public access.
func TestSecretResourcePolicies(t *testing.T) {
	fx := example(t)
	cases := []struct {
		why, target string
		allow       any // the Allow statement's principal
		notIn       map[string]any
	}{
		{"a role reader is allowed by ARN and is the only exception besides the rotator and the reactor", "deploy-bot",
			map[string]any{"AWS": "arn:aws:iam::123456789012:role/CiRunner"},
			map[string]any{"ArnNotEquals": map[string]any{"aws:PrincipalArn": []any{"ROTATOR", "REACTOR", "arn:aws:iam::123456789012:role/CiRunner"}}}},
		{"an account reader is allowed as the account and excepted by aws:PrincipalAccount", "audit-s3",
			map[string]any{"AWS": map[string]any{"Fn::Join": []any{"", []any{"arn:", map[string]any{"Ref": "AWS::Partition"}, ":iam::210987654321:root"}}}},
			map[string]any{"ArnNotEquals": map[string]any{"aws:PrincipalArn": []any{"ROTATOR", "REACTOR"}}, "StringNotEquals": map[string]any{"aws:PrincipalAccount": []any{"210987654321"}}}},
	}
	for _, c := range cases {
		t.Run(c.why, func(t *testing.T) {
			sid := shardOf(fx, c.target)
			tpl := fx.shardJS[sid]
			role := func(name string) any {
				return map[string]any{"Fn::Join": []any{"", []any{"arn:", map[string]any{"Ref": "AWS::Partition"}, ":iam::", map[string]any{"Ref": "AWS::AccountId"}, ":role/" + name}}}
			}
			rotator := role(plan.RotatorRoleName("stsrotator", plan.ShardOf(c.target)))
			exec := map[string]any{"Fn::Join": []any{"", []any{"arn:", map[string]any{"Ref": "AWS::Partition"}, ":iam::", map[string]any{"Ref": "AWS::AccountId"},
				":role/cdk-hnb659fds-cfn-exec-role-", map[string]any{"Ref": "AWS::AccountId"}, "-", map[string]any{"Ref": "AWS::Region"}}}}
			notIn := map[string]any{}
			for op, byKey := range c.notIn {
				m := map[string]any{}
				for k, v := range byKey.(map[string]any) {
					var out []any
					for _, x := range v.([]any) {
						switch x {
						case "ROTATOR":
							x = rotator
						case "REACTOR":
							x = role("stsrotator-reactor")
						}
						out = append(out, x)
					}
					m[k] = out
				}
				notIn[op] = m
			}
			writers := map[string]any{"aws:PrincipalArn": []any{rotator, exec}}
			want := []any{
				map[string]any{"Sid": "DeclaredReadersRead", "Effect": "Allow", "Principal": c.allow, "Action": "secretsmanager:GetSecretValue", "Resource": "*"},
				map[string]any{"Sid": "OnlyReadersAndStsrotatorRead", "Effect": "Deny", "Principal": map[string]any{"AWS": "*"}, "Action": "secretsmanager:GetSecretValue", "Resource": "*",
					"Condition": notIn},
				map[string]any{"Sid": "DenyReadsWithoutTLS", "Effect": "Deny", "Principal": map[string]any{"AWS": "*"}, "Action": "secretsmanager:GetSecretValue", "Resource": "*",
					"Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}}},
				// Everything but reads and tagging (its own statement), so
				// an action AWS adds is denied too.
				map[string]any{"Sid": "OnlyTheRotatorWrites", "Effect": "Deny", "Principal": map[string]any{"AWS": "*"}, "NotAction": []any{
					"secretsmanager:BatchGetSecretValue", "secretsmanager:DescribeSecret", "secretsmanager:GetResourcePolicy", "secretsmanager:GetSecretValue",
					"secretsmanager:ListSecretVersionIds", "secretsmanager:ValidateResourcePolicy", "secretsmanager:TagResource", "secretsmanager:UntagResource"},
					"Resource": "*", "Condition": map[string]any{"ArnNotEquals": writers}},
				map[string]any{"Sid": "OnlyTheRotatorTagsStsrotatorKeys", "Effect": "Deny", "Principal": map[string]any{"AWS": "*"},
					"Action": []any{"secretsmanager:TagResource", "secretsmanager:UntagResource"}, "Resource": "*",
					"Condition": map[string]any{"ArnNotEquals": writers, "ForAnyValue:StringLike": map[string]any{"aws:TagKeys": "stsrotator:*"}}},
			}
			pols := resources(tpl, "AWS::SecretsManager::ResourcePolicy")
			p, ok := pols["ReadPolicy"+plan.OutputKeys(fx.plan.Config)[c.target]]
			if !ok {
				t.Fatalf("no resource policy for %s in %s", c.target, sid)
			}
			{
				pp := props(p)
				got := pp["ResourcePolicy"].(map[string]any)["Statement"]
				if js(got) != js(want) {
					t.Errorf("statements:\n got %s\nwant %s", js(got), js(want))
				}
				if pp["BlockPublicPolicy"] != true {
					t.Error("BlockPublicPolicy is off")
				}
			}
		})
	}
}

// shardRole finds a shard's rotator role in its shard template: the one
// role named plan.RotatorRoleName.
func shardRole(t *testing.T, tpl map[string]any, sh plan.Shard) (string, map[string]any) {
	t.Helper()
	for id, r := range resources(tpl, "AWS::IAM::Role") {
		if props(r)["RoleName"] == plan.RotatorRoleName("stsrotator", sh.Index) {
			return id, props(r)
		}
	}
	t.Fatalf("%s: no role named %s", sh.ID, plan.RotatorRoleName("stsrotator", sh.Index))
	return "", nil
}

// expectedRotatorStatements is the exact policy a lane must have, derived
// from its targets independently of the code under test's grouping.
func expectedRotatorStatements(fx *fixture, sh plan.Shard, lane plan.Lane, keyParam any, logGroup string) (inline, assume, secretStmts []any) {
	type grp struct {
		sid     string
		actions []any
		arns    []any
	}
	var order []string
	groups := map[string]*grp{}
	var secrets []any
	for _, tg := range lane.Targets {
		sid, actions := "AssumeTargetRoles", []any{"sts:AssumeRole"}
		if tg.SourceIdentity != "" {
			sid, actions = sid+"WithSourceIdentity", append(actions, "sts:SetSourceIdentity")
		}
		if len(tg.SessionTags) > 0 {
			sid, actions = sid+"WithSessionTags", append(actions, "sts:TagSession")
		}
		g := groups[sid]
		if g == nil {
			g = &grp{sid: sid, actions: actions}
			groups[sid] = g
			order = append(order, sid)
		}
		dup := false
		for _, a := range g.arns {
			dup = dup || a == tg.RoleArn
		}
		if !dup {
			g.arns = append(g.arns, tg.RoleArn)
		}
		secrets = append(secrets, map[string]any{"Fn::Join": []any{"", []any{"arn:", map[string]any{"Ref": "AWS::Partition"}, ":secretsmanager:",
			map[string]any{"Ref": "AWS::Region"}, ":", map[string]any{"Ref": "AWS::AccountId"}, ":secret:" + tg.SecretName + "-??????"}}})
	}
	one := func(xs []any) any {
		if len(xs) == 1 {
			return xs[0]
		}
		return xs
	}
	inline = []any{map[string]any{"Sid": "WriteLogsOf" + lane.ID, "Effect": "Allow", "Action": []any{"logs:CreateLogStream", "logs:PutLogEvents"},
		"Resource": map[string]any{"Fn::GetAtt": []any{logGroup, "Arn"}}}}
	for _, sid := range order {
		g := groups[sid]
		assume = append(assume, map[string]any{"Sid": sid, "Effect": "Allow", "Action": one(g.actions), "Resource": one(g.arns)})
	}
	via := map[string]any{"Fn::Join": []any{"", []any{"secretsmanager.", map[string]any{"Ref": "AWS::Region"}, ".", map[string]any{"Ref": "AWS::URLSuffix"}}}}
	secretStmts = []any{map[string]any{"Sid": "OwnSecrets", "Effect": "Allow",
		"Action":   []any{"secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue", "secretsmanager:ListSecretVersionIds", "secretsmanager:CreateSecret", "secretsmanager:TagResource"},
		"Resource": one(secrets)}}
	if lane.ID == sh.Lanes[0].ID {
		inline = append(inline,
			map[string]any{"Sid": "AnnounceRotations", "Effect": "Allow", "Action": "events:PutEvents",
				"Resource": map[string]any{"Fn::Join": []any{"", []any{"arn:", map[string]any{"Ref": "AWS::Partition"}, ":events:",
					map[string]any{"Ref": "AWS::Region"}, ":", map[string]any{"Ref": "AWS::AccountId"}, ":event-bus/default"}}},
				"Condition": map[string]any{"StringEquals": map[string]any{"events:source": "stsrotator",
					"events:detail-type": []any{"Credentials Rotated", "Rotation Failed", "Alert"}}}},
			map[string]any{"Sid": "UseTheKeyThroughSecretsManagerOnly", "Effect": "Allow",
				"Action": []any{"kms:Decrypt", "kms:GenerateDataKey"}, "Resource": keyParam,
				"Condition": map[string]any{"StringEquals": map[string]any{"kms:ViaService": via}}},
		)
	}
	return inline, assume, secretStmts
}

// checkRotatorPolicies proves every shard has one rotator role with the
// literal name plan.RotatorRoleName and no path, that every lane's
// function runs as it, and that it holds exactly the expected policies:
// one inline policy with each lane's fixed statements, and per lane two
// managed policies, its AssumeRole grants and its secrets; no statement
// has a wildcard action or resource.
func checkRotatorPolicies(t *testing.T, fx *fixture) {
	key := fx.rootRef(t, "AWS::KMS::Key")
	for _, sh := range fx.plan.Shards {
		tpl := fx.shardJS[sh.ID]
		roleID, role := shardRole(t, tpl, sh)
		if role["Path"] != nil {
			t.Errorf("%s: rotator role path %v; its ARN must be exact", sh.ID, role["Path"])
		}
		pols := role["Policies"].([]any)
		if len(pols) != 1 {
			t.Fatalf("%s: %d inline policies", sh.ID, len(pols))
		}
		stmts := pols[0].(map[string]any)["PolicyDocument"].(map[string]any)["Statement"].([]any)
		var keyParam any
		for _, st := range stmts {
			if st.(map[string]any)["Sid"] == "UseTheKeyThroughSecretsManagerOnly" {
				keyParam = st.(map[string]any)["Resource"]
			}
		}
		if !fx.refersTo(sh.ID, keyParam, key) {
			t.Errorf("%s: KMS statement's resource %s is not the stack's key", sh.ID, js(keyParam))
		}
		managed := resources(tpl, "AWS::IAM::ManagedPolicy")
		// The role's credentials work only inside the shard's own
		// functions (TestAbuse_RotatorRolePassedToAnotherFunction).
		var fns []any
		for _, lane := range sh.Lanes {
			fns = append(fns, map[string]any{"Fn::Join": []any{"", []any{"arn:", map[string]any{"Ref": "AWS::Partition"}, ":lambda:", map[string]any{"Ref": "AWS::Region"}, ":",
				map[string]any{"Ref": "AWS::AccountId"}, ":function:" + plan.FunctionName("stsrotator", sh.ID, lane.ID)}}})
		}
		inline := []any{map[string]any{"Action": stack.RoleUseActions, "Condition": map[string]any{"ArnNotEquals": map[string]any{"lambda:SourceFunctionArn": fns}},
			"Effect": "Deny", "Resource": "*", "Sid": "OnlyTheShardsFunctionsUseThisRole"}}
		var refs []any
		for _, lane := range sh.Lanes {
			var logGroup string
			for id := range resources(tpl, "AWS::Logs::LogGroup") {
				if strings.HasPrefix(id, lane.ID+"Logs") {
					logGroup = id
				}
			}
			in, assume, secrets := expectedRotatorStatements(fx, sh, lane, keyParam, logGroup)
			inline = append(inline, in...)
			for i, want := range [][]any{assume, secrets} {
				var id string
				for mid := range managed {
					if strings.HasPrefix(mid, fmt.Sprintf("%sGrants%d", lane.ID, i)) {
						id = mid
					}
				}
				if id == "" {
					t.Fatalf("%s/%s: no Grants%d managed policy", sh.ID, lane.ID, i)
				}
				refs = append(refs, map[string]any{"Ref": id})
				got := props(managed[id])["PolicyDocument"].(map[string]any)["Statement"]
				if js(got) != js(want) {
					t.Errorf("%s/%s: Grants%d\n got %s\nwant %s", sh.ID, lane.ID, i, js(got), js(want))
				}
			}
			for id, fn := range resources(tpl, "AWS::Lambda::Function") {
				if strings.HasPrefix(id, lane.ID) && js(props(fn)["Role"]) != js(map[string]any{"Fn::GetAtt": []any{roleID, "Arn"}}) {
					t.Errorf("%s/%s: function %s runs as %s, not the shard's rotator role", sh.ID, lane.ID, id, js(props(fn)["Role"]))
				}
			}
		}
		if js(stmts) != js(inline) {
			t.Errorf("%s: rotator role's inline policy\n got %s\nwant %s", sh.ID, js(stmts), js(inline))
		}
		if js(role["ManagedPolicyArns"]) != js(refs) {
			t.Errorf("%s: managed policies %s, want %s", sh.ID, js(role["ManagedPolicyArns"]), js(refs))
		}
		for id, r := range resources(tpl, "AWS::IAM::Role") {
			if props(r)["Path"] != nil {
				t.Errorf("%s/%s: a role with a path %v: nothing trusts paths any more", sh.ID, id, props(r)["Path"])
			}
			for _, s := range stmtsOf(r) {
				// A Deny's wildcards narrow what the role may do.
				if s["Effect"] != "Deny" && (strings.Contains(js(s["Action"]), "*") || js(s["Resource"]) == `"*"` || strings.Contains(js(s["Resource"]), `"*"`)) {
					t.Errorf("%s/%s: wildcard in %s", sh.ID, id, js(s))
				}
			}
		}
		for id, m := range managed {
			for _, s := range props(m)["PolicyDocument"].(map[string]any)["Statement"].([]any) {
				st := s.(map[string]any)
				if strings.Contains(js(st["Action"]), "*") || js(st["Resource"]) == `"*"` || strings.Contains(js(st["Resource"]), `"*"`) {
					t.Errorf("%s/%s: wildcard in %s", sh.ID, id, js(st))
				}
			}
		}
	}
}

func stmtsOf(role map[string]any) []map[string]any {
	var out []map[string]any
	pols, _ := props(role)["Policies"].([]any)
	for _, p := range pols {
		for _, s := range p.(map[string]any)["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			out = append(out, s.(map[string]any))
		}
	}
	return out
}

// Proves: the rotator role may only assume the declared roles (TagSession
// and SetSourceIdentity exactly where the target uses them), read and
// write its own secrets, and use the key through Secrets Manager; never
// "*". The example's three targets are spelled out literally as well.
func TestRotatorPolicyIsExact(t *testing.T) {
	fx := example(t)
	checkRotatorPolicies(t, fx)
	literal := map[string][]string{
		"billing-reader": {"AssumeTargetRolesWithSessionTags", "sts:AssumeRole,sts:TagSession", "arn:aws:iam::123456789012:role/BillingReadOnly"},
		"deploy-bot":     {"AssumeTargetRolesWithSourceIdentity", "sts:AssumeRole,sts:SetSourceIdentity", "arn:aws:iam::123456789012:role/DeployBot"},
		"audit-s3":       {"AssumeTargetRoles", "sts:AssumeRole", "arn:aws:iam::210987654321:role/AuditS3Reader"},
	}
	for name, w := range literal {
		found := false
		var all []map[string]any
		for _, m := range resources(fx.shardJS[shardOf(fx, name)], "AWS::IAM::ManagedPolicy") {
			for _, s := range props(m)["PolicyDocument"].(map[string]any)["Statement"].([]any) {
				all = append(all, s.(map[string]any))
			}
		}
		for _, s := range all {
			if s["Sid"] == w[0] {
				found = true
				acts := s["Action"]
				if l, ok := acts.([]any); ok {
					var ss []string
					for _, a := range l {
						ss = append(ss, a.(string))
					}
					acts = strings.Join(ss, ",")
				}
				if acts != w[1] || s["Resource"] != w[2] {
					t.Errorf("%s: %s", name, js(s))
				}
			}
		}
		if !found {
			t.Errorf("%s: no %s statement", name, w[0])
		}
	}
}

// Proves: the rotator runs provided.al2023 on arm64 with JSON logs into its
// own log group, sized from the sweep interval, with the key ARN and (for
// several lanes) its own config path in its environment.
func TestRotatorFunction(t *testing.T) {
	fx := example(t)
	sweep := fx.plan.Config.SweepInterval()
	for _, sh := range fx.plan.Shards {
		fns := resources(fx.shardJS[sh.ID], "AWS::Lambda::Function")
		if len(fns) != len(sh.Lanes) {
			t.Fatalf("%s: %d functions for %d lanes", sh.ID, len(fns), len(sh.Lanes))
		}
		for _, lane := range sh.Lanes {
			// The bus ARN's value is checked in TestReadersMayReportToTheDefaultBus.
			env := map[string]any{lambdaenv.KMSKeyID: assertions.Match_AnyValue(), lambdaenv.EventBus: assertions.Match_AnyValue(), lambdaenv.StackName: "stsrotator"}
			if lane.ConfigEnv != "" {
				env[lambdaenv.ConfigPath] = lane.ConfigEnv
			}
			assert(t, sh.ID+"/"+lane.ID, func() {
				fx.shards[sh.ID].HasResourceProperties(jsii.String("AWS::Lambda::Function"), map[string]any{
					"FunctionName":  strings.ToLower("stsrotator-" + sh.ID + "-" + lane.ID),
					"Runtime":       "provided.al2023",
					"Architectures": []any{"arm64"},
					"Handler":       "bootstrap",
					"MemorySize":    stack.MemoryMB,
					"Timeout":       stack.Timeout(sweep).Seconds(),
					"LoggingConfig": map[string]any{"LogFormat": "JSON", "LogGroup": assertions.Match_AnyValue()},
					"Environment":   map[string]any{"Variables": assertions.Match_ObjectEquals(&env)},
				})
			})
		}
		// A failed sweep is not re-run by Lambda's async retries (up to 6 h
		// late): the next scheduled sweep retries what is still due.
		invoke := resources(fx.shardJS[sh.ID], "AWS::Lambda::EventInvokeConfig")
		if len(invoke) != len(sh.Lanes) {
			t.Fatalf("%s: %d async invoke configs for %d lanes", sh.ID, len(invoke), len(sh.Lanes))
		}
		for id, c := range invoke {
			p := props(c)
			if p["MaximumRetryAttempts"] != 0.0 || p["MaximumEventAgeInSeconds"] != max(sweep, time.Minute).Seconds() {
				t.Errorf("%s/%s: async invoke config %s, want 0 retries and a max age of one sweep", sh.ID, id, js(p))
			}
		}
		for id, f := range fns {
			v := props(f)["Environment"].(map[string]any)["Variables"].(map[string]any)[lambdaenv.KMSKeyID]
			if !fx.refersTo(sh.ID, v, fx.rootRef(t, "AWS::KMS::Key")) {
				t.Errorf("%s/%s: %s=%s is not the key ARN", sh.ID, id, lambdaenv.KMSKeyID, js(v))
			}
		}
	}
	if got := stack.Timeout(sweep); got != 4*time.Minute {
		t.Errorf("timeout for the example's 8m sweep: %s, want 4m", got)
	}
}

// Proves: the routes the reactor will carry send every target to the
// function of the lane that holds it, and no two lanes share a name.
func TestRoutes(t *testing.T) {
	fx := big(t)
	routes := fx.svc.Routes()
	if len(routes) != 2000 {
		t.Fatalf("%d routes", len(routes))
	}
	names := map[string]bool{}
	for _, sh := range fx.plan.Shards {
		for id, f := range resources(fx.shardJS[sh.ID], "AWS::Lambda::Function") {
			name := props(f)["FunctionName"].(string)
			if names[name] || len(name) > 64 {
				t.Errorf("%s/%s: name %q reused or too long", sh.ID, id, name)
			}
			names[name] = true
		}
		for _, lane := range sh.Lanes {
			for _, tg := range lane.Targets {
				if want := strings.ToLower("stsrotator-" + sh.ID + "-" + lane.ID); routes[tg.Name] != want {
					t.Errorf("%s routes to %q, want %q", tg.Name, routes[tg.Name], want)
				}
			}
		}
	}
}

// Proves: each lane is invoked every sweep interval with {} (a sweep),
// retried, and dead-lettered to the encrypted queue, by a role that may do
// only that.
func TestSweepSchedule(t *testing.T) {
	fx := example(t)
	dlq := ""
	for id := range resources(fx.rootJS, "AWS::SQS::Queue") {
		if strings.HasPrefix(id, "SweepDeadLetters") {
			dlq = id
		}
	}
	for _, sh := range fx.plan.Shards {
		tpl := fx.shardJS[sh.ID]
		scheds := resources(tpl, "AWS::Scheduler::Schedule")
		if len(scheds) != len(sh.Lanes) {
			t.Fatalf("%s: %d schedules for %d lanes", sh.ID, len(scheds), len(sh.Lanes))
		}
		for id, s := range scheds {
			p := props(s)
			tg := p["Target"].(map[string]any)
			if p["ScheduleExpression"] != "rate(8 minutes)" || js(p["FlexibleTimeWindow"]) != `{"Mode":"OFF"}` || p["State"] != "ENABLED" {
				t.Errorf("%s/%s: %s", sh.ID, id, js(p))
			}
			if tg["Input"] != "{}" || js(tg["RetryPolicy"]) != `{"MaximumEventAgeInSeconds":480,"MaximumRetryAttempts":2}` {
				t.Errorf("%s/%s: input %v, retry %s", sh.ID, id, tg["Input"], js(tg["RetryPolicy"]))
			}
			if !fx.refersTo(sh.ID, tg["DeadLetterConfig"].(map[string]any)["Arn"], dlq) {
				t.Errorf("%s/%s: dead letters go to %s", sh.ID, id, js(tg["DeadLetterConfig"]))
			}
			fn := tg["Arn"].(map[string]any)["Fn::GetAtt"].([]any)[0].(string)
			if _, ok := resources(tpl, "AWS::Lambda::Function")[fn]; !ok {
				t.Errorf("%s/%s: target %v is not a rotator", sh.ID, id, fn)
			}
			role := resources(tpl, "AWS::IAM::Role")[tg["RoleArn"].(map[string]any)["Fn::GetAtt"].([]any)[0].(string)]
			// Issue 18 §3: Scheduler may assume it only for this account's
			// default schedule group (aws:SourceAccount and aws:SourceArn).
			trust := js(props(role)["AssumeRolePolicyDocument"])
			if !strings.Contains(trust, `"aws:SourceAccount":{"Ref":"AWS::AccountId"}`) || !strings.Contains(trust, `":scheduler:",{"Ref":"AWS::Region"},":",{"Ref":"AWS::AccountId"},":schedule-group/default"`) ||
				!strings.Contains(trust, `"Service":"scheduler.amazonaws.com"`) {
				t.Errorf("%s/%s: scheduler role trust %s", sh.ID, id, trust)
			}
			var got []string
			for _, st := range stmtsOf(role) {
				got = append(got, fmt.Sprintf("%v %s", st["Action"], js(st["Resource"])))
			}
			if len(got) != 3 || got[0] != fmt.Sprintf(`lambda:InvokeFunction {"Fn::GetAtt":["%s","Arn"]}`, fn) ||
				!strings.HasPrefix(got[1], "sqs:SendMessage ") || !strings.HasPrefix(got[2], "[kms:Decrypt kms:GenerateDataKey] ") {
				t.Errorf("%s/%s: scheduler role may %v", sh.ID, id, got)
			}
		}
	}
	assert(t, "the queue refuses requests without TLS", func() {
		fx.root.HasResourceProperties(jsii.String("AWS::SQS::QueuePolicy"), map[string]any{
			"PolicyDocument": map[string]any{"Statement": assertions.Match_ArrayWith(&[]any{map[string]any{
				"Effect": "Deny", "Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}}, "Action": "sqs:*",
				"Principal": map[string]any{"AWS": "*"}, "Resource": assertions.Match_AnyValue(),
			}})},
		})
	})
}

// Proves: consumer reports match on the default bus by source and
// detail-type from shared/events, and each shard's CloudTrail rules match
// both ExpiredToken error codes for exactly that shard's role ARNs.
func TestExpiredTokenRules(t *testing.T) {
	fx := example(t)
	checkCloudTrailRules(t, fx)
	assert(t, "report rule", func() {
		fx.root.HasResourceProperties(jsii.String("AWS::Events::Rule"), map[string]any{
			"EventPattern": map[string]any{"source": []any{"stsrotator"}, "detail-type": []any{"ExpiredToken Observed"}},
			"EventBusName": assertions.Match_Absent(), "State": "ENABLED",
		})
	})
	if events.Source != "stsrotator" || events.DetailTypeExpiredToken != "ExpiredToken Observed" {
		t.Fatal("shared/events no longer says what the issue specifies")
	}
}

// checkCloudTrailRules proves the root has exactly one CloudTrail rule —
// aws.* sources, the classifier's expired-token codes, assumed-role
// sessions, no role list — on the default bus, and no shard has any: the
// rule count cannot grow with the config.
func checkCloudTrailRules(t *testing.T, fx *fixture) {
	t.Helper()
	n := 0
	for id, r := range resources(fx.rootJS, "AWS::Events::Rule") {
		p := props(r)["EventPattern"].(map[string]any)
		if js(p["detail-type"]) != `["AWS API Call via CloudTrail"]` {
			continue
		}
		n++
		if got := len(js(p)); got > stack.MaxPatternChars {
			t.Errorf("%s: pattern of %d chars", id, got)
		}
		want := map[string]any{
			"source":      []any{map[string]any{"prefix": "aws."}},
			"detail-type": []any{"AWS API Call via CloudTrail"},
			"detail": map[string]any{
				"errorCode":    toAny(stack.ExpiredTokenErrorCodes),
				"userIdentity": map[string]any{"type": []any{"AssumedRole"}},
			},
		}
		if js(p) != js(want) || props(r)["EventBusName"] != nil {
			t.Errorf("%s: pattern %s, want %s on the default bus", id, js(p), js(want))
		}
	}
	if n != 1 {
		t.Errorf("%d CloudTrail rules in the root stack, want 1", n)
	}
	for sid, tpl := range fx.shardJS {
		if rules := resources(tpl, "AWS::Events::Rule"); len(rules) != 0 {
			t.Errorf("%s has %d rules; rules must not grow with the targets", sid, len(rules))
		}
	}
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, x := range ss {
		out[i] = x
	}
	return out
}

// Proves: the reactor hook sends both kinds of ExpiredToken signal — the
// consumer reports and the CloudTrail rule — to its target.
func TestWireExpiredTokenReactor(t *testing.T) {
	p := example(t).plan
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(t.TempDir())})
	svc, err := stack.New(app, "Hook", stack.Props{StackName: "hook", Plan: p, CodeDir: t.TempDir(), WorkDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	q := awssqs.NewQueue(svc.Stack, jsii.String("StandIn"), nil)
	svc.WireExpiredTokenReactor(stack.QueueTarget(q))
	hasTarget := assertions.Match_ObjectLike(&map[string]any{"Targets": assertions.Match_ArrayWith(&[]any{assertions.Match_ObjectLike(&map[string]any{"Arn": assertions.Match_AnyValue()})})})
	root := assertions.Template_FromStack(svc.Stack, nil)
	assert(t, "both rules", func() {
		root.ResourceCountIs(jsii.String("AWS::Events::Rule"), jsii.Number(2))
		root.AllResourcesProperties(jsii.String("AWS::Events::Rule"), hasTarget)
	})
}

// alarmActionIsTopic says whether an alarm in shard sid (or the root, when
// sid is "") notifies the alert topic.
func (fx *fixture) alarmActionIsTopic(sid string, r map[string]any, topic string) bool {
	acts, _ := props(r)["AlarmActions"].([]any)
	if len(acts) != 1 {
		return false
	}
	if sid == "" {
		return js(acts[0]) == fmt.Sprintf(`{"Ref":"%s"}`, topic)
	}
	return fx.refersTo(sid, acts[0], topic)
}

// Proves: every alarm notifies the topic; the root alarms on a non-empty
// dead-letter queue; each lane alarms on rotator errors and has one
// validity alarm per 10 targets whose expression covers each of them with
// the metric, namespace and dimension from shared/metrics.
func TestAlarmsNotifyTheTopic(t *testing.T) {
	fx := example(t)
	checkAlarms(t, fx)
	assert(t, "dead-letter alarm", func() {
		fx.root.HasResourceProperties(jsii.String("AWS::CloudWatch::Alarm"), map[string]any{
			"MetricName": "ApproximateNumberOfMessagesVisible", "Namespace": "AWS/SQS", "Threshold": 1,
			"ComparisonOperator": "GreaterThanOrEqualToThreshold",
		})
	})
	assert(t, "reports waiting 15 minutes in the reactor's queue alarm", func() {
		fx.root.HasResourceProperties(jsii.String("AWS::CloudWatch::Alarm"), map[string]any{
			"MetricName": "ApproximateAgeOfOldestMessage", "Namespace": "AWS/SQS", "Threshold": 900, "Statistic": "Maximum",
			"ComparisonOperator": "GreaterThanOrEqualToThreshold", "TreatMissingData": "notBreaching",
		})
	})
	assert(t, "lost lifecycle events alarm on the first one", func() {
		fx.root.HasResourceProperties(jsii.String("AWS::CloudWatch::Alarm"), map[string]any{
			"MetricName": metrics.EventPublishFailures, "Namespace": metrics.Namespace, "Statistic": "Sum", "Threshold": 1,
			"ComparisonOperator": "GreaterThanOrEqualToThreshold", "TreatMissingData": "notBreaching",
		})
	})
	for _, m := range []string{metrics.SupersededNotCurrent, metrics.VersionQuotaHeld, metrics.RevocationCutoffsRefused} {
		assert(t, "an alarm on "+m+" across every lane", func() {
			fx.root.HasResourceProperties(jsii.String("AWS::CloudWatch::Alarm"), map[string]any{
				"MetricName": m, "Namespace": metrics.Namespace, "Statistic": "Sum", "Threshold": 1,
				"ComparisonOperator": "GreaterThanOrEqualToThreshold", "Dimensions": assertions.Match_Absent(),
			})
		})
	}
	assert(t, "the example's validity threshold for deploy-bot is refreshBefore (26m) less one sweep (8m)", func() {
		fx.shards[shardOf(fx, "deploy-bot")].HasResourceProperties(jsii.String("AWS::CloudWatch::Alarm"), map[string]any{
			"Metrics": assertions.Match_ArrayWith(&[]any{assertions.Match_ObjectLike(&map[string]any{"Expression": "MIN([FILL(v0,0)/1080])"})}),
		})
	})
}

func checkAlarms(t *testing.T, fx *fixture) {
	t.Helper()
	topic := fx.rootRef(t, "AWS::SNS::Topic")
	for id, r := range resources(fx.rootJS, "AWS::CloudWatch::Alarm") {
		if !fx.alarmActionIsTopic("", r, topic) {
			t.Errorf("root alarm %s does not notify the topic", id)
		}
	}
	for _, sh := range fx.plan.Shards {
		alarms := resources(fx.shardJS[sh.ID], "AWS::CloudWatch::Alarm")
		covered := map[string]bool{}
		errs := 0
		for id, r := range alarms {
			if !fx.alarmActionIsTopic(sh.ID, r, topic) {
				t.Errorf("%s/%s does not notify the topic", sh.ID, id)
			}
			p := props(r)
			if p["MetricName"] == "Errors" {
				errs++
				continue
			}
			if p["Threshold"] != 1.0 || p["ComparisonOperator"] != "LessThanThreshold" || p["TreatMissingData"] != "breaching" {
				t.Errorf("%s/%s: %s", sh.ID, id, js(p))
			}
			ms := p["Metrics"].([]any)
			if len(ms) > stack.TargetsPerAlarm+1 {
				t.Errorf("%s/%s: %d metrics, CloudWatch allows %d", sh.ID, id, len(ms)-1, stack.TargetsPerAlarm)
			}
			for _, m := range ms {
				st, ok := m.(map[string]any)["MetricStat"].(map[string]any)
				if !ok {
					continue
				}
				met := st["Metric"].(map[string]any)
				dims := met["Dimensions"].([]any)
				if met["Namespace"] != metrics.Namespace || met["MetricName"] != metrics.ValiditySeconds || len(dims) != 1 || dims[0].(map[string]any)["Name"] != metrics.DimTarget {
					t.Errorf("%s/%s: %s", sh.ID, id, js(met))
				}
				covered[dims[0].(map[string]any)["Value"].(string)] = true
			}
		}
		if errs != len(sh.Lanes) {
			t.Errorf("%s: %d error alarms for %d lanes", sh.ID, errs, len(sh.Lanes))
		}
		for _, tg := range sh.Targets {
			if !covered[tg.Name] {
				t.Errorf("%s: no validity alarm covers %s", sh.ID, tg.Name)
			}
		}
	}
}

// Proves: the dashboard graphs every target's validity left and rotations
// (search expressions, so it neither grows with the config nor misses a
// target).
func TestDashboard(t *testing.T) {
	fx := example(t)
	body := js(props(resources(fx.rootJS, "AWS::CloudWatch::Dashboard")[fx.rootRef(t, "AWS::CloudWatch::Dashboard")])["DashboardBody"])
	for _, m := range []string{metrics.ValiditySeconds, metrics.Rotations} {
		want := fmt.Sprintf(`SEARCH('{%s,%s} MetricName=\\\"%s\\\"'`, metrics.Namespace, metrics.DimTarget, m)
		if !strings.Contains(body, want) {
			t.Errorf("dashboard has no %s search; body: %s", m, body)
		}
	}
}

// Proves: the root stack outputs what a user needs — topic, bus, source
// and detail-type — and, for a config this small, each secret's ARN and
// its exact ~/.aws/config line; the shard stacks carry the same
// per-target outputs whatever the config's size.
func TestOutputs(t *testing.T) {
	fx := example(t)
	keys := plan.OutputKeys(fx.plan.Config)
	for id, v := range map[string]any{
		"AlertTopicArn":           map[string]any{"Ref": fx.rootRef(t, "AWS::SNS::Topic")},
		"ExpiredTokenEventBusArn": assertions.Match_AnyValue(),
		"ExpiredTokenSource":      events.Source,
		"ExpiredTokenDetailType":  events.DetailTypeExpiredToken,
		"Summary":                 "3 targets in 3 shard stacks, rotated by 3 functions every 8m0s",
	} {
		assert(t, id, func() { fx.root.HasOutput(jsii.String(id), map[string]any{"Value": v}) })
	}
	for _, sh := range fx.plan.Shards {
		for _, tg := range sh.Targets {
			k := keys[tg.Name]
			line := func(arn any) map[string]any {
				return map[string]any{"Fn::Join": []any{"", []any{"credential_process = stsrotator credential-process --secret-id ", arn, " --region ", map[string]any{"Ref": "AWS::Region"}}}}
			}
			assert(t, tg.Name, func() {
				fx.root.HasOutput(jsii.String("AwsConfig"+k), map[string]any{"Value": line(map[string]any{"Fn::GetAtt": assertions.Match_AnyValue()})})
				fx.root.HasOutput(jsii.String("SecretArn"+k), map[string]any{"Value": map[string]any{"Fn::GetAtt": assertions.Match_AnyValue()}})
				fx.shards[sh.ID].HasOutput(jsii.String("AwsConfig"+k), map[string]any{"Value": line(map[string]any{"Ref": "Secret" + k})})
				fx.shards[sh.ID].HasOutput(jsii.String("SecretArn"+k), map[string]any{"Value": map[string]any{"Ref": "Secret" + k}})
			})
		}
	}
}

// Proves: cdk-nag's AWS Solutions rules report no unsuppressed finding,
// and the only suppressions are the reasoned ones (so a new one cannot
// slip in unreviewed).
func TestNagClean(t *testing.T) {
	fx := example(t)
	errs := assertions.Annotations_FromStack(fx.svc.Stack).FindError(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*")))
	for _, e := range *errs {
		t.Errorf("unsuppressed finding: %s", js(e))
	}
	got := map[string]string{}
	collect := func(tpl map[string]any) {
		for _, r := range tpl["Resources"].(map[string]any) {
			md, _ := r.(map[string]any)["Metadata"].(map[string]any)
			nag, _ := md["cdk_nag"].(map[string]any)
			rules, _ := nag["rules_to_suppress"].([]any)
			for _, s := range rules {
				sm := s.(map[string]any)
				got[sm["id"].(string)] = sm["reason"].(string)
			}
		}
	}
	collect(fx.rootJS)
	for _, tpl := range fx.shardJS {
		collect(tpl)
	}
	// No IAM5: the example's reactor reads its five secrets by name and
	// invokes no function by pattern (issue 18 §3); a config too big to
	// list its secrets gets the reactor's one reasoned IAM5
	// (TestTwoThousandTargets).
	want := map[string]string{"AwsSolutions-SMG4": "4 hours", "AwsSolutions-SQS3": "dead-letter queue"}
	if len(got) != len(want) {
		t.Errorf("suppressions %v, want only %v", got, want)
	}
	for id, must := range want {
		if !strings.Contains(got[id], must) {
			t.Errorf("%s: reason %q does not say why (%q)", id, got[id], must)
		}
	}
}

// Proves: the nag check is live — an unencrypted queue is reported as an
// error, which is what fails a synth.
func TestNagReportsAFinding(t *testing.T) {
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(t.TempDir())})
	stack.Nag(app)
	st := awscdk.NewStack(app, jsii.String("Bad"), nil)
	awssqs.NewQueue(st, jsii.String("Plain"), &awssqs.QueueProps{Encryption: awssqs.QueueEncryption_UNENCRYPTED})
	errs := assertions.Annotations_FromStack(st).FindError(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-SQS.*")))
	if len(*errs) == 0 {
		t.Fatal("cdk-nag reported nothing for an unencrypted queue without a dead-letter queue")
	}
}

// CloudFormation and IAM limits that a 2,000-target config must respect.
const (
	maxResources   = 500
	maxOutputs     = 200
	maxParameters  = 200
	maxTemplate    = 1_000_000
	maxInlinePolic = 10_240
)

// Proves: a 2,000-target config synthesises into stacks inside
// CloudFormation's limits (resources, outputs, parameters, template size),
// every lane's inline policy stays under IAM's 10,240 characters even with
// the longest partition, region and generated names, and the policies,
// rules and alarms are as exact as for the example.
func TestTwoThousandTargets(t *testing.T) {
	fx := big(t)
	t.Logf("2,000 targets: %d shards, %d lanes, synth and template read in %s", len(fx.plan.Shards), len(fx.plan.Lanes()), fx.took.Round(time.Second))
	all := map[string]map[string]any{"root": fx.rootJS}
	for id, tpl := range fx.shardJS {
		all[id] = tpl
	}
	secrets, largest := 0, 0
	for id, tpl := range all {
		n := func(k string) int { m, _ := tpl[k].(map[string]any); return len(m) }
		if n("Resources") > maxResources || n("Outputs") > maxOutputs || n("Parameters") > maxParameters || len(js(tpl)) > maxTemplate {
			t.Errorf("%s: %d resources, %d outputs, %d parameters, %d bytes", id, n("Resources"), n("Outputs"), n("Parameters"), len(js(tpl)))
		}
		secrets += len(resources(tpl, "AWS::SecretsManager::Secret"))
		for rid, r := range resources(tpl, "AWS::IAM::Role") {
			size := len(js(worstCase(tpl, props(r)["Policies"])))
			if size > maxInlinePolic {
				t.Errorf("%s/%s: inline policies reach %d chars in the worst case", id, rid, size)
			}
			largest = max(largest, size)
		}
	}
	t.Logf("largest worst-case inline policy: %d of IAM's %d chars", largest, maxInlinePolic)
	if secrets != 2000 {
		t.Fatalf("%d secrets", secrets)
	}
	if _, ok := fx.rootJS["Outputs"].(map[string]any)["AwsConfigTarget0000"]; ok {
		t.Error("per-target outputs on the root stack would exceed 200 outputs")
	}
	checkRotatorPolicies(t, fx)
	checkCloudTrailRules(t, fx)
	checkAlarms(t, fx)
	// Issue 18 §3: 2,000 secret names do not fit the reactor's policy, so
	// it reads by the config's name prefixes, never secret:*.
	for id, r := range resources(fx.rootJS, "AWS::IAM::Policy") {
		if !strings.HasPrefix(id, "ReactorPolicy") {
			continue
		}
		for _, st := range props(r)["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			sm := st.(map[string]any)
			if sm["Sid"] != "ReadTargetSecrets" {
				continue
			}
			res := js(sm["Resource"])
			if strings.Contains(res, `:secret:*"`) || !strings.Contains(res, `:secret:stsrotator/*"`) {
				t.Errorf("the reactor's secret reads at 2,000 targets: %s", res)
			}
		}
	}
	assert(t, "alerts.emails subscribe to the topic", func() {
		fx.root.HasResourceProperties(jsii.String("AWS::SNS::Subscription"), map[string]any{
			"Protocol": "email", "Endpoint": "oncall@example.com", "TopicArn": map[string]any{"Ref": fx.rootRef(t, "AWS::SNS::Topic")},
		})
	})
	assert(t, "the summary points at the shard stacks", func() {
		fx.root.HasOutput(jsii.String("Summary"), map[string]any{"Value": assertions.Match_StringLikeRegexp(jsii.String("^2000 targets in 256 shard stacks.*nested stack stsrotator-ShardNNN"))})
	})
}

// worstCase replaces every deploy-time value in v with the longest value
// it can take, so the rendered length bounds the real one.
func worstCase(tpl map[string]any, v any) any {
	const (
		partition = "aws-iso-b"
		region    = "ap-southeast-7xx"
		account   = "123456789012"
		suffix    = "amazonaws.com.cn"
		generated = 256 // a generated physical name (nested stack name + logical ID + suffix), generously
	)
	switch x := v.(type) {
	case []any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = worstCase(tpl, x[i])
		}
		return out
	case map[string]any:
		if ref, ok := x["Ref"].(string); ok {
			switch ref {
			case "AWS::Partition":
				return partition
			case "AWS::Region":
				return region
			case "AWS::AccountId":
				return account
			case "AWS::URLSuffix":
				return suffix
			}
			if r, ok := tpl["Resources"].(map[string]any)[ref].(map[string]any); ok && r["Type"] == "AWS::SecretsManager::Secret" {
				return fmt.Sprintf("arn:%s:secretsmanager:%s:%s:secret:%s-abcdef", partition, region, account, props(r)["Name"])
			}
			// a parameter: the key or queue ARN passed from the root
			return fmt.Sprintf("arn:%s:kms:%s:%s:key/%s", partition, region, account, strings.Repeat("f", 36))
		}
		if _, ok := x["Fn::GetAtt"]; ok {
			return fmt.Sprintf("arn:%s:logs:%s:%s:log-group:%s:*", partition, region, account, strings.Repeat("n", generated))
		}
		if j, ok := x["Fn::Join"].([]any); ok {
			var b strings.Builder
			for i, part := range j[1].([]any) {
				if i > 0 {
					b.WriteString(j[0].(string))
				}
				b.WriteString(fmt.Sprint(worstCase(tpl, part)))
			}
			return b.String()
		}
		out := map[string]any{}
		for k, e := range x {
			out[k] = worstCase(tpl, e)
		}
		return out
	}
	return v
}

// Proves: every Lambda function in every template is created after every
// IAM policy attached to its role in that template (inline policies in the
// role need nothing: the function already waits for its role), so no
// function can run, or be invoked by a rule or schedule, before its
// permissions exist.
func TestFunctionsStartAfterTheirPolicies(t *testing.T) {
	for _, fx := range []*fixture{example(t), big(t)} {
		checked := 0
		for name, tpl := range allTemplates(fx) {
			policies := resources(tpl, "AWS::IAM::Policy")
			for id, fn := range resources(tpl, "AWS::Lambda::Function") {
				role := js(props(fn)["Role"])
				deps := js(fn["DependsOn"])
				for pid, p := range policies {
					if strings.Contains(js(props(p)["Roles"]), roleRef(role)) {
						checked++
						if !strings.Contains(deps, `"`+pid+`"`) {
							t.Errorf("%s/%s does not wait for %s, attached to its role: DependsOn %s", name, id, pid, deps)
						}
					}
				}
			}
		}
		if checked == 0 {
			t.Error("no function with a separate policy found: the test checks nothing")
		}
	}
}

// roleRef turns a function's Role ({"Fn::GetAtt":["X","Arn"]}) into the
// {"Ref":"X"} a policy's Roles lists.
func roleRef(getAtt string) string {
	var v map[string][]any
	if err := json.Unmarshal([]byte(getAtt), &v); err != nil || len(v["Fn::GetAtt"]) == 0 {
		return "\x00"
	}
	return fmt.Sprintf(`{"Ref":"%s"}`, v["Fn::GetAtt"][0])
}

// Proves: alarms can alert. The topic policy (which replaces SNS's
// default) lets cloudwatch.amazonaws.com publish, only for alarms of this
// account and Region, as AWS documents; the key policy has AWS's
// documented statement for CloudWatch alarms on an encrypted topic, with
// the same aws:SourceAccount and aws:SourceArn conditions.
func TestAlarmsCanPublish(t *testing.T) {
	fx := example(t)
	topic := fx.rootRef(t, "AWS::SNS::Topic")
	var found bool
	for _, r := range resources(fx.rootJS, "AWS::SNS::TopicPolicy") {
		for _, st := range props(r)["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			s := st.(map[string]any)
			if s["Sid"] != "Allow_Publish_Alarms" {
				continue
			}
			found = true
			want := map[string]any{
				"Sid": "Allow_Publish_Alarms", "Effect": "Allow", "Principal": map[string]any{"Service": "cloudwatch.amazonaws.com"},
				"Action": "sns:Publish", "Resource": map[string]any{"Ref": topic},
				"Condition": map[string]any{
					"StringEquals": map[string]any{"aws:SourceAccount": map[string]any{"Ref": "AWS::AccountId"}},
					"ArnLike": map[string]any{"aws:SourceArn": map[string]any{"Fn::Join": []any{"", []any{"arn:", map[string]any{"Ref": "AWS::Partition"}, ":cloudwatch:",
						map[string]any{"Ref": "AWS::Region"}, ":", map[string]any{"Ref": "AWS::AccountId"}, ":alarm:*"}}}},
				},
			}
			if js(s) != js(want) {
				t.Errorf("topic policy statement for alarms:\n got %s\nwant %s", js(s), js(want))
			}
		}
	}
	if !found {
		t.Error("the topic policy does not let CloudWatch alarms publish")
	}
	key := resources(fx.rootJS, "AWS::KMS::Key")[fx.rootRef(t, "AWS::KMS::Key")]
	found = false
	for _, st := range props(key)["KeyPolicy"].(map[string]any)["Statement"].([]any) {
		s := st.(map[string]any)
		if s["Sid"] != "Allow_CloudWatch_for_CMK" {
			continue
		}
		found = true
		// Issue 18 §3: with the confused-deputy conditions AWS documents,
		// the same as the topic policy's.
		want := `{"Action":["kms:Decrypt","kms:GenerateDataKey*"],"Condition":{"ArnLike":{"aws:SourceArn":{"Fn::Join":["",["arn:",{"Ref":"AWS::Partition"},":cloudwatch:",{"Ref":"AWS::Region"},":",{"Ref":"AWS::AccountId"},":alarm:*"]]}},"StringEquals":{"aws:SourceAccount":{"Ref":"AWS::AccountId"}}},"Effect":"Allow","Principal":{"Service":"cloudwatch.amazonaws.com"},"Resource":"*","Sid":"Allow_CloudWatch_for_CMK"}`
		if js(s) != want {
			t.Errorf("key policy statement for alarms:\n got %s\nwant %s", js(s), want)
		}
	}
	if !found {
		t.Error("the key policy does not let CloudWatch alarms use the key")
	}
}

// Proves: every secret and its resource policy are retained when their
// target leaves the config or a change would replace them
// (DeletionPolicy and UpdateReplacePolicy Retain), so a config mistake
// cannot delete credentials consumers are reading; docs/infra.md says
// what happens then.
func TestSecretsAreRetained(t *testing.T) {
	fx := example(t)
	n := 0
	for sid, tpl := range fx.shardJS {
		for _, typ := range []string{"AWS::SecretsManager::Secret", "AWS::SecretsManager::ResourcePolicy"} {
			for id, r := range resources(tpl, typ) {
				n++
				if r["DeletionPolicy"] != "Retain" || r["UpdateReplacePolicy"] != "Retain" {
					t.Errorf("%s/%s: DeletionPolicy %v, UpdateReplacePolicy %v; want Retain and Retain", sid, id, r["DeletionPolicy"], r["UpdateReplacePolicy"])
				}
			}
		}
	}
	if n != 2*len(fx.plan.Config.Targets) {
		t.Fatalf("%d secrets and policies for %d targets", n, len(fx.plan.Config.Targets))
	}
}

// Proves: a lane's schedule waits for its targets' secrets, which its
// role names by ARN pattern rather than by reference: the first sweep
// must not create a secret CloudFormation is about to create.
func TestSchedulesWaitForTheirSecrets(t *testing.T) {
	fx := example(t)
	keys := plan.OutputKeys(fx.plan.Config)
	for _, sh := range fx.plan.Shards {
		for _, lane := range sh.Lanes {
			for id, s := range resources(fx.shardJS[sh.ID], "AWS::Scheduler::Schedule") {
				if !strings.HasPrefix(id, lane.ID) {
					continue
				}
				for _, tg := range lane.Targets {
					if !strings.Contains(js(s["DependsOn"]), `"Secret`+keys[tg.Name]+`"`) {
						t.Errorf("%s/%s does not wait for the secret of %s: %s", sh.ID, id, tg.Name, js(s["DependsOn"]))
					}
				}
			}
		}
	}
}

// Proves: the 2,000-target templates are inside every quota of
// shared/quotas, measured at their longest values by infra/quotacheck
// (the guard the app runs after every synth), and logs the figures.
func TestTwoThousandTargetsWithinQuotas(t *testing.T) {
	fx := big(t)
	var ts []quotacheck.Template
	for name, tpl := range allTemplates(fx) {
		ts = append(ts, quotacheck.Template{Name: name, Body: tpl, Bytes: len(js(tpl))})
	}
	for _, err := range quotacheck.Check(ts) {
		t.Error(err)
	}
	f := quotacheck.Measure(ts)
	for _, id := range []string{quotas.LambdaFunctionPolicy.ID, quotas.RulesPerBus.ID, quotas.StackResources.ID, quotas.StackOutputs.ID, quotas.RoleInlinePolicies.ID, quotas.SecretResourcePolicy.ID, quotas.KeyPolicy.ID} {
		q, _ := quotas.ByID(id)
		t.Logf("%s: %d of %d %s (%s)", id, f.Max[id], q.Limit, q.Unit, f.Where[id])
	}
}

// Proves: a work directory the per-target templates cannot be written to
// is an error naming the shard, not a panic.
func TestUnwritableWorkDir(t *testing.T) {
	p := example(t).plan
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(t.TempDir())})
	_, err := stack.New(app, "NoDir", stack.Props{StackName: "nodir", Plan: p, CodeDir: t.TempDir(), WorkDir: filepath.Join(t.TempDir(), "missing")})
	if err == nil || !strings.Contains(err.Error(), "write the targets of Shard") {
		t.Fatalf("got %v", err)
	}
}
