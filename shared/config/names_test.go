package config

import (
	"fmt"
	"strings"
	"testing"
)

// Each row pins one of AWS's comparison rules to the doc that states it.
func TestAWSNameRules(t *testing.T) {
	cases := []struct {
		rule string
		same func(a, b string) bool
		a, b string
		want bool
		doc  string
	}{
		{"session tag keys ignore case", SameSessionTagKey, "Department", "department", true,
			"https://docs.aws.amazon.com/IAM/latest/UserGuide/id_session-tags.html: you cannot have separate Department and department tag keys"},
		{"session tag keys still differ by letters", SameSessionTagKey, "Team", "Teams", false, "id_session-tags.html"},
		{"secret tag keys are case sensitive", SameResourceTagKey, "Team", "team", false,
			"https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_TagResource.html: Tag keys and values are case sensitive"},
		{"role names ignore case", SameRoleName, "PRODROLE", "prodrole", true,
			"https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html: you cannot create roles named both PRODROLE and prodrole"},
		{"secret names are looked up exactly", SameSecretName, "stsrotator/App", "stsrotator/app", false,
			"https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_CreateSecret.html"},
		{"log group names are exact", SameLogGroup, "/aws/lambda/App", "/aws/lambda/app", false,
			"https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_CreateLogGroup.html"},
		{"session names are exact in the assumed-role ARN", SameSessionName, "Deploy", "deploy", false,
			"https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html"},
		{"external IDs are compared with StringEquals", SameExternalID, "Acme-1", "acme-1", false,
			"https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_create_for-user_externalid.html"},
	}
	for _, c := range cases {
		if got := c.same(c.a, c.b); got != c.want {
			t.Errorf("%s: same(%q, %q) = %v, want %v (%s)", c.rule, c.a, c.b, got, c.want, c.doc)
		}
	}
	for _, c := range []struct {
		key  string
		want bool
	}{{"aws:cost", true}, {"AWS:cost", true}, {"Aws:Cost", true}, {"awsome", false}, {"team:aws:x", false}} {
		// AWS reserves aws: in any combination of upper and lower case:
		// https://docs.aws.amazon.com/tag-editor/latest/userguide/best-practices-and-strats.html
		if got := ReservedByAWS(c.key); got != c.want {
			t.Errorf("ReservedByAWS(%q) = %v, want %v", c.key, got, c.want)
		}
	}
}

// The inputs: session tag keys that differ only in case are one
// key to STS, so the config refuses two of them and lets a target's key
// replace a default's whatever its case. Secret tags stay case sensitive.
func TestSessionTagKeysIgnoreCase(t *testing.T) {
	_, err := Parse("cfg.yaml", []byte(okTarget+"    sessionTags: {Project: a, project: b}\n"))
	if err == nil {
		t.Fatal("sessionTags {Project: a, project: b} was accepted; STS refuses separate Project and project keys")
	}
	for _, want := range []string{"cfg.yaml:5:", "targets[0](app).sessionTags.project", "same session tag key as Project", "you cannot have separate Project and project tag keys", "fix: keep one of them"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}

	cfg, err := Parse("cfg.yaml", []byte("defaults:\n  sessionTags: {Team: platform, Cost: ops}\n  tags: {Team: platform}\n"+okTarget+"    sessionTags: {team: billing}\n    tags: {team: billing}\n"))
	if err != nil {
		t.Fatal(err)
	}
	tg := cfg.Targets[0]
	if got, want := fmt.Sprint(tg.SessionTags), "[{Cost ops} {team billing}]"; got != want {
		t.Errorf("session tags = %s, want %s: the target's team replaces the default Team, in the target's spelling", got, want)
	}
	if got, want := fmt.Sprint(tg.Tags), "[{Team platform} {team billing}]"; got != want {
		t.Errorf("secret tags = %s, want %s: Secrets Manager tag keys are case sensitive", got, want)
	}

	_, err = Parse("cfg.yaml", []byte(okTarget+"    tags: {Team: a, team: b}\n"))
	if err != nil {
		t.Errorf("secret tags Team and team are two tags to Secrets Manager, yet refused: %v", err)
	}
	_, err = Parse("cfg.yaml", []byte(okTarget+"    sessionTags: {Team: a, Team: b}\n"))
	if err == nil || !strings.Contains(err.Error(), "is set twice") {
		t.Errorf("an exact duplicate key is still 'set twice': %v", err)
	}
}

// Each row is a roleArn at or one past IAM's character quotas on a role's
// name (64) and path (512)
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html#reference_iam-quotas-entity-length).
func TestRoleArnLengthQuotas(t *testing.T) {
	name := func(n int) string { return strings.Repeat("r", n) }
	// A path of n characters, slashes included: "/" + segment + "/".
	pathOf := func(n int) string { return strings.Repeat("p", n-2) + "/" }
	for _, c := range []struct {
		proves string
		arn    string
		say    string // empty: valid
	}{
		{"a 64-character name is IAM's largest", "arn:aws:iam::123456789012:role/" + name(64), ""},
		{"a 65-character name no role can have", "arn:aws:iam::123456789012:role/" + name(65), "is 65 characters; IAM allows at most 64"},
		{"66 characters, the trial's case", "arn:aws:iam::123456789012:role/" + name(66), "is 66 characters; IAM allows at most 64"},
		{"the name is the last segment, not path plus name", "arn:aws:iam::123456789012:role/team/app/" + name(64), ""},
		{"a 512-character path is IAM's largest", "arn:aws:iam::123456789012:role/" + pathOf(512) + "r", ""},
		{"a 513-character path", "arn:aws:iam::123456789012:role/" + pathOf(513) + "r", "role path is 513 characters; IAM allows at most 512"},
	} {
		_, err := Parse("t.yaml", []byte("targets:\n  - name: a\n    roleArn: "+c.arn+"\n"))
		switch {
		case c.say == "" && err != nil:
			t.Errorf("%s: %v", c.proves, err)
		case c.say != "" && (err == nil || !strings.Contains(err.Error(), c.say) || !strings.Contains(err.Error(), "t.yaml:3") && !strings.Contains(err.Error(), "roleArn")):
			t.Errorf("%s: got %v, want an error on roleArn saying %q", c.proves, err, c.say)
		}
	}
}

// TargetNames reads the names completion offers, from a file that may
// still have mistakes elsewhere.
func TestTargetNames(t *testing.T) {
	cases := []struct {
		why  string
		yaml string
		want []string
	}{
		{"names in file order", "targets:\n  - name: b\n  - name: a\n", []string{"b", "a"}},
		{"a target with a mistake still counts", "targets:\n  - name: app\n    durationSeconds: 1h\n  - roleArn: x\n", []string{"app"}},
		{"a name that is not text is skipped", "targets:\n  - name: [x]\n  - name: ok\n", []string{"ok"}},
		{"no targets list, no names", "targets: app\n", nil},
		{"not YAML, no names", "targets: [\n", nil},
		{"not a mapping, no names", "- a\n", nil},
	}
	for _, c := range cases {
		if got := TargetNames([]byte(c.yaml)); fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%s: got %q, want %q", c.why, got, c.want)
		}
	}
}
