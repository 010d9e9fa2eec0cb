package preflight

import (
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/stsrotator/stsrotator/internal/iameval"
)

// Policy is an IAM policy document as far as a role's trust policy goes.
// Fields that may be a string or a list of strings in IAM's grammar
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html)
// are normalised to lists.
type Policy struct {
	Statements []Statement
}

// Statement is one trust-policy statement.
type Statement struct {
	Sid          string
	Effect       string
	Actions      []string
	NotActions   []string
	Principals   map[string][]string // "AWS", "Service", "Federated"; "*" → {"*": ["*"]}
	NotPrincipal bool
	// Conditions maps an operator (StringEquals, ArnLike, ...) to its keys
	// and their values.
	Conditions map[string]map[string][]string
}

// ParseTrustPolicy reads a trust policy as iam:GetRole returns it:
// URL-encoded JSON (RFC 3986), or plain JSON.
func ParseTrustPolicy(doc string) (*Policy, error) {
	text := strings.TrimSpace(doc)
	if !strings.HasPrefix(text, "{") {
		dec, err := url.PathUnescape(text)
		if err != nil {
			return nil, fmt.Errorf("trust policy is neither JSON nor URL-encoded JSON: %w", err)
		}
		text = dec
	}
	stmts, err := iameval.RawStatements([]byte(text))
	if err != nil {
		return nil, fmt.Errorf("trust %w", err)
	}
	p := &Policy{}
	for i, rs := range stmts {
		s, err := parseStatement(rs)
		if err != nil {
			return nil, fmt.Errorf("trust policy Statement[%d]: %w", i, err)
		}
		p.Statements = append(p.Statements, s)
	}
	return p, nil
}

func parseStatement(b json.RawMessage) (Statement, error) {
	var raw struct {
		Sid          string
		Effect       string
		Action       json.RawMessage
		NotAction    json.RawMessage
		Principal    json.RawMessage
		NotPrincipal json.RawMessage
		Condition    map[string]map[string]json.RawMessage
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return Statement{}, err
	}
	s := Statement{Sid: raw.Sid, Effect: raw.Effect, NotPrincipal: len(raw.NotPrincipal) > 0}
	var err error
	if s.Actions, err = iameval.Values(raw.Action); err != nil {
		return s, fmt.Errorf("field Action: %w", err)
	}
	if s.NotActions, err = iameval.Values(raw.NotAction); err != nil {
		return s, fmt.Errorf("field NotAction: %w", err)
	}
	if len(raw.Principal) > 0 {
		s.Principals = map[string][]string{}
		var star string
		if json.Unmarshal(raw.Principal, &star) == nil {
			s.Principals[star] = []string{star}
		} else {
			var m map[string]json.RawMessage
			if err := json.Unmarshal(raw.Principal, &m); err != nil {
				return s, fmt.Errorf("field Principal: %w", err)
			}
			for k, v := range m {
				if s.Principals[k], err = iameval.Values(v); err != nil {
					return s, fmt.Errorf("field Principal.%s: %w", k, err)
				}
			}
		}
	}
	if len(raw.Condition) > 0 {
		s.Conditions = map[string]map[string][]string{}
		for op, keys := range raw.Condition {
			s.Conditions[op] = map[string][]string{}
			for k, v := range keys {
				if s.Conditions[op][k], err = iameval.Values(v); err != nil {
					return s, fmt.Errorf("field Condition.%s.%s: %w", op, k, err)
				}
			}
		}
	}
	return s, nil
}

// Verdict is a three-valued answer: a trust policy evaluated before the
// callers exist can be undecidable.
type Verdict int

const (
	No Verdict = iota
	Unknown
	Yes
)

// Caller describes the principal that will call sts:AssumeRole: exactly
// PrincipalArn (plan.AssumerArn), in Account, with the request values a
// target's config decides.
type Caller struct {
	Account      string
	PrincipalArn string
	ExternalID   string
	// SourceIdentity and SessionName are what the rotator passes.
	SourceIdentity string
	SessionName    string
	// SessionTags are the tags the rotator sends (aws:RequestTag/<key>),
	// by key lower-cased: IAM compares tag keys without regard to case
	// (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_session-tags.html#id_session-tags_know).
	SessionTags map[string]string
}

// Trust is the outcome for one action.
type Trust struct {
	Action  string
	Verdict Verdict
	// Why names the deciding statement, or what could not be evaluated.
	Why string
	// DeniedBy names the Deny statement that refuses the action, if one
	// does: no Allow can override it, so a fix must change that statement.
	DeniedBy string
}

// Allows evaluates the policy for each action the caller needs, the way
// IAM's evaluation logic does for a role trust policy
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html):
// an explicit Deny that applies wins, else an Allow that applies, else
// the implicit deny.
func (p *Policy) Allows(c Caller, actions []string) []Trust {
	out := make([]Trust, 0, len(actions))
	for _, a := range actions {
		var allowBy, denyBy string
		var unknownAllow, unknownDeny, failedAllow []string
		for i, s := range p.Statements {
			name := s.Sid
			if name == "" {
				name = fmt.Sprintf("Statement[%d]", i)
			}
			v, why := s.applies(c, a)
			deny := strings.EqualFold(s.Effect, "Deny")
			switch {
			case v == Yes && deny && denyBy == "":
				denyBy = name
			case v == Yes && !deny && allowBy == "":
				allowBy = name
			case v == Unknown && deny:
				unknownDeny = append(unknownDeny, "Deny statement "+name+" "+why)
			case v == Unknown:
				unknownAllow = append(unknownAllow, "statement "+name+" "+why)
			case v == No && !deny && why != "":
				failedAllow = append(failedAllow, "statement "+name+" "+why)
			}
		}
		t := Trust{Action: a}
		switch {
		case denyBy != "":
			t.Verdict, t.Why, t.DeniedBy = No, "denied by statement "+denyBy, denyBy
		case len(unknownDeny) > 0:
			t.Verdict, t.Why = Unknown, strings.Join(unknownDeny, "; ")
		case allowBy != "":
			t.Verdict, t.Why = Yes, "allowed by statement "+allowBy
		case len(unknownAllow) > 0:
			t.Verdict, t.Why = Unknown, strings.Join(unknownAllow, "; ")
		case len(failedAllow) > 0:
			t.Verdict, t.Why = No, strings.Join(failedAllow, "; ")
		default:
			t.Verdict, t.Why = No, "no statement allows it"
		}
		out = append(out, t)
	}
	return out
}

// applies says whether the statement covers action by the caller.
func (s Statement) applies(c Caller, action string) (Verdict, string) {
	if s.NotPrincipal {
		return Unknown, "uses NotPrincipal, which preflight does not evaluate"
	}
	if len(s.Actions) > 0 && !anyGlob(s.Actions, action, true) {
		return No, ""
	}
	if len(s.NotActions) > 0 && anyGlob(s.NotActions, action, true) {
		return No, ""
	}
	if len(s.Actions) == 0 && len(s.NotActions) == 0 {
		return No, ""
	}
	if !s.principalMatches(c) {
		return No, ""
	}
	return s.conditionsHold(c)
}

func (s Statement) principalMatches(c Caller) bool {
	if _, ok := s.Principals["*"]; ok {
		return true
	}
	for _, p := range s.Principals["AWS"] {
		switch {
		case p == "*", p == c.Account, strings.HasPrefix(p, "arn:") && strings.HasSuffix(p, ":iam::"+c.Account+":root"), p == c.PrincipalArn:
			return true
		}
	}
	return false
}

// conditionsHold evaluates every condition block; all must hold.
func (s Statement) conditionsHold(c Caller) (Verdict, string) {
	ops := make([]string, 0, len(s.Conditions))
	for op := range s.Conditions {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	verdict, why := Yes, ""
	for _, op := range ops {
		keys := make([]string, 0, len(s.Conditions[op]))
		for k := range s.Conditions[op] {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			v := condition(op, k, s.Conditions[op][k], c)
			if v == No {
				return No, fmt.Sprintf("condition %s %s does not hold", op, k)
			}
			if v == Unknown {
				verdict, why = Unknown, fmt.Sprintf("has condition %s %s, which preflight cannot evaluate before the deploy", op, k)
			}
		}
	}
	return verdict, why
}

// condition evaluates one operator on one key for the caller. Keys whose
// value the caller's config fixes are evaluated; any other is Unknown.
func condition(op, key string, values []string, c Caller) Verdict {
	base, ifExists := strings.CutSuffix(op, "IfExists")
	var got []string // the request's value(s); nil = key absent
	switch strings.ToLower(key) {
	case "aws:principalarn":
		got = []string{c.PrincipalArn}
	case "aws:principalaccount":
		got = []string{c.Account}
	case "sts:externalid":
		if c.ExternalID != "" {
			got = []string{c.ExternalID}
		}
	case "sts:sourceidentity":
		if c.SourceIdentity != "" {
			got = []string{c.SourceIdentity}
		}
	case "sts:rolesessionname":
		got = []string{c.SessionName}
	default:
		k, ok := strings.CutPrefix(strings.ToLower(key), "aws:requesttag/")
		if !ok {
			return Unknown
		}
		// The tags the rotator sends are fixed by the config; a tag it
		// does not send is an absent key.
		if v, sent := c.SessionTags[k]; sent {
			got = []string{v}
		}
	}
	if got == nil {
		if ifExists {
			return Yes
		}
		if strings.HasPrefix(base, "StringNot") || strings.HasPrefix(base, "ArnNot") {
			return Yes
		}
		if base == "Null" {
			return verdict(len(values) == 1 && values[0] == "true")
		}
		return No
	}
	if base == "Null" {
		return verdict(len(values) == 1 && values[0] == "false")
	}
	match, ok := matcher(base)
	if !ok {
		return Unknown
	}
	hit := false
	for _, v := range values {
		hit = hit || match(v, got[0])
	}
	if strings.Contains(base, "Not") {
		return verdict(!hit)
	}
	return verdict(hit)
}

// Broad lists the Allow statements that grant any of actions to more than
// one principal of account: Principal "*", the account's root or its bare
// ID, not narrowed to exact ARNs by an ArnEquals or StringEquals condition
// on aws:PrincipalArn; or narrowed by a pattern (ArnLike, StringLike), such
// as an IAM path wildcard. Any principal of the account that may create a
// role (choosing its name and path) or be granted sts:AssumeRole could
// then assume the target role. Each entry names the statement and what
// makes it broad.
func (p *Policy) Broad(account string, actions []string) []string {
	var out []string
	for i, s := range p.Statements {
		if !strings.EqualFold(s.Effect, "Allow") || s.NotPrincipal {
			continue
		}
		grants := false
		for _, a := range actions {
			grants = grants || (len(s.Actions) > 0 && anyGlob(s.Actions, a, true)) || (len(s.NotActions) > 0 && !anyGlob(s.NotActions, a, true))
		}
		if !grants {
			continue
		}
		var broad string
		if _, ok := s.Principals["*"]; ok {
			broad = `Principal "*"`
		}
		for _, pr := range s.Principals["AWS"] {
			switch {
			case pr == "*":
				broad = `Principal {"AWS":"*"}`
			case pr == account, strings.HasPrefix(pr, "arn:") && strings.HasSuffix(pr, ":iam::"+account+":root"):
				broad = "the account root " + pr + " as Principal"
			}
		}
		if broad == "" {
			continue
		}
		name := s.Sid
		if name == "" {
			name = fmt.Sprintf("Statement[%d]", i)
		}
		exact, pattern := false, ""
		for op, keys := range s.Conditions {
			for k, vs := range keys {
				if !strings.EqualFold(k, "aws:PrincipalArn") {
					continue
				}
				wild := false
				for _, v := range vs {
					wild = wild || strings.ContainsAny(v, "*?")
				}
				switch op {
				case "ArnEquals", "StringEquals":
					exact = exact || !wild
				case "ArnLike", "StringLike":
					if wild {
						pattern = op + " aws:PrincipalArn " + strings.Join(vs, ", ")
					} else {
						exact = true
					}
				}
			}
		}
		switch {
		case exact:
		case pattern != "":
			out = append(out, "statement "+name+" trusts a pattern ("+pattern+")")
		default:
			out = append(out, "statement "+name+" trusts "+broad+" with no exact aws:PrincipalArn")
		}
	}
	return out
}

// matcher returns the string comparison of an IAM condition operator
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html).
func matcher(op string) (func(pattern, value string) bool, bool) {
	switch op {
	case "StringEquals", "StringNotEquals":
		return func(p, v string) bool { return p == v }, true
	case "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase":
		return strings.EqualFold, true
	case "StringLike", "StringNotLike":
		return func(p, v string) bool { return iameval.Glob(p, v, false) }, true
	case "ArnEquals", "ArnNotEquals", "ArnLike", "ArnNotLike":
		// Component by component, wildcards in ArnEquals too.
		return iameval.ArnMatch, true
	}
	return nil, false
}

func verdict(b bool) Verdict {
	if b {
		return Yes
	}
	return No
}

func anyGlob(patterns []string, s string, fold bool) bool {
	for _, p := range patterns {
		if iameval.Glob(p, s, fold) {
			return true
		}
	}
	return false
}
