// Package sourcekey keeps the deployment's IAM user access key — the
// source credentials of targets with `sourceCredentials: iam-user` — alive
// and young: Rotator replaces it on a schedule (create → prove with
// GetCallerIdentity → store in its secret → deactivate the previous key →
// delete it after a grace period), and Provider hands the stored key to
// the AssumeRole calls it signs.
//
// Every run starts from what IAM and the secret say, never from memory, so
// a run that dies between any two steps is finished by the next one. IAM
// allows two access keys per user
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html);
// Rotator never asks for a third and never touches the stored key before
// its successor has been proved and stored.
package sourcekey
