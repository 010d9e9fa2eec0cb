// Package jsonkeys checks the object keys of untrusted JSON before it is
// decoded with encoding/json, which takes the last of two equal keys and
// matches a struct field's name without regard to case. Other readers of
// the same bytes (botocore and the AWS SDK for JavaScript read a
// credential_process value with exact, first- or last-wins keys; IAM
// reads a policy by its own rules) can then see another value than
// stsrotator judged. Check refuses what could be read two ways.
package jsonkeys
