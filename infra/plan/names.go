package plan

import (
	"fmt"
	"hash/fnv"

	"github.com/stsrotator/stsrotator/shared/config"
)

// MaxRoleNameLen is IAM's limit on a role name (and a user name):
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html
// ("Role name: 64 characters").
const MaxRoleNameLen = 64

// RotatorRoleName is the literal name of the rotator role of shard
// shard (ShardOf of a target's name) in a stack named stackName:
// "<stack>-Shard042-rotator". A target's shard is a fixed hash bucket of
// its name, so this name, and the ARN target roles trust, never changes
// for the target's life, however the config grows or shrinks. Every lane
// of a shard runs as this one role (a lane's packing may change; its role
// does not).
//
// The name is at most MaxRoleNameLen characters. CheckStackName keeps
// stack names short enough that it never needs shortening; should a
// longer one reach here, the stack name is cut and followed by "-" and
// the eight hex digits of the FNV-1a hash of the whole stack name, so two
// long stack names that share a prefix still get different, stable names.
func RotatorRoleName(stackName string, shard int) string {
	return fitName(stackName, "-"+ShardID(shard)+"-rotator")
}

// ReactorRoleName is the literal name of the stack's reactor role, the
// one principal besides the rotators that reads every target's secret
// (to compare a reported key with the stored versions).
func ReactorRoleName(stackName string) string { return fitName(stackName, "-reactor") }

// ReactorFunctionName is the reactor function's name: the one function
// whose calls may use the reactor role's credentials. Stack names are at
// most MaxStackNameLen characters, so it never needs shortening within
// Lambda's 64.
func ReactorFunctionName(stackName string) string { return stackName + "-reactor" }

// SourceUserName is the literal name of the stack's source user (the IAM
// user whose access key signs sourceCredentials: iam-user targets'
// AssumeRole calls): those target roles trust exactly this user's ARN.
func SourceUserName(stackName string) string { return fitName(stackName, "-source") }

// fitName is stackName+suffix, shortened as RotatorRoleName documents
// when it would pass MaxRoleNameLen.
func fitName(stackName, suffix string) string {
	if len(stackName)+len(suffix) <= MaxRoleNameLen {
		return stackName + suffix
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(stackName))
	tag := fmt.Sprintf("-%08x", h.Sum32())
	return stackName[:MaxRoleNameLen-len(suffix)-len(tag)] + tag + suffix
}

// RoleArn is the ARN of the role named name in account and partition.
// Stack roles have no path, so the ARN is exact: a role created under any
// path has a different ARN.
func RoleArn(partition, account, name string) string {
	return "arn:" + partition + ":iam::" + account + ":role/" + name
}

// UserArn is the ARN of the IAM user named name (no path).
func UserArn(partition, account, name string) string {
	return "arn:" + partition + ":iam::" + account + ":user/" + name
}

// AssumerArn is the exact ARN of the principal that calls sts:AssumeRole
// on target t's role in a stack named stackName deployed in account:
// the rotator role of t's shard, or for sourceCredentials: iam-user the
// stack's source user, which signs those calls itself.
func AssumerArn(partition, account, stackName string, t config.Target) string {
	if t.SourceCredentials == config.SourceIAMUser {
		return UserArn(partition, account, SourceUserName(stackName))
	}
	return RoleArn(partition, account, RotatorRoleName(stackName, ShardOf(t.Name)))
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

// RolesPerLane is the IAM roles one rotator lane adds: its schedule's.
// The lane's function runs as its shard's rotator role (RotatorRoleName),
// one per non-empty shard.
const RolesPerLane = 1

// ManagedPoliciesPerLane is the customer managed policies one lane adds to
// its shard's rotator role: its AssumeRole grants and its secret grants,
// each within ManagedPolicyBudget.
const ManagedPoliciesPerLane = 2

// Roles is how many IAM roles the deployed service adds to its account
// (quotas.RolesPerAccount): one rotator role per shard, RolesPerLane per
// rotator lane, the reactor's, the log watcher's when any target has
// logGroups, and the source user's key rotator and its schedule's when
// any target has sourceCredentials: iam-user. infra/quotacheck counts the
// synthesized roles as a backstop.
func (p *Plan) Roles() int {
	n := len(p.Shards) + RolesPerLane*len(p.Lanes()) + 1
	if p.Config.UsesIAMUser() {
		n += 2
	}
	if len(p.LogGroups()) > 0 {
		n++
	}
	return n
}
