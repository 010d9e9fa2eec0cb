package revocation

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/jsonkeys"
)

// AllSessionsPolicyName is the inline policy AWS's console writes for
// "Revoke active sessions"; --all-sessions writes the same one, so the
// console and stsrotator see and move one cutoff.
const AllSessionsPolicyName = "AWSRevokeOlderSessions"

// policyPrefix starts the name of a target-scoped revocation policy.
const policyPrefix = "stsrotator-revoke-"

// Keys and operators of the policy language the documents use.
const (
	keyTokenIssueTime = "aws:TokenIssueTime"
	keyUserID         = "aws:userid"
	keySourceIdentity = "aws:SourceIdentity"
	opStringEquals    = "StringEquals"
	opDateLessThan    = "DateLessThan"
	opStringLike      = "StringLike"
	timeLayout        = "2006-01-02T15:04:05Z"
)

// Sid marks the statement of a target-scoped revocation.
const Sid = "StsrotatorRevokeOlderSessions"

// PolicyName is the inline policy name of a target-scoped revocation:
// one per target, so two targets sharing a role keep separate cutoffs.
// Target names are [a-z0-9-] of at most 40 characters, well inside IAM's
// policy-name pattern [\w+=,.@-]{1,128}.
func PolicyName(target string) string { return policyPrefix + target }

// Scope says whose sessions a revocation denies. The zero Scope (All)
// is every session of the role (AWSRevokeOlderSessions).
type Scope struct {
	// SessionNames denies sessions with any of these RoleSessionNames
	// (StringLike aws:userid "*:<name>"). A revocation keeps every name
	// it ever held (Union): after a target's sessionName changes, the
	// sessions issued under the old name stay denied.
	SessionNames []string
	// SourceIdentities denies sessions that carry any of these source
	// identities (StringEquals aws:SourceIdentity), whatever their name,
	// in a second statement. A source identity set at AssumeRole cannot be
	// changed and is passed on to every session chained from it, so a
	// leaked session that re-assumed the role under another name before
	// the cutoff is denied too
	// (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_temp_control-access_monitor.html).
	SourceIdentities []string
}

// All reports whether the scope is every session of the role.
func (s Scope) All() bool { return len(s.SessionNames) == 0 && len(s.SourceIdentities) == 0 }

// ForTarget is the default scope: the sessions stsrotator issues for t,
// by name, and by source identity when t sets one.
func ForTarget(t config.Target) Scope {
	s := Scope{SessionNames: []string{t.SessionName}}
	if t.SourceIdentity != "" {
		s.SourceIdentities = []string{t.SourceIdentity}
	}
	return s
}

// Union denies every session s or o denies: o's names and identities
// after s's, without repeats. Either being All makes All.
func (s Scope) Union(o Scope) Scope {
	if s.All() || o.All() {
		return Scope{}
	}
	return Scope{SessionNames: union(s.SessionNames, o.SessionNames), SourceIdentities: union(s.SourceIdentities, o.SourceIdentities)}
}

// Covers reports whether s denies every session o denies: writing s over
// o does not narrow it.
func (s Scope) Covers(o Scope) bool {
	if s.All() {
		return true
	}
	return !o.All() && subset(o.SessionNames, s.SessionNames, config.SameSessionName) && subset(o.SourceIdentities, s.SourceIdentities, sameSourceIdentity)
}

// Equal reports whether s and o deny the same sessions.
func (s Scope) Equal(o Scope) bool { return s.Covers(o) && o.Covers(s) }

// String names the sessions, for messages.
func (s Scope) String() string {
	if s.All() {
		return "every session of the role"
	}
	var parts []string
	if len(s.SessionNames) > 0 {
		parts = append(parts, "sessions named "+strings.Join(s.SessionNames, ", "))
	}
	if len(s.SourceIdentities) > 0 {
		parts = append(parts, "sessions with source identity "+strings.Join(s.SourceIdentities, ", "))
	}
	return strings.Join(parts, " and ")
}

// sameSourceIdentity compares source identities as the policy does:
// StringEquals is case sensitive.
func sameSourceIdentity(a, b string) bool { return a == b }

func union(a, b []string) []string {
	var out []string
	for _, v := range append(append([]string{}, a...), b...) {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

func subset(small, big []string, same func(a, b string) bool) bool {
	for _, v := range small {
		if !slices.ContainsFunc(big, func(w string) bool { return same(v, w) }) {
			return false
		}
	}
	return true
}

// Name is the inline policy that holds a revocation of this scope for
// target.
func (s Scope) Name(target string) string {
	if s.All() {
		return AllSessionsPolicyName
	}
	return PolicyName(target)
}

// Revocation is one revocation in force on a role.
type Revocation struct {
	PolicyName string
	Scope      Scope
	// Cutoff: sessions issued strictly before it are denied
	// (DateLessThan), to the second.
	Cutoff time.Time
	// MaxSession is the role's MaxSessionDuration when the revocation
	// was written, recorded in the scoped statement's Sid (0: not
	// recorded, as in AWS's console policy). Sessions issued before the
	// cutoff keep the duration they were issued with, so lowering the
	// role's maximum later does not end them sooner.
	MaxSession time.Duration
}

// Document is the policy JSON for a revocation at cutoff. The all-sessions
// document is AWS's own AWSRevokeOlderSessions, byte for byte in shape
// (one Statement object, no Sid); the scoped one adds the aws:userid
// condition.
func Document(s Scope, cutoff time.Time) string {
	return DocumentOf(Revocation{Scope: s, Cutoff: cutoff})
}

// DocumentOf is the policy JSON for r. A scoped revocation is one Deny
// statement for its session names and, when it has source identities, a
// second for them (conditions in one statement must all match, so "this
// name or that identity" takes two statements). Each statement records
// r.MaxSession in its Sid ("StsrotatorRevokeOlderSessionsMaxSession43200";
// a Sid may hold ASCII letters and digits,
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_sid.html),
// so cleanup can wait for the longest session the role allowed when it
// was written. A single name or identity is written as a string, as
// before lists existed; several as an array (IAM's grammar allows both).
// AWS's console policy keeps its own shape, without a Sid: the console
// rewrites it whenever it is used there.
func DocumentOf(r Revocation) string {
	at := r.Cutoff.UTC().Truncate(time.Second).Format(timeLayout)
	if r.Scope.All() {
		return fmt.Sprintf(`{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:TokenIssueTime":%q}}}}`, at)
	}
	record := ""
	if secs := int64(r.MaxSession / time.Second); secs > 0 {
		record = sidMaxSession + strconv.FormatInt(secs, 10)
	}
	var sts []string
	if len(r.Scope.SessionNames) > 0 {
		likes := make([]string, len(r.Scope.SessionNames))
		for i, n := range r.Scope.SessionNames {
			likes[i] = "*:" + n
		}
		sts = append(sts, fmt.Sprintf(`{"Sid":%q,"Effect":"Deny","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:TokenIssueTime":%q},"StringLike":{"aws:userid":%s}}}`,
			Sid+record, at, oneOrList(likes)))
	}
	if len(r.Scope.SourceIdentities) > 0 {
		sts = append(sts, fmt.Sprintf(`{"Sid":%q,"Effect":"Deny","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:TokenIssueTime":%q},"StringEquals":{"aws:SourceIdentity":%s}}}`,
			SidSourceIdentity+record, at, oneOrList(r.Scope.SourceIdentities)))
	}
	return `{"Version":"2012-10-17","Statement":[` + strings.Join(sts, ",") + `]}`
}

// SidSourceIdentity marks the statement denying by source identity.
const SidSourceIdentity = "StsrotatorRevokeOlderSourceIdentities"

// oneOrList is one value as a JSON string, several as an array.
func oneOrList(vs []string) string {
	var b []byte
	if len(vs) == 1 {
		b, _ = json.Marshal(vs[0])
	} else {
		b, _ = json.Marshal(vs)
	}
	return string(b)
}

// sidMaxSession follows a statement's Sid when it records the role's
// MaxSessionDuration, in seconds.
const sidMaxSession = "MaxSession"

// maxSessionOf reads the MaxSessionDuration a Sid records (0: none).
func maxSessionOf(sid string) time.Duration {
	rest, ok := strings.CutPrefix(sid, Sid+sidMaxSession)
	if !ok {
		if rest, ok = strings.CutPrefix(sid, SidSourceIdentity+sidMaxSession); !ok {
			return 0
		}
	}
	secs, err := strconv.ParseInt(rest, 10, 32)
	if err != nil || secs <= 0 {
		return 0
	}
	return time.Duration(secs) * time.Second
}

// Lasts is how long after the cutoff a denied session may live: the
// longer of the role's MaxSessionDuration now (current) and the one
// recorded when the revocation was written.
func (r Revocation) Lasts(current time.Duration) time.Duration {
	return max(current, r.MaxSession)
}

// CutoffAfter is the cutoff for a revocation asked for when AWS's clock
// said now: the next whole second, because aws:TokenIssueTime is compared
// to the second and an HTTP Date header drops the fraction, so a session
// issued earlier in the same second would otherwise escape.
func CutoffAfter(now time.Time) time.Time {
	return now.UTC().Truncate(time.Second).Add(time.Second)
}

// Next is the cutoff to write when a revocation at want meets the one
// already in force (nil for none): a cutoff only ever moves forward, so a
// revocation run with a lagging clock can never re-admit sessions.
func Next(existing *Revocation, want time.Time) time.Time {
	if existing != nil && existing.Cutoff.After(want) {
		return existing.Cutoff
	}
	return want
}

// ExpiresAt is when every session a revocation denies has expired: no
// session of the role lives longer than its MaxSessionDuration.
func ExpiresAt(cutoff time.Time, maxSession time.Duration) time.Time {
	return cutoff.Add(maxSession)
}

// MaxRolePolicySize is IAM's limit on a role's inline policies, in
// characters, all of them together; IAM does not count white space (the
// documents DocumentOf writes have none). A scope only ever grows
// (Union), so one piled up by renames can reach it: revoke refuses such a
// document before writing anything, leaving the revocation in force as it
// is.
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html (Role policy size)
const MaxRolePolicySize = 10240

// PolicySize is doc's size as IAM counts it against MaxRolePolicySize:
// characters other than white space.
func PolicySize(doc string) int {
	n := 0
	for _, r := range doc {
		if !unicode.IsSpace(r) {
			n++
		}
	}
	return n
}

// ErrNotRevocation marks an inline policy that is not a revocation this
// package wrote or AWS's console wrote.
var ErrNotRevocation = errors.New("not a session revocation policy")

// statement is one policy statement as IAM's grammar allows it: every
// element that takes an array may hold a single value without brackets
// ("Action": "*" and "Action": ["*"] are the same), and so may a
// condition's values; the Statement element itself is one statement
// object or an array of them. Grammar of the IAM JSON policy language:
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html
type statement struct {
	Sid       string                           `json:"Sid,omitempty"`
	Effect    string                           `json:"Effect"`
	Action    stringList                       `json:"Action"`
	Resource  stringList                       `json:"Resource"`
	Condition map[string]map[string]stringList `json:"Condition"`
}

// stringList is a grammar element that is a string or an array of
// strings.
type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*l = stringList{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("want a string or an array of strings: %w", err)
	}
	*l = many
	return nil
}

// only is the list's single value ("" unless it has exactly one).
func (l stringList) only() (string, bool) {
	if len(l) != 1 {
		return "", false
	}
	return l[0], true
}

// every reports whether the list is exactly the wildcard "*".
func (l stringList) every() bool { v, ok := l.only(); return ok && v == "*" }

// policyElements are the IAM policy elements a revocation uses, spelt
// as the grammar spells them.
var policyElements = []string{"Version", "Statement", "Sid", "Effect", "Action", "Resource", "Condition"}

// Parse reads a revocation back from an inline policy document as
// iam:GetRolePolicy returns it (URL-encoded per RFC 3986, or plain JSON).
// Only a single Deny of every action with a DateLessThan on
// aws:TokenIssueTime, optionally narrowed by StringLike on aws:userid
// "*:<session>", is a revocation; anything else is ErrNotRevocation, so a
// hand-edited policy is never silently overwritten.
func Parse(name, doc string) (Revocation, error) {
	if !strings.HasPrefix(strings.TrimSpace(doc), "{") {
		if un, err := url.PathUnescape(doc); err == nil {
			doc = un
		}
	}
	// encoding/json keeps the last of two equal keys and matches element
	// names in any case; IAM need not read them so. A policy that could
	// be read two ways is not one revoke may rewrite: keeping the scope it
	// read could lift the deny of the scope IAM enforces.
	if err := jsonkeys.Check([]byte(doc), policyElements...); err != nil {
		return Revocation{}, fmt.Errorf("%w: policy %s could be read two ways: %w", ErrNotRevocation, name, err)
	}
	var p struct {
		Statement json.RawMessage `json:"Statement"`
	}
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		return Revocation{}, fmt.Errorf("%w: policy %s is not JSON: %w", ErrNotRevocation, name, err)
	}
	var sts []statement
	switch trimmed := bytes.TrimSpace(p.Statement); {
	case len(trimmed) > 0 && trimmed[0] == '{':
		var one statement
		if err := json.Unmarshal(trimmed, &one); err != nil {
			return Revocation{}, fmt.Errorf("%w: policy %s has no readable Statement: %w", ErrNotRevocation, name, err)
		}
		sts = []statement{one}
	default:
		if err := json.Unmarshal(trimmed, &sts); err != nil {
			return Revocation{}, fmt.Errorf("%w: policy %s has no readable Statement: %w", ErrNotRevocation, name, err)
		}
	}
	if len(sts) == 0 || len(sts) > 2 {
		return Revocation{}, fmt.Errorf("%w: policy %s has %d statements, want 1 or 2", ErrNotRevocation, name, len(sts))
	}
	r := Revocation{PolicyName: name}
	for i, st := range sts {
		if st.Effect != "Deny" || !st.Action.every() || !st.Resource.every() {
			return Revocation{}, fmt.Errorf("%w: policy %s is not a Deny of every action on every resource", ErrNotRevocation, name)
		}
		issued, ok := st.Condition[opDateLessThan][keyTokenIssueTime].only()
		if !ok || len(st.Condition[opDateLessThan]) != 1 {
			return Revocation{}, fmt.Errorf("%w: policy %s has no DateLessThan on %s", ErrNotRevocation, name, keyTokenIssueTime)
		}
		cutoff, err := time.Parse(time.RFC3339, issued)
		if err != nil {
			return Revocation{}, fmt.Errorf("%w: policy %s: %s %q is not a time", ErrNotRevocation, name, keyTokenIssueTime, issued)
		}
		if i > 0 && !cutoff.Equal(r.Cutoff) {
			return Revocation{}, fmt.Errorf("%w: policy %s has statements with different cutoffs", ErrNotRevocation, name)
		}
		// A fraction of a second is rounded up: DocumentOf writes whole
		// seconds, and a rewrite must never move a cutoff back.
		if whole := cutoff.Truncate(time.Second); !whole.Equal(cutoff) {
			cutoff = whole.Add(time.Second)
		}
		r.Cutoff, r.MaxSession = cutoff.UTC(), max(r.MaxSession, maxSessionOf(st.Sid))
		switch len(st.Condition) {
		case 1:
			// Every session: the whole policy, never beside a scoped one.
			if len(sts) != 1 {
				return Revocation{}, fmt.Errorf("%w: policy %s denies every session in one statement and more in another", ErrNotRevocation, name)
			}
		case 2:
			likes, isLike := st.Condition[opStringLike][keyUserID]
			ids, isID := st.Condition[opStringEquals][keySourceIdentity]
			switch {
			case isLike && len(st.Condition[opStringLike]) == 1 && len(likes) > 0 && r.Scope.SessionNames == nil:
				for _, like := range likes {
					n, ok := strings.CutPrefix(like, "*:")
					if !ok || n == "" {
						return Revocation{}, fmt.Errorf("%w: policy %s has a %s value %q that is not \"*:<session>\"", ErrNotRevocation, name, keyUserID, like)
					}
					r.Scope.SessionNames = append(r.Scope.SessionNames, n)
				}
			case isID && len(st.Condition[opStringEquals]) == 1 && len(ids) > 0 && r.Scope.SourceIdentities == nil && !slices.Contains(ids, ""):
				r.Scope.SourceIdentities = append(r.Scope.SourceIdentities, ids...)
			default:
				return Revocation{}, fmt.Errorf("%w: policy %s has a condition other than StringLike %s \"*:<session>\" or StringEquals %s", ErrNotRevocation, name, keyUserID, keySourceIdentity)
			}
		default:
			return Revocation{}, fmt.Errorf("%w: policy %s has %d condition operators", ErrNotRevocation, name, len(st.Condition))
		}
	}
	return r, nil
}

// Denies evaluates the revocation's Deny for a request signed with a
// session whose aws:userid is userID, whose aws:SourceIdentity is
// sourceIdentity ("" when it has none) and whose token was issued at
// issued, by IAM's rules for the operators used: DateLessThan is strict,
// StringLike matches case-sensitively with * and ? wildcards, StringEquals
// exactly, a key absent from the request matches nothing, and statements
// deny independently
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html).
// Session names cannot contain * or ?, so the pattern's only wildcard is
// the role ID. It is the policy logic the table test pins; it does not
// replace AWS's evaluation.
func (r Revocation) Denies(userID, sourceIdentity string, issued time.Time) bool {
	if !issued.Before(r.Cutoff) {
		return false
	}
	if r.Scope.All() {
		return true
	}
	for _, n := range r.Scope.SessionNames {
		if ok, err := path.Match("*:"+n, userID); err == nil && ok {
			return true
		}
	}
	return sourceIdentity != "" && slices.Contains(r.Scope.SourceIdentities, sourceIdentity)
}
