// Package regions is stsrotator's one table of AWS Regions and the
// partitions they belong to (aws, aws-cn, aws-us-gov, aws-iso, …), taken
// from the AWS SDK for Go v2's partition table so that the config
// validator, the CLI and the CDK app agree on which regions exist and
// which can reach which: Secrets Manager replicates a secret only to
// other Regions of its own partition
// (https://docs.aws.amazon.com/secretsmanager/latest/userguide/replicate-secrets.html),
// and the Regions and their codes are listed at
// https://docs.aws.amazon.com/global-infrastructure/latest/regions/aws-regions.html.
package regions
