package stack

import (
	"regexp"
	"sort"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/jsii-runtime-go"

	"github.com/stsrotator/stsrotator/shared/config"
)

var (
	reAccount = regexp.MustCompile(`^\d{12}$`)
	reRoot    = regexp.MustCompile(`^arn:[a-z-]+:iam::(\d{12}):root$`)
	reARN     = regexp.MustCompile(`^arn:[a-z-]+:iam::(\d{12}):`)
)

// readers splits a target's validated readers into whole accounts (an
// account ID or its root ARN) and individual principal ARNs, because the
// two are matched by different condition keys.
func readers(t config.Target) (accounts, arns []string) {
	for _, r := range t.Readers {
		switch {
		case reAccount.MatchString(r):
			accounts = append(accounts, r)
		case reRoot.MatchString(r):
			accounts = append(accounts, reRoot.FindStringSubmatch(r)[1])
		default:
			arns = append(arns, r)
		}
	}
	return accounts, arns
}

// readerAccounts is every account any reader belongs to, sorted.
func readerAccounts(ts []config.Target) []string {
	set := map[string]bool{}
	for _, t := range ts {
		for _, r := range t.Readers {
			if reAccount.MatchString(r) {
				set[r] = true
			} else if m := reARN.FindStringSubmatch(r); m != nil {
				set[m[1]] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for a := range set {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// allowReadersThroughSecretsManager lets readers decrypt secret values, but
// only when Secrets Manager asks on their behalf: which secret a reader may
// read is decided by that secret's resource policy, so the key does not
// repeat the per-secret rules (which would not fit a key policy's 32 KB for
// thousands of targets). This is the same shape as AWS's own
// aws/secretsmanager key policy, extended to the readers' accounts.
func allowReadersThroughSecretsManager(key awskms.Key, ts []config.Target) {
	accounts := []*string{awscdk.Aws_ACCOUNT_ID()}
	for _, a := range readerAccounts(ts) {
		accounts = append(accounts, jsii.String(a))
	}
	key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("ReadersDecryptThroughSecretsManager"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewAnyPrincipal()},
		Actions:    jsii.Strings("kms:Decrypt"),
		// In a key policy, "*" means this key.
		Resources: jsii.Strings("*"),
		Conditions: &map[string]any{
			"StringEquals": map[string]any{
				"kms:ViaService":    viaService("secretsmanager"),
				"kms:CallerAccount": &accounts,
			},
		},
	}), jsii.Bool(false))
}

// viaService is the kms:ViaService value of an AWS service in the stack's
// region and partition.
func viaService(service string) *string {
	return awscdk.Fn_Join(jsii.String(""), &[]*string{jsii.String(service + "."), awscdk.Aws_REGION(), jsii.String("."), awscdk.Aws_URL_SUFFIX()})
}
