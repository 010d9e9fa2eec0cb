package preflight

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/stsrotator/stsrotator/shared/rotation"
)

// SecretLister is the Secrets Manager call the secret-name check makes,
// with the SDK's exact signature.
type SecretLister interface {
	ListSecrets(context.Context, *secretsmanager.ListSecretsInput, ...func(*secretsmanager.Options)) (*secretsmanager.ListSecretsOutput, error)
}

// Tags CloudFormation puts on every resource it creates
// (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-resource-tags.html).
const (
	tagStackID   = "aws:cloudformation:stack-id"
	tagLogicalID = "aws:cloudformation:logical-id"
)

// secretNames checks that each target's secret name is free, or already
// held by this stack. The stack creates each secret by name, and Secrets
// Manager names are unique per account and Region: CreateSecret on a name
// that is taken, or scheduled for deletion, fails with
// ResourceExistsException / InvalidRequestException
// (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_CreateSecret.html),
// and the stack rolls back. Secrets are retained when their target is
// removed (docs/infra.md#removing-a-target), so re-adding a target meets its
// own orphan.
func secretNames(ctx context.Context, sm SecretLister, cf Stacks, in Input, add func(Finding)) {
	if sm == nil {
		add(Finding{Level: Error, Check: CheckSecretName, Subject: "Secrets Manager", Message: "no Secrets Manager client to list secrets with", Fix: "build preflight.Clients with Secrets"})
		return
	}
	existing := map[string]smtypes.SecretListEntry{}
	req := &secretsmanager.ListSecretsInput{IncludePlannedDeletion: aws.Bool(true), MaxResults: aws.Int32(100)}
	for {
		out, err := sm.ListSecrets(ctx, req)
		if err != nil {
			add(failed(CheckSecretName, "Secrets Manager", err, "allow secretsmanager:ListSecrets, or check by hand that no target's secretName is taken"))
			return
		}
		for _, s := range out.SecretList {
			existing[aws.ToString(s.Name)] = s
		}
		if aws.ToString(out.NextToken) == "" {
			break
		}
		req.NextToken = out.NextToken
	}
	free, ours := 0, 0
	for _, t := range in.Config.Targets {
		s, ok := existing[t.SecretName]
		if !ok {
			free++
			continue
		}
		if s.DeletedDate != nil {
			add(Finding{Level: Block, Check: CheckSecretName, Subject: t.SecretName,
				Message: fmt.Sprintf("target %s's secret name is held by a secret scheduled for deletion on %s: the stack cannot create it until then", t.Name, s.DeletedDate.UTC().Format("2006-01-02")),
				Fix:     "aws secretsmanager restore-secret --secret-id " + t.SecretName + " then delete it with --force-delete-without-recovery, or choose another secretName"})
			continue
		}
		stack, logical, target := "", "", ""
		for _, tg := range s.Tags {
			switch aws.ToString(tg.Key) {
			case tagStackID:
				stack = aws.ToString(tg.Value)
			case tagLogicalID:
				logical = aws.ToString(tg.Value)
			case rotation.TagTarget:
				target = aws.ToString(tg.Value)
			}
		}
		if stack != "" && logical != "" && stackOwns(ctx, cf, stack, logical, in.StackName) {
			ours++
			continue
		}
		if stack == "" && target == t.Name {
			// stsrotator's own tags but not CloudFormation's: AWS documents
			// that the propagation of its aws:cloudformation:* tags "varies
			// by resource type", so this may be the stack's own secret; or
			// a removed target's, or one the rotator re-created after a
			// deletion outside the stack.
			add(Finding{Level: Warn, Check: CheckSecretName, Subject: t.SecretName,
				Message: fmt.Sprintf("target %s's secret exists, tagged by stsrotator but not by CloudFormation: fine if this stack created it; if it is left from a removed target, or the rotator re-created it after a deletion outside the stack, creating it fails (ResourceExistsException)", t.Name),
				Fix:     "check: aws cloudformation describe-stack-resources --physical-resource-id " + aws.ToString(s.ARN)})
			continue
		}
		why := "not created by CloudFormation or stsrotator"
		if stack != "" {
			why = "left behind by CloudFormation stack " + stackNameOf(stack) + " (retained when its target was removed, or another stack's)"
		}
		add(Finding{Level: Block, Check: CheckSecretName, Subject: t.SecretName,
			Message: fmt.Sprintf("target %s's secret name is taken by an existing secret, %s: creating it fails (ResourceExistsException) and the stack rolls back", t.Name, why),
			Fix:     "if it is an orphan of this target, delete it (aws secretsmanager delete-secret --secret-id " + t.SecretName + " --force-delete-without-recovery) (a recovery window keeps the name taken; cdk import cannot reach the nested shard stacks); else choose another secretName"})
	}
	add(Finding{Level: OK, Check: CheckSecretName, Subject: fmt.Sprintf("%d targets", len(in.Config.Targets)),
		Message: fmt.Sprintf("%d secret names free, %d already held by this stack", free, ours)})
}

// stackOwns says whether the live stack named by the secret's tags still
// holds it, and is this service's root stack or one of its nested stacks.
func stackOwns(ctx context.Context, cf Stacks, stackID, logical, stackName string) bool {
	name := stackNameOf(stackID)
	if name != stackName && !strings.HasPrefix(name, stackName+"-") {
		return false
	}
	out, err := cf.DescribeStackResource(ctx, &cloudformation.DescribeStackResourceInput{StackName: aws.String(stackID), LogicalResourceId: aws.String(logical)})
	if err != nil || out.StackResourceDetail == nil {
		return false
	}
	// A deleted stack still answers for its retained resources, as
	// DELETE_SKIPPED.
	return !strings.HasPrefix(string(out.StackResourceDetail.ResourceStatus), "DELETE")
}

// stackNameOf reads the name out of a stack ID
// (arn:aws:cloudformation:<region>:<account>:stack/<name>/<uuid>).
func stackNameOf(id string) string {
	if _, rest, ok := strings.Cut(id, ":stack/"); ok {
		name, _, _ := strings.Cut(rest, "/")
		return name
	}
	return id
}
