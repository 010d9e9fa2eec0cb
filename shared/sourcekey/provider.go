package sourcekey

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/stsrotator/stsrotator/shared/secretfmt"
)

// SecretReader is what Provider needs of Secrets Manager.
type SecretReader interface {
	GetSecretValue(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// Provider is an aws.CredentialsProvider of the stored source key. It
// reads the secret on every Retrieve, without caching, so a rotated key is
// used from the next AssumeRole on; iam-user targets are rotated a few
// times a day, so the extra read is cheap.
type Provider struct {
	Secrets  SecretReader
	SecretID string
}

// Retrieve returns the stored key. Errors name the secret and the fix and
// never quote its content.
func (p Provider) Retrieve(ctx context.Context) (aws.Credentials, error) {
	out, err := p.Secrets.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(p.SecretID)})
	if isCode(err, "ResourceNotFoundException") {
		return aws.Credentials{}, fmt.Errorf("source key secret %s has no value yet: %w (fix: the source-key rotator stores the first key on its first run, within 15 minutes of the deploy; invoke it with {\"sourceKey\":true} to run it now)", p.SecretID, err)
	}
	if err != nil {
		return aws.Credentials{}, fmt.Errorf("read source key secret %s: %w", p.SecretID, err)
	}
	k, err := secretfmt.ParseSourceKey([]byte(aws.ToString(out.SecretString)))
	if err != nil {
		return aws.Credentials{}, fmt.Errorf("source key secret %s: %w", p.SecretID, err)
	}
	return aws.Credentials{AccessKeyID: k.AccessKeyID, SecretAccessKey: k.SecretAccessKey, Source: "stsrotator source key"}, nil
}
