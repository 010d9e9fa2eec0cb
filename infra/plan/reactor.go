package plan

import (
	"sort"
	"strings"

	"github.com/stsrotator/stsrotator/shared/config"
)

// ReactorSecretBudget bounds, in characters, the secret name patterns the
// reactor's read statement lists (ReactorSecretPatterns), leaving the rest
// of the role's 10,240 characters of inline policy to its fixed
// statements.
const ReactorSecretBudget = 3000

// ReactorSecretPatterns is what the reactor's GetSecretValue statement
// lists, as resource names after "secret:" in a secret ARN: the targets'
// secrets by name where they fit ReactorSecretBudget ("NAME-??????", since
// Secrets Manager ends each ARN with "-" and six random characters:
// https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_iam-permissions.html#iam-resources),
// otherwise the shortest prefixes that do: first each name's first path
// segment ("stsrotator/*"), then common leading characters. Never "*" for
// every secret of the account, and never a tag, which anyone with
// secretsmanager:TagResource could add to a secret of their own. Sorted.
func ReactorSecretPatterns(ts []config.Target) []string {
	names := make([]string, 0, len(ts))
	for _, t := range ts {
		names = append(names, t.SecretName)
	}
	exact := distinct(names, func(n string) string { return n + "-??????" })
	if fits(exact) {
		return exact
	}
	byPath := distinct(names, func(n string) string {
		if i := strings.Index(n, "/"); i >= 0 {
			return n[:i+1] + "*"
		}
		return n + "-??????"
	})
	if fits(byPath) {
		return byPath
	}
	for l := 32; l > 1; l-- {
		cut := distinct(names, func(n string) string {
			if i := strings.Index(n, "/"); i >= 0 && i < l {
				return n[:i+1] + "*"
			}
			if len(n) <= l {
				return n + "-??????"
			}
			return n[:l] + "*"
		})
		if fits(cut) {
			return cut
		}
	}
	return distinct(names, func(n string) string { return n[:1] + "*" })
}

func distinct(names []string, f func(string) string) []string {
	set := map[string]bool{}
	for _, n := range names {
		set[f(n)] = true
	}
	out := make([]string, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	sort.Strings(out)
	// A pattern that another one covers adds nothing.
	kept := out[:0]
	for _, p := range out {
		covered := false
		for _, q := range out {
			if q != p && strings.HasSuffix(q, "*") && strings.HasPrefix(p, strings.TrimSuffix(q, "*")) {
				covered = true
				break
			}
		}
		if !covered {
			kept = append(kept, p)
		}
	}
	return kept
}

// fits measures patterns as rendered in the policy: each a secret ARN in
// the longest partition and Region, quoted, with a comma.
func fits(patterns []string) bool {
	n := 0
	for _, p := range patterns {
		n += len(`"arn:aws-iso-b:secretsmanager:ap-southeast-7xx:123456789012:secret:",`) + len(p)
	}
	return n <= ReactorSecretBudget
}
