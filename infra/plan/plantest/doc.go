// Package plantest generates configs of any size for tests of the infra
// app: realistic ARNs spread over a few accounts, with every option that
// changes what the stack emits (session tags, source identity, readers by
// account and by ARN, tags, custom secret names).
package plantest
