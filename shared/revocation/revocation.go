package revocation

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/stsrotator/stsrotator/shared/config"
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

// Scope says whose sessions a revocation denies.
type Scope struct {
	// SessionName limits the revocation to sessions with this
	// RoleSessionName; empty means every session of the role
	// (AWSRevokeOlderSessions).
	SessionName string
}

// All reports whether the scope is every session of the role.
func (s Scope) All() bool { return s.SessionName == "" }

// ForTarget is the default scope: the sessions stsrotator issues for t.
func ForTarget(t config.Target) Scope { return Scope{SessionName: t.SessionName} }

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

// DocumentOf is the policy JSON for r. A scoped revocation records
// r.MaxSession in its Sid ("StsrotatorRevokeOlderSessionsMaxSession43200";
// a Sid may hold ASCII letters and digits,
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_sid.html),
// so cleanup can wait for the longest session the role allowed when it
// was written. AWS's console policy keeps its own shape, without a Sid:
// the console rewrites it whenever it is used there.
func DocumentOf(r Revocation) string {
	at := r.Cutoff.UTC().Truncate(time.Second).Format(timeLayout)
	if r.Scope.All() {
		return fmt.Sprintf(`{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:TokenIssueTime":%q}}}}`, at)
	}
	sid := Sid
	if secs := int64(r.MaxSession / time.Second); secs > 0 {
		sid += sidMaxSession + strconv.FormatInt(secs, 10)
	}
	return fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Sid":%q,"Effect":"Deny","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:TokenIssueTime":%q},"StringLike":{"aws:userid":%q}}}]}`,
		sid, at, "*:"+r.Scope.SessionName)
}

// sidMaxSession follows Sid when the statement records the role's
// MaxSessionDuration, in seconds.
const sidMaxSession = "MaxSession"

// maxSessionOf reads the MaxSessionDuration a Sid records (0: none).
func maxSessionOf(sid string) time.Duration {
	rest, ok := strings.CutPrefix(sid, Sid+sidMaxSession)
	if !ok {
		return 0
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
	if len(sts) != 1 {
		return Revocation{}, fmt.Errorf("%w: policy %s has %d statements, want 1", ErrNotRevocation, name, len(sts))
	}
	st := sts[0]
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
	r := Revocation{PolicyName: name, Cutoff: cutoff.UTC(), MaxSession: maxSessionOf(st.Sid)}
	switch len(st.Condition) {
	case 1:
	case 2:
		like, ok := st.Condition[opStringLike][keyUserID].only()
		if !ok || len(st.Condition[opStringLike]) != 1 || !strings.HasPrefix(like, "*:") {
			return Revocation{}, fmt.Errorf("%w: policy %s has a condition other than StringLike %s \"*:<session>\"", ErrNotRevocation, name, keyUserID)
		}
		r.Scope.SessionName = strings.TrimPrefix(like, "*:")
	default:
		return Revocation{}, fmt.Errorf("%w: policy %s has %d condition operators", ErrNotRevocation, name, len(st.Condition))
	}
	return r, nil
}

// Denies evaluates the revocation's Deny for a request signed with a
// session whose aws:userid is userID and whose token was issued at issued,
// by IAM's rules for the operators used: DateLessThan is strict, and
// StringLike matches case-sensitively with * and ? wildcards
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html).
// Session names cannot contain * or ?, so the pattern's only wildcard is
// the role ID. It is the policy logic the table test pins; it does not
// replace AWS's evaluation.
func (r Revocation) Denies(userID string, issued time.Time) bool {
	if !issued.Before(r.Cutoff) {
		return false
	}
	if r.Scope.All() {
		return true
	}
	ok, err := path.Match("*:"+r.Scope.SessionName, userID)
	return err == nil && ok
}
