package plan

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/stsrotator/stsrotator/infra/quotacheck"
	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/events"
	"github.com/stsrotator/stsrotator/shared/quotas"
)

// The per-config policies whose size grows with what the config lists
// (readers), built here in plain Go so that the plan, and so both
// `stsrotator validate` and `cdk synth`, refuse a config that would cross
// their quota, with the same message; infra/stack renders the same
// documents and infra/quotacheck measures the synthesized templates as a
// backstop.

var (
	reAccount = regexp.MustCompile(`^\d{12}$`)
	reRoot    = regexp.MustCompile(`^arn:[a-z-]+:iam::(\d{12}):root$`)
	reARN     = regexp.MustCompile(`^arn:[a-z-]+:iam::(\d{12}):`)
)

// Readers splits a target's validated readers into whole accounts (an
// account ID or its root ARN) and individual principal ARNs, because the
// two are matched by different condition keys.
func Readers(t config.Target) (accounts, arns []string) {
	for _, r := range t.Readers {
		switch {
		case reAccount.MatchString(r):
			accounts = append(accounts, r)
		case reRoot.MatchString(r):
			accounts = append(accounts, reRoot.FindStringSubmatch(r)[1])
		default:
			arns = append(arns, r)
		}
	}
	return accounts, arns
}

// ReaderAccounts is every account any reader of ts belongs to, sorted.
func ReaderAccounts(ts []config.Target) []string {
	set := map[string]bool{}
	for _, t := range ts {
		for _, r := range t.Readers {
			if reAccount.MatchString(r) {
				set[r] = true
			} else if m := reARN.FindStringSubmatch(r); m != nil {
				set[m[1]] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for a := range set {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

func ref(id string) map[string]any { return map[string]any{"Ref": id} }

// join is Fn::Join with no separator, the form CDK renders tokens in.
func join(parts ...any) map[string]any { return map[string]any{"Fn::Join": []any{"", parts}} }

// RoleArnOf is the exact ARN of the stack's role named name, in the
// stack's account and partition, as a template value.
func RoleArnOf(name string) map[string]any {
	return join("arn:", ref("AWS::Partition"), ":iam::", ref("AWS::AccountId"), ":role/"+name)
}

// CDKQualifierDefault is the CDK bootstrap's default qualifier
// (https://docs.aws.amazon.com/cdk/v2/guide/bootstrapping-env.html).
const CDKQualifierDefault = "hnb659fds"

// MaxCDKQualifierLen is the longest qualifier `cdk bootstrap` accepts (its
// template's Qualifier parameter: up to 10 characters).
const MaxCDKQualifierLen = 10

// CfnExecRoleArn is the exact ARN of the CDK bootstrap's CloudFormation
// execution role for qualifier, in the stack's account and Region
// (cdk-<qualifier>-cfn-exec-role-<account>-<region>,
// https://docs.aws.amazon.com/cdk/v2/guide/bootstrapping-env.html): the
// role CloudFormation deploys the stack, and its nested stacks, with.
func CfnExecRoleArn(qualifier string) map[string]any {
	return join("arn:", ref("AWS::Partition"), ":iam::", ref("AWS::AccountId"), ":role/cdk-"+qualifier+"-cfn-exec-role-", ref("AWS::AccountId"), "-", ref("AWS::Region"))
}

// SecretReadActions are the Secrets Manager actions on an existing secret
// that change nothing: Read and List access in the Service Authorization
// Reference
// (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awssecretsmanager.html),
// and ValidateResourcePolicy, which only checks a document. The write
// denies are NotAction these (and, for target secrets, SecretTagActions,
// which have their own statement), so every other action — today's
// SecretWriteActions and any AWS adds later — is denied to all but the
// writers; an enumerated list went stale when Secrets Manager added
// cross-account replication (AssociateCrossAccountReplica copies every
// future value to another account). GetSecretValue has its own read deny;
// BatchGetSecretValue takes GetSecretValue on each secret too
// (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_BatchGetSecretValue.html).
var SecretReadActions = []string{
	"secretsmanager:BatchGetSecretValue",
	"secretsmanager:DescribeSecret",
	"secretsmanager:GetResourcePolicy",
	"secretsmanager:GetSecretValue",
	"secretsmanager:ListSecretVersionIds",
	"secretsmanager:ValidateResourcePolicy",
}

// SecretWriteActions are the Secrets Manager actions on an existing
// secret that can change the stored value (PutSecretValue, UpdateSecret
// with a SecretString), which version AWSCURRENT is
// (UpdateSecretVersionStage, RotateSecret, CancelRotateSecret), whether
// the secret exists (DeleteSecret, RestoreSecret), who may use it
// (PutResourcePolicy, DeleteResourcePolicy) or where it is copied
// (ReplicateSecretToRegions, RemoveRegionsFromReplication,
// StopReplicationToReplica, AssociateCrossAccountReplica,
// DisassociateCrossAccountReplica, AcceptCrossAccountReplication). The
// policies do not list them (SecretReadActions says why); tests prove each
// is denied. CreateSecret acts on no existing secret, so a resource policy
// cannot govern it. Tagging is SecretTagActions.
var SecretWriteActions = []string{
	"secretsmanager:AcceptCrossAccountReplication",
	"secretsmanager:AssociateCrossAccountReplica",
	"secretsmanager:CancelRotateSecret",
	"secretsmanager:DeleteResourcePolicy",
	"secretsmanager:DeleteSecret",
	"secretsmanager:DisassociateCrossAccountReplica",
	"secretsmanager:PutResourcePolicy",
	"secretsmanager:PutSecretValue",
	"secretsmanager:RemoveRegionsFromReplication",
	"secretsmanager:ReplicateSecretToRegions",
	"secretsmanager:RestoreSecret",
	"secretsmanager:RotateSecret",
	"secretsmanager:StopReplicationToReplica",
	"secretsmanager:UpdateSecret",
	"secretsmanager:UpdateSecretVersionStage",
}

// TargetWriteDenyNotActions is the NotAction of a target secret's
// OnlyTheRotatorWrites: SecretReadActions and SecretTagActions.
func TargetWriteDenyNotActions() []string {
	return append(append([]string{}, SecretReadActions...), SecretTagActions...)
}

// SecretTagActions change a secret's tags; both carry aws:TagKeys (the
// Service Authorization Reference above), so a policy can deny them for
// stsrotator's own keys (config.ReservedTagPrefix) and leave other tags to
// their owners.
var SecretTagActions = []string{"secretsmanager:TagResource", "secretsmanager:UntagResource"}

// ReservedTagKeys is the aws:TagKeys pattern of stsrotator's own tags.
const ReservedTagKeys = config.ReservedTagPrefix + "*"

// ReadPolicy is the resource policy document of target t's secret, as a
// template value, for a stack named stackName deployed by the CDK
// execution role of qualifier:
//   - the declared readers may read it, and nobody else may (not even
//     principals of this account whose own IAM policies would allow it)
//     but t's rotator role and the stack's reactor, which compares
//     reported keys with the current and previous versions;
//   - nobody may read it without TLS;
//   - nobody but t's rotator role and the CloudFormation execution role
//     may do anything to it but read it (NotAction SecretReadActions):
//     write, re-stage, re-policy, rotate, replicate, delete or restore it
//     (SecretWriteActions, and any action AWS adds), or add or remove its stsrotator: tags
//     (SecretTagActions): an explicit Deny wins over any Allow, an
//     administrator's included
//     (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html).
//
// Every exempted principal is an exact ARN under ArnNotEquals: the roles
// have literal names (RotatorRoleName, ReactorRoleName) and no path, so no
// role anyone else creates can match.
func ReadPolicy(stackName, qualifier string, t config.Target) map[string]any {
	accounts, arns := Readers(t)
	const read = "secretsmanager:GetSecretValue"
	rotator := RoleArnOf(RotatorRoleName(stackName, ShardOf(t.Name)))
	var stmts []any
	if len(t.Readers) > 0 {
		var ps []any
		for _, a := range accounts {
			ps = append(ps, join("arn:", ref("AWS::Partition"), ":iam::"+a+":root"))
		}
		for _, a := range arns {
			ps = append(ps, a)
		}
		var principal any = ps
		if len(ps) == 1 {
			principal = ps[0]
		}
		stmts = append(stmts, map[string]any{"Sid": "DeclaredReadersRead", "Effect": "Allow", "Principal": map[string]any{"AWS": principal}, "Action": read, "Resource": "*"})
	}
	allowed := []any{rotator, RoleArnOf(ReactorRoleName(stackName))}
	for _, a := range arns {
		allowed = append(allowed, a)
	}
	// Conditions under different operators are ANDed: a read is denied
	// only when the caller is neither a listed principal nor in a listed
	// account.
	cond := map[string]any{"ArnNotEquals": map[string]any{"aws:PrincipalArn": allowed}}
	if len(accounts) > 0 {
		sorted := append([]string(nil), accounts...)
		sort.Strings(sorted)
		as := make([]any, len(sorted))
		for i, a := range sorted {
			as[i] = a
		}
		cond["StringNotEquals"] = map[string]any{"aws:PrincipalAccount": as}
	}
	writers := map[string]any{"aws:PrincipalArn": []any{rotator, CfnExecRoleArn(qualifier)}}
	anyone := map[string]any{"AWS": "*"}
	stmts = append(stmts,
		// In a secret's resource policy "*" is the only valid Resource: it
		// means the secret the policy is attached to.
		map[string]any{"Sid": "OnlyReadersAndStsrotatorRead", "Effect": "Deny", "Principal": anyone, "Action": read, "Resource": "*", "Condition": cond},
		map[string]any{"Sid": "DenyReadsWithoutTLS", "Effect": "Deny", "Principal": anyone, "Action": read, "Resource": "*",
			"Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}}},
		map[string]any{"Sid": "OnlyTheRotatorWrites", "Effect": "Deny", "Principal": anyone, "NotAction": TargetWriteDenyNotActions(), "Resource": "*",
			"Condition": map[string]any{"ArnNotEquals": writers}},
		map[string]any{"Sid": "OnlyTheRotatorTagsStsrotatorKeys", "Effect": "Deny", "Principal": anyone, "Action": SecretTagActions, "Resource": "*",
			"Condition": map[string]any{"ArnNotEquals": writers, "ForAnyValue:StringLike": map[string]any{"aws:TagKeys": ReservedTagKeys}}},
	)
	return map[string]any{"Version": "2012-10-17", "Statement": stmts}
}

// ReadPolicySize is ReadPolicy's length in characters at its longest: in
// the longest partition, Region and account (quotacheck.WorstCase), for
// the longest stack name CheckStackName accepts and the longest CDK
// qualifier, so a config that fits here fits under any stack name and
// bootstrap the user deploys it with.
func ReadPolicySize(t config.Target) int {
	b, _ := json.Marshal(quotacheck.WorstCase(nil, ReadPolicy(strings.Repeat("s", MaxStackNameLen), strings.Repeat("q", MaxCDKQualifierLen), t)))
	return len(b)
}

// ReportBusStatementID names the statement a stack adds to the default
// bus's resource policy so reader accounts can report ExpiredToken. It
// carries the stack name: the bus is one per account and Region, and two
// stacks there (docs/scale.md's plan for more targets than one stack
// holds) must not replace or remove each other's statement. At most 59
// characters with CheckStackName's longest name, inside EventBridge's 64
// for a StatementId
// (https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutPermission.html).
func ReportBusStatementID(stackName string) string { return stackName + "-ReadersReport" }

// ReportBusRoleStatementID names the second statement a stack may add to
// the default bus's policy: reader accounts whose readers are all role or
// user ARNs, each principal narrowed to those ARNs. At most 63 characters
// with CheckStackName's longest name.
func ReportBusRoleStatementID(stackName string) string { return stackName + "-RoleReadersReport" }

// ReportSenders splits the reader accounts of ts by what the bus policy
// lets them report from: whole lists accounts any principal of which may
// report, arns the exact role and user ARNs of the other reader accounts
// (arnAccounts), whose reports the bus narrows to those principals
// (aws:PrincipalArn). An account is whole when it is a reader itself (an
// account ID or its root ARN) for some target. An account read only
// through ARNs is narrowed while the policy still fits its quota
// (quotas.EventBusPolicy, measured as ReportBusPolicySize does): accounts
// with the fewest ARNs first, so a config that fitted before narrowing
// existed still deploys, and an account whose ARNs would not fit stays
// whole — the reactor still acts only on reports naming a target that
// account reads (reaction.Reads). All three lists sorted.
func ReportSenders(ts []config.Target) (whole, arnAccounts, arns []string) {
	wholeSet := map[string]bool{}
	byAccount := map[string]map[string]bool{}
	for _, t := range ts {
		accounts, principals := Readers(t)
		for _, a := range accounts {
			wholeSet[a] = true
		}
		for _, p := range principals {
			if m := reARN.FindStringSubmatch(p); m != nil {
				if byAccount[m[1]] == nil {
					byAccount[m[1]] = map[string]bool{}
				}
				byAccount[m[1]][p] = true
			}
		}
	}
	var candidates []string
	for a := range byAccount {
		if !wholeSet[a] {
			candidates = append(candidates, a)
		}
	}
	sort.Slice(candidates, func(i, j int) bool {
		ni, nj := len(byAccount[candidates[i]]), len(byAccount[candidates[j]])
		return ni < nj || ni == nj && candidates[i] < candidates[j]
	})
	// Start with every candidate whole, then narrow while it fits.
	for _, a := range candidates {
		wholeSet[a] = true
	}
	sorted := func(set map[string]bool) []string {
		out := make([]string, 0, len(set))
		for k := range set {
			out = append(out, k)
		}
		sort.Strings(out)
		return out
	}
	narrowed, arnSet := map[string]bool{}, map[string]bool{}
	for _, a := range candidates {
		delete(wholeSet, a)
		narrowed[a] = true
		for p := range byAccount[a] {
			arnSet[p] = true
		}
		if worstBusPolicySize(sorted(wholeSet), sorted(narrowed), sorted(arnSet)) > quotas.EventBusPolicy.Limit {
			wholeSet[a] = true
			delete(narrowed, a)
			for p := range byAccount[a] {
				delete(arnSet, p)
			}
		}
	}
	return sorted(wholeSet), sorted(narrowed), sorted(arnSet)
}

// ReportBusStatements is the default bus's policy statements a stack adds
// so readers can report ExpiredToken (each with its Sid, which is the
// StatementId CloudFormation gives it): one for whole accounts, one for
// accounts that only role or user ARNs read, narrowed with ArnEquals on
// aws:PrincipalArn (a global key present in every request:
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalarn).
// root renders an account's root principal and resource the bus ARN, as
// template values or as literal strings; the stack and ReportBusPolicySize
// build the same statements from here.
func ReportBusStatements(stackName string, ts []config.Target, root func(account string) any, resource any) []map[string]any {
	whole, arnAccounts, arns := ReportSenders(ts)
	return reportBusStatements(stackName, whole, arnAccounts, arns, root, resource)
}

func reportBusStatements(stackName string, whole, arnAccounts, arns []string, root func(account string) any, resource any) []map[string]any {
	stmt := func(sid string, accounts []string) map[string]any {
		principals := make([]any, len(accounts))
		for i, a := range accounts {
			principals[i] = root(a)
		}
		return map[string]any{
			"Sid":       sid,
			"Effect":    "Allow",
			"Principal": map[string]any{"AWS": principals},
			"Action":    "events:PutEvents",
			"Resource":  resource,
			"Condition": map[string]any{
				// PutEvents carries a list of entries: every one must be an
				// stsrotator report.
				"ForAllValues:StringEquals": map[string]any{"events:source": []string{events.Source}},
				"StringEquals":              map[string]any{"events:detail-type": events.DetailTypeExpiredToken},
			},
		}
	}
	var out []map[string]any
	if len(whole) > 0 {
		out = append(out, stmt(ReportBusStatementID(stackName), whole))
	}
	if len(arns) > 0 {
		s := stmt(ReportBusRoleStatementID(stackName), arnAccounts)
		s["Condition"].(map[string]any)["ArnEquals"] = map[string]any{"aws:PrincipalArn": arns}
		out = append(out, s)
	}
	return out
}

// worstBusPolicySize is the bus policy with these statements, rendered as
// the template renders them and measured as quotacheck measures it, for
// the longest stack name.
func worstBusPolicySize(whole, arnAccounts, arns []string) int {
	stmts := reportBusStatements(strings.Repeat("s", MaxStackNameLen), whole, arnAccounts, arns,
		func(a string) any { return join("arn:", ref("AWS::Partition"), ":iam::"+a+":root") },
		join("arn:", ref("AWS::Partition"), ":events:", ref("AWS::Region"), ":", ref("AWS::AccountId"), ":event-bus/"+events.DefaultBus))
	all := make([]any, len(stmts))
	for i, st := range stmts {
		all[i] = st
	}
	b, _ := json.Marshal(quotacheck.WorstCase(nil, map[string]any{"Version": "2012-10-17", "Statement": all}))
	return len(b)
}

// ReportBusPolicySize is how many characters the bus policy takes with
// ts's report statements as its only ones, rendered in the longest
// partition and Region names and stack name, so a config that fits here
// fits everywhere.
func ReportBusPolicySize(ts []config.Target) int {
	return worstBusPolicySize(ReportSenders(ts))
}

// checkPolicies refuses a config whose readers would make a policy cross
// its quota at deploy: a target's secret resource policy
// (quotas.SecretResourcePolicy) or the default bus's policy naming every
// reader account (quotas.EventBusPolicy). The KMS key policy names the
// same accounts in fewer characters each, so it stays inside its 32 KB
// whenever the bus policy fits (docs/quotas.md).
func checkPolicies(cfg *config.Config) error {
	for i, t := range cfg.Targets {
		subject := fmt.Sprintf("%s:%d: targets[%d](%s).readers: %d readers make the secret's resource policy", cfg.File, t.Line, i, t.Name, len(t.Readers))
		if err := quotas.SecretResourcePolicy.Check(subject, ReadPolicySize(t)); err != nil {
			return err
		}
	}
	accounts := ReaderAccounts(cfg.Targets)
	if len(accounts) == 0 {
		return nil
	}
	_, narrowed, arns := ReportSenders(cfg.Targets)
	subject := fmt.Sprintf("%s: readers: %d distinct reader accounts (%d of them narrowed to %d reader ARNs) make the default bus's policy statements letting them report ExpiredToken",
		cfg.File, len(accounts), len(narrowed), len(arns))
	return quotas.EventBusPolicy.Check(subject, ReportBusPolicySize(cfg.Targets))
}
