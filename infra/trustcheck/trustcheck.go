package trustcheck

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/stsrotator/stsrotator/infra/plan"
)

// Template is one synthesized template: its name (for messages) and body.
type Template struct {
	Name string
	Body map[string]any
}

// Check returns every violation in ts, the templates of the stack named
// stackName built from p, deployed with the CDK bootstrap qualifier
// qualifier; none means the templates trust exact identities only.
func Check(ts []Template, stackName, qualifier string, p *plan.Plan) []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	roles := map[string]int{}
	policies := map[string]map[string]any{}
	for _, t := range ts {
		res, _ := t.Body["Resources"].(map[string]any)
		for id, r := range res {
			rm, _ := r.(map[string]any)
			props, _ := rm["Properties"].(map[string]any)
			walkPrincipals(rm, func(where string, v any) {
				if s := js(v); strings.Contains(s, "*") && s != `"*"` {
					fail("%s/%s: %s names principals by pattern: %s", t.Name, id, where, s)
				}
			})
			switch rm["Type"] {
			case "AWS::IAM::Role":
				if path, ok := props["Path"].(string); ok && strings.Contains(path, "/rotator/") {
					fail("%s/%s: a role under the rotator path %s", t.Name, id, path)
				}
				if name, ok := props["RoleName"].(string); ok {
					roles[name]++
				}
			case "AWS::SecretsManager::ResourcePolicy":
				if md, _ := rm["Metadata"].(map[string]any); md != nil {
					if target, ok := md["stsrotator:target"].(string); ok {
						// As a template file holds it: lists as []any.
						var doc map[string]any
						_ = json.Unmarshal([]byte(js(props["ResourcePolicy"])), &doc)
						policies[target] = doc
					}
				}
			}
		}
		outs, _ := t.Body["Outputs"].(map[string]any)
		for id, o := range outs {
			if s := js(o); strings.Contains(s, "/rotator/") {
				fail("%s: output %s names the rotator path: %s", t.Name, id, s)
			}
		}
	}
	for _, sh := range p.Shards {
		name := plan.RotatorRoleName(stackName, sh.Index)
		if roles[name] != 1 {
			fail("shard %s: %d roles named %s, want exactly one with that literal RoleName", sh.ID, roles[name], name)
		}
	}
	for _, t := range p.Config.Targets {
		doc := policies[t.Name]
		if doc == nil {
			fail("target %s: no secret resource policy", t.Name)
			continue
		}
		errs = append(errs, writeDeny(t.Name, doc, stackName, qualifier)...)
	}
	return errs
}

// walkPrincipals calls f with every Principal element and every value of
// a condition on aws:PrincipalArn in r (any policy it holds, any depth).
func walkPrincipals(v any, f func(where string, v any)) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			switch {
			case k == "Principal" || k == "NotPrincipal":
				if m, ok := e.(map[string]any); ok {
					for kind, p := range m {
						f(k+"."+kind, p)
					}
				}
			case k == "Condition":
				if ops, ok := e.(map[string]any); ok {
					for op, keys := range ops {
						if km, ok := keys.(map[string]any); ok {
							for key, val := range km {
								if strings.EqualFold(key, "aws:PrincipalArn") {
									f("Condition."+op+"."+key, val)
								}
							}
						}
					}
				}
			}
			walkPrincipals(e, f)
		}
	case []any:
		for _, e := range x {
			walkPrincipals(e, f)
		}
	}
}

// writeDeny checks target's secret policy doc has plan.ReadPolicy's two
// write statements, exempting exactly the rotator and execution roles.
func writeDeny(target string, doc map[string]any, stackName, qualifier string) []error {
	var errs []error
	stmts, _ := doc["Statement"].([]any)
	writers := []any{plan.RoleArnOf(plan.RotatorRoleName(stackName, plan.ShardOf(target))), plan.CfnExecRoleArn(qualifier)}
	found := map[string]bool{}
	for _, s := range stmts {
		st, _ := s.(map[string]any)
		sid, _ := st["Sid"].(string)
		var want []string
		field := "Action"
		switch sid {
		case "OnlyTheRotatorWrites":
			// Everything but reads, so no action AWS adds is left out.
			want, field = plan.TargetWriteDenyNotActions(), "NotAction"
		case "OnlyTheRotatorTagsStsrotatorKeys":
			want = plan.SecretTagActions
		default:
			continue
		}
		found[sid] = true
		var got []string
		for _, a := range asList(st[field]) {
			got = append(got, fmt.Sprint(a))
		}
		if other := map[string]string{"Action": "NotAction", "NotAction": "Action"}[field]; st[other] != nil {
			errs = append(errs, fmt.Errorf("target %s: %s has %s as well as %s", target, sid, other, field))
		}
		sort.Strings(got)
		w := append([]string(nil), want...)
		sort.Strings(w)
		cond, _ := st["Condition"].(map[string]any)
		exempt, _ := cond["ArnNotEquals"].(map[string]any)
		if st["Effect"] != "Deny" || js(st["Principal"]) != `{"AWS":"*"}` || st["Resource"] != "*" || strings.Join(got, ",") != strings.Join(w, ",") {
			errs = append(errs, fmt.Errorf("target %s: %s is not a Deny (%s %v) to everyone: %s", target, sid, field, w, js(st)))
		}
		if js(exempt["aws:PrincipalArn"]) != js(writers) || len(exempt) != 1 {
			errs = append(errs, fmt.Errorf("target %s: %s exempts %s, want exactly the rotator and execution roles %s", target, sid, js(exempt), js(writers)))
		}
		if sid == "OnlyTheRotatorTagsStsrotatorKeys" && js(cond["ForAnyValue:StringLike"]) != js(map[string]any{"aws:TagKeys": plan.ReservedTagKeys}) {
			errs = append(errs, fmt.Errorf("target %s: %s is not limited to the %s tag keys: %s", target, sid, plan.ReservedTagKeys, js(cond)))
		}
		if len(cond) != map[string]int{"OnlyTheRotatorWrites": 1, "OnlyTheRotatorTagsStsrotatorKeys": 2}[sid] {
			errs = append(errs, fmt.Errorf("target %s: %s has other conditions: %s", target, sid, js(cond)))
		}
	}
	for _, sid := range []string{"OnlyTheRotatorWrites", "OnlyTheRotatorTagsStsrotatorKeys"} {
		if !found[sid] {
			errs = append(errs, fmt.Errorf("target %s: its secret policy has no %s statement", target, sid))
		}
	}
	return errs
}

func asList(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	return []any{v}
}

// js is v as JSON, through a round trip so a value built in Go and one
// read from a template compare equal.
func js(v any) string {
	b, _ := json.Marshal(v)
	var back any
	_ = json.Unmarshal(b, &back)
	b, _ = json.Marshal(back)
	return string(b)
}
