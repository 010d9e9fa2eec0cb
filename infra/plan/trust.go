package plan

import (
	"fmt"
	"hash/fnv"
	"strings"
	"unicode"

	"github.com/stsrotator/stsrotator/shared/config"
)

// TrustStatement is the statement target t's role needs in its trust
// policy so that its one assumer (AssumerArn: the rotator role of t's
// shard, or the stack's source user for sourceCredentials: iam-user) may
// assume it, and nothing else may through it:
//
//   - Principal is the assumer's account, narrowed by ArnEquals on
//     aws:PrincipalArn to the assumer's exact ARN. A role ARN written as
//     the Principal itself would also be exact, but IAM stores it as the
//     role's unique ID, so a rotator role deleted and re-created (a stack
//     deleted and deployed again) would silently stop matching
//     (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html#principal-roles);
//     the condition compares the ARN on every request and is exact all
//     the same: the assumer has a literal name and no path.
//   - Action is sts:AssumeRole, plus sts:SetSourceIdentity only when t
//     sets a sourceIdentity and sts:TagSession only when it passes
//     session tags (AssumeActions).
//   - sts:ExternalId is required when t configures one, which keeps the
//     confused-deputy protection the role owner asked for
//     (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_create_for-user_externalid.html).
//
// The value is a plain JSON-ready map.
func TrustStatement(partition, account, stackName string, t config.Target) map[string]any {
	actions, _ := AssumeActions(t)
	cond := map[string]any{"ArnEquals": map[string]any{"aws:PrincipalArn": AssumerArn(partition, account, stackName, t)}}
	if t.ExternalID != "" {
		cond["StringEquals"] = map[string]any{"sts:ExternalId": t.ExternalID}
	}
	var action any = actions[0]
	if len(actions) > 1 {
		action = actions
	}
	return map[string]any{
		"Sid":       TrustSid(t),
		"Effect":    "Allow",
		"Principal": map[string]any{"AWS": "arn:" + partition + ":iam::" + account + ":root"},
		"Action":    action,
		"Condition": cond,
	}
}

// TrustSid names a target's trust statement: letters and digits only, as
// IAM requires of a Sid.
func TrustSid(t config.Target) string {
	b := []byte("Stsrotator")
	up := true
	for _, r := range t.Name {
		switch {
		case r >= 'a' && r <= 'z':
			if up {
				r -= 'a' - 'A'
			}
			b, up = append(b, byte(r)), false
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			b, up = append(b, byte(r)), false
		default:
			up = true
		}
	}
	return string(b)
}

// TrustPolicy is the trust policy document that lets every target of ts
// that uses role roleArn be assumed by its assumer, one TrustStatement per
// target (targets sharing a role and the same statement share it).
func TrustPolicy(partition, account, stackName, roleArn string, ts []config.Target) map[string]any {
	var stmts []any
	seen := map[string]bool{}
	for _, t := range ts {
		if t.RoleArn != roleArn {
			continue
		}
		st := TrustStatement(partition, account, stackName, t)
		key := fmt.Sprint(st["Action"], st["Condition"])
		if seen[key] {
			continue
		}
		seen[key] = true
		stmts = append(stmts, st)
	}
	return map[string]any{"Version": "2012-10-17", "Statement": stmts}
}

// TrustTemplates is, for each account holding target roles of cfg, a
// CloudFormation template that declares those roles with their exact
// trust (TrustPolicy), for a stack named stackName deployed in account:
// deploy each to its account (docs/infra.md says how, with StackSets).
// The roles keep their names and paths and are retained if the template's
// stack is deleted; the template manages their trust only, so permissions
// are attached as before (or added to the template). Keys are account IDs.
func TrustTemplates(partition, account, stackName string, cfg *config.Config) map[string]map[string]any {
	out := map[string]map[string]any{}
	done := map[string]bool{}
	for _, t := range cfg.Targets {
		if done[t.RoleArn] {
			continue
		}
		done[t.RoleArn] = true
		acct, path, name := splitRoleArn(t.RoleArn)
		tpl := out[acct]
		if tpl == nil {
			tpl = map[string]any{
				"AWSTemplateFormatVersion": "2010-09-09",
				"Description":              fmt.Sprintf("stsrotator: trust of the target roles in account %s for stack %s in account %s (stsrotator trust --all --format cloudformation)", acct, stackName, account),
				"Resources":                map[string]any{},
			}
			out[acct] = tpl
		}
		h := fnv.New32a()
		_, _ = h.Write([]byte(t.RoleArn))
		id := fmt.Sprintf("Role%s%08X", alnum(name), h.Sum32())
		tpl["Resources"].(map[string]any)[id] = map[string]any{
			"Type":                "AWS::IAM::Role",
			"DeletionPolicy":      "Retain",
			"UpdateReplacePolicy": "Retain",
			"Properties": map[string]any{
				"RoleName":                 name,
				"Path":                     path,
				"AssumeRolePolicyDocument": TrustPolicy(partition, account, stackName, t.RoleArn, cfg.Targets),
			},
		}
	}
	return out
}

// splitRoleArn splits arn:<p>:iam::<account>:role<path><name>.
func splitRoleArn(arn string) (account, path, name string) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return "", "/", arn
	}
	res := strings.TrimPrefix(parts[5], "role")
	i := strings.LastIndex(res, "/")
	return parts[4], res[:i+1], res[i+1:]
}

func alnum(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < 128 && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			b.WriteRune(r)
		}
	}
	return b.String()
}
