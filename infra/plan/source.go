package plan

import (
	"fmt"

	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/quotas"
)

// SourceKeyRotatorRolePath is the IAM path of the role of the one function
// that may manage the source user's access keys.
func SourceKeyRotatorRolePath(stackName string) string {
	return "/" + stackName + "/source-key-rotator/"
}

// SourceGrant is one statement of the source user's permissions: Actions
// on exactly RoleArns.
type SourceGrant struct {
	Sid      string
	Actions  []string
	RoleArns []string
}

// sourcePolicyBudget is how many characters of role ARNs one of the source
// user's managed policies may hold: IAM's 6,144 characters per managed
// policy less room for the document, statement and action text.
const sourcePolicyBudget = 5_500

// SourcePolicies is the source user's whole permission set, split into
// managed policy documents that each fit IAM's managed policy size: the
// user's inline policies may total only 2,048 characters
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html),
// too little for more than a few role ARNs. Nil when no target uses the
// user. The error names the quota when there are more policies than IAM
// attaches to a user by default.
func SourcePolicies(cfg *config.Config) ([][]SourceGrant, error) {
	var docs [][]SourceGrant
	var cur []SourceGrant
	size := 0
	seen := map[string]bool{}
	for _, t := range cfg.IAMUserTargets() {
		actions, sid := AssumeActions(t)
		key := sid + "\x00" + t.RoleArn
		if seen[key] {
			continue
		}
		seen[key] = true
		cost := len(t.RoleArn) + 3
		if size+cost > sourcePolicyBudget {
			docs, cur, size = append(docs, cur), nil, 0
		}
		var g *SourceGrant
		for i := range cur {
			if cur[i].Sid == sid {
				g = &cur[i]
			}
		}
		if g == nil {
			cur = append(cur, SourceGrant{Sid: sid, Actions: actions})
			g = &cur[len(cur)-1]
			size += 120 // the statement's own text
		}
		g.RoleArns = append(g.RoleArns, t.RoleArn)
		size += cost
	}
	if len(cur) > 0 {
		docs = append(docs, cur)
	}
	if err := quotas.ManagedPoliciesPerUser.Check(fmt.Sprintf("%s: the source user's AssumeRole permissions", cfg.File), len(docs)); err != nil {
		return nil, err
	}
	return docs, nil
}
