package quotas

import (
	"fmt"
	"sort"
	"strings"
)

// Quota is one AWS limit. Limit is the lowest documented default in any
// commercial Region, in Unit; a quota that can be raised is still checked
// against the default, because a deploy must not depend on an increase
// nobody asked for.
type Quota struct {
	// ID is stable and unique: service.what, lower case.
	ID      string
	Service string
	// Name is what AWS calls the quota, or the closest plain description.
	Name  string
	Limit int
	// Unit is what Limit counts: "bytes", "characters", "resources", …
	Unit string
	// Scope says what one Limit applies to ("per stack", "per function").
	Scope      string
	Adjustable bool
	// Doc is the AWS documentation page that states the limit.
	Doc string
	// Fix is what a stsrotator user changes when a deploy would exceed it.
	Fix string
}

// SecretVersionsLimit is SecretVersions' limit as a constant, for the
// config's MaxVersionsPerDay.
const SecretVersionsLimit = 100

// The rows. Add a row here (and to rows below) for every limit a template
// or account can reach; docs/quotas.md is generated from them.
var (
	// CloudFormation: https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html
	StackResources = Quota{ID: "cloudformation.resources", Service: "CloudFormation", Name: "Resources", Limit: 500, Unit: "resources", Scope: "per stack (a nested stack counts as one resource of its parent)",
		Doc: cfnDoc, Fix: "fewer targets or log groups per stack: stsrotator spreads targets over shard stacks by name hash; put new targets in a second config deployed with -c stackName=<another name>"}
	StackOutputs = Quota{ID: "cloudformation.outputs", Service: "CloudFormation", Name: "Outputs", Limit: 200, Unit: "outputs", Scope: "per stack",
		Doc: cfnDoc, Fix: "fewer targets per shard stack (each target has two outputs on its shard); put new targets in a second config deployed with -c stackName=<another name>"}
	StackParameters = Quota{ID: "cloudformation.parameters", Service: "CloudFormation", Name: "Parameters", Limit: 200, Unit: "parameters", Scope: "per stack",
		Doc: cfnDoc, Fix: "report a bug: shard stacks take a fixed handful of parameters from the root"}
	StackTemplateBytes = Quota{ID: "cloudformation.template-bytes", Service: "CloudFormation", Name: "Template body size in an Amazon S3 object", Limit: 1_000_000, Unit: "bytes", Scope: "per template",
		Doc: cfnDoc, Fix: "shorter readers, tags and names per target, or fewer targets per stack (second config with -c stackName=<another name>)"}
	StacksPerAccount = Quota{ID: "cloudformation.stacks", Service: "CloudFormation", Name: "Stacks", Limit: 2000, Unit: "stacks", Scope: "per account and Region (nested stacks count)", Adjustable: true,
		Doc: cfnDoc, Fix: "request a higher Stack count quota in Service Quotas, or deploy to another Region or account"}

	// Lambda: https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
	LambdaFunctionPolicy = Quota{ID: "lambda.function-policy", Service: "Lambda", Name: "Function resource-based policy", Limit: 20 * 1024, Unit: "bytes", Scope: "per function",
		Doc: lambdaDoc, Fix: "report a bug: stsrotator's functions carry a fixed number of permissions (one per rule or wildcard source), whatever the config"}
	LambdaEnvironment = Quota{ID: "lambda.environment", Service: "Lambda", Name: "Function environment variables", Limit: 4 * 1024, Unit: "bytes", Scope: "per function",
		Doc: lambdaDoc, Fix: "report a bug: stsrotator puts only ARNs and paths in the environment; the config travels in the package"}
	LambdaPackageUnzipped = Quota{ID: "lambda.package-unzipped", Service: "Lambda", Name: "Deployment package size (unzipped, including layers)", Limit: 250 * 1024 * 1024, Unit: "bytes", Scope: "per function",
		Doc: lambdaDoc, Fix: "a smaller config: every function package carries stsrotator.yaml (and the rotator one file per lane)"}
	LambdaDescription = Quota{ID: "lambda.description", Service: "Lambda", Name: "Function description", Limit: 256, Unit: "characters", Scope: "per function",
		Doc: "https://docs.aws.amazon.com/lambda/latest/api/API_CreateFunction.html", Fix: "report a bug: descriptions are shortened to fit"}

	// EventBridge: https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-quota.html
	RulesPerBus = Quota{ID: "eventbridge.rules-per-bus", Service: "EventBridge", Name: "Rules (af-south-1, eu-south-1: 100; other Regions: 300)", Limit: 100, Unit: "rules", Scope: "per event bus", Adjustable: true,
		Doc: ebDoc, Fix: "report a bug: stsrotator adds a fixed two rules to the default bus, whatever the config"}
	TargetsPerRule = Quota{ID: "eventbridge.targets-per-rule", Service: "EventBridge", Name: "Targets", Limit: 5, Unit: "targets", Scope: "per rule",
		Doc: ebDoc, Fix: "report a bug: each stsrotator rule has one target"}
	EventBusPolicy = Quota{ID: "eventbridge.bus-policy", Service: "EventBridge", Name: "Event bus policy size", Limit: 10_240, Unit: "characters", Scope: "per event bus (every statement of its resource policy)", Adjustable: true,
		Doc: ebDoc, Fix: "fewer reader accounts: the default bus's statements letting readers report ExpiredToken name each reader account (about 250 fit), and each reader role or user ARN of accounts read only through such ARNs; split targets whose readers are in many accounts into a second config deployed in another account or Region, or request a higher Event bus policy size quota"}
	EventPattern = Quota{ID: "eventbridge.event-pattern", Service: "EventBridge", Name: "Event pattern size", Limit: 2048, Unit: "characters", Scope: "per rule",
		Doc: ebDoc, Fix: "report a bug: stsrotator's patterns do not depend on the config"}

	// IAM: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html
	RoleInlinePolicies = Quota{ID: "iam.role-inline-policies", Service: "IAM", Name: "Role policy size (all inline policies of a role, whitespace excluded)", Limit: 10_240, Unit: "characters", Scope: "per role",
		Doc: iamDoc, Fix: "report a bug: a rotator role's inline policy holds only fixed statements (logs, events, KMS) per lane; its per-target grants are in managed policies (plan.ManagedPolicyBudget)"}
	ManagedPolicy = Quota{ID: "iam.managed-policy", Service: "IAM", Name: "Managed policy size (whitespace excluded)", Limit: 6_144, Unit: "characters", Scope: "per managed policy",
		Doc: iamDoc, Fix: "fewer replicaRegions or shorter role ARNs and secret names on the targets of that rotator lane; stsrotator packs each of a lane's two managed policies into 5,500 characters (plan.ManagedPolicyBudget), so crossing this is also worth a bug report"}
	ManagedPoliciesPerRole = Quota{ID: "iam.managed-policies-per-role", Service: "IAM", Name: "Managed policies attached to a role", Limit: 10, Unit: "policies", Scope: "per role", Adjustable: true,
		Doc: iamDoc, Fix: "fewer targets whose names hash to that shard, or shorter role ARNs and secret names there: each lane of a shard attaches two managed policies to the shard's one rotator role; or request a higher Managed policies per role quota (at most 20)"}
	// The source user (sourceCredentials: iam-user): one per deployment
	// that asks for it, two keys at most while the previous one is in its
	// grace period, and its AssumeRole grants in managed policies because a
	// user's inline policies may total only 2,048 characters.
	Users = Quota{ID: "iam.users", Service: "IAM", Name: "IAM users", Limit: 5_000, Unit: "users", Scope: "per account",
		Doc: iamDoc, Fix: "delete unused IAM users: stsrotator adds one per deployment that has a sourceCredentials: iam-user target"}
	AccessKeysPerUser = Quota{ID: "iam.access-keys-per-user", Service: "IAM", Name: "Access keys assigned to an IAM user", Limit: 2, Unit: "keys", Scope: "per user",
		Doc: iamDoc, Fix: "keep rotator.sourceKeyMaxAge above the previous key's 24 h grace (config enforces 2 days or more); delete keys someone added to the source user by hand"}
	ManagedPoliciesPerUser = Quota{ID: "iam.managed-policies-per-user", Service: "IAM", Name: "Managed policies attached to an IAM user", Limit: 10, Unit: "policies", Scope: "per user", Adjustable: true,
		Doc: iamDoc, Fix: "fewer distinct roles with sourceCredentials: iam-user (each managed policy holds about 80 role ARNs), or split them across two configs deployed as separate stacks"}
	// Each non-empty shard adds its rotator role and each rotator lane its
	// schedule's role, plus a fixed handful for the reactor, log watcher,
	// key rotator and custom resources: about 513 roles at 2,000 targets,
	// 527 at 10,000 (plan.Roles).
	// Default 1,000, raisable to 5,000 ("Roles in an AWS account").
	RolesPerAccount = Quota{ID: "iam.roles", Service: "IAM", Name: "Roles in an AWS account (default 1,000; at most 5,000 after an increase)", Limit: 1_000, Unit: "roles", Scope: "per account (every Region and stack together)", Adjustable: true,
		Doc: iamDoc, Fix: "request a higher Roles in an AWS account quota in Service Quotas (at most 5,000), delete unused roles, or deploy part of the targets from another account; stsrotator adds one role per shard and one per rotator lane (stsrotator validate prints the lane count) and a handful more (stsrotator preflight counts the account's roles)"}
	RoleTrustPolicy = Quota{ID: "iam.role-trust-policy", Service: "IAM", Name: "Role trust policy length (whitespace excluded)", Limit: 2_048, Unit: "characters", Scope: "per role", Adjustable: true,
		Doc: iamDoc, Fix: "report a bug: stsrotator's trust policies name one service each"}

	// Secrets Manager: https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_limits.html
	SecretResourcePolicy = Quota{ID: "secretsmanager.resource-policy", Service: "Secrets Manager", Name: "Resource-based policy length", Limit: 20_480, Unit: "characters", Scope: "per secret",
		Doc: "https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_limits.html", Fix: "fewer readers on this target: list whole accounts instead of many principals of one account"}
	// "Secrets Manager removes unlabeled versions when there are more than
	// 100, but it does not remove versions created less than 24 hours ago";
	// PutSecretValue more than once every 10 minutes "will reach the quota
	// for secret versions". The rotator counts its writes against it
	// (config.MaxVersionsPerDay, rotation.QuotaHold).
	SecretVersions = Quota{ID: "secretsmanager.versions", Service: "Secrets Manager", Name: "Versions of a secret (none younger than 24 hours is removed)", Limit: SecretVersionsLimit, Unit: "versions", Scope: "per secret, created in any rolling 24 hours",
		Doc: "https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_limits.html", Fix: "a longer durationSeconds or a shorter refreshBefore (the validator keeps scheduled writes at least 15 minutes apart); forced rotations beyond the schedule's share are held back until enough versions are 24 hours old"}

	// KMS: https://docs.aws.amazon.com/kms/latest/developerguide/resource-limits.html
	KeyPolicy = Quota{ID: "kms.key-policy", Service: "KMS", Name: "Key policy document size", Limit: 32 * 1024, Unit: "bytes", Scope: "per key",
		Doc: "https://docs.aws.amazon.com/kms/latest/developerguide/resource-limits.html", Fix: "fewer distinct reader accounts: the key lets each reader account decrypt through Secrets Manager"}

	// CloudWatch Logs: https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/cloudwatch_limits_cwl.html
	SubscriptionFilters = Quota{ID: "logs.subscription-filters", Service: "CloudWatch Logs", Name: "Subscription filters", Limit: 2, Unit: "filters", Scope: "per log group",
		Doc: "https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/cloudwatch_limits_cwl.html", Fix: "list each log group once; stsrotator adds one filter to it, so at most one other may exist (stsrotator preflight checks)"}

	// CloudWatch: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_limits.html
	AlarmMetrics = Quota{ID: "cloudwatch.alarm-metrics", Service: "CloudWatch", Name: "Metrics in one alarm's metric math expression", Limit: 10, Unit: "metrics", Scope: "per alarm",
		Doc: "https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_limits.html", Fix: "report a bug: validity alarms take 10 targets each"}

	// EventBridge Scheduler: https://docs.aws.amazon.com/scheduler/latest/UserGuide/scheduler-quotas.html
	Schedules = Quota{ID: "scheduler.schedules", Service: "EventBridge Scheduler", Name: "Number of schedules", Limit: 1_000_000, Unit: "schedules", Scope: "per account and Region", Adjustable: true,
		Doc: "https://docs.aws.amazon.com/scheduler/latest/UserGuide/scheduler-quotas.html", Fix: "request a higher Number of schedules quota; stsrotator adds one schedule per rotator lane"}
)

const (
	cfnDoc    = "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html"
	lambdaDoc = "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html"
	ebDoc     = "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-quota.html"
	iamDoc    = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html"
)

var rows = []*Quota{
	&StackResources, &StackOutputs, &StackParameters, &StackTemplateBytes, &StacksPerAccount,
	&LambdaFunctionPolicy, &LambdaEnvironment, &LambdaPackageUnzipped, &LambdaDescription,
	&RulesPerBus, &TargetsPerRule, &EventPattern, &EventBusPolicy,
	&RoleInlinePolicies, &ManagedPolicy, &ManagedPoliciesPerRole, &RolesPerAccount, &RoleTrustPolicy, &Users, &AccessKeysPerUser, &ManagedPoliciesPerUser,
	&SecretResourcePolicy, &SecretVersions, &KeyPolicy, &SubscriptionFilters, &AlarmMetrics, &Schedules,
}

// All is every row, ordered by service, then ID.
func All() []Quota {
	out := make([]Quota, len(rows))
	for i, q := range rows {
		out[i] = *q
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Service != out[j].Service {
			return out[i].Service < out[j].Service
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// ByID finds a row.
func ByID(id string) (Quota, bool) {
	for _, q := range rows {
		if q.ID == id {
			return *q, true
		}
	}
	return Quota{}, false
}

// ExceededError says that subject would cross q: Got is the measured (or
// worst-case) amount in q.Unit.
type ExceededError struct {
	Quota   Quota
	Subject string
	Got     int
}

func (e *ExceededError) Error() string {
	return fmt.Sprintf("%s: %d %s, over AWS's limit of %d (%s quota %q, %s: %s) (fix: %s)",
		e.Subject, e.Got, e.Quota.Unit, e.Quota.Limit, e.Quota.Service, e.Quota.Name, e.Quota.Scope, e.Quota.Doc, e.Quota.Fix)
}

// Check returns an *ExceededError when got is over the limit, nil when it
// is at or under it.
func (q Quota) Check(subject string, got int) error {
	if got > q.Limit {
		return &ExceededError{Quota: q, Subject: subject, Got: got}
	}
	return nil
}

// WithFix is q with a fix written for one particular subject.
func (q Quota) WithFix(fix string) Quota {
	q.Fix = fix
	return q
}

// Markdown renders the table shown in docs/quotas.md.
func Markdown() string {
	var b strings.Builder
	b.WriteString("| Service | Quota | Scope | Limit | Adjustable | Checked as | AWS documentation |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	for _, q := range All() {
		adj := "no"
		if q.Adjustable {
			adj = "yes (checked at the default)"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s %s | %s | `%s` | %s |\n", q.Service, q.Name, q.Scope, group(q.Limit), q.Unit, adj, q.ID, q.Doc)
	}
	return b.String()
}

// group writes n with thousands separators.
func group(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
