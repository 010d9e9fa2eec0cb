package iameval

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Decision is the outcome of an evaluation.
type Decision int

const (
	// ImplicitDeny: no statement allows the request.
	ImplicitDeny Decision = iota
	// Allow: a statement allows it and none denies it.
	Allow
	// ExplicitDeny: a Deny statement applies; no Allow can override it.
	ExplicitDeny
)

func (d Decision) String() string {
	return [...]string{"ImplicitDeny", "Allow", "ExplicitDeny"}[d]
}

// Request is one API call as the evaluation sees it.
type Request struct {
	// Principal is the calling principal's ARN as aws:PrincipalArn gives
	// it: a role's ARN for any of its sessions, a user's ARN; or a service
	// principal's name (e.g. "logs.amazonaws.com"), which has no
	// aws:PrincipalArn.
	Principal string
	// Action is "service:Action", e.g. secretsmanager:PutSecretValue.
	Action string
	// Resource is the resource's ARN.
	Resource string
	// Context holds the request's other condition keys and their values
	// (e.g. aws:TagKeys, aws:SecureTransport); key names are compared
	// without regard to case. aws:PrincipalArn and aws:PrincipalAccount
	// come from Principal unless given here.
	Context map[string][]string
	// TrustPolicy says the resource policy is a role trust policy (or a KMS
	// key policy): those must allow the principal themselves, whatever
	// the identity policies say; one that allows the principal's account
	// (its root) delegates to the identity policies, which must then
	// allow too
	// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html:
	// "Role trust policies and KMS key policies are exceptions to this
	// logic, because they must explicitly allow access for principals").
	TrustPolicy bool
}

// Policy is a parsed policy document.
type Policy struct {
	Statements []Statement
}

// Statement is one policy statement, string-or-list fields normalised to
// lists.
type Statement struct {
	Sid          string
	Effect       string
	Principal    map[string][]string // nil: no Principal element
	Action       []string
	NotAction    []string
	Resource     []string
	NotResource  []string
	Condition    map[string]map[string][]string
	hasNotPrinc  bool
	hasPrincipal bool
}

// Parse reads a policy document. Intrinsic functions must already be
// resolved (Resolve).
func Parse(doc []byte) (*Policy, error) {
	stmts, err := RawStatements(doc)
	if err != nil {
		return nil, err
	}
	p := &Policy{}
	for i, b := range stmts {
		s, err := parseStatement(b)
		if err != nil {
			return nil, fmt.Errorf("policy Statement[%d]: %w", i, err)
		}
		p.Statements = append(p.Statements, s)
	}
	return p, nil
}

// RawStatements is a policy document's statements, unparsed: its
// Statement is one statement or a list of them in IAM's grammar
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html).
func RawStatements(doc []byte) ([]json.RawMessage, error) {
	var raw struct {
		Statement json.RawMessage
	}
	if err := json.Unmarshal(doc, &raw); err != nil {
		return nil, fmt.Errorf("policy is not a JSON object: %w", err)
	}
	var stmts []json.RawMessage
	switch {
	case len(raw.Statement) == 0:
		return nil, errors.New("policy has no Statement")
	case raw.Statement[0] == '[':
		if err := json.Unmarshal(raw.Statement, &stmts); err != nil {
			return nil, fmt.Errorf("policy Statement: %w", err)
		}
	default:
		stmts = []json.RawMessage{raw.Statement}
	}
	return stmts, nil
}

// MustParse is Parse for values built in code (a test's policy), via
// encoding/json; it panics on an error.
func MustParse(v any) *Policy {
	b, err := json.Marshal(v)
	if err == nil {
		var p *Policy
		if p, err = Parse(b); err == nil {
			return p
		}
	}
	panic(err)
}

func parseStatement(b json.RawMessage) (Statement, error) {
	var raw struct {
		Sid          string
		Effect       string
		Principal    json.RawMessage
		NotPrincipal json.RawMessage
		Action       json.RawMessage
		NotAction    json.RawMessage
		Resource     json.RawMessage
		NotResource  json.RawMessage
		Condition    map[string]map[string]json.RawMessage
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return Statement{}, err
	}
	s := Statement{Sid: raw.Sid, Effect: raw.Effect, hasNotPrinc: len(raw.NotPrincipal) > 0, hasPrincipal: len(raw.Principal) > 0}
	if s.Effect != "Allow" && s.Effect != "Deny" {
		return s, fmt.Errorf("field Effect %q: want Allow or Deny", s.Effect)
	}
	var err error
	for _, f := range []struct {
		name string
		raw  json.RawMessage
		out  *[]string
	}{{"Action", raw.Action, &s.Action}, {"NotAction", raw.NotAction, &s.NotAction}, {"Resource", raw.Resource, &s.Resource}, {"NotResource", raw.NotResource, &s.NotResource}} {
		if *f.out, err = Values(f.raw); err != nil {
			return s, fmt.Errorf("%s: %w", f.name, err)
		}
	}
	if (len(s.Action) == 0) == (len(s.NotAction) == 0) {
		return s, errors.New("want exactly one of Action and NotAction")
	}
	if s.hasPrincipal {
		s.Principal = map[string][]string{}
		var star string
		if json.Unmarshal(raw.Principal, &star) == nil {
			if star != "*" {
				return s, fmt.Errorf("field Principal %q: a string Principal must be \"*\"", star)
			}
			s.Principal["AWS"] = []string{"*"}
		} else {
			var m map[string]json.RawMessage
			if err := json.Unmarshal(raw.Principal, &m); err != nil {
				return s, fmt.Errorf("field Principal: %w", err)
			}
			for k, v := range m {
				if s.Principal[k], err = Values(v); err != nil {
					return s, fmt.Errorf("field Principal.%s: %w", k, err)
				}
			}
		}
	}
	if len(raw.Condition) > 0 {
		s.Condition = map[string]map[string][]string{}
		for op, keys := range raw.Condition {
			if _, err := operator(op); err != nil {
				return s, fmt.Errorf("field Condition: %w", err)
			}
			s.Condition[op] = map[string][]string{}
			for k, v := range keys {
				if s.Condition[op][k], err = Values(v); err != nil {
					return s, fmt.Errorf("field Condition.%s.%s: %w", op, k, err)
				}
			}
		}
	}
	return s, nil
}

// Values reads a policy value that IAM's grammar lets be a string or a
// list of strings
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html);
// numbers and booleans (valid condition values) become their JSON text.
func Values(b json.RawMessage) ([]string, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	scalar := func(x any) (string, error) {
		switch y := x.(type) {
		case string:
			return y, nil
		case bool, float64:
			return fmt.Sprint(y), nil
		}
		return "", fmt.Errorf("want a string, got %T (unresolved intrinsic function?)", x)
	}
	if list, ok := v.([]any); ok {
		out := make([]string, 0, len(list))
		for _, x := range list {
			s, err := scalar(x)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		return out, nil
	}
	s, err := scalar(v)
	if err != nil {
		return nil, err
	}
	return []string{s}, nil
}

// Evaluate decides req against the caller's identity policies and the
// resource's policy (nil when it has none), following the evaluation
// logic in the package documentation. The error names the statement and
// what could not be evaluated; the decision is then ImplicitDeny.
func Evaluate(req Request, identity []*Policy, resource *Policy) (Decision, error) {
	ctx := context(req)
	idAllow, resAllow, resAllowExact := false, false, false
	for i, p := range identity {
		if p == nil {
			continue
		}
		for j, s := range p.Statements {
			if s.hasPrincipal || s.hasNotPrinc {
				return ImplicitDeny, fmt.Errorf("identity policy %d Statement[%d]: an identity policy has no Principal", i, j)
			}
			ok, err := s.applies(req, ctx, false)
			if err != nil {
				return ImplicitDeny, fmt.Errorf("identity policy %d Statement[%d] (%s): %w", i, j, s.Sid, err)
			}
			if ok && s.Effect == "Deny" {
				return ExplicitDeny, nil
			}
			idAllow = idAllow || ok
		}
	}
	if resource != nil {
		for j, s := range resource.Statements {
			if s.hasNotPrinc {
				return ImplicitDeny, fmt.Errorf("resource policy Statement[%d] (%s): NotPrincipal is not evaluated", j, s.Sid)
			}
			if !s.hasPrincipal {
				return ImplicitDeny, fmt.Errorf("resource policy Statement[%d] (%s): a resource policy statement needs a Principal", j, s.Sid)
			}
			ok, err := s.applies(req, ctx, true)
			if err != nil {
				return ImplicitDeny, fmt.Errorf("resource policy Statement[%d] (%s): %w", j, s.Sid, err)
			}
			if ok && s.Effect == "Deny" {
				return ExplicitDeny, nil
			}
			resAllow = resAllow || ok
			resAllowExact = resAllowExact || ok && s.namesPrincipal(req.Principal)
		}
	}
	if req.TrustPolicy {
		if resAllowExact || resAllow && idAllow {
			return Allow, nil
		}
		return ImplicitDeny, nil
	}
	if pa, ra := accountOf(req.Principal), accountOf(req.Resource); pa != "" && ra != "" && pa != ra {
		// Cross-account: both sides must allow. A service principal has no
		// account and no identity policy: the resource policy decides
		// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html#principal-services).
		if idAllow && resAllow {
			return Allow, nil
		}
		return ImplicitDeny, nil
	}
	if idAllow || resAllow {
		return Allow, nil
	}
	return ImplicitDeny, nil
}

func context(req Request) map[string][]string {
	ctx := map[string][]string{}
	for k, v := range req.Context {
		ctx[strings.ToLower(k)] = v
	}
	// A service principal (e.g. "logs.amazonaws.com") has no ARN: AWS
	// puts aws:PrincipalArn in the context for IAM roles, users, STS
	// federated users and account root users only, and
	// aws:PrincipalServiceName for a service
	// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalarn).
	if _, ok := ctx["aws:principalarn"]; !ok && strings.HasPrefix(req.Principal, "arn:") {
		ctx["aws:principalarn"] = []string{req.Principal}
	}
	if _, ok := ctx["aws:principalaccount"]; !ok && accountOf(req.Principal) != "" {
		ctx["aws:principalaccount"] = []string{accountOf(req.Principal)}
	}
	return ctx
}

// accountOf is an ARN's account field ("" when it has none).
func accountOf(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return ""
	}
	return parts[4]
}

func (s Statement) applies(req Request, ctx map[string][]string, resourcePolicy bool) (bool, error) {
	if len(s.Action) > 0 && !anyGlob(s.Action, req.Action, true) {
		return false, nil
	}
	if len(s.NotAction) > 0 && anyGlob(s.NotAction, req.Action, true) {
		return false, nil
	}
	switch {
	case len(s.Resource) > 0:
		// In a resource policy "*" is the resource it is attached to.
		if !anyGlob(s.Resource, req.Resource, false) {
			return false, nil
		}
	case len(s.NotResource) > 0:
		if anyGlob(s.NotResource, req.Resource, false) {
			return false, nil
		}
	case !resourcePolicy:
		return false, errors.New("no Resource or NotResource")
	}
	if resourcePolicy && !s.principalMatches(req.Principal) {
		return false, nil
	}
	return s.conditionsHold(ctx)
}

// principalMatches: "*" is everyone; an account ID or its root ARN is
// every principal of that account; any other ARN is that principal
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html).
func (s Statement) principalMatches(principal string) bool {
	for _, p := range s.Principal["AWS"] {
		acct := accountOf(principal)
		switch {
		case p == "*", p == principal:
			return true
		case acct != "" && (p == acct || strings.HasPrefix(p, "arn:") && strings.HasSuffix(p, ":iam::"+acct+":root")):
			return true
		}
	}
	for _, p := range s.Principal["Service"] {
		if p == principal {
			return true
		}
	}
	return false
}

// namesPrincipal: the statement names the principal itself (or "*"),
// not only its account.
func (s Statement) namesPrincipal(principal string) bool {
	for _, p := range s.Principal["AWS"] {
		if p == "*" || p == principal {
			return true
		}
	}
	return false
}

func (s Statement) conditionsHold(ctx map[string][]string) (bool, error) {
	ops := make([]string, 0, len(s.Condition))
	for op := range s.Condition {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	for _, op := range ops {
		o, err := operator(op)
		if err != nil {
			return false, err
		}
		for key, want := range s.Condition[op] {
			got, present := ctx[strings.ToLower(key)]
			ok, err := o.holds(want, got, present)
			if err != nil {
				return false, fmt.Errorf("condition %s %s: %w", op, key, err)
			}
			if !ok {
				return false, nil
			}
		}
	}
	return true, nil
}

// op is one parsed condition operator
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html,
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html).
type op struct {
	set      string // "", "ForAnyValue", "ForAllValues"
	base     string
	negated  bool
	ifExists bool
	match    func(pattern, value string) bool
}

func operator(name string) (op, error) {
	o := op{}
	rest := name
	if set, after, ok := strings.Cut(rest, ":"); ok {
		if set != "ForAnyValue" && set != "ForAllValues" {
			return o, fmt.Errorf("unknown set operator %q", set)
		}
		o.set, rest = set, after
	}
	o.base, o.ifExists = strings.CutSuffix(rest, "IfExists")
	switch o.base {
	case "StringEquals":
		o.match = func(p, v string) bool { return p == v }
	case "StringNotEquals":
		o.match, o.negated = func(p, v string) bool { return p == v }, true
	case "ArnEquals", "ArnLike":
		o.match = ArnMatch
	case "ArnNotEquals", "ArnNotLike":
		o.match, o.negated = ArnMatch, true
	case "StringEqualsIgnoreCase":
		o.match = strings.EqualFold
	case "StringNotEqualsIgnoreCase":
		o.match, o.negated = strings.EqualFold, true
	case "StringLike":
		o.match = func(p, v string) bool { return Glob(p, v, false) }
	case "StringNotLike":
		o.match, o.negated = func(p, v string) bool { return Glob(p, v, false) }, true
	case "Bool":
		o.match = strings.EqualFold
	case "Null":
		if o.set != "" || o.ifExists {
			return o, fmt.Errorf("operator %q: Null takes no set operator or IfExists", name)
		}
	default:
		return o, fmt.Errorf("unknown condition operator %q", name)
	}
	return o, nil
}

func (o op) holds(want, got []string, present bool) (bool, error) {
	if o.base == "Null" {
		if len(want) != 1 || (want[0] != "true" && want[0] != "false") {
			return false, fmt.Errorf("operator Null takes true or false, got %v", want)
		}
		return (want[0] == "true") == !present, nil
	}
	if !present || len(got) == 0 {
		switch {
		case o.ifExists:
			return true, nil
		case o.set == "ForAllValues":
			// Vacuously true over an empty set.
			return true, nil
		case o.set == "ForAnyValue":
			return false, nil
		}
		// A negated operator holds for an absent key; a positive one fails.
		return o.negated, nil
	}
	matches := func(v string) bool {
		for _, w := range want {
			if o.match(w, v) {
				return true
			}
		}
		return false
	}
	switch o.set {
	case "ForAnyValue":
		for _, v := range got {
			if matches(v) != o.negated {
				return true, nil
			}
		}
		return false, nil
	case "ForAllValues":
		for _, v := range got {
			if matches(v) == o.negated {
				return false, nil
			}
		}
		return true, nil
	}
	if len(got) > 1 {
		return false, fmt.Errorf("a single-valued operator on %d values: use ForAnyValue or ForAllValues", len(got))
	}
	return matches(got[0]) != o.negated, nil
}

// ArnMatch is the ARN condition operators' comparison (pattern against
// value): "ArnEquals,
// ArnLike: Case-sensitive matching of the ARN. Each of the six
// colon-delimited components of the ARN is checked separately and each can
// include multi-character match wildcards (*) or single-character match
// wildcards (?)" (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_ARN).
// So ArnEquals takes wildcards too, and a "*" never spans a colon between
// components (the sixth, the resource, keeps any colons it has).
func ArnMatch(pattern, value string) bool {
	p, v := strings.SplitN(pattern, ":", 6), strings.SplitN(value, ":", 6)
	if len(p) != 6 || len(v) != 6 {
		return false
	}
	for i := range p {
		if !Glob(p[i], v[i], false) {
			return false
		}
	}
	return true
}

func anyGlob(patterns []string, s string, fold bool) bool {
	for _, p := range patterns {
		if Glob(p, s, fold) {
			return true
		}
	}
	return false
}

// Glob matches IAM's wildcards: "*" any run of characters (including
// none), "?" exactly one; nothing else is special ("/" included). fold
// compares without regard to case, as IAM does for actions.
func Glob(pattern, s string, fold bool) bool {
	if fold {
		pattern, s = strings.ToLower(pattern), strings.ToLower(s)
	}
	p, v := []rune(pattern), []rune(s)
	pi, vi, star, mark := 0, 0, -1, 0
	for vi < len(v) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == v[vi]):
			pi++
			vi++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, vi
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			vi = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}
