// Package revocation owns the inline policy `stsrotator revoke` puts on a
// target role: which sessions it denies (issued before a cutoff, and by
// default only the sessions stsrotator issued for that target), how a
// newer revocation moves the cutoff, and when the policy may be removed.
//
// AWS's rules it follows:
//   - Permissions of temporary credentials are evaluated on every request,
//     so a Deny conditioned on aws:TokenIssueTime revokes sessions issued
//     before a time; policy changes can take a few minutes to take effect
//     (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_temp_control-access_disable-perms.html).
//   - The console's "Revoke active sessions" writes the inline policy
//     AWSRevokeOlderSessions, denying every session of the role
//     (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_revoke-sessions.html).
//   - For an assumed-role session aws:userid is "role-id:RoleSessionName"
//     (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html#principaltable),
//     so StringLike "*:<session name>" scopes a Deny to one session name.
//   - No session outlives the role's MaxSessionDuration
//     (https://docs.aws.amazon.com/IAM/latest/APIReference/API_Role.html),
//     so once that much time has passed after the cutoff every denied
//     session has expired and the policy denies nothing.
package revocation
