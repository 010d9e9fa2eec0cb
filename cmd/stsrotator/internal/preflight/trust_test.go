package preflight_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/stsrotator/stsrotator/cmd/stsrotator/internal/preflight"
)

func TestTrustPolicy(t *testing.T) {
	me := assumer("a")
	caller := preflight.Caller{Account: acct, PrincipalArn: me, ExternalID: "ext-1", SourceIdentity: "stsrotator", SessionName: "stsrotator-a"}
	root := `"Principal":{"AWS":"arn:aws:iam::` + acct + `:root"}`
	for _, c := range []struct {
		why     string
		doc     string
		actions []string
		want    preflight.Verdict
		say     string
	}{
		{"the documented statement, URL-encoded as GetRole returns it",
			url.PathEscape(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow",` + root + `,"Action":"sts:AssumeRole","Condition":{"ArnEquals":{"aws:PrincipalArn":"` + me + `"}}}]}`),
			[]string{"sts:AssumeRole"}, preflight.Yes, "allowed by statement Statement[0]"},
		{"a single statement object, a bare account ID and an action wildcard",
			`{"Statement":{"Sid":"Any","Effect":"Allow","Principal":{"AWS":"` + acct + `"},"Action":"sts:*"}}`,
			[]string{"sts:AssumeRole", "sts:TagSession"}, preflight.Yes, "allowed by statement Any"},
		{"the old rotator path pattern does not match the exact rotator role",
			`{"Statement":[{"Effect":"Allow",` + root + `,"Action":["sts:AssumeRole"],"Condition":{"StringLike":{"aws:PrincipalArn":"arn:aws:iam::` + acct + `:role/stsrotator/*"}}}]}`,
			[]string{"sts:AssumeRole"}, preflight.No, "condition StringLike aws:PrincipalArn does not hold"},
		// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_ARN
		{"ArnEquals takes wildcards, as ArnLike does",
			`{"Statement":[{"Effect":"Allow",` + root + `,"Action":"sts:AssumeRole","Condition":{"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::` + acct + `:role/*"}}}]}`,
			[]string{"sts:AssumeRole"}, preflight.Yes, ""},
		{"an ARN pattern's * never spans a colon: five components match no ARN",
			`{"Statement":[{"Effect":"Allow",` + root + `,"Action":"sts:AssumeRole","Condition":{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam:*:` + strings.SplitN(me, ":", 6)[5] + `"}}}]}`,
			[]string{"sts:AssumeRole"}, preflight.No, "condition ArnLike aws:PrincipalArn does not hold"},
		{"the exact role ARN as Principal",
			`{"Statement":[{"Effect":"Allow","Principal":{"AWS":"` + me + `"},"Action":"sts:AssumeRole"}]}`,
			[]string{"sts:AssumeRole"}, preflight.Yes, ""},
		{"another role named as Principal does not trust the rotator",
			`{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acct + `:role/stsrotator/rotator/Lane0Role"},"Action":"sts:AssumeRole"}]}`,
			[]string{"sts:AssumeRole"}, preflight.No, "no statement allows it"},
		{"another account's root does not trust this one",
			`{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999999999999:root"},"Action":"sts:AssumeRole"}]}`,
			[]string{"sts:AssumeRole"}, preflight.No, ""},
		{"a service principal is not a role",
			`{"Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}`,
			[]string{"sts:AssumeRole"}, preflight.No, ""},
		{"an explicit Deny wins over an Allow",
			`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"},{"Sid":"NoRotators","Effect":"Deny",` + root + `,"Action":"sts:AssumeRole","Condition":{"ArnEquals":{"aws:PrincipalArn":"` + me + `"}}}]}`,
			[]string{"sts:AssumeRole"}, preflight.No, "denied by statement NoRotators"},
		{"a Deny preflight cannot evaluate makes the answer unknown",
			`{"Statement":[{"Effect":"Allow",` + root + `,"Action":"sts:AssumeRole"},{"Effect":"Deny",` + root + `,"Action":"sts:AssumeRole","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"false"}}}]}`,
			[]string{"sts:AssumeRole"}, preflight.Unknown, "Deny statement"},
		{"the external ID, source identity and session name the config passes",
			`{"Statement":[{"Effect":"Allow",` + root + `,"Action":["sts:AssumeRole","sts:SetSourceIdentity"],"Condition":{"StringEquals":{"sts:ExternalId":["x","ext-1"],"sts:SourceIdentity":"stsrotator"},"StringLike":{"sts:RoleSessionName":"stsrotator-*"}}}]}`,
			[]string{"sts:AssumeRole", "sts:SetSourceIdentity"}, preflight.Yes, ""},
		{"IfExists holds when the key is absent",
			`{"Statement":[{"Effect":"Allow",` + root + `,"Action":"sts:AssumeRole","Condition":{"StringEqualsIfExists":{"sts:SourceIdentity":"someone"}}}]}`,
			[]string{"sts:AssumeRole"}, preflight.No, "sts:SourceIdentity does not hold"},
		{"NotAction excludes what the rotator needs",
			`{"Statement":[{"Effect":"Allow",` + root + `,"NotAction":"sts:TagSession"}]}`,
			[]string{"sts:TagSession"}, preflight.No, ""},
		{"NotPrincipal is not evaluated",
			`{"Statement":[{"Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::` + acct + `:role/X"},"Action":"sts:AssumeRole"}]}`,
			[]string{"sts:AssumeRole"}, preflight.Unknown, "NotPrincipal"},
	} {
		p, err := preflight.ParseTrustPolicy(c.doc)
		if err != nil {
			t.Errorf("%s: %v", c.why, err)
			continue
		}
		got := p.Allows(caller, c.actions)
		worst := preflight.Yes
		var why []string
		for _, g := range got {
			worst = min(worst, g.Verdict)
			why = append(why, g.Why)
		}
		if worst != c.want || !strings.Contains(strings.Join(why, "; "), c.say) {
			t.Errorf("%s: %v, want verdict %d saying %q", c.why, got, c.want, c.say)
		}
	}
}

// Proves the IfExists case above is about the key being present: without
// a source identity in the config, the condition holds.
func TestTrustIfExistsAbsent(t *testing.T) {
	p, err := preflight.ParseTrustPolicy(`{"Statement":[{"Effect":"Allow","Principal":{"AWS":"` + acct + `"},"Action":"sts:AssumeRole","Condition":{"StringEqualsIfExists":{"sts:SourceIdentity":"someone"}}}]}`)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Allows(preflight.Caller{Account: acct, PrincipalArn: assumer("a")}, []string{"sts:AssumeRole"}); got[0].Verdict != preflight.Yes {
		t.Fatalf("%+v", got)
	}
}

func TestParseTrustPolicyErrors(t *testing.T) {
	for doc, want := range map[string]string{
		`not json`:                           "not a JSON object",
		`{"Version":"2012-10-17"}`:           "no Statement",
		`{"Statement":[{"Action":{"a":1}}]}`: "Statement[0]: field Action",
		`%zz`:                                "neither JSON nor URL-encoded JSON",
	} {
		if _, err := preflight.ParseTrustPolicy(doc); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", doc, err, want)
		}
	}
}

// Any document: no panic, and a parsed one can always be evaluated.
func FuzzParseTrustPolicy(f *testing.F) {
	f.Add(`{"Statement":[{"Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":"sts:AssumeRole"}]}`)
	f.Add(`{"Statement":{"Effect":"Deny","Principal":"*","NotAction":["sts:*"],"Condition":{"ArnLike":{"aws:PrincipalArn":["arn:aws:iam::*:role/[x]*"]}}}}`)
	f.Fuzz(func(t *testing.T, doc string) {
		p, err := preflight.ParseTrustPolicy(doc)
		if err != nil {
			return
		}
		_ = p.Allows(preflight.Caller{Account: acct, PrincipalArn: assumer("a"), ExternalID: "e"}, []string{"sts:AssumeRole", "sts:TagSession"})
		_ = p.Broad(acct, []string{"sts:AssumeRole"})
	})
}
