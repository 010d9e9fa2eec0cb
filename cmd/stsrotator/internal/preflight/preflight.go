package preflight

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/stsrotator/stsrotator/infra/plan"
	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/quotas"
)

// The read-only calls preflight makes, with the SDK's exact signatures.
type (
	CallerIdentity interface {
		GetCallerIdentity(context.Context, *sts.GetCallerIdentityInput, ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
	}
	SubscriptionFilters interface {
		DescribeSubscriptionFilters(context.Context, *cloudwatchlogs.DescribeSubscriptionFiltersInput, ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.DescribeSubscriptionFiltersOutput, error)
	}
	Principals interface {
		GetRole(context.Context, *iam.GetRoleInput, ...func(*iam.Options)) (*iam.GetRoleOutput, error)
		GetUser(context.Context, *iam.GetUserInput, ...func(*iam.Options)) (*iam.GetUserOutput, error)
		GetAccountSummary(context.Context, *iam.GetAccountSummaryInput, ...func(*iam.Options)) (*iam.GetAccountSummaryOutput, error)
		ListRoles(context.Context, *iam.ListRolesInput, ...func(*iam.Options)) (*iam.ListRolesOutput, error)
	}
	AccountSettings interface {
		GetAccountSettings(context.Context, *lambda.GetAccountSettingsInput, ...func(*lambda.Options)) (*lambda.GetAccountSettingsOutput, error)
	}
	Stacks interface {
		DescribeStacks(context.Context, *cloudformation.DescribeStacksInput, ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error)
		DescribeStackResource(context.Context, *cloudformation.DescribeStackResourceInput, ...func(*cloudformation.Options)) (*cloudformation.DescribeStackResourceOutput, error)
	}
)

// Clients are the services preflight reads from.
type Clients struct {
	STS            CallerIdentity
	Logs           SubscriptionFilters
	IAM            Principals
	Lambda         AccountSettings
	CloudFormation Stacks
	Secrets        SecretLister
}

// Limits and rules of AWS that preflight checks an account against.
const (
	// MinUnreservedConcurrency is what Lambda keeps unreserved: "You can
	// reserve up to the Unreserved account concurrency value minus 100"
	// (https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html).
	MinUnreservedConcurrency = 100
	// DefaultToolkitStackName is the stack `cdk bootstrap` creates
	// (https://docs.aws.amazon.com/cdk/v2/guide/bootstrapping-env.html).
	DefaultToolkitStackName = "CDKToolkit"
	// MinBootstrapVersion is the bootstrap version that CDK v2 templates
	// (the default synthesizer) check for in their CheckBootstrapVersion
	// rule.
	MinBootstrapVersion = 6
)

// Input is what to check: the config about to be deployed, under the
// stack name it will be deployed as.
type Input struct {
	Config    *config.Config
	StackName string
	// ToolkitStackName is the CDK bootstrap stack; empty means CDKToolkit.
	ToolkitStackName string
	// Functions is how many functions the deploy creates that can run at
	// once (rotator lanes, reactor, log watcher).
	Functions int
	// Reserved is the reserved concurrency the templates ask for in total.
	Reserved int
	// Roles is how many IAM roles the stack creates (plan.Roles).
	Roles int
}

// Run checks everything the templates assume but cannot create, and
// returns one finding per thing checked, blocking ones first.
func Run(ctx context.Context, c Clients, in Input) []Finding {
	var fs []Finding
	add := func(f Finding) { fs = append(fs, f) }
	id, err := c.STS.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		add(failed(CheckAccount, "credentials", err, "run with credentials for the account you deploy to (--profile, AWS_PROFILE)"))
		return sortFindings(fs)
	}
	account, partition := aws.ToString(id.Account), partitionOf(aws.ToString(id.Arn))
	add(Finding{Level: OK, Check: CheckAccount, Subject: account, Message: "checking account " + account + " as " + aws.ToString(id.Arn)})
	acct := accountScope{account: account, partition: partition, stack: in.StackName}

	bootstrap(ctx, c.CloudFormation, in, add)
	concurrency(ctx, c.Lambda, in, add)
	logGroups(ctx, c.Logs, in, add)
	readers(ctx, c.IAM, in, acct, add)
	trust(ctx, c.IAM, in, acct, add)
	secretNames(ctx, c.Secrets, c.CloudFormation, in, add)
	sourceUser(ctx, c.IAM, in, add)
	roles(ctx, c.IAM, in, add)
	return sortFindings(fs)
}

type accountScope struct{ account, partition, stack string }

func bootstrap(ctx context.Context, cf Stacks, in Input, add func(Finding)) {
	name := in.ToolkitStackName
	if name == "" {
		name = DefaultToolkitStackName
	}
	fix := "run: npx cdk bootstrap (once per account and region)"
	out, err := cf.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(name)})
	// CloudFormation answers ValidationError "Stack with id X does not
	// exist" for a missing stack.
	if code(err) == "ValidationError" && strings.Contains(err.Error(), "does not exist") {
		add(Finding{Level: Block, Check: CheckBootstrap, Subject: name, Message: "the CDK bootstrap stack does not exist in this account and region", Fix: fix})
		return
	}
	if err != nil {
		add(failed(CheckBootstrap, name, err, "allow cloudformation:DescribeStacks, or check by hand that "+name+" exists"))
		return
	}
	if len(out.Stacks) == 0 {
		add(Finding{Level: Block, Check: CheckBootstrap, Subject: name, Message: "the CDK bootstrap stack does not exist in this account and region", Fix: fix})
		return
	}
	st := out.Stacks[0]
	status := string(st.StackStatus)
	if !strings.HasSuffix(status, "_COMPLETE") || strings.Contains(status, "ROLLBACK") || strings.HasPrefix(status, "DELETE") {
		add(Finding{Level: Block, Check: CheckBootstrap, Subject: name, Message: "the CDK bootstrap stack is " + status, Fix: "fix or delete the stack, then " + fix})
		return
	}
	for _, o := range st.Outputs {
		if aws.ToString(o.OutputKey) != "BootstrapVersion" {
			continue
		}
		var v int
		if _, err := fmt.Sscan(aws.ToString(o.OutputValue), &v); err == nil && v < MinBootstrapVersion {
			add(Finding{Level: Block, Check: CheckBootstrap, Subject: name,
				Message: fmt.Sprintf("bootstrap version %d is older than the %d the templates require", v, MinBootstrapVersion), Fix: "re-run: npx cdk bootstrap"})
			return
		}
	}
	add(Finding{Level: OK, Check: CheckBootstrap, Subject: name, Message: "the CDK bootstrap stack is " + status})
}

func concurrency(ctx context.Context, l AccountSettings, in Input, add func(Finding)) {
	out, err := l.GetAccountSettings(ctx, &lambda.GetAccountSettingsInput{})
	if err != nil {
		add(failed(CheckConcurrency, "Lambda", err, "allow lambda:GetAccountSettings, or check the account's concurrency in the Service Quotas console"))
		return
	}
	if out.AccountLimit == nil {
		add(Finding{Level: Error, Check: CheckConcurrency, Subject: "Lambda", Message: "GetAccountSettings returned no AccountLimit", Fix: "check the account's concurrency in the Service Quotas console"})
		return
	}
	limit := int(out.AccountLimit.ConcurrentExecutions)
	unreserved := int(aws.ToInt32(out.AccountLimit.UnreservedConcurrentExecutions))
	add(ConcurrencyFinding(limit, unreserved, in.Reserved, in.Functions))
}

// ConcurrencyFinding judges the account's Lambda concurrency: limit is its
// quota, unreserved what no function has reserved, reserved what the
// templates reserve and functions how many of the service's functions may
// run at once.
func ConcurrencyFinding(limit, unreserved, reserved, functions int) Finding {
	quota := "request a higher \"Concurrent executions\" quota (Service Quotas, Lambda, L-B99A9384)"
	switch {
	case reserved > 0 && unreserved-reserved < MinUnreservedConcurrency:
		return Finding{Level: Block, Check: CheckConcurrency, Subject: "Lambda",
			Message: fmt.Sprintf("the templates reserve %d concurrent executions but only %d of %d are unreserved, and Lambda keeps %d unreserved", reserved, unreserved, limit, MinUnreservedConcurrency),
			Fix:     quota}
	case unreserved < functions:
		return Finding{Level: Warn, Check: CheckConcurrency, Subject: "Lambda",
			Message: fmt.Sprintf("%d unreserved concurrent executions (of %d) for %d functions that can run at once: sweeps will be throttled and retried late", unreserved, limit, functions),
			Fix:     quota}
	}
	return Finding{Level: OK, Check: CheckConcurrency, Subject: "Lambda",
		Message: fmt.Sprintf("%d unreserved concurrent executions (of %d) for %d functions", unreserved, limit, functions)}
}

func logGroups(ctx context.Context, l SubscriptionFilters, in Input, add func(Finding)) {
	users := map[string][]string{}
	var groups []string
	for _, t := range in.Config.Targets {
		for _, g := range t.LogGroups {
			if users[g] == nil {
				groups = append(groups, g)
			}
			users[g] = append(users[g], t.Name)
		}
	}
	ours := plan.LogWatchFunctionName(in.StackName)
	// "Each log group can have up to two subscription filters"
	// (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutSubscriptionFilter.html).
	maxFilters := quotas.SubscriptionFilters.Limit
	for _, g := range groups {
		where := fmt.Sprintf("logGroups of %s", strings.Join(users[g], ", "))
		var filters []string
		mine := false
		req := &cloudwatchlogs.DescribeSubscriptionFiltersInput{LogGroupName: aws.String(g)}
		var err error
		for {
			var out *cloudwatchlogs.DescribeSubscriptionFiltersOutput
			out, err = l.DescribeSubscriptionFilters(ctx, req)
			if err != nil {
				break
			}
			for _, f := range out.SubscriptionFilters {
				if functionName(aws.ToString(f.DestinationArn)) == ours {
					mine = true
					continue
				}
				filters = append(filters, aws.ToString(f.FilterName))
			}
			if aws.ToString(out.NextToken) == "" {
				break
			}
			req.NextToken = out.NextToken
		}
		switch {
		case code(err) == "ResourceNotFoundException":
			add(Finding{Level: Block, Check: CheckLogGroup, Subject: g, Message: "the log group does not exist, and the stack subscribes to it (" + where + ")",
				Fix: "create it (aws logs create-log-group --log-group-name " + g + "), or remove it from the config"})
		case err != nil:
			add(failed(CheckLogGroup, g, err, "allow logs:DescribeSubscriptionFilters on it, or check by hand that it exists with a free subscription filter slot"))
		case mine:
			add(Finding{Level: OK, Check: CheckLogGroup, Subject: g, Message: "exists, already subscribed by this stack's log watcher"})
		case len(filters) >= maxFilters:
			add(Finding{Level: Block, Check: CheckLogGroup, Subject: g,
				Message: fmt.Sprintf("already has %d subscription filters (%s), the most AWS allows per log group (%s)", len(filters), strings.Join(filters, ", "), where),
				Fix:     "delete one (aws logs delete-subscription-filter --log-group-name " + g + " --filter-name NAME), or remove the group from the config"})
		default:
			add(Finding{Level: OK, Check: CheckLogGroup, Subject: g, Message: fmt.Sprintf("exists, %d of %d subscription filters used", len(filters), maxFilters)})
		}
	}
}

// readers checks that every reader principal the secrets' resource
// policies name exists: Secrets Manager refuses a policy naming a
// principal that does not (MalformedPolicyDocument), failing the deploy.
func readers(ctx context.Context, p Principals, in Input, acct accountScope, add func(Finding)) {
	users := map[string][]string{}
	var arns []string
	for _, t := range in.Config.Targets {
		for _, r := range t.Readers {
			if !strings.HasPrefix(r, "arn:") || strings.HasSuffix(r, ":root") {
				continue // an account exists for as long as it can be named
			}
			if users[r] == nil {
				arns = append(arns, r)
			}
			users[r] = append(users[r], t.Name)
		}
	}
	for _, r := range arns {
		where := "readers of " + strings.Join(users[r], ", ")
		if accountOf(r) != acct.account {
			add(Finding{Level: Skip, Check: CheckReader, Subject: r, Message: "in account " + accountOf(r) + ": cannot check from here (" + where + ")",
				Fix: "check in that account that it exists: aws iam get-role/get-user"})
			continue
		}
		kind, name := principalName(r)
		var err error
		switch kind {
		case "role":
			_, err = p.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)})
		case "user":
			_, err = p.GetUser(ctx, &iam.GetUserInput{UserName: aws.String(name)})
		default:
			continue
		}
		switch {
		case code(err) == "NoSuchEntity":
			add(Finding{Level: Block, Check: CheckReader, Subject: r, Message: "the " + kind + " does not exist; the secret's resource policy names it (" + where + "), which Secrets Manager refuses",
				Fix: "create the " + kind + ", or correct or remove it in the config"})
		case err != nil:
			add(failed(CheckReader, r, err, "allow iam:Get"+title(kind)+", or check by hand that it exists"))
		default:
			add(Finding{Level: OK, Check: CheckReader, Subject: r, Message: "exists (" + where + ")"})
		}
	}
}

// trust checks that each same-account target role lets its exact assumer
// (plan.AssumerArn: the rotator role of the target's shard, or the source
// user for sourceCredentials: iam-user) assume it with what the target's
// config passes, and lets no broader set of the account's principals do
// so.
func trust(ctx context.Context, p Principals, in Input, acct accountScope, add func(Finding)) {
	for _, t := range in.Config.Targets {
		subject := t.RoleArn
		assumer := plan.AssumerArn(acct.partition, acct.account, in.StackName, t)
		stmt := TrustStatement(acct.partition, acct.account, in.StackName, t)
		if accountOf(t.RoleArn) != acct.account {
			add(Finding{Level: Skip, Check: CheckTrust, Subject: subject, Message: "target " + t.Name + "'s role is in account " + accountOf(t.RoleArn) + ": cannot check its trust policy from here",
				Fix: "in that account, add to its trust policy: " + stmt + " (stsrotator trust --target " + t.Name + "; docs/infra.md#target-roles)"})
			continue
		}
		_, name := principalName(t.RoleArn)
		out, err := p.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)})
		switch {
		case code(err) == "NoSuchEntity":
			add(Finding{Level: Block, Check: CheckTrust, Subject: subject, Message: "target " + t.Name + "'s role does not exist: the rotator could never assume it",
				Fix: createRoleFix(t, stmt) + ", or correct roleArn"})
			continue
		case err != nil:
			add(failed(CheckTrust, subject, err, "allow iam:GetRole, or check its trust policy by hand"))
			continue
		case out.Role == nil || out.Role.AssumeRolePolicyDocument == nil:
			add(Finding{Level: Error, Check: CheckTrust, Subject: subject, Message: "GetRole returned no trust policy", Fix: "check its trust policy by hand"})
			continue
		}
		pol, err := ParseTrustPolicy(*out.Role.AssumeRolePolicyDocument)
		if err != nil {
			add(Finding{Level: Error, Check: CheckTrust, Subject: subject, Message: err.Error(), Fix: "check its trust policy by hand"})
			continue
		}
		if t.SourceCredentials == config.SourceIAMUser {
			add(sessionFinding(t, subject, aws.ToInt32(out.Role.MaxSessionDuration)))
		}
		actions, _ := plan.AssumeActions(t)
		if broad := pol.Broad(acct.account, actions); len(broad) > 0 {
			add(Finding{Level: Block, Check: CheckTrust, Subject: subject,
				Message: "target " + t.Name + ": " + strings.Join(broad, "; ") + ": " + BroadTrustRisk(acct.account),
				Fix:     "replace that statement with: " + stmt + " (stsrotator trust --target " + t.Name + ")"})
			continue
		}
		tags := map[string]string{}
		for _, tg := range t.SessionTags {
			tags[strings.ToLower(tg.Key)] = tg.Value
		}
		caller := Caller{Account: acct.account, PrincipalArn: assumer, ExternalID: t.ExternalID, SourceIdentity: t.SourceIdentity, SessionName: t.SessionName, SessionTags: tags}
		add(trustFinding(t, subject, assumer, stmt, pol.Allows(caller, actions)))
	}
}

// BroadTrustRisk is the one-line risk of a target role trust that is not
// narrowed to exact ARNs.
func BroadTrustRisk(account string) string {
	return "any principal in account " + account + " that can create a role (choosing its name and path) or is granted sts:AssumeRole can assume this role and read what the rotator reads"
}

// sourceUser checks the account has room for the source user the stack
// adds when a target has sourceCredentials: iam-user (quota iam.users),
// reading IAM's own count and quota (GetAccountSummary). A redeploy of a
// stack that already has its user needs no room; preflight cannot tell,
// so a full account is a warning, not a block, when the stack exists.
func sourceUser(ctx context.Context, p Principals, in Input, add func(Finding)) {
	if !in.Config.UsesIAMUser() {
		return
	}
	subject := plan.SourceUserName(in.StackName)
	out, err := p.GetAccountSummary(ctx, &iam.GetAccountSummaryInput{})
	if err != nil {
		add(failed(CheckQuota, subject, err, "allow iam:GetAccountSummary, or check the account's IAM user count by hand"))
		return
	}
	users, limit := out.SummaryMap["Users"], out.SummaryMap["UsersQuota"]
	if limit == 0 {
		limit = int32(quotas.Users.Limit)
	}
	if users+1 > limit {
		add(Finding{Level: Block, Check: CheckQuota, Subject: subject,
			Message: fmt.Sprintf("the account has %d IAM users of its %d (%s); sourceCredentials: iam-user needs one more", users, limit, quotas.Users.Doc),
			Fix:     quotas.Users.Fix})
		return
	}
	add(Finding{Level: OK, Check: CheckQuota, Subject: subject, Message: fmt.Sprintf("room for the source user: %d IAM users of %d", users, limit)})
}

// roles checks the account has room for the roles the stack creates
// (quotas.RolesPerAccount: 1,000 unless raised, 5,000 at most), counting
// the account's roles with iam:ListRoles, page by page, and reading its
// quota from GetAccountSummary (RolesQuota). Roles already named after
// the stack mean a redeploy, which reuses most of its roles: a full
// account is then a warning, not a block.
func roles(ctx context.Context, p Principals, in Input, add func(Finding)) {
	if in.Roles == 0 {
		return
	}
	subject := "IAM roles"
	// The stack's roles are named after it: the rotator and reactor roles
	// literally (plan.RotatorRoleName, plan.ReactorRoleName), the others by
	// CloudFormation, which starts a generated name with the stack's.
	var total, ours int
	pages := iam.NewListRolesPaginator(p, &iam.ListRolesInput{})
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			add(failed(CheckQuota, subject, err, "allow iam:ListRoles, or compare the account's role count with its quota by hand (aws iam get-account-summary)"))
			return
		}
		total += len(out.Roles)
		for _, r := range out.Roles {
			if strings.HasPrefix(aws.ToString(r.RoleName), in.StackName+"-") {
				ours++
			}
		}
	}
	limit := quotas.RolesPerAccount.Limit
	if out, err := p.GetAccountSummary(ctx, &iam.GetAccountSummaryInput{}); err == nil && out.SummaryMap["RolesQuota"] > 0 {
		limit = int(out.SummaryMap["RolesQuota"])
	}
	msg := fmt.Sprintf("the account has %d IAM roles of its %d (%s); the stack creates %d (1 per shard, 1 per rotator lane)", total, limit, quotas.RolesPerAccount.Doc, in.Roles)
	switch {
	case total+in.Roles <= limit:
		add(Finding{Level: OK, Check: CheckQuota, Subject: subject, Message: "room for the stack's roles: " + msg})
	case ours > 0:
		add(Finding{Level: Warn, Check: CheckQuota, Subject: subject, Message: msg + fmt.Sprintf("; %d are already named %s-… (a redeploy adds only new lanes' roles)", ours, in.StackName), Fix: quotas.RolesPerAccount.Fix})
	default:
		add(Finding{Level: Block, Check: CheckQuota, Subject: subject, Message: msg + ": CloudFormation would fail creating them", Fix: quotas.RolesPerAccount.Fix})
	}
}

// sessionFinding checks an iam-user target's durationSeconds against its
// role's MaxSessionDuration (1 h unless raised, 12 h at most): STS refuses
// a longer session (https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html).
func sessionFinding(t config.Target, subject string, maxSeconds int32) Finding {
	if maxSeconds == 0 {
		maxSeconds = 3600 // IAM's default when the role does not say
	}
	want := int32(t.Duration / time.Second)
	if want > maxSeconds {
		_, name := principalName(t.RoleArn)
		return Finding{Level: Block, Check: CheckSession, Subject: subject,
			Message: fmt.Sprintf("target %s asks for %d-second sessions, but the role's MaxSessionDuration is %d: AssumeRole would fail", t.Name, want, maxSeconds),
			Fix:     fmt.Sprintf("aws iam update-role --role-name %s --max-session-duration %d, or lower durationSeconds", name, want)}
	}
	return Finding{Level: OK, Check: CheckSession, Subject: subject, Message: fmt.Sprintf("target %s: %d-second sessions fit the role's MaxSessionDuration of %d", t.Name, want, maxSeconds)}
}

func trustFinding(t config.Target, subject, assumer, stmt string, res []Trust) Finding {
	var no, unknown, yes []string
	for _, r := range res {
		switch r.Verdict {
		case No:
			no = append(no, r.Action+" ("+r.Why+")")
		case Unknown:
			unknown = append(unknown, r.Action+" ("+r.Why+")")
		default:
			yes = append(yes, r.Action)
		}
	}
	// An iam-user target's AssumeRole is signed by the source user, so
	// that is whom the trust policy was checked for.
	who := "its rotator role " + assumer
	if t.SourceCredentials == config.SourceIAMUser {
		who = "the source user " + assumer
	}
	fix := "add to its trust policy: " + stmt
	var denies []string
	for _, r := range res {
		if r.DeniedBy != "" && !slices.Contains(denies, r.DeniedBy) {
			denies = append(denies, r.DeniedBy)
		}
	}
	if len(denies) > 0 {
		// IAM's evaluation logic: an explicit Deny wins over every Allow
		// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html),
		// so adding an Allow cannot fix this.
		fix = "remove or narrow Deny statement " + strings.Join(denies, ", ") + " of its trust policy so it no longer matches what target " + t.Name +
			" sends (an Allow cannot override a Deny), or change the target's config; the trust policy must also allow: " + stmt
	}
	switch {
	case len(no) > 0:
		return Finding{Level: Block, Check: CheckTrust, Subject: subject, Message: "target " + t.Name + ": the trust policy does not let " + who + " " + strings.Join(no, ", "), Fix: fix}
	case len(unknown) > 0:
		return Finding{Level: Warn, Check: CheckTrust, Subject: subject, Message: "target " + t.Name + ": cannot tell whether the trust policy allows " + strings.Join(unknown, ", "), Fix: "check it by hand; or " + fix}
	}
	return Finding{Level: OK, Check: CheckTrust, Subject: subject, Message: "target " + t.Name + ": " + who + " may " + strings.Join(yes, ", ")}
}

// TrustStatement is plan.TrustStatement for target t of a stack named
// stackName deployed in account, as compact JSON: the statement
// `stsrotator trust --target` prints and preflight's fixes quote.
func TrustStatement(partition, account, stackName string, t config.Target) string {
	b, _ := json.Marshal(plan.TrustStatement(partition, account, stackName, t))
	return string(b)
}

// createRoleFix is the command that creates t's missing role with a trust
// policy holding stmt, under the role ARN's path.
func createRoleFix(t config.Target, stmt string) string {
	_, name := principalName(t.RoleArn)
	res := arnField(t.RoleArn, 5)
	rolePath := strings.TrimSuffix(strings.TrimPrefix(res, "role"), name)
	cmd := "aws iam create-role --role-name " + name
	if rolePath != "/" {
		cmd += " --path " + rolePath
	}
	return cmd + ` --assume-role-policy-document '{"Version":"2012-10-17","Statement":[` + stmt + `]}'`
}

func failed(check, subject string, err error, fix string) Finding {
	return Finding{Level: Error, Check: check, Subject: subject, Message: "could not check: " + oneLine(err.Error()), Fix: fix}
}

func code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// partitionOf and accountOf read fields 2 and 5 of an ARN.
func partitionOf(arn string) string { return arnField(arn, 1) }
func accountOf(arn string) string   { return arnField(arn, 4) }

func arnField(arn string, i int) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return ""
	}
	return parts[i]
}

// principalName splits an IAM ARN's resource, "role/path/Name", into its
// kind and its name: the API takes the name without the path.
func principalName(arn string) (kind, name string) {
	res := arnField(arn, 5)
	kind, rest, _ := strings.Cut(res, "/")
	if i := strings.LastIndex(rest, "/"); i >= 0 {
		rest = rest[i+1:]
	}
	return kind, rest
}

func functionName(arn string) string {
	// arn:aws:lambda:region:account:function:NAME[:qualifier]
	parts := strings.Split(arn, ":")
	if len(parts) >= 7 && parts[5] == "function" {
		return parts[6]
	}
	return ""
}

func title(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func sortFindings(fs []Finding) []Finding {
	sort.SliceStable(fs, func(i, j int) bool { return fs[i].Level > fs[j].Level })
	return fs
}
