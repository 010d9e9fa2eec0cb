package preflight

import (
	"strings"
	"testing"

	"github.com/stsrotator/stsrotator/infra/plan"
	"github.com/stsrotator/stsrotator/shared/config"
)

// Proves: the trust finding names whom it checked: an iam-user target's
// AssumeRole is signed by the source user, so its OK and Block lines talk
// about that user, never the rotator roles.
func TestTrustFindingNamesTheSigner(t *testing.T) {
	rotator := plan.RoleArn("aws", "123456789012", plan.RotatorRoleName("stsrotator", 3))
	user := plan.UserArn("aws", "123456789012", plan.SourceUserName("stsrotator"))
	allowed := []Trust{{Action: "sts:AssumeRole", Verdict: Yes}}
	denied := []Trust{{Action: "sts:AssumeRole", Verdict: No, Why: "no statement allows it"}}
	for _, c := range []struct {
		proves, source, pattern string
		res                     []Trust
		want, not               string
	}{
		{"a role target's OK names its rotator role", config.SourceRole, rotator, allowed, "target t: its rotator role " + rotator + " may sts:AssumeRole", "source user"},
		{"an iam-user target's OK names the source user", config.SourceIAMUser, user, allowed, "target t: the source user " + user + " may sts:AssumeRole", "rotator role"},
		{"an iam-user target's Block names the source user", config.SourceIAMUser, user, denied, "target t: the trust policy does not let the source user " + user + " sts:AssumeRole", "rotator role"},
	} {
		tg := config.Target{Name: "t", RoleArn: "arn:aws:iam::123456789012:role/T", SourceCredentials: c.source}
		f := trustFinding(tg, tg.RoleArn, c.pattern, "{}", c.res)
		if !strings.Contains(f.Message, c.want) || strings.Contains(f.Message, c.not) {
			t.Errorf("%s: got %q, want it to contain %q and not %q", c.proves, f.Message, c.want, c.not)
		}
	}
}
