package plan

import "github.com/stsrotator/stsrotator/shared/config"

// RotatorRolePath is the IAM path of every rotator role of a stack named
// stackName, and of nothing else. Lanes are re-packed as the config
// changes, so their roles come and go; target roles trust the path instead
// (RotatorRoleArnPattern), which stays the same for the stack's life.
func RotatorRolePath(stackName string) string {
	return "/" + stackName + "/rotator/"
}

// RotatorRoleArnPattern is the IAM ARN pattern (ArnLike, "*" for any
// characters) that every rotator role of the stack matches: the value of
// the stack's RotatorRoleArnPattern output, for a known partition and
// account. Target roles trust it with an ArnLike aws:PrincipalArn
// condition; `stsrotator preflight` checks their trust policies against it.
func RotatorRoleArnPattern(partition, account, stackName string) string {
	return "arn:" + partition + ":iam::" + account + ":role" + RotatorRolePath(stackName) + "*"
}

// LogWatchFunctionName is the log watcher's Lambda function name: the
// destination of the subscription filter the stack puts on each logGroups
// entry, which is how `stsrotator preflight` tells that filter from
// someone else's.
func LogWatchFunctionName(stackName string) string {
	return stackName + "-logwatch"
}

// AssumeActions is what the rotator needs on a target's role: AssumeRole,
// plus SetSourceIdentity when it sets a source identity and TagSession
// when it passes session tags (STS refuses either without its permission,
// in the rotator's own policy and in the role's trust policy alike:
// https://docs.aws.amazon.com/IAM/latest/UserGuide/id_session-tags.html#id_session-tags_permissions-required,
// https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_temp_control-access_monitor.html#id_credentials_temp_control-access_monitor-perms).
// The second result names the rotator's policy statement for that
// combination.
func AssumeActions(t config.Target) ([]string, string) {
	actions, sid := []string{"sts:AssumeRole"}, "AssumeTargetRoles"
	if t.SourceIdentity != "" {
		actions = append(actions, "sts:SetSourceIdentity")
		sid += "WithSourceIdentity"
	}
	if len(t.SessionTags) > 0 {
		actions = append(actions, "sts:TagSession")
		sid += "WithSessionTags"
	}
	return actions, sid
}

// ReactorReservedConcurrency is the reactor's reserved concurrency, the
// only concurrency the templates could reserve; `stsrotator preflight`
// checks the account can spare it (Lambda keeps 100 unreserved:
// https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html).
// Zero means the reactor reserves none, which is the case: a new account's
// whole quota is below that minimum, so AWS would refuse any reservation,
// and the reactor's rotations are exactly-once without one
// (infra/stack's reactor.go says why).
const ReactorReservedConcurrency = 0

// Functions is how many Lambda functions the deployed service has, each
// of which may run at the same moment: one per rotator lane, the reactor,
// the log watcher when any target has logGroups, and the source-key
// rotator when any target has sourceCredentials: iam-user.
func (p *Plan) Functions() int {
	n := len(p.Lanes()) + 1
	if p.Config.UsesIAMUser() {
		n++
	}
	for _, t := range p.Config.Targets {
		if len(t.LogGroups) > 0 {
			return n + 1
		}
	}
	return n
}

// RolesPerLane is the IAM roles one rotator lane adds: its function's
// role and its schedule's.
const RolesPerLane = 2

// Roles is how many IAM roles the deployed service adds to its account
// (quotas.RolesPerAccount): RolesPerLane per rotator lane, the reactor's,
// the log watcher's when any target has logGroups, and the source user's
// key rotator and its schedule's when any target has sourceCredentials:
// iam-user. infra/quotacheck counts the synthesized roles as a backstop.
func (p *Plan) Roles() int {
	n := RolesPerLane*len(p.Lanes()) + 1
	if p.Config.UsesIAMUser() {
		n += 2
	}
	if len(p.LogGroups()) > 0 {
		n++
	}
	return n
}
