package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stsrotator/stsrotator/internal/awstest"
)

// Issue 19 §5: the config let two targets share (roleArn, sessionName),
// so revoking one denied the other, which nobody then rotated. validate
// refuses it, naming the line of each target; the same role is
// recognised as IAM does (name without regard to case, path not part of
// the session's identity), and a session name may collide with another
// target's default.
func TestAbuse_SharedRoleSessionName(t *testing.T) {
	env := awstest.Start(t)
	dir := t.TempDir()
	cases := []struct {
		why, yaml string
		refused   bool
		// want is in stderr when refused.
		want []string
	}{
		{"two targets, one role, one explicit session name",
			"targets:\n  - name: a\n    roleArn: arn:aws:iam::123456789012:role/Billing\n    sessionName: shared\n  - name: b\n    roleArn: arn:aws:iam::123456789012:role/Billing\n    sessionName: shared\n",
			true, []string{":5: targets[1](b).sessionName: target a (line 2) and target b (line 5) both assume role arn:aws:iam::123456789012:role/Billing with session name \"shared\"", "revoking one denies the other", "fix: give one of them its own sessionName"}},
		{"the same role written in another case and with a path",
			"targets:\n  - name: a\n    roleArn: arn:aws:iam::123456789012:role/Billing\n    sessionName: shared\n  - name: b\n    roleArn: arn:aws:iam::123456789012:role/team/billing\n    sessionName: shared\n",
			true, []string{"target a (line 2) and target b (line 5)"}},
		{"a session name equal to another target's default",
			"targets:\n  - name: a\n    roleArn: arn:aws:iam::123456789012:role/Billing\n  - name: b\n    roleArn: arn:aws:iam::123456789012:role/Billing\n    sessionName: stsrotator-a\n",
			true, []string{"target a (line 2) and target b (line 4)", `session name "stsrotator-a"`}},
		{"one role, the default session names (one per target): valid",
			"targets:\n  - name: a\n    roleArn: arn:aws:iam::123456789012:role/Billing\n  - name: b\n    roleArn: arn:aws:iam::123456789012:role/Billing\n",
			false, nil},
		{"one session name on roles of two accounts: two identities, valid",
			"targets:\n  - name: a\n    roleArn: arn:aws:iam::123456789012:role/Billing\n    sessionName: shared\n  - name: b\n    roleArn: arn:aws:iam::210987654321:role/Billing\n    sessionName: shared\n",
			false, nil},
	}
	for i, c := range cases {
		t.Run(c.why, func(t *testing.T) {
			path := filepath.Join(dir, strings.Repeat("c", i+1)+".yaml")
			if err := os.WriteFile(path, []byte(c.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			a, out, errb := testApp(env, time.Now, nil)
			r := execute(t, a, out, errb, "validate", "--config", path)
			if !c.refused {
				if r.code != ExitOK {
					t.Fatalf("want valid: %+v", r)
				}
				return
			}
			if r.code != ExitUsage {
				t.Fatalf("validate accepted two targets with one session identity: %+v", r)
			}
			for _, w := range c.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
		})
	}
}
