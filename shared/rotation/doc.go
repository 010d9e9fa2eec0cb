// Package rotation owns the rotation decision and the rotation itself: for a
// target, read the current secret, decide whether it is due, AssumeRole,
// verify the new credentials by calling sts:GetCallerIdentity with them,
// and write them with a deterministic ClientRequestToken so a retried or
// duplicated attempt can never add a second version.
//
// The invariant every path keeps: a version is only ever written with
// credentials that were verified, and a failed attempt never touches the
// existing secret.
package rotation
