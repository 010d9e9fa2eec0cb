package revocation

import (
	"encoding/json"
	"errors"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

var cutoff = time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)

// Which sessions a revocation denies, through the document it writes:
// every case builds the policy, reads it back as IAM returns it
// (URL-encoded) and evaluates it.
func TestDenies(t *testing.T) {
	scoped := Scope{SessionNames: []string{"stsrotator-billing-reader"}}
	// After a sessionName change the revocation holds both names.
	both := Scope{SessionNames: []string{"stsrotator-billing-reader", "billing-v2"}}
	withID := Scope{SessionNames: []string{"stsrotator-billing-reader"}, SourceIdentities: []string{"stsrotator-billing"}}
	cases := []struct {
		why    string
		scope  Scope
		userID string
		// sourceID is the session's aws:SourceIdentity ("": none).
		sourceID string
		issued   time.Time
		denied   bool
	}{
		{"stsrotator's session for the target issued before the cutoff is denied", scoped, "AROAEXAMPLEROLEID:stsrotator-billing-reader", "", cutoff.Add(-time.Minute), true},
		{"one second before the cutoff is still before it", scoped, "AROAEXAMPLEROLEID:stsrotator-billing-reader", "", cutoff.Add(-time.Second), true},
		{"a session issued at the cutoff itself is not (DateLessThan is strict)", scoped, "AROAEXAMPLEROLEID:stsrotator-billing-reader", "", cutoff, false},
		{"the forced rotation's session, issued after the cutoff, works", scoped, "AROAEXAMPLEROLEID:stsrotator-billing-reader", "", cutoff.Add(2 * time.Second), false},
		{"another user of the role keeps working by default", scoped, "AROAEXAMPLEROLEID:alice@example.com", "", cutoff.Add(-time.Minute), false},
		{"another target's session on the same role keeps working", scoped, "AROAEXAMPLEROLEID:stsrotator-billing-reader-2", "", cutoff.Add(-time.Minute), false},
		{"a session name that merely ends the same way is not matched", scoped, "AROAEXAMPLEROLEID:x-stsrotator-billing-reader", "", cutoff.Add(-time.Minute), false},
		{"session names are matched case-sensitively, as StringLike does", scoped, "AROAEXAMPLEROLEID:STSROTATOR-billing-reader", "", cutoff.Add(-time.Minute), false},
		{"--all-sessions denies everyone's older sessions", Scope{}, "AROAEXAMPLEROLEID:alice@example.com", "", cutoff.Add(-time.Minute), true},
		{"--all-sessions still admits sessions issued after the cutoff", Scope{}, "AROAEXAMPLEROLEID:alice@example.com", "", cutoff.Add(time.Second), false},
		{"two names: the old name's leaked session stays denied", both, "AROAEXAMPLEROLEID:stsrotator-billing-reader", "", cutoff.Add(-time.Minute), true},
		{"two names: the new name's older session is denied", both, "AROAEXAMPLEROLEID:billing-v2", "", cutoff.Add(-time.Minute), true},
		{"a session re-assumed under another name before the cutoff escapes a name-only scope", scoped, "AROAEXAMPLEROLEID:innocent-name", "stsrotator-billing", cutoff.Add(-time.Minute), false},
		{"with the source identity it is denied: it carries the identity of the session it came from", withID, "AROAEXAMPLEROLEID:innocent-name", "stsrotator-billing", cutoff.Add(-time.Minute), true},
		{"the rotation's new session, same identity, issued after the cutoff, works", withID, "AROAEXAMPLEROLEID:stsrotator-billing-reader", "stsrotator-billing", cutoff.Add(time.Second), false},
		{"a session without a source identity is not matched by the identity statement", withID, "AROAEXAMPLEROLEID:alice", "", cutoff.Add(-time.Minute), false},
		{"source identities are compared exactly (StringEquals)", withID, "AROAEXAMPLEROLEID:alice", "STSROTATOR-billing", cutoff.Add(-time.Minute), false},
	}
	for _, c := range cases {
		doc := Document(c.scope, cutoff)
		r, err := Parse(c.scope.Name("billing-reader"), url.PathEscape(doc))
		if err != nil {
			t.Fatalf("%s: the written document does not read back: %v\n%s", c.why, err, doc)
		}
		if !r.Scope.Equal(c.scope) {
			t.Fatalf("%s: read back scope %+v, wrote %+v", c.why, r.Scope, c.scope)
		}
		if got := r.Denies(c.userID, c.sourceID, c.issued); got != c.denied {
			t.Errorf("%s: Denies(%s, %q, %s) = %v\n%s", c.why, c.userID, c.sourceID, c.issued.Format(time.RFC3339), got, doc)
		}
	}
}

// A revocation only ever widens: Union keeps every earlier name and
// identity, and Covers is what revoke checks before writing.
func TestScopeUnionAndCovers(t *testing.T) {
	old := Scope{SessionNames: []string{"stsrotator-a"}}
	renamed := Scope{SessionNames: []string{"a-v2"}, SourceIdentities: []string{"id-a"}}
	u := old.Union(renamed)
	if !slices.Equal(u.SessionNames, []string{"stsrotator-a", "a-v2"}) || !slices.Equal(u.SourceIdentities, []string{"id-a"}) {
		t.Fatalf("Union = %+v", u)
	}
	cases := []struct {
		why    string
		s, o   Scope
		covers bool
	}{
		{"the union covers the old scope", u, old, true},
		{"the union covers the new one", u, renamed, true},
		{"the new name alone narrows the old revocation", renamed, old, false},
		{"every session covers any scope", Scope{}, u, true},
		{"a scope never covers every session", u, Scope{}, false},
		{"dropping a source identity narrows", old, Scope{SessionNames: []string{"stsrotator-a"}, SourceIdentities: []string{"id-a"}}, false},
	}
	for _, c := range cases {
		if got := c.s.Covers(c.o); got != c.covers {
			t.Errorf("%s: Covers = %v", c.why, got)
		}
	}
	if !(Scope{}).Union(old).All() {
		t.Error("a union with every session is every session")
	}
	if got := Document(Scope{SessionNames: []string{"a", "b"}, SourceIdentities: []string{"x"}}, cutoff); got != `{"Version":"2012-10-17","Statement":[`+
		`{"Sid":"StsrotatorRevokeOlderSessions","Effect":"Deny","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:TokenIssueTime":"2026-11-30T09:00:00Z"},"StringLike":{"aws:userid":["*:a","*:b"]}}},`+
		`{"Sid":"StsrotatorRevokeOlderSourceIdentities","Effect":"Deny","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:TokenIssueTime":"2026-11-30T09:00:00Z"},"StringEquals":{"aws:SourceIdentity":"x"}}}]}` {
		t.Errorf("two names and an identity:\n%s", got)
	}
}

// The documents themselves: AWS's console policy for --all-sessions, the
// scoped one otherwise.
func TestDocument(t *testing.T) {
	all := Document(Scope{}, cutoff.Add(500*time.Millisecond))
	// As AWS documents AWSRevokeOlderSessions (id_roles_use_revoke-sessions.html).
	want := `{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:TokenIssueTime":"2026-11-30T09:00:00Z"}}}}`
	if all != want {
		t.Errorf("all-sessions document:\n got %s\nwant %s", all, want)
	}
	scoped := Document(Scope{SessionNames: []string{"stsrotator-a"}}, cutoff)
	var p struct {
		Statement []struct {
			Effect, Action, Resource string
			Condition                map[string]map[string]string
		}
	}
	if err := json.Unmarshal([]byte(scoped), &p); err != nil || len(p.Statement) != 1 {
		t.Fatalf("scoped document %s: %v", scoped, err)
	}
	st := p.Statement[0]
	if st.Effect != "Deny" || st.Action != "*" || st.Resource != "*" ||
		st.Condition["DateLessThan"]["aws:TokenIssueTime"] != "2026-11-30T09:00:00Z" || st.Condition["StringLike"]["aws:userid"] != "*:stsrotator-a" {
		t.Errorf("scoped document %s", scoped)
	}
	if (Scope{}).Name("a") != "AWSRevokeOlderSessions" || (Scope{SessionNames: []string{"s"}}).Name("a") != "stsrotator-revoke-a" {
		t.Error("policy names")
	}
}

func TestCutoffAndCleanup(t *testing.T) {
	// A Date header of 09:00:00 may stand for 09:00:00.999: the cutoff is
	// the next second so nothing issued in that second escapes.
	if got := CutoffAfter(cutoff.Add(999 * time.Millisecond)); !got.Equal(cutoff.Add(time.Second)) {
		t.Errorf("CutoffAfter = %s", got)
	}
	cases := []struct {
		why      string
		existing *Revocation
		want     time.Time
		next     time.Time
	}{
		{"no revocation in force: the new cutoff", nil, cutoff, cutoff},
		{"a newer revocation moves the cutoff forward", &Revocation{Cutoff: cutoff.Add(-time.Hour)}, cutoff, cutoff},
		{"an older clock never moves it back", &Revocation{Cutoff: cutoff.Add(time.Minute)}, cutoff, cutoff.Add(time.Minute)},
	}
	for _, c := range cases {
		if got := Next(c.existing, c.want); !got.Equal(c.next) {
			t.Errorf("%s: Next = %s, want %s", c.why, got, c.next)
		}
	}
	if got := ExpiresAt(cutoff, 12*time.Hour); !got.Equal(cutoff.Add(12 * time.Hour)) {
		t.Errorf("ExpiresAt = %s", got)
	}
}

// IAM's grammar lets an element that takes an array hold one value without
// brackets, and Statement be one object or an array
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html):
// every equivalent spelling of a revocation reads as the same revocation,
// so revoke and status recognise a policy written by hand, by the console
// or by another tool.
func TestParseAcceptsIAMGrammar(t *testing.T) {
	const at = `"2026-11-30T09:00:00Z"`
	cases := []struct {
		why, doc, session string
	}{
		{"the console's AWSRevokeOlderSessions: Statement array, Action and Resource arrays",
			`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":["*"],"Resource":["*"],"Condition":{"DateLessThan":{"aws:TokenIssueTime":` + at + `}}}]}`, ""},
		{"Statement as one object, Action and Resource as arrays",
			`{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":["*"],"Resource":["*"],"Condition":{"DateLessThan":{"aws:TokenIssueTime":` + at + `}}}}`, ""},
		{"Statement as one object, Action and Resource as strings (what revoke --all-sessions writes)",
			`{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:TokenIssueTime":` + at + `}}}}`, ""},
		{"Action a string, Resource an array",
			`{"Statement":[{"Effect":"Deny","Action":"*","Resource":["*"],"Condition":{"DateLessThan":{"aws:TokenIssueTime":` + at + `}}}]}`, ""},
		{"condition values as one-element arrays, scoped",
			`{"Statement":{"Sid":"x","Effect":"Deny","Action":["*"],"Resource":"*","Condition":{"DateLessThan":{"aws:TokenIssueTime":[` + at + `]},"StringLike":{"aws:userid":["*:stsrotator-a"]}}}}`, "stsrotator-a"},
		{"white space around Statement",
			"{\"Statement\" :  \n [ {\"Effect\":\"Deny\",\"Action\":[ \"*\" ],\"Resource\":\"*\",\"Condition\":{\"DateLessThan\":{\"aws:TokenIssueTime\":" + at + "}}} ] }", ""},
	}
	for _, c := range cases {
		for _, doc := range []string{c.doc, url.PathEscape(c.doc)} {
			r, err := Parse("p", doc)
			if err != nil {
				t.Errorf("%s: %v", c.why, err)
				continue
			}
			if !r.Cutoff.Equal(cutoff) || strings.Join(r.Scope.SessionNames, ",") != c.session {
				t.Errorf("%s: read %+v, want cutoff %s and session %q", c.why, r, cutoff, c.session)
			}
		}
	}
}

// The scoped document records the role's MaxSessionDuration at the time
// it was written in its Sid, and cleanup waits for the longer of that and
// the role's value now: sessions keep the duration they were issued with.
func TestMaxSessionRecorded(t *testing.T) {
	scoped := Scope{SessionNames: []string{"stsrotator-a"}}
	doc := DocumentOf(Revocation{Scope: scoped, Cutoff: cutoff, MaxSession: 12 * time.Hour})
	if !strings.Contains(doc, `"Sid":"StsrotatorRevokeOlderSessionsMaxSession43200"`) {
		t.Fatalf("the Sid does not record 43200 s: %s", doc)
	}
	r, err := Parse("p", url.PathEscape(doc))
	if err != nil || r.MaxSession != 12*time.Hour {
		t.Fatalf("read back %+v, %v", r, err)
	}
	cases := []struct {
		why     string
		r       Revocation
		current time.Duration
		want    time.Duration
	}{
		{"the role's maximum lowered after the cutoff: the recorded one counts", r, time.Hour, 12 * time.Hour},
		{"the role's maximum raised after the cutoff: the current one counts", Revocation{MaxSession: time.Hour}, 2 * time.Hour, 2 * time.Hour},
		{"nothing recorded (a document from before, or the console's): the current one", Revocation{}, time.Hour, time.Hour},
	}
	for _, c := range cases {
		if got := c.r.Lasts(c.current); got != c.want {
			t.Errorf("%s: Lasts = %s, want %s", c.why, got, c.want)
		}
	}
	// A Sid without a record, or with a malformed one, records nothing.
	for _, sid := range []string{"StsrotatorRevokeOlderSessions", "StsrotatorRevokeOlderSessionsMaxSessionx", "Other"} {
		if got := maxSessionOf(sid); got != 0 {
			t.Errorf("maxSessionOf(%q) = %s", sid, got)
		}
	}
}

// Policies that are not revocations are refused by name, never read as
// one (and so never overwritten or deleted by revoke).
func TestParseRefusesOtherPolicies(t *testing.T) {
	cases := []struct{ why, doc, want string }{
		{"an Allow", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:TokenIssueTime":"2026-11-30T09:00:00Z"}}}}`, "not a Deny of every action"},
		{"a Deny of some actions only", `{"Statement":[{"Effect":"Deny","Action":"s3:*","Resource":"*","Condition":{"DateLessThan":{"aws:TokenIssueTime":"2026-11-30T09:00:00Z"}}}]}`, "not a Deny of every action"},
		{"three statements", `{"Statement":[{"Effect":"Deny","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"*","Resource":"*"}]}`, "3 statements"},
		{"two statements with different cutoffs", `{"Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:TokenIssueTime":"2026-11-30T09:00:00Z"},"StringLike":{"aws:userid":"*:a"}}},{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:TokenIssueTime":"2026-11-30T10:00:00Z"},"StringEquals":{"aws:SourceIdentity":"x"}}}]}`, "different cutoffs"},
		{"two name statements", `{"Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:TokenIssueTime":"2026-11-30T09:00:00Z"},"StringLike":{"aws:userid":"*:a"}}},{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:TokenIssueTime":"2026-11-30T09:00:00Z"},"StringLike":{"aws:userid":"*:b"}}}]}`, "condition other than"},
		{"an every-session statement beside a scoped one", `{"Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:TokenIssueTime":"2026-11-30T09:00:00Z"}}},{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:TokenIssueTime":"2026-11-30T09:00:00Z"},"StringLike":{"aws:userid":"*:b"}}}]}`, "every session in one statement"},
		{"a userid value that is not *:<session>", `{"Statement":{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:TokenIssueTime":"2026-11-30T09:00:00Z"},"StringLike":{"aws:userid":["*:a","AROA*"]}}}}`, "is not"},
		{"no issue-time condition", `{"Statement":{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"StringLike":{"aws:userid":"*:a"}}}}`, "no DateLessThan"},
		{"another narrowing condition", `{"Statement":{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:TokenIssueTime":"2026-11-30T09:00:00Z"},"StringEquals":{"aws:SourceIp":"1.2.3.4"}}}}`, "other than StringLike"},
		{"a time that is not one", `{"Statement":{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:TokenIssueTime":"yesterday"}}}}`, "is not a time"},
		{"not JSON", `Deny everything`, "not JSON"},
		{"a Deny of every action listed beside another", `{"Statement":{"Effect":"Deny","Action":["*","s3:GetObject"],"Resource":"*","Condition":{"DateLessThan":{"aws:TokenIssueTime":"2026-11-30T09:00:00Z"}}}}`, "not a Deny of every action"},
		{"two issue times", `{"Statement":{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:TokenIssueTime":["2026-11-30T09:00:00Z","2026-11-30T10:00:00Z"]}}}}`, "no DateLessThan"},
		{"an empty Action array", `{"Statement":{"Effect":"Deny","Action":[],"Resource":"*","Condition":{"DateLessThan":{"aws:TokenIssueTime":"2026-11-30T09:00:00Z"}}}}`, "not a Deny of every action"},
		{"a Statement that is neither object nor array", `{"Statement":"Deny"}`, "no readable Statement"},
	}
	for _, c := range cases {
		_, err := Parse("p", c.doc)
		if !errors.Is(err, ErrNotRevocation) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.why, err, c.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(Document(Scope{}, cutoff))
	f.Add(Document(Scope{SessionNames: []string{"stsrotator-a"}}, cutoff))
	f.Add(Document(Scope{SessionNames: []string{"a", "b"}, SourceIdentities: []string{"x"}}, cutoff))
	f.Add(`{}`)
	f.Add(`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":["*"],"Resource":["*"],"Condition":{"DateLessThan":{"aws:TokenIssueTime":["2026-11-30T09:00:00Z"]}}}]}`)
	f.Fuzz(func(t *testing.T, doc string) {
		r, err := Parse("p", doc)
		if err != nil {
			if !errors.Is(err, ErrNotRevocation) {
				t.Fatalf("error does not wrap ErrNotRevocation: %v", err)
			}
			return
		}
		// Whatever was accepted writes back to a document that reads the
		// same.
		back, err := Parse("p", DocumentOf(r))
		wantMax := r.MaxSession
		if r.Scope.All() {
			wantMax = 0 // the console's shape records none
		}
		if err != nil || !reflect.DeepEqual(back.Scope, r.Scope) || !back.Cutoff.Equal(r.Cutoff.Truncate(time.Second)) || back.MaxSession != wantMax {
			t.Fatalf("round trip of %+v: %+v %v", r, back, err)
		}
	})
}

// Which refusals a consumer treats as a possible revocation.
func TestIsDenial(t *testing.T) {
	cases := []struct {
		why, code, msg string
		want           bool
	}{
		{"a revocation's refusal, as AWS words it", "AccessDenied", "User: arn:aws:sts::123456789012:assumed-role/B/stsrotator-b is not authorized to perform: s3:GetObject on resource: arn:aws:s3:::x/y with an explicit deny in an identity-based policy", true},
		{"JSON services' code", "AccessDeniedException", "User: arn:aws:sts::123456789012:assumed-role/B/s is not authorized to perform: dynamodb:GetItem on resource: t with an explicit deny in an identity-based policy", true},
		{"a missing Allow is not a revocation", "AccessDenied", "User: x is not authorized to perform: s3:GetObject because no identity-based policy allows the s3:GetObject action", false},
		{"a bucket policy's deny is not on the role", "AccessDenied", "User: x is not authorized to perform: s3:GetObject with an explicit deny in a resource-based policy", false},
		{"another code with the same words", "UnauthorizedOperation", "with an explicit deny in an identity-based policy", false},
	}
	for _, c := range cases {
		if got := IsDenial(c.code, c.msg); got != c.want {
			t.Errorf("%s: IsDenial = %v", c.why, got)
		}
	}
}

// A revocation policy that encoding/json reads one way and IAM may read
// another: with a condition operator, condition key or element written
// twice (in any case), Parse read only the last, so revoke "kept" a scope
// narrower than the one in force and rewrote the policy without the
// other names, lifting their deny. Parse now refuses such a policy
// (ErrNotRevocation), so revoke never overwrites it.
func TestAbuse_RevocationPolicyDuplicateKeys(t *testing.T) {
	const cut = `"DateLessThan":{"aws:TokenIssueTime":"2026-12-01T00:00:00Z"}`
	docs := map[string]string{
		"StringLike twice": `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Condition":{` + cut +
			`,"StringLike":{"aws:userid":["*:leaked-a","*:leaked-b"]},"StringLike":{"aws:userid":"*:x"}}}]}`,
		"aws:userid twice in another case": `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Condition":{` + cut +
			`,"StringLike":{"aws:UserId":"*:leaked","aws:userid":"*:x"}}}]}`,
		"Statement twice": `{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"*","Resource":"*","Condition":{` + cut + `}},` +
			`"Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Condition":{` + cut + `,"StringLike":{"aws:userid":"*:x"}}}]}`,
		"Effect in another case": `{"Version":"2012-10-17","Statement":{"effect":"Allow","Effect":"Deny","Action":"*","Resource":"*","Condition":{` + cut + `}}}`,
	}
	for why, doc := range docs {
		if r, err := Parse(PolicyName("app"), doc); !errors.Is(err, ErrNotRevocation) {
			t.Errorf("%s: Parse = %+v, %v; want ErrNotRevocation", why, r, err)
		}
	}
}

// A revocation in force whose cutoff has a fraction of a second (written
// by hand or by another tool: IAM's date grammar allows it) was read and
// then rewritten truncated to the second, moving the cutoff back and
// re-admitting sessions issued in that fraction. Parse rounds it up, so
// revoke only ever moves a cutoff forward.
func TestAbuse_RevocationFractionalCutoff(t *testing.T) {
	doc := `{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:TokenIssueTime":"2026-12-01T00:00:00.900Z"}}}}`
	r, err := Parse(AllSessionsPolicyName, doc)
	if err != nil {
		t.Fatal(err)
	}
	in := time.Date(2026, 12, 1, 0, 0, 0, 500_000_000, time.UTC)
	written, err := Parse(AllSessionsPolicyName, DocumentOf(Revocation{Scope: r.Scope, Cutoff: Next(&r, in.Add(-time.Hour))}))
	if err != nil {
		t.Fatal(err)
	}
	if !written.Denies("AROA:x", "", in) {
		t.Fatalf("a session issued at %s was denied by the policy in force and is not by its rewrite (cutoff %s)", in, written.Cutoff)
	}
}
